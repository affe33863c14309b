//! Least privilege, printed: what the cloud side must grant one validator's participant.
//!
//! Canton never deletes KMS keys, so no policy here ever contains a deletion permission.

use serde_json::{Value, json};

use crate::decision::KmsDecision;
use crate::kms::{AwsKms, GcpKms, KmsMode, KmsProvider};

/// Facts about the cluster that the Validator cannot know.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// AWS account id of the keys (default: taken from the role ARN, else `*`).
    pub aws_account_id: Option<String>,
    /// The cluster's IRSA OIDC provider, such as `oidc.eks.eu-west-1.amazonaws.com/id/ABC123`.
    pub oidc_provider: Option<String>,
}

/// Why no policy can be printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    #[error("KMS is off for this validator: the participant needs no cloud permissions")]
    KmsOff,
    #[error(
        "a KMS driver's permissions depend on the driver; canton-operator prints policies for aws and gcp"
    )]
    Driver,
}

/// The policy documents for one validator, as one JSON object.
pub(crate) fn policy(
    decision: &KmsDecision,
    namespace: &str,
    service_account: &str,
    facts: &ClusterFacts,
) -> Result<Value, IamError> {
    let role_arn = decision
        .kms
        .service_account
        .as_ref()
        .and_then(|s| s.aws_role_arn.clone());
    match decision.provider().ok_or(IamError::KmsOff)? {
        KmsProvider::Aws(aws) => {
            let account = facts
                .aws_account_id
                .clone()
                .or_else(|| role_arn.as_deref().and_then(account_of))
                .unwrap_or_else(|| "*".into());
            Ok(json!({
                "provider": "aws",
                "mode": decision.kms.mode.as_str(),
                "permissionsPolicy": aws_permissions(&aws, decision, &account),
                "trustPolicy": aws_trust(&account, namespace, service_account, facts.oidc_provider.as_deref()),
            }))
        }
        KmsProvider::Gcp(gcp) => Ok(gcp_bindings(
            &gcp,
            decision.kms.mode,
            namespace,
            service_account,
            decision,
        )),
        KmsProvider::Driver(_) => Err(IamError::Driver),
    }
}

fn account_of(arn: &str) -> Option<String> {
    arn.split(':').nth(4).map(str::to_string)
}

fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Tags that mark the keys this participant may use: its custom tags, else Canton's `CreatedBy`.
fn key_tags(aws: &AwsKms) -> Value {
    match &aws.custom_tags {
        Some(tags) if !tags.is_empty() => {
            Value::Object(tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        }
        _ => json!({ "CreatedBy": "Canton" }),
    }
}

fn tag_condition(prefix: &str, tags: &Value) -> Value {
    let map = tags.as_object().map(|m| {
        m.iter()
            .map(|(k, v)| (format!("aws:{prefix}/{k}"), v.clone()))
            .collect::<serde_json::Map<_, _>>()
    });
    json!({ "StringEquals": map.unwrap_or_default() })
}

fn aws_permissions(aws: &AwsKms, decision: &KmsDecision, account: &str) -> Value {
    let region = if aws.multi_region_key == Some(true) {
        "*"
    } else {
        aws.region.as_str()
    };
    let keys = format!(
        "arn:{}:kms:{region}:{account}:key/*",
        partition_of(&aws.region)
    );
    let tags = key_tags(aws);
    let use_actions = match decision.kms.mode {
        KmsMode::External => vec![
            "kms:Decrypt",
            "kms:Sign",
            "kms:DescribeKey",
            "kms:GetPublicKey",
        ],
        KmsMode::Envelope => vec!["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
    };
    let wrapper = decision
        .kms
        .envelope
        .as_ref()
        .and_then(|e| e.wrapper_key_id.clone());
    let use_statement = match (decision.kms.mode, wrapper) {
        (KmsMode::Envelope, Some(id)) if id.starts_with("arn:") => json!({
            "Sid": "UseWrapperKey", "Effect": "Allow", "Action": use_actions, "Resource": id,
        }),
        _ => json!({
            "Sid": "UseCantonKeys", "Effect": "Allow", "Action": use_actions, "Resource": keys,
            "Condition": tag_condition("ResourceTag", &tags),
        }),
    };
    let create_actions = match decision.kms.mode {
        KmsMode::External => vec!["kms:CreateKey", "kms:TagResource"],
        KmsMode::Envelope => vec!["kms:CreateKey"],
    };
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CreateTaggedKeys", "Effect": "Allow", "Action": create_actions, "Resource": "*",
                "Condition": tag_condition("RequestTag", &tags),
            },
            use_statement,
        ],
    })
}

fn aws_trust(account: &str, namespace: &str, service_account: &str, oidc: Option<&str>) -> Value {
    let provider = oidc.unwrap_or("<OIDC_PROVIDER>");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/{provider}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": {
                format!("{provider}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
                format!("{provider}:aud"): "sts.amazonaws.com",
            }},
        }],
    })
}

fn gcp_bindings(
    gcp: &GcpKms,
    mode: KmsMode,
    namespace: &str,
    service_account: &str,
    decision: &KmsDecision,
) -> Value {
    let permissions: &[&str] = match mode {
        KmsMode::External => &[
            "cloudkms.cryptoKeys.create",
            "cloudkms.cryptoKeys.get",
            "cloudkms.cryptoKeyVersions.get",
            "cloudkms.cryptoKeyVersions.useToSign",
            "cloudkms.cryptoKeyVersions.useToDecrypt",
            "cloudkms.cryptoKeyVersions.viewPublicKey",
        ],
        KmsMode::Envelope => &[
            "cloudkms.cryptoKeys.create",
            "cloudkms.cryptoKeys.get",
            "cloudkms.cryptoKeyVersions.useToEncrypt",
            "cloudkms.cryptoKeyVersions.useToDecrypt",
        ],
    };
    let gsa = decision
        .kms
        .service_account
        .as_ref()
        .and_then(|s| s.gcp_service_account.clone())
        .unwrap_or_else(|| "<GOOGLE_SERVICE_ACCOUNT_EMAIL>".to_string());
    let ring = format!(
        "projects/{}/locations/{}/keyRings/{}",
        gcp.project_id, gcp.location_id, gcp.key_ring_id
    );
    json!({
        "provider": "gcp",
        "mode": mode.as_str(),
        "customRole": {
            "id": "cantonParticipantKms",
            "title": "Canton participant KMS",
            "includedPermissions": permissions,
        },
        "bindings": [
            {
                "resource": ring,
                "role": format!("projects/{}/roles/cantonParticipantKms", gcp.project_id),
                "member": format!("serviceAccount:{gsa}"),
            },
            {
                "resource": format!("projects/{}/serviceAccounts/{gsa}", gcp.project_id),
                "role": "roles/iam.workloadIdentityUser",
                "member": format!("serviceAccount:{}.svc.id.goog[{namespace}/{service_account}]", gcp.project_id),
            },
        ],
    })
}

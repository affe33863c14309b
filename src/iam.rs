//! Least privilege, printed: what the cloud side must grant one validator's participant (and its
//! identity backup Job), for each way a cluster turns a ServiceAccount into a cloud identity.
//!
//! Canton never deletes KMS keys, so no policy here ever contains a deletion permission. What the
//! Validator and the flags do not say is left as a `<PLACEHOLDER>`; [`placeholders`] lists them so
//! the command can warn about each.

use serde_json::{Value, json};

use crate::api::{CloudIdentity, KmsServiceAccount};
use crate::decision::KmsDecision;
use crate::kms::{AwsKms, GcpKms, KmsMode, KmsProvider};

/// Facts about the cluster that the Validator cannot know.
#[derive(Debug, Clone, Default)]
pub struct ClusterFacts {
    /// AWS account id of the keys and roles (default: taken from the role ARN).
    pub aws_account_id: Option<String>,
    /// The cluster's OIDC issuer for IRSA, as `aws eks describe-cluster --query
    /// cluster.identity.oidc.issuer` prints it (`https://oidc.eks.<region>.amazonaws.com/id/<ID>`;
    /// without the scheme is accepted too).
    pub oidc_provider: Option<String>,
    /// The EKS cluster's name, for the Pod Identity association.
    pub cluster_name: Option<String>,
    /// The GKE cluster project's number, for Workload Identity Federation principals.
    pub gcp_project_number: Option<String>,
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
    #[error("--account-id `{0}` is not an AWS account id: it has 12 digits, such as 123456789012")]
    AccountId(String),
    #[error(
        "--oidc-provider `{0}` is not an OIDC issuer: pass it as `aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer --output text` prints it, such as https://oidc.eks.eu-west-1.amazonaws.com/id/ABC123"
    )]
    OidcProvider(String),
    #[error("--project-number `{0}` is not a Google Cloud project number (digits only)")]
    ProjectNumber(String),
}

impl ClusterFacts {
    /// Checks the facts given on the command line, and takes the issuer without its scheme.
    pub fn checked(mut self) -> Result<Self, IamError> {
        if let Some(id) = &self.aws_account_id
            && !is_account_id(id)
        {
            return Err(IamError::AccountId(id.clone()));
        }
        if let Some(issuer) = &self.oidc_provider {
            let host = issuer
                .trim()
                .trim_start_matches("https://")
                .trim_end_matches('/');
            if host.is_empty() || host.contains("://") || host.contains(char::is_whitespace) {
                return Err(IamError::OidcProvider(issuer.clone()));
            }
            self.oidc_provider = Some(host.to_string());
        }
        if let Some(n) = &self.gcp_project_number
            && (n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(IamError::ProjectNumber(n.clone()));
        }
        Ok(self)
    }
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.chars().all(|c| c.is_ascii_digit())
}

/// The `<PLACEHOLDER>`s left in `text`, each once, in order of appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('>') {
            let name = format!("<{}>", &after[..len]);
            if !found.contains(&name) {
                found.push(name);
            }
        }
        rest = after;
    }
    found
}

/// What to pass or set so a placeholder is filled in.
pub fn placeholder_hint(placeholder: &str) -> &'static str {
    match placeholder {
        "<AWS_ACCOUNT_ID>" => "pass --account-id, or set the awsRoleArn of the ServiceAccount",
        "<OIDC_PROVIDER>" => {
            "pass --oidc-provider with the issuer `aws eks describe-cluster --name <cluster> --query cluster.identity.oidc.issuer --output text` prints"
        }
        "<CLUSTER_NAME>" => "pass --cluster-name (the EKS cluster the association is made in)",
        "<ROLE_NAME>" => {
            "set the awsRoleArn of the ServiceAccount (the role the association names)"
        }
        "<PROJECT_NUMBER>" => {
            "pass --project-number (`gcloud projects describe <project> --format='value(projectNumber)'` of the cluster's project)"
        }
        "<PROJECT_ID>" => "the Google Cloud project that holds the custom role",
        "<GOOGLE_SERVICE_ACCOUNT_EMAIL>" | "<BACKUP_GOOGLE_SERVICE_ACCOUNT_EMAIL>" => {
            "set gcpServiceAccount of the ServiceAccount, or choose cloudIdentity gkeWorkloadIdentityFederation"
        }
        _ => "fill it in before applying the policy",
    }
}

/// The policy documents for one validator, as one JSON object.
pub(crate) fn policy(
    decision: &KmsDecision,
    namespace: &str,
    service_account: &str,
    facts: &ClusterFacts,
) -> Result<Value, IamError> {
    let identity = decision.kms.service_account.as_ref();
    let mechanism = decision.cloud_identity();
    match decision.provider().ok_or(IamError::KmsOff)? {
        KmsProvider::Aws(aws) => {
            let account = aws_account(facts, identity);
            let who = Subject {
                namespace,
                service_account,
                identity,
            };
            let mut out = json!({
                "provider": "aws",
                "mode": decision.kms.mode.as_str(),
                "permissionsPolicy": aws_permissions(&aws, decision, &account),
            });
            aws_identity(
                &mut out,
                mechanism.unwrap_or(CloudIdentity::Irsa),
                partition_of(&aws.region),
                &account,
                &who,
                facts,
            );
            Ok(out)
        }
        KmsProvider::Gcp(gcp) => Ok(gcp_bindings(
            &gcp,
            decision.kms.mode,
            mechanism.unwrap_or(CloudIdentity::GkeWorkloadIdentity),
            &Subject {
                namespace,
                service_account,
                identity,
            },
            facts,
        )),
        KmsProvider::Driver(_) => Err(IamError::Driver),
    }
}

/// Adds the identity part of an identity backup's bucket policy (from `backup::backup_bucket_policy`):
/// the role's trust policy (S3) or the members of the bindings (GCS), per the Job's mechanism.
pub(crate) fn backup_identity(
    policy: &mut Value,
    namespace: &str,
    service_account: &str,
    identity: &KmsServiceAccount,
    gcp_project: Option<&str>,
    facts: &ClusterFacts,
) {
    let who = Subject {
        namespace,
        service_account,
        identity: Some(identity),
    };
    match policy["provider"].as_str() {
        Some("aws") => {
            let mechanism = identity
                .cloud_identity
                .filter(|c| c.is_aws())
                .unwrap_or(CloudIdentity::Irsa);
            let account = aws_account(facts, Some(identity));
            aws_identity(policy, mechanism, "aws", &account, &who, facts);
        }
        Some("gcp") => {
            let mechanism = identity
                .cloud_identity
                .filter(|c| !c.is_aws())
                .unwrap_or(CloudIdentity::GkeWorkloadIdentity);
            let project = gcp_project
                .map(str::to_string)
                .or_else(|| {
                    identity
                        .gcp_service_account
                        .as_deref()
                        .and_then(project_of_gsa)
                })
                .unwrap_or_else(|| "<PROJECT_ID>".to_string());
            let gsa = identity
                .gcp_service_account
                .clone()
                .unwrap_or_else(|| "<BACKUP_GOOGLE_SERVICE_ACCOUNT_EMAIL>".to_string());
            policy["cloudIdentity"] = json!(mechanism.as_str());
            policy["bindings"] = json!(gcp_members(
                format!("projects/{project}/roles/cantonIdentityBackup"),
                policy["bindings"][0]["resource"].clone(),
                mechanism,
                &project,
                &gsa,
                &who,
                facts,
            ));
        }
        _ => {}
    }
}

/// Whose identity a policy is for.
struct Subject<'a> {
    namespace: &'a str,
    service_account: &'a str,
    identity: Option<&'a KmsServiceAccount>,
}

fn aws_account(facts: &ClusterFacts, identity: Option<&KmsServiceAccount>) -> String {
    facts
        .aws_account_id
        .clone()
        .or_else(|| {
            identity
                .and_then(|i| i.aws_role_arn.as_deref())
                .and_then(account_of)
        })
        .unwrap_or_else(|| "<AWS_ACCOUNT_ID>".into())
}

/// The trust policy of the role (and, for EKS Pod Identity, the association to make).
fn aws_identity(
    out: &mut Value,
    mechanism: CloudIdentity,
    partition: &str,
    account: &str,
    who: &Subject,
    facts: &ClusterFacts,
) {
    out["cloudIdentity"] = json!(mechanism.as_str());
    match mechanism {
        CloudIdentity::EksPodIdentity => {
            let role = who
                .identity
                .and_then(|i| i.aws_role_arn.clone())
                .unwrap_or_else(|| format!("arn:{partition}:iam::{account}:role/<ROLE_NAME>"));
            let cluster = facts.cluster_name.as_deref().unwrap_or("<CLUSTER_NAME>");
            out["trustPolicy"] = pod_identity_trust(who.namespace, who.service_account);
            out["podIdentityAssociation"] = json!({
                "clusterName": cluster,
                "namespace": who.namespace,
                "serviceAccount": who.service_account,
                "roleArn": role,
                "command": format!(
                    "aws eks create-pod-identity-association --cluster-name {cluster} --namespace {} --service-account {} --role-arn {role}",
                    who.namespace, who.service_account
                ),
            });
        }
        _ => {
            out["trustPolicy"] = irsa_trust(
                partition,
                account,
                who.namespace,
                who.service_account,
                facts.oidc_provider.as_deref(),
            );
        }
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

/// IRSA: the role trusts the cluster's OIDC provider for this one ServiceAccount.
fn irsa_trust(
    partition: &str,
    account: &str,
    namespace: &str,
    service_account: &str,
    oidc: Option<&str>,
) -> Value {
    let provider = oidc.unwrap_or("<OIDC_PROVIDER>");
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:{partition}:iam::{account}:oidc-provider/{provider}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": {
                format!("{provider}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
                format!("{provider}:aud"): "sts.amazonaws.com",
            }},
        }],
    })
}

/// EKS Pod Identity: the role trusts the Pod Identity service, limited by the session tags it
/// sets to this namespace and ServiceAccount (the association picks the role; this keeps other
/// associations from using it).
fn pod_identity_trust(namespace: &str, service_account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
            "Effect": "Allow",
            "Principal": { "Service": "pods.eks.amazonaws.com" },
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": { "StringEquals": {
                "aws:RequestTag/kubernetes-namespace": [namespace],
                "aws:RequestTag/kubernetes-service-account": [service_account],
            }},
        }],
    })
}

/// The project of a Google service account email (`name@<project>.iam.gserviceaccount.com`).
fn project_of_gsa(email: &str) -> Option<String> {
    let (_, domain) = email.split_once('@')?;
    domain
        .strip_suffix(".iam.gserviceaccount.com")
        .map(str::to_string)
}

/// The bindings that let the ServiceAccount use `role` on `resource`: through a Google service
/// account it impersonates, or directly as a Workload Identity Federation principal.
fn gcp_members(
    role: String,
    resource: Value,
    mechanism: CloudIdentity,
    project: &str,
    gsa: &str,
    who: &Subject,
    facts: &ClusterFacts,
) -> Vec<Value> {
    let (namespace, service_account) = (who.namespace, who.service_account);
    match mechanism {
        CloudIdentity::GkeWorkloadIdentityFederation => {
            let number = facts
                .gcp_project_number
                .as_deref()
                .unwrap_or("<PROJECT_NUMBER>");
            vec![json!({
                "resource": resource,
                "role": role,
                "member": format!(
                    "principal://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{project}.svc.id.goog/subject/ns/{namespace}/sa/{service_account}"
                ),
            })]
        }
        _ => vec![
            json!({
                "resource": resource,
                "role": role,
                "member": format!("serviceAccount:{gsa}"),
            }),
            json!({
                "resource": format!("projects/{}/serviceAccounts/{gsa}", project_of_gsa(gsa).unwrap_or_else(|| project.to_string())),
                "role": "roles/iam.workloadIdentityUser",
                "member": format!("serviceAccount:{project}.svc.id.goog[{namespace}/{service_account}]"),
            }),
        ],
    }
}

fn gcp_bindings(
    gcp: &GcpKms,
    mode: KmsMode,
    mechanism: CloudIdentity,
    who: &Subject,
    facts: &ClusterFacts,
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
    let gsa = who
        .identity
        .and_then(|s| s.gcp_service_account.clone())
        .unwrap_or_else(|| "<GOOGLE_SERVICE_ACCOUNT_EMAIL>".to_string());
    let ring = format!(
        "projects/{}/locations/{}/keyRings/{}",
        gcp.project_id, gcp.location_id, gcp.key_ring_id
    );
    json!({
        "provider": "gcp",
        "mode": mode.as_str(),
        "cloudIdentity": mechanism.as_str(),
        "customRole": {
            "id": "cantonParticipantKms",
            "title": "Canton participant KMS",
            "includedPermissions": permissions,
        },
        "bindings": gcp_members(
            format!("projects/{}/roles/cantonParticipantKms", gcp.project_id),
            json!(ring),
            mechanism,
            &gcp.project_id,
            &gsa,
            who,
            facts,
        ),
    })
}

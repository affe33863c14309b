//! `spec.kms`: a validator's recorded key-storage decision, and the rules that keep it safe.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::cloud_identity::{AWS_ROLE_ANNOTATION, CloudIdentity, GCP_SA_ANNOTATION};
use super::rotation::KeyRotationSettings;
use crate::kms::{AwsKms, DriverKms, EnvelopeSettings, GcpKms, KmsMode, KmsProvider};

/// Where the participant's keys live. Once recorded it renders the same participant forever:
/// environment changes never touch it, and the rules below refuse changes that would lose keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!self.enabled || (has(self.aws) ? 1 : 0) + (has(self.gcp) ? 1 : 0) + (has(self.driver) ? 1 : 0) == 1")
        .message("enabled: true needs exactly one provider block: aws, gcp or driver")
        .reason(Reason::FieldValueRequired),
    validation = Rule::new("(has(self.aws) ? 1 : 0) + (has(self.gcp) ? 1 : 0) + (has(self.driver) ? 1 : 0) <= 1")
        .message("set at most one provider block: aws, gcp or driver"),
    validation = Rule::new("!oldSelf.enabled || self.enabled")
        .message("KMS cannot be turned off for this validator: its participant's keys live in the KMS. Create a new validator instead"),
    validation = Rule::new("oldSelf.enabled || !self.enabled || self.mode == 'envelope'")
        .message("external-key mode (crypto.provider = kms) must be chosen before the participant first starts; this validator can move to mode: envelope (keys stay in its database, wrapped by a KMS key), or create a new validator with KMS"),
    validation = Rule::new("!oldSelf.enabled || self.mode == oldSelf.mode")
        .message("mode cannot change once KMS is enabled"),
    validation = Rule::new("!oldSelf.enabled || (has(self.aws) == has(oldSelf.aws) && has(self.gcp) == has(oldSelf.gcp) && has(self.driver) == has(oldSelf.driver))")
        .message("the KMS provider cannot change once KMS is enabled: the participant's keys are in the current one"),
    validation = Rule::new("!oldSelf.enabled || !has(oldSelf.aws) || !has(self.aws) || (self.aws.region == oldSelf.aws.region && (has(self.aws.multiRegionKey) && self.aws.multiRegionKey) == (has(oldSelf.aws.multiRegionKey) && oldSelf.aws.multiRegionKey))")
        .message("aws.region and aws.multiRegionKey locate the participant's keys and cannot change"),
    validation = Rule::new("!oldSelf.enabled || !has(oldSelf.gcp) || !has(self.gcp) || (self.gcp.locationId == oldSelf.gcp.locationId && self.gcp.projectId == oldSelf.gcp.projectId && self.gcp.keyRingId == oldSelf.gcp.keyRingId)")
        .message("gcp.locationId, gcp.projectId and gcp.keyRingId locate the participant's keys and cannot change"),
    validation = Rule::new("!oldSelf.enabled || !has(oldSelf.driver) || !has(self.driver) || self.driver.name == oldSelf.driver.name")
        .message("driver.name cannot change once KMS is enabled"),
    validation = Rule::new("self.mode == 'envelope' || !has(self.envelope)")
        .message("envelope settings apply only with mode: envelope"),
    validation = Rule::new("!has(self.serviceAccount) || !has(self.serviceAccount.cloudIdentity) || (!has(self.aws) || self.serviceAccount.cloudIdentity in ['irsa', 'eksPodIdentity']) && (!has(self.gcp) || self.serviceAccount.cloudIdentity in ['gkeWorkloadIdentity', 'gkeWorkloadIdentityFederation'])")
        .message("serviceAccount.cloudIdentity must match the provider: irsa or eksPodIdentity with aws, gkeWorkloadIdentity or gkeWorkloadIdentityFederation with gcp"),
)]
pub struct KmsSpec {
    /// Whether the participant's keys live in (or are wrapped by) a KMS.
    pub enabled: bool,
    /// `external`: keys are created and used inside the KMS (Canton `crypto.provider = kms`; the
    /// mode Splice documents; fixed before first start). `envelope`: keys stay in the database,
    /// encrypted by a KMS wrapper key; can be switched on for a running validator (Canton supports
    /// it; Splice documents only external keys).
    #[serde(default)]
    pub mode: KmsMode,
    /// AWS KMS settings (IRSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsKms>,
    /// Google Cloud KMS settings (Workload Identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpKms>,
    /// KMS driver settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<DriverKms>,
    /// Envelope-mode settings (wrapper key, revert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<EnvelopeSettings>,
    /// The identity the participant uses to reach the KMS. When absent, `spec.serviceAccountName` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<KmsServiceAccount>,
    /// Key rotation: a schedule (`every`) and TLS to the participant's Admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<KeyRotationSettings>,
    /// Canton's session signing keys: short-lived keys, authorised by the KMS key, sign most
    /// protocol messages, which cuts KMS calls and cost. External mode only; Splice 0.7.2 and later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_signing_keys: Option<SessionSigningKeys>,
}

/// `crypto.session-signing-keys` of the participant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSigningKeys {
    /// Turn session signing keys on.
    pub enabled: bool,
}

/// The participant's cloud identity: an existing ServiceAccount, or one the operator creates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.name) != (has(self.create) && self.create)")
        .message("set either name (an existing ServiceAccount) or create: true"),
    validation = Rule::new("!(has(self.create) && self.create) || has(self.awsRoleArn) || has(self.gcpServiceAccount) || (has(self.cloudIdentity) && self.cloudIdentity in ['eksPodIdentity', 'gkeWorkloadIdentityFederation'])")
        .message("create: true needs awsRoleArn or gcpServiceAccount (or cloudIdentity eksPodIdentity / gkeWorkloadIdentityFederation, which need nothing on the ServiceAccount)"),
    validation = Rule::new("!has(self.cloudIdentity) || !(self.cloudIdentity in ['irsa', 'eksPodIdentity']) || !has(self.gcpServiceAccount)")
        .message("gcpServiceAccount is for GKE Workload Identity; cloudIdentity irsa and eksPodIdentity are AWS mechanisms"),
    validation = Rule::new("!has(self.cloudIdentity) || !(self.cloudIdentity in ['gkeWorkloadIdentity', 'gkeWorkloadIdentityFederation']) || !has(self.awsRoleArn)")
        .message("awsRoleArn is for AWS; cloudIdentity gkeWorkloadIdentity and gkeWorkloadIdentityFederation are Google Cloud mechanisms"),
    validation = Rule::new("!has(self.cloudIdentity) || self.cloudIdentity != 'gkeWorkloadIdentityFederation' || !has(self.gcpServiceAccount)")
        .message("gkeWorkloadIdentityFederation grants the Kubernetes ServiceAccount itself: there is no Google service account to set (use gkeWorkloadIdentity to impersonate one)"),
)]
pub struct KmsServiceAccount {
    /// Name of an existing ServiceAccount in the validator's namespace, managed outside the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Let the operator create, own and keep converged a ServiceAccount named `<validator>-participant`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<bool>,
    /// IAM role for IRSA, put on the created ServiceAccount as `eks.amazonaws.com/role-arn`.
    /// With `cloudIdentity: eksPodIdentity` it is not put on the ServiceAccount (the association
    /// in AWS names the role); `iam-policy` still reads the account from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_role_arn: Option<String>,
    /// Google service account email for Workload Identity, put on the created ServiceAccount as
    /// `iam.gke.io/gcp-service-account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_service_account: Option<String>,
    /// How the ServiceAccount becomes a cloud identity: `irsa`, `eksPodIdentity`,
    /// `gkeWorkloadIdentity` or `gkeWorkloadIdentityFederation`. Absent: `irsa` with AWS KMS,
    /// `gkeWorkloadIdentity` with Google Cloud KMS. The preflight checks what each one puts on
    /// the ServiceAccount (docs/kms.md, "Cloud identities").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_identity: Option<CloudIdentity>,
}

impl KmsSpec {
    /// The decision "keys stay on the node".
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The one provider block, when KMS is enabled.
    pub fn provider(&self) -> Option<KmsProvider> {
        if !self.enabled {
            return None;
        }
        if let Some(aws) = &self.aws {
            return Some(KmsProvider::Aws(aws.clone()));
        }
        if let Some(gcp) = &self.gcp {
            return Some(KmsProvider::Gcp(gcp.clone()));
        }
        self.driver.clone().map(KmsProvider::Driver)
    }

    /// A spec holding the given provider in external mode (how the environment default is recorded).
    pub fn external(provider: KmsProvider) -> Self {
        let mut spec = Self {
            enabled: true,
            ..Self::default()
        };
        match provider {
            KmsProvider::Aws(a) => spec.aws = Some(a),
            KmsProvider::Gcp(g) => spec.gcp = Some(g),
            KmsProvider::Driver(d) => spec.driver = Some(d),
        }
        spec
    }

    /// Whether session signing keys are asked for.
    pub fn session_signing_keys(&self) -> bool {
        self.session_signing_keys
            .as_ref()
            .is_some_and(|s| s.enabled)
    }

    /// Whether the operator must create the participant's ServiceAccount.
    pub fn creates_service_account(&self) -> bool {
        self.service_account
            .as_ref()
            .and_then(|sa| sa.create)
            .unwrap_or(false)
    }
}

impl KmsServiceAccount {
    /// The annotations a ServiceAccount the operator creates carries: the role or Google
    /// service account of the annotation-based mechanisms; none for EKS Pod Identity and GKE
    /// Workload Identity Federation (an annotation would make the cluster use the other one).
    pub fn annotations(&self) -> std::collections::BTreeMap<String, String> {
        let mut annotations = std::collections::BTreeMap::new();
        let annotated = |m: CloudIdentity| self.cloud_identity.is_none_or(|c| c == m);
        if let Some(arn) = &self.aws_role_arn
            && annotated(CloudIdentity::Irsa)
        {
            annotations.insert(AWS_ROLE_ANNOTATION.to_string(), arn.clone());
        }
        if let Some(email) = &self.gcp_service_account
            && annotated(CloudIdentity::GkeWorkloadIdentity)
        {
            annotations.insert(GCP_SA_ANNOTATION.to_string(), email.clone());
        }
        annotations
    }
}

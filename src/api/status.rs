//! `status`: what the operator observed and decided, for `kubectl get` and `kubectl describe`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::BackupStatus;
use super::restore::RestoreStatus;

/// Observed state of a Validator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `KmsConfigured`, `ParticipantReady` and `ValidatorAppReady`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The key-storage decision in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsStatus>,
    /// The identity backups' latest attempt and latest verified success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
    /// The restore from an identity dump (`spec.restore`): which dump, whose identity, when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreStatus>,
}

/// A short account of where the participant's keys live.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KmsStatus {
    /// One word for printer columns: `off`, or `<provider>/<mode>` such as `aws/external`.
    pub summary: String,
    /// Where the keys are, such as `region eu-west-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// ServiceAccount the participant runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Where the decision came from: `spec` (set by a person) or `environment` (recorded from the
    /// operator's default when the validator was provisioned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

//! `status`: what the operator observed and decided, for `kubectl get` and `kubectl describe`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
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
    /// The key rotation schedule (`spec.kms.rotation.every`): the last rotation requested and
    /// when the next is due. The schedule counts from here, not from the ValidatorKeyRotation
    /// objects, which are kept only as a short history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_rotation: Option<KeyRotationScheduleStatus>,
}

/// Where a validator's key rotation schedule stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationScheduleStatus {
    /// When the newest rotation of this validator was requested, by the schedule or by hand:
    /// the next one is due `spec.kms.rotation.every` later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The ValidatorKeyRotation requested then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scheduled_rotation: Option<String>,
    /// When the next scheduled rotation is due. It is requested then, or as soon as no other
    /// rotation of this validator is unfinished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
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

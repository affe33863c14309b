//! `spec.backup` and `status.backup`: scheduled, verified identity dumps of the participant, kept
//! off the cluster (or, for small set-ups, in Secrets), and watched.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kms_spec::KmsServiceAccount;

/// Backups of the validator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// The participant's identity dump (participant id, keys or KMS key references, topology
    /// snapshot): what a validator is restored from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identities: Option<IdentityBackup>,
}

/// A scheduled identity backup, run as a CronJob with the operator's image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.destination.secret) || has(self.serviceAccount.name)")
        .message("the secret destination needs serviceAccount.name: a ServiceAccount you bind to a Role that may create, list and delete Secrets in this namespace (docs/backup.md); the operator itself never touches Secrets"),
)]
pub struct IdentityBackup {
    /// Cron schedule in the CronJob's five-field form, such as `0 */6 * * *` (UTC).
    #[schemars(length(min = 9, max = 128))]
    #[x_kube(validation = Rule::new("self.split(' ').filter(f, f != '').size() == 5").message("schedule needs the five cron fields: minute hour day-of-month month day-of-week"))]
    pub schedule: String,
    /// Where the dumps go.
    pub destination: BackupDestination,
    /// How many verified dumps to keep (default 14); the newest verified one is never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub keep: Option<i32>,
    /// The identity the backup Job runs as: an existing ServiceAccount (annotated for IRSA or
    /// Workload Identity, or bound to a Role for the `secret` destination), or one the operator
    /// creates (`<name>-identity-backup`) with `awsRoleArn` / `gcpServiceAccount`.
    pub service_account: KmsServiceAccount,
    /// Stop scheduling runs; the last results stay in the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Scheduling and metadata of the backup Job's pods, over `spec.pods` (maps merged key by
    /// key, other fields replaced whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<super::pods::PodSettings>,
}

/// Exactly one destination.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.s3) ? 1 : 0) + (has(self.gcs) ? 1 : 0) + (has(self.secret) ? 1 : 0) == 1")
        .message("set exactly one destination: s3, gcs or secret"),
)]
pub struct BackupDestination {
    /// An S3 bucket (or an S3-compatible store with `endpoint`), reached through IRSA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Destination>,
    /// A Google Cloud Storage bucket, reached through Workload Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsDestination>,
    /// Kubernetes Secrets in the validator's namespace. Not off the cluster: losing the cluster
    /// loses these dumps too. For small set-ups and trials only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretDestination>,
}

/// An S3 location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Destination {
    /// Bucket name.
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$")
    )]
    pub bucket: String,
    /// Key prefix, such as `canton/identities`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub prefix: Option<String>,
    /// Bucket region, such as `eu-west-1`.
    #[schemars(length(min = 1, max = 64))]
    pub region: String,
    /// Endpoint of an S3-compatible store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub endpoint: Option<String>,
}

/// A Google Cloud Storage location.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcsDestination {
    /// Bucket name.
    #[schemars(length(min = 3, max = 222))]
    pub bucket: String,
    /// Object prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub prefix: Option<String>,
}

/// Secrets in the validator's namespace (no settings: one Secret per dump, labelled).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretDestination {}

/// What the backup runs observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// The latest run that finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<BackupAttempt>,
    /// The latest run whose dump verified and was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<BackupSuccess>,
}

impl BackupStatus {
    /// When the newest verified backup finished (for the age metric, the alerts and key
    /// rotation, which waits for a backup newer than its new keys).
    pub fn last_success_time(&self) -> Option<k8s_openapi::jiff::Timestamp> {
        self.last_success.as_ref()?.finished_at.parse().ok()
    }
}

/// One finished run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupAttempt {
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// `Verified` or `Failed`.
    pub outcome: String,
    /// Why it failed, such as `WrongParticipant`; `Verified` on success.
    pub reason: String,
    /// What happened, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// One verified, stored dump.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSuccess {
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Object (or Secret) name.
    pub object: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// The participant the dump is of (`PAR::<identifier>::<fingerprint>`): what a restore of
    /// another Validator is checked against (two live participants with one identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
}

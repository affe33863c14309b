//! `spec.restore` and `status.restore`: a validator brought back from a verified identity dump
//! (docs/backup.md, "Restoring a validator"). The dump is fetched, verified and handed to the
//! validator app by an init container on the operator's image; the operator never reads it.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::BackupDestination;
use super::kms_spec::KmsServiceAccount;

/// Restore the participant's identity from a dump, into a new, empty participant database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.object) ? 1 : 0) + (has(self.latest) ? 1 : 0) == 1")
        .message("say which dump: set exactly one of object and latest"),
    validation = Rule::new("self.participantIdentifier != self.newParticipantIdentifier")
        .message("newParticipantIdentifier must differ from the dump's identifier: Splice restores into a new participant with an identifier never used before"),
    validation = Rule::new("has(self.serviceAccount.name)")
        .message("restore.serviceAccount needs name: an existing ServiceAccount allowed to read the dump (IRSA or Workload Identity for s3 and gcs, a Role that may get and list Secrets for secret; docs/backup.md). The operator itself never reads the dump or Secrets"),
)]
pub struct RestoreSpec {
    /// Where the dump is, written as `spec.backup.identities.destination` is.
    pub source: BackupDestination,
    /// The dump's object name, as `canton-operator backup list` shows it (for the secret source:
    /// the name in the Secret's `canton-operator.dev/object` annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub object: Option<String>,
    /// The newest dump of a validator that verifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<LatestDump>,
    /// The identifier of the participant the dump is of (`PAR::<identifier>::…`): a dump of
    /// another participant is refused.
    #[schemars(length(min = 1, max = 255))]
    pub participant_identifier: String,
    /// The restored participant's identifier: one never used before, as Splice's procedure asks
    /// (`PAR::<new identifier>::<the dump's fingerprint>`). Must equal
    /// `spec.validatorApp.participantIdentifier`, so that identity backups expect it.
    #[schemars(length(min = 1, max = 255))]
    pub new_participant_identifier: String,
    /// Move the validator party's contracts from Scan to the restored participant (default true).
    #[serde(default = "super::defaults::yes")]
    pub migrate_validator_party: bool,
    /// The identity the fetch runs as (the validator app's pod, while the restore is imported):
    /// `name` of an existing ServiceAccount allowed to read the dump (IRSA, Workload Identity,
    /// or a Role on Secrets for the secret source).
    pub service_account: KmsServiceAccount,
}

/// Which validator's dumps to take the newest verified one of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestDump {
    /// Name of the Validator whose backups these are (`<prefix>/<namespace>/<validator>/`).
    #[schemars(length(min = 1, max = 63))]
    pub validator: String,
    /// Its namespace (default: this Validator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

/// What the restore has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreStatus {
    /// The dump being imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The participant id the dump names (`PAR::<identifier>::<fingerprint>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// The namespace fingerprint the restored participant keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// When the operator cleared the verified dump for import (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When the validator app first became ready on the imported identity (RFC 3339). From then
    /// on the dump is no longer handed to the validator app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

impl RestoreStatus {
    /// The import was cleared to start (the spec is then fixed).
    pub fn started(&self) -> bool {
        self.started_at.is_some()
    }

    /// The validator app came up on the imported identity.
    pub fn completed(&self) -> bool {
        self.completed_at.is_some()
    }
}

//! `ValidatorKeyRotation`: a request to rotate a validator participant's node keys, carried out
//! step by step by the operator, and `spec.kms.rotation` on the Validator (schedule and TLS).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation that confirms a backup, as an alternative to `spec.backupConfirmed: true`.
pub const BACKUP_CONFIRMED_ANNOTATION: &str = "canton-operator.dev/backup-confirmed";
/// Label naming the Validator a rotation belongs to (set on scheduled rotations, for selection).
pub const ROTATION_VALIDATOR_LABEL: &str = "canton-operator.dev/validator";
/// Longest list of keys or pre-created KMS keys one request may name.
pub const MAX_KEYS: usize = 16;

/// A request to rotate a validator participant's node keys: new keys are created (or pre-created
/// KMS keys registered), added to the participant's OwnerToKeyMapping, and the old keys removed
/// from it. Old keys are never deleted.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "canton-operator.dev",
    version = "v1alpha1",
    kind = "ValidatorKeyRotation",
    plural = "validatorkeyrotations",
    shortname = "vkr",
    namespaced,
    status = "ValidatorKeyRotationStatus",
    cel,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Validator","type":"string","jsonPath":".spec.validator"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.validator == oldSelf.validator")
        .message("spec.validator cannot change: create a new ValidatorKeyRotation instead"),
    validation = Rule::new("(has(self.keys) ? self.keys : []) == (has(oldSelf.keys) ? oldSelf.keys : [])")
        .message("spec.keys cannot change once the rotation is requested"),
    validation = Rule::new("(has(self.kmsKeys) ? self.kmsKeys : []) == (has(oldSelf.kmsKeys) ? oldSelf.kmsKeys : [])")
        .message("spec.kmsKeys cannot change once the rotation is requested"),
    validation = Rule::new("(has(self.pauseForBackup) && self.pauseForBackup) == (has(oldSelf.pauseForBackup) && oldSelf.pauseForBackup)")
        .message("spec.pauseForBackup cannot change once the rotation is requested"),
    validation = Rule::new("!(has(oldSelf.backupConfirmed) && oldSelf.backupConfirmed) || (has(self.backupConfirmed) && self.backupConfirmed)")
        .message("a confirmed backup cannot be unconfirmed"),
    validation = Rule::new("!has(self.synchronizerTimeout) || self.synchronizerTimeout.matches('[1-9]')")
        .message("spec.synchronizerTimeout must be longer than zero, such as 10m: a rotation would give up on its synchronizers at once"),
)]
pub struct ValidatorKeyRotationSpec {
    /// Name of the Validator (in this namespace) whose participant's keys are rotated.
    #[schemars(length(min = 1, max = 63))]
    pub validator: String,
    /// Fingerprints (68 hex characters starting `1220`) of the node keys to rotate. Empty: every
    /// key in the participant's OwnerToKeyMapping. The namespace root key is not a node key and
    /// cannot be rotated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "fingerprint_list")]
    pub keys: Vec<String>,
    /// KMS keys created in advance, one per old key: these are registered instead of having the
    /// participant create new keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub kms_keys: Vec<PreCreatedKmsKey>,
    /// Stop once the new keys are effective, with old and new keys both valid, until a backup is
    /// confirmed with `spec.backupConfirmed: true` or the annotation
    /// `canton-operator.dev/backup-confirmed: "true"`.
    #[serde(default)]
    pub pause_for_backup: bool,
    /// Set to true, after backing up the participant's new keys, to let a paused rotation remove
    /// the old keys. May change after creation, like `synchronizerTimeout`.
    #[serde(default)]
    pub backup_confirmed: bool,
    /// How long to wait for the connected synchronizers to show each OwnerToKeyMapping change
    /// before the rotation fails, such as `10m` or `1h` (hours, minutes, seconds; default 10m).
    /// Counted from when the wait began, recorded in status, so an operator restart does not
    /// extend it. Raise it on a running rotation to wait longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 32),
        regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$")
    )]
    pub synchronizer_timeout: Option<String>,
}

/// A KMS key created in advance to replace one old key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreCreatedKmsKey {
    /// Fingerprint of the key it replaces.
    #[schemars(length(min = 68, max = 68), regex(pattern = r"^1220[0-9a-f]{64}$"))]
    pub old_fingerprint: String,
    /// The KMS key id (for example an AWS key ARN or a GCP key version name).
    #[schemars(length(min = 1, max = 2048))]
    pub kms_key_id: String,
}

fn fingerprint_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "maxItems": MAX_KEYS,
        "items": {
            "type": "string",
            "minLength": 68,
            "maxLength": 68,
            "pattern": "^1220[0-9a-f]{64}$",
        },
    })
}

/// Where a rotation is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RotationPhase {
    /// Not started (or waiting for another rotation of the same validator).
    #[default]
    Pending,
    /// Creating the new keys (or registering the pre-created KMS keys).
    CreatingKeys,
    /// Adding the new keys to the OwnerToKeyMapping and waiting until every connected
    /// synchronizer has it.
    AddingKeys,
    /// New keys effective, old keys still valid: waiting for the backup to be confirmed.
    AwaitingBackup,
    /// Removing the old keys from the OwnerToKeyMapping and waiting until every connected
    /// synchronizer has it.
    RemovingOldKeys,
    /// Every old key is replaced.
    Succeeded,
    /// Stopped; `reason` and `message` say why. Keys are never left unusable.
    Failed,
}

impl RotationPhase {
    /// Succeeded or Failed: nothing more happens.
    pub fn is_terminal(self) -> bool {
        matches!(self, RotationPhase::Succeeded | RotationPhase::Failed)
    }

    /// Between Pending and the end: holds the validator's one rotation slot.
    pub fn is_running(self) -> bool {
        !self.is_terminal() && self != RotationPhase::Pending
    }

    /// The phase's name as shown in status.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationPhase::Pending => "Pending",
            RotationPhase::CreatingKeys => "CreatingKeys",
            RotationPhase::AddingKeys => "AddingKeys",
            RotationPhase::AwaitingBackup => "AwaitingBackup",
            RotationPhase::RemovingOldKeys => "RemovingOldKeys",
            RotationPhase::Succeeded => "Succeeded",
            RotationPhase::Failed => "Failed",
        }
    }
}

/// Observed state of a rotation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorKeyRotationStatus {
    /// Where the rotation is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RotationPhase>,
    /// Why it failed (or waits), in one CamelCase word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened, and what to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The participant's unique identifier, as read from its Admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    /// One entry per old key, fixed when the rotation starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyProgress>,
    /// The OwnerToKeyMapping changes proposed, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proposals: Vec<OkmProposal>,
    /// Failed Admin API calls in a row; reset by every step that succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u32>,
    /// `ParticipantReachable` and `BackupConfirmed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// When the rotation left Pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the current wait for the connected synchronizers began; it fails
    /// `spec.synchronizerTimeout` later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronizers_waiting_since: Option<Time>,
    /// When every connected synchronizer had the new keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_effective_at: Option<Time>,
    /// When it succeeded or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
}

/// The rotation of one old key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyProgress {
    /// Fingerprint of the key being replaced.
    pub old_fingerprint: String,
    /// Its name in the participant's vault, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_name: Option<String>,
    /// `signing` or `encryption`.
    pub purpose: String,
    /// Name of the new key, `<old name>-rotated-<UTC timestamp of the request>`; also how the
    /// operator finds the new key again after a restart.
    pub new_name: String,
    /// Fingerprint of the new key, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_fingerprint: Option<String>,
    /// The pre-created KMS key registered as the new key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// One OwnerToKeyMapping change the operator proposed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OkmProposal {
    /// `AddNewKeys` or `RemoveOldKeys`.
    pub change: String,
    /// The serial proposed (the previous one + 1).
    pub serial: u32,
}

/// `spec.kms.rotation` on a Validator: scheduled rotations and how to reach the Admin API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRotationSettings {
    /// Rotate every node key this often, such as `2160h` (90 days): the operator creates a
    /// ValidatorKeyRotation when one is due. Hours, minutes and seconds (`h`, `m`, `s`); at least 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 2, max = 32),
        regex(pattern = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$")
    )]
    pub every: Option<String>,
    /// Scheduled rotations pause for a backup confirmation, like `pauseForBackup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_for_backup: Option<bool>,
    /// TLS to the participant's Admin API, when the participant serves it with TLS. Absent:
    /// plaintext, as Splice deploys it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_api_tls: Option<AdminApiTls>,
}

/// How to verify the participant's Admin API certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminApiTls {
    /// PEM CA certificate(s) that signed the Admin API's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// Path, in the operator's pod, of a PEM CA file (for example a mounted ConfigMap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Name the certificate is issued to (default: the participant Service's host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl ValidatorKeyRotation {
    /// The phase, Pending when the operator has not written status yet.
    pub fn phase(&self) -> RotationPhase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or_default()
    }

    /// Whether the user confirmed the backup (field or annotation).
    pub fn backup_confirmed(&self) -> bool {
        self.spec.backup_confirmed
            || self
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(BACKUP_CONFIRMED_ANNOTATION))
                .is_some_and(|v| v == "true")
    }
}

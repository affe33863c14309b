//! The one-line JSON result the restore init containers leave in their termination message, and
//! the operator reads into `status.restore` and the `Restored` condition.

use serde::{Deserialize, Serialize};

use crate::backup::result::{MAX_MESSAGE_BYTES, cut};

/// Why a restore step ended as it did: one CamelCase word, stable for conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RestoreReason {
    /// The dump verified; it waits for the operator to clear its fingerprint (nothing written).
    Verified,
    /// The cleared dump verified again and was written for the validator app.
    Fetched,
    /// The participant database holds no node (or only the one this restore imported).
    DatabaseEmpty,
    /// The restore's own settings are wrong (a bad destination, a missing variable).
    InvalidConfig,
    /// The named dump, or any verified dump of the named validator, is not at the source.
    DumpNotFound,
    /// The source could not be read.
    FetchFailed,
    /// The dump has no content.
    EmptyDump,
    /// The dump's JSON or topology snapshot is cut off.
    Truncated,
    /// The dump is not a Splice identities dump.
    InvalidDump,
    /// The dump is of another participant than `spec.restore.participantIdentifier`.
    WrongParticipant,
    /// A key is missing or does not decode.
    MissingKeys,
    /// The dump already names the new participant identifier.
    IdentifierReused,
    /// The dump's KMS key references do not fit `spec.kms` (provider, region, key ring), or the
    /// Validator has no external KMS to hold them.
    KmsMismatch,
    /// The dump holds private keys, which cannot be imported into an external-KMS participant.
    PrivateKeysIntoExternalKms,
    /// The dump at the source is no longer the one the operator cleared.
    DumpChanged,
    /// The dump could not be written for the validator app.
    WriteFailed,
    /// The participant database already holds another node.
    DatabaseNotEmpty,
}

impl RestoreReason {
    /// The word as written in the result and the condition.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreReason::Verified => "Verified",
            RestoreReason::Fetched => "Fetched",
            RestoreReason::DatabaseEmpty => "DatabaseEmpty",
            RestoreReason::InvalidConfig => "InvalidConfig",
            RestoreReason::DumpNotFound => "DumpNotFound",
            RestoreReason::FetchFailed => "FetchFailed",
            RestoreReason::EmptyDump => "EmptyDump",
            RestoreReason::Truncated => "Truncated",
            RestoreReason::InvalidDump => "InvalidDump",
            RestoreReason::WrongParticipant => "WrongParticipant",
            RestoreReason::MissingKeys => "MissingKeys",
            RestoreReason::IdentifierReused => "IdentifierReused",
            RestoreReason::KmsMismatch => "KmsMismatch",
            RestoreReason::PrivateKeysIntoExternalKms => "PrivateKeysIntoExternalKms",
            RestoreReason::DumpChanged => "DumpChanged",
            RestoreReason::WriteFailed => "WriteFailed",
            RestoreReason::DatabaseNotEmpty => "DatabaseNotEmpty",
        }
    }

    /// Whether the step passed (the pod goes on, or waits for the operator's clearance).
    pub fn passed(self) -> bool {
        matches!(
            self,
            RestoreReason::Verified | RestoreReason::Fetched | RestoreReason::DatabaseEmpty
        )
    }

    /// The restore reason of a backup verification failure.
    pub(crate) fn from_backup(reason: crate::backup::Reason) -> RestoreReason {
        use crate::backup::Reason;
        match reason {
            Reason::EmptyDump => RestoreReason::EmptyDump,
            Reason::Truncated => RestoreReason::Truncated,
            Reason::WrongParticipant => RestoreReason::WrongParticipant,
            Reason::MissingKeys => RestoreReason::MissingKeys,
            _ => RestoreReason::InvalidDump,
        }
    }
}

/// One restore step's result. Field names are the JSON's (camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResult {
    pub reason: RestoreReason,
    pub message: String,
    /// The dump's object name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The participant id the dump names, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// The dump's namespace fingerprint, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Why a result line cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("the restore result is not the JSON `restore fetch` writes: {0}")]
pub struct RestoreResultError(#[from] serde_json::Error);

impl RestoreResult {
    /// A result without a dump.
    pub fn new(reason: RestoreReason, message: impl Into<String>) -> RestoreResult {
        RestoreResult {
            reason,
            message: message.into(),
            object: None,
            participant_id: None,
            fingerprint: None,
        }
    }

    /// Reads a result line (such as a terminated container's `message`).
    pub fn parse(text: &str) -> Result<RestoreResult, RestoreResultError> {
        Ok(serde_json::from_str(text.trim())?)
    }

    /// The result as one JSON line, its message cut to fit a termination message.
    pub fn to_line(&self) -> String {
        let mut shown = self.clone();
        shown.message = cut(&shown.message, MAX_MESSAGE_BYTES);
        serde_json::to_string(&shown).unwrap_or_else(|_| {
            format!(
                "{{\"reason\":\"{}\",\"message\":\"\"}}",
                self.reason.as_str()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fits() {
        let mut r = RestoreResult::new(RestoreReason::KmsMismatch, "é".repeat(5000));
        r.fingerprint = Some("1220ab".into());
        let line = r.to_line();
        assert!(line.len() < 4096 && !line.contains('\n'), "{}", line.len());
        let back = RestoreResult::parse(&line).unwrap();
        assert_eq!(back.reason, RestoreReason::KmsMismatch);
        assert_eq!(back.fingerprint.as_deref(), Some("1220ab"));
        assert!(RestoreResult::parse("{\"reason\":\"Whatever\",\"message\":\"\"}").is_err());
    }
}

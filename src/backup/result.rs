//! The one-line JSON result of a backup run: what the CronJob's Pod leaves in its termination
//! message, and what the operator's controller reads back.

use serde::{Deserialize, Serialize};

/// Kubernetes keeps at most 4096 bytes of a termination message; a result stays well under.
pub(crate) const MAX_RESULT_BYTES: usize = 2048;
/// Longest `message` kept, in bytes; longer ones are cut at a character boundary.
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024;

/// Whether the run left a new verified dump at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A dump was fetched, verified and uploaded.
    Verified,
    /// Nothing was uploaded and nothing was deleted.
    Failed,
}

/// Why a run ended as it did: one CamelCase word, stable for conditions and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// Uploaded and verified; retention applied.
    Verified,
    /// Uploaded and verified, but deleting dumps beyond `--keep` failed (nothing is lost).
    PruneFailed,
    /// The run's own settings are wrong (a missing variable, a bad destination).
    InvalidConfig,
    /// The OAuth2 token endpoint refused or could not be reached.
    TokenFailed,
    /// The validator app refused or could not be reached.
    FetchFailed,
    /// The dump has no content: an empty body, or no keys and no topology snapshot.
    EmptyDump,
    /// The dump ends early: its JSON or its topology snapshot is cut off.
    Truncated,
    /// The dump is not a Splice identities dump (wrong JSON shape, bad base64, bad key bytes).
    InvalidDump,
    /// The dump names another participant than this validator's.
    WrongParticipant,
    /// A key the participant needs, or one the last good dump had, is missing or empty.
    MissingKeys,
    /// The dump is older than the newest verified one at the destination.
    OlderThanLastGood,
    /// The destination could not be read or refused the upload.
    UploadFailed,
}

impl Reason {
    /// The word as written in the result.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Verified => "Verified",
            Reason::PruneFailed => "PruneFailed",
            Reason::InvalidConfig => "InvalidConfig",
            Reason::TokenFailed => "TokenFailed",
            Reason::FetchFailed => "FetchFailed",
            Reason::EmptyDump => "EmptyDump",
            Reason::Truncated => "Truncated",
            Reason::InvalidDump => "InvalidDump",
            Reason::WrongParticipant => "WrongParticipant",
            Reason::MissingKeys => "MissingKeys",
            Reason::OlderThanLastGood => "OlderThanLastGood",
            Reason::UploadFailed => "UploadFailed",
        }
    }
}

/// One run's result. Field names are the JSON's (camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub outcome: Outcome,
    pub reason: Reason,
    pub message: String,
    /// The uploaded object (Verified), or the one that would have been written (Failed, if known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The participant the dump names, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    /// Dumps deleted by retention in this run.
    #[serde(default)]
    pub pruned: u32,
    /// RFC 3339, UTC.
    pub finished_at: String,
}

/// Why a result line cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("the backup result is not the JSON `backup identities` writes: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reads a result line (such as a terminated container's `message`).
pub fn parse(text: &str) -> Result<RunResult, ResultError> {
    Ok(serde_json::from_str(text.trim())?)
}

impl RunResult {
    /// Reads a result line; the same as [`parse`].
    pub fn parse(text: &str) -> Result<RunResult, ResultError> {
        parse(text)
    }

    /// The result as one JSON line, its message shortened so the line fits [`MAX_RESULT_BYTES`].
    pub fn to_line(&self) -> String {
        let mut shown = self.clone();
        shown.message = cut(&shown.message, MAX_MESSAGE_BYTES);
        loop {
            let line = serde_json::to_string(&shown).unwrap_or_else(|_| fallback(&shown));
            if line.len() <= MAX_RESULT_BYTES || shown.message.is_empty() {
                return line;
            }
            let keep = shown
                .message
                .len()
                .saturating_sub(line.len() - MAX_RESULT_BYTES + 3);
            shown.message = cut(&shown.message, keep);
        }
    }

    /// Whether the run left a verified dump.
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Verified
    }
}

/// Serializing these plain fields cannot fail; this keeps `to_line` total without `unwrap`.
fn fallback(r: &RunResult) -> String {
    format!(
        "{{\"outcome\":\"Failed\",\"reason\":\"{}\",\"message\":\"\",\"pruned\":0,\"finishedAt\":\"{}\"}}",
        r.reason.as_str(),
        r.finished_at
    )
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(message: String) -> RunResult {
        RunResult {
            outcome: Outcome::Failed,
            reason: Reason::Truncated,
            message,
            object: Some("backups/ns/acme/identities-20260101T000000Z.json".into()),
            size_bytes: Some(12),
            participant_id: Some("PAR::acme::1220ab".into()),
            pruned: 0,
            finished_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn round_trips_with_camel_case_fields() {
        let r = sample("cut off".into());
        let line = r.to_line();
        assert!(line.contains("\"sizeBytes\":12"), "{line}");
        assert!(line.contains("\"participantId\""), "{line}");
        assert!(line.contains("\"finishedAt\""), "{line}");
        assert!(line.contains("\"reason\":\"Truncated\""), "{line}");
        assert_eq!(parse(&line).unwrap(), r);
        assert_eq!(RunResult::parse(&format!("{line}\n")).unwrap(), r);
    }

    #[test]
    fn long_messages_are_cut_to_fit_a_termination_message() {
        let r = sample("é".repeat(10_000));
        let line = r.to_line();
        assert!(line.len() <= MAX_RESULT_BYTES, "{}", line.len());
        assert!(!line.contains('\n'));
        let back = parse(&line).unwrap();
        assert!(back.message.ends_with('…'));
        assert_eq!(back.reason, Reason::Truncated);
    }

    #[test]
    fn unknown_reasons_are_refused() {
        let line = sample("x".into())
            .to_line()
            .replace("Truncated", "Whatever");
        assert!(parse(&line).is_err());
    }
}

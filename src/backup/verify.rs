//! Whether a dump counts as a backup of this validator: it parses, names this participant, holds
//! every key the participant needs, and is not older than the newest verified dump.
//!
//! What is checked, precisely:
//! - **Shape**: the JSON is Splice's `NodeIdentitiesDump`; a body cut off mid-JSON is `Truncated`,
//!   an empty body (or no keys and no snapshot) is `EmptyDump`, anything else unreadable is
//!   `InvalidDump`.
//! - **Snapshot**: `authorizedStoreSnapshot` is base64 of a non-empty sequence of whole protobuf
//!   fields: a snapshot cut inside a field is `Truncated` (one cut exactly between top-level fields
//!   is not detectable this way). Its topology content is not interpreted.
//! - **Participant**: `id` is `PAR::<identifier>::<fingerprint>` with this validator's identifier,
//!   and, once a verified dump exists, the same fingerprint as the newest one (`WrongParticipant`).
//! - **Keys** (`MissingKeys`): every entry decodes: a `keyPair` is base64 of a Canton
//!   `CryptoKeyPair` holding a non-empty private key and its fingerprint; a KMS reference has
//!   `type` signing or encryption and a non-empty `keyId`. There is at least one signing and one
//!   encryption key. The namespace key (the fingerprint in `id`) is among the key pairs, unless the
//!   dump has KMS signing references (a KMS key's fingerprint cannot be computed offline). Every
//!   key of the newest verified dump is still there (Canton never deletes a node's keys, and the
//!   operator's rotations retire keys without deleting them, so a key that disappears means a
//!   partial dump).
//! - **Age** (`OlderThanLastGood`): the new object's UTC timestamp is later than the newest
//!   verified dump's, and its topology snapshot is not shorter. The authorized store keeps every
//!   topology transaction it accepted (removals are new transactions), so its snapshot only grows;
//!   a shorter one comes from an older or rolled-back node.

use super::dump::{self, Dump, DumpError, Key, ParticipantId, Purpose};
use super::result::Reason;

/// The newest verified dump at the destination, what a new one is compared with.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    /// Its object name (for messages).
    pub object: String,
    /// Its `YYYYMMDDTHHMMSSZ` stamp.
    pub stamp: String,
    pub dump: Dump,
}

/// What the dump must match.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    /// The validator's participant identifier (`spec.validatorApp.participantIdentifier`).
    pub identifier: &'a str,
    /// The stamp of the object the dump would be written as (`None` offline).
    pub stamp: Option<&'a str>,
    /// The namespace fingerprint the participant must keep (a restored validator's, from
    /// `status.restore.fingerprint`), even before a verified dump of it exists.
    pub fingerprint: Option<&'a str>,
    pub baseline: Option<&'a Baseline>,
}

/// Why a dump does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
    /// The participant id the dump names, when it could be read.
    pub participant_id: Option<String>,
}

/// Verifies `bytes`; on success, the decoded dump.
pub(crate) fn verify(bytes: &[u8], expected: Expected<'_>) -> Result<Dump, Rejection> {
    let dump = dump::parse(bytes).map_err(from_dump_error)?;
    let reject = |reason, message: String| Rejection {
        reason,
        message,
        participant_id: Some(dump.id.clone()),
    };
    let participant =
        check_participant(&dump, expected).map_err(|m| reject(Reason::WrongParticipant, m))?;
    check_keys(&dump, &participant).map_err(|m| reject(Reason::MissingKeys, m))?;
    if let Some(base) = expected.baseline {
        check_kept_keys(&dump, base).map_err(|m| reject(Reason::MissingKeys, m))?;
        check_age(&dump, expected.stamp, base).map_err(|m| reject(Reason::OlderThanLastGood, m))?;
    }
    Ok(dump)
}

fn from_dump_error(e: DumpError) -> Rejection {
    let reason = match &e {
        DumpError::Empty | DumpError::EmptySnapshot => Reason::EmptyDump,
        DumpError::TruncatedJson(_) | DumpError::TruncatedSnapshot(_) => Reason::Truncated,
        DumpError::Shape(_) | DumpError::SnapshotBase64(_) => Reason::InvalidDump,
        DumpError::BadKey { .. } => Reason::MissingKeys,
    };
    Rejection {
        reason,
        message: e.to_string(),
        participant_id: None,
    }
}

fn check_participant(dump: &Dump, expected: Expected<'_>) -> Result<ParticipantId, String> {
    let participant = dump.participant.clone().ok_or_else(|| {
        format!(
            "the dump's id {:?} is not a participant id (PAR::<identifier>::<fingerprint>)",
            dump.id
        )
    })?;
    if participant.identifier != expected.identifier {
        return Err(format!(
            "the dump is of participant {:?}, not of this validator's {:?}",
            dump.id, expected.identifier
        ));
    }
    if let Some(fingerprint) = expected.fingerprint
        && participant.fingerprint != fingerprint
    {
        return Err(format!(
            "the dump's namespace fingerprint in {:?} is not {fingerprint}, the one this validator was restored with: another node with the same identifier",
            dump.id
        ));
    }
    if let Some(base) = expected.baseline {
        let known = base
            .dump
            .participant
            .as_ref()
            .map(|p| p.fingerprint.as_str());
        if known != Some(participant.fingerprint.as_str()) {
            return Err(format!(
                "the dump's namespace fingerprint in {:?} differs from the last good dump's {:?} ({}): another node with the same identifier",
                dump.id, base.dump.id, base.object
            ));
        }
    }
    Ok(participant)
}

fn check_keys(dump: &Dump, participant: &ParticipantId) -> Result<(), String> {
    let has = |p: Purpose| dump.keys.iter().any(|k| k.purpose() == p);
    if dump.keys.is_empty() {
        return Err("the dump holds no keys".into());
    }
    if !has(Purpose::Signing) {
        return Err("the dump holds no signing key".into());
    }
    if !has(Purpose::Encryption) {
        return Err("the dump holds no encryption key".into());
    }
    let kms_signing = dump.keys.iter().any(|k| {
        matches!(
            k,
            Key::Kms {
                purpose: Purpose::Signing,
                ..
            }
        )
    });
    let namespace_pair = dump.keys.iter().any(
        |k| matches!(k, Key::Pair { fingerprint, .. } if *fingerprint == participant.fingerprint),
    );
    if !kms_signing && !namespace_pair {
        return Err(format!(
            "the namespace key {} (the fingerprint in the participant id) is not in the dump",
            participant.fingerprint
        ));
    }
    Ok(())
}

fn check_kept_keys(dump: &Dump, base: &Baseline) -> Result<(), String> {
    let missing: Vec<&str> = base
        .dump
        .keys
        .iter()
        .map(Key::identity)
        .filter(|id| !dump.keys.iter().any(|k| k.identity() == *id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} key(s) of the last good dump {} are missing: {}",
        missing.len(),
        base.object,
        missing.join(", ")
    ))
}

fn check_age(dump: &Dump, stamp: Option<&str>, base: &Baseline) -> Result<(), String> {
    if let Some(stamp) = stamp
        && stamp <= base.stamp.as_str()
    {
        return Err(format!(
            "this run's time {stamp} is not after the last good dump's {} ({}): check the clock",
            base.stamp, base.object
        ));
    }
    if dump.snapshot_len < base.dump.snapshot_len {
        return Err(format!(
            "the topology snapshot has {} bytes, fewer than the last good dump's {} ({}): the node's state is older",
            dump.snapshot_len, base.dump.snapshot_len, base.object
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    use super::*;
    use crate::backup::dump::test_encode::key_pair;

    fn fp(seed: u8) -> String {
        format!("1220{}", format!("{seed:02x}").repeat(32))
    }

    fn pair(purpose: Purpose, seed: u8) -> serde_json::Value {
        json!({ "keyPair": STANDARD.encode(key_pair(purpose, &fp(seed), b"k")) })
    }

    fn dump_with(keys: Vec<serde_json::Value>) -> Vec<u8> {
        let snapshot = STANDARD.encode([0x0a, 2, 7, 7]);
        serde_json::to_vec(&json!({ "id": format!("PAR::acme::{}", fp(1)), "keys": keys, "authorizedStoreSnapshot": snapshot }))
            .unwrap()
    }

    fn baseline(bytes: &[u8]) -> Baseline {
        Baseline {
            object: "old".into(),
            stamp: "20250101T000000Z".into(),
            dump: dump::parse(bytes).unwrap(),
        }
    }

    #[test]
    fn a_key_of_the_last_good_dump_must_still_be_there() {
        let old = dump_with(vec![
            pair(Purpose::Signing, 1),
            pair(Purpose::Signing, 2),
            pair(Purpose::Encryption, 3),
        ]);
        let base = baseline(&old);
        let new = dump_with(vec![
            pair(Purpose::Signing, 1),
            pair(Purpose::Encryption, 3),
        ]);
        let expected = Expected {
            identifier: "acme",
            stamp: Some("20250102T000000Z"),
            baseline: Some(&base),
            fingerprint: None,
        };
        let r = verify(&new, expected).unwrap_err();
        assert_eq!(r.reason, Reason::MissingKeys);
        assert!(r.message.contains(&fp(2)), "{}", r.message);
        // A rotation adds keys: more keys than before is fine.
        let grown = dump_with(vec![
            pair(Purpose::Signing, 1),
            pair(Purpose::Signing, 2),
            pair(Purpose::Encryption, 3),
            pair(Purpose::Signing, 4),
        ]);
        assert!(verify(&grown, expected).is_ok());
    }

    #[test]
    fn a_run_not_after_the_last_good_dump_is_older() {
        let bytes = dump_with(vec![
            pair(Purpose::Signing, 1),
            pair(Purpose::Encryption, 3),
        ]);
        let base = baseline(&bytes);
        for stamp in ["20250101T000000Z", "20241231T235959Z"] {
            let expected = Expected {
                identifier: "acme",
                stamp: Some(stamp),
                baseline: Some(&base),
                fingerprint: None,
            };
            assert_eq!(
                verify(&bytes, expected).unwrap_err().reason,
                Reason::OlderThanLastGood,
                "{stamp}"
            );
        }
    }

    #[test]
    fn without_kms_the_namespace_key_must_be_a_key_pair() {
        let bytes = dump_with(vec![
            pair(Purpose::Signing, 2),
            pair(Purpose::Encryption, 3),
        ]);
        let expected = Expected {
            identifier: "acme",
            stamp: None,
            baseline: None,
            fingerprint: None,
        };
        let r = verify(&bytes, expected).unwrap_err();
        assert_eq!(r.reason, Reason::MissingKeys);
        assert!(r.message.contains("namespace"), "{}", r.message);
    }

    #[test]
    fn a_restored_validator_s_dumps_keep_its_fingerprint() {
        let bytes = dump_with(vec![
            pair(Purpose::Signing, 1),
            pair(Purpose::Encryption, 3),
        ]);
        let expected = |fingerprint| Expected {
            identifier: "acme",
            stamp: None,
            baseline: None,
            fingerprint,
        };
        let (own, other) = (fp(1), fp(9));
        assert!(verify(&bytes, expected(Some(&own))).is_ok());
        let r = verify(&bytes, expected(Some(&other))).unwrap_err();
        assert_eq!(r.reason, Reason::WrongParticipant);
        assert!(r.message.contains("restored"), "{}", r.message);
    }
}

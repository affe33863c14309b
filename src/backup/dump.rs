//! A Splice node identities dump, as the validator app's
//! `GET /api/validator/v0/admin/participant/identities` returns it (Splice's `NodeIdentitiesDump`
//! schema in `common-internal.yaml`): `id`, `keys` (each a `{keyPair, name}` or a KMS reference
//! `{type, keyId, name}`), `authorizedStoreSnapshot` (base64) and an optional `version`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// The dump as JSON; unknown fields are kept out, not refused (the schema only grows).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawDump {
    pub id: String,
    pub keys: Vec<RawKey>,
    pub authorized_store_snapshot: String,
    #[serde(default)]
    pub version: Option<String>,
}

/// One entry of `keys`: the schema's `oneOf` of a key pair and a KMS key reference.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawKey {
    #[serde(rename_all = "camelCase")]
    Pair {
        key_pair: String,
        #[serde(default)]
        name: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Kms {
        #[serde(rename = "type")]
        kind: String,
        key_id: String,
        #[serde(default)]
        name: Option<String>,
    },
}

/// What a key is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Signing,
    Encryption,
}

/// A key of the dump, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// A private key held in the dump; `fingerprint` is the private key's id (Canton stores the
    /// key's fingerprint there).
    Pair {
        purpose: Purpose,
        fingerprint: String,
        name: Option<String>,
    },
    /// A key that stays in the KMS; the dump holds only its reference.
    Kms {
        purpose: Purpose,
        key_id: String,
        name: Option<String>,
    },
}

impl Key {
    /// What identifies the key across dumps: its fingerprint, or its KMS key id.
    pub(crate) fn identity(&self) -> &str {
        match self {
            Key::Pair { fingerprint, .. } => fingerprint,
            Key::Kms { key_id, .. } => key_id,
        }
    }

    pub(crate) fn purpose(&self) -> Purpose {
        match self {
            Key::Pair { purpose, .. } | Key::Kms { purpose, .. } => *purpose,
        }
    }
}

/// A participant id, `PAR::<identifier>::<namespace fingerprint>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantId {
    pub identifier: String,
    pub fingerprint: String,
}

impl ParticipantId {
    /// Reads `PAR::identifier::fingerprint`; `None` for any other member or shape.
    pub fn parse(id: &str) -> Option<ParticipantId> {
        let rest = id.strip_prefix("PAR::")?;
        let (identifier, fingerprint) = rest.rsplit_once("::")?;
        if identifier.is_empty() || fingerprint.is_empty() {
            return None;
        }
        Some(ParticipantId {
            identifier: identifier.to_string(),
            fingerprint: fingerprint.to_string(),
        })
    }
}

/// A dump whose JSON, keys and snapshot all decode.
#[derive(Debug, Clone)]
pub struct Dump {
    pub id: String,
    pub participant: Option<ParticipantId>,
    pub keys: Vec<Key>,
    /// Length of the decoded topology snapshot, in bytes.
    pub snapshot_len: usize,
    pub version: Option<String>,
}

/// Why bytes are not a usable dump; [`crate::backup::verify`] maps each to a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DumpError {
    #[error("the dump is empty")]
    Empty,
    #[error("the dump's JSON ends early (byte {0}): the download was cut off")]
    TruncatedJson(usize),
    #[error("the dump is not a Splice identities dump: {0}")]
    Shape(String),
    #[error("authorizedStoreSnapshot is not base64: {0}")]
    SnapshotBase64(String),
    #[error("the topology snapshot is empty")]
    EmptySnapshot,
    #[error("the topology snapshot ends early: {0}")]
    TruncatedSnapshot(String),
    #[error("key {index} ({name}) is empty or does not decode: {why}")]
    BadKey {
        index: usize,
        name: String,
        why: String,
    },
}

/// Parses and decodes a dump.
pub fn parse(bytes: &[u8]) -> Result<Dump, DumpError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DumpError::Empty);
    }
    let raw: RawDump = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            DumpError::TruncatedJson(bytes.len())
        } else {
            DumpError::Shape(e.to_string())
        }
    })?;
    let snapshot = STANDARD
        .decode(raw.authorized_store_snapshot.trim())
        .map_err(|e| DumpError::SnapshotBase64(e.to_string()))?;
    if snapshot.is_empty() && raw.keys.is_empty() {
        return Err(DumpError::Empty);
    }
    if snapshot.is_empty() {
        return Err(DumpError::EmptySnapshot);
    }
    check_wire(&snapshot).map_err(DumpError::TruncatedSnapshot)?;
    let keys = raw
        .keys
        .iter()
        .enumerate()
        .map(|(index, k)| decode_key(k).map_err(|why| bad_key(index, k, why)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Dump {
        participant: ParticipantId::parse(&raw.id),
        id: raw.id,
        keys,
        snapshot_len: snapshot.len(),
        version: raw.version,
    })
}

fn bad_key(index: usize, key: &RawKey, why: String) -> DumpError {
    let name = match key {
        RawKey::Pair { name, .. } | RawKey::Kms { name, .. } => name.clone(),
    };
    DumpError::BadKey {
        index,
        name: name.unwrap_or_else(|| "unnamed".into()),
        why,
    }
}

fn decode_key(key: &RawKey) -> Result<Key, String> {
    match key {
        RawKey::Kms { kind, key_id, name } => {
            let purpose = match kind.as_str() {
                "signing" => Purpose::Signing,
                "encryption" => Purpose::Encryption,
                other => {
                    return Err(format!(
                        "KMS key type {other:?} is neither signing nor encryption"
                    ));
                }
            };
            if key_id.trim().is_empty() {
                return Err("the KMS keyId is empty".into());
            }
            Ok(Key::Kms {
                purpose,
                key_id: key_id.clone(),
                name: name.clone(),
            })
        }
        RawKey::Pair { key_pair, name } => {
            let bytes = STANDARD
                .decode(key_pair.trim())
                .map_err(|e| format!("keyPair is not base64: {e}"))?;
            let (purpose, fingerprint) = keypair::decode(&bytes)?;
            Ok(Key::Pair {
                purpose,
                fingerprint,
                name: name.clone(),
            })
        }
    }
}

/// Checks that `bytes` is a sequence of whole protobuf fields: a cut-off snapshot fails here.
/// Only the top level is walked; the snapshot's schema is Canton's and not needed for this.
pub(crate) fn check_wire(bytes: &[u8]) -> Result<(), String> {
    let mut at = 0;
    while at < bytes.len() {
        let (tag, next) =
            varint(bytes, at).ok_or_else(|| format!("a field tag at byte {at} is cut off"))?;
        at = next;
        if tag >> 3 == 0 {
            return Err(format!("field number 0 at byte {at}"));
        }
        at = match tag & 7 {
            0 => {
                varint(bytes, at)
                    .ok_or_else(|| format!("a number at byte {at} is cut off"))?
                    .1
            }
            1 => at + 8,
            5 => at + 4,
            2 => {
                let (len, start) =
                    varint(bytes, at).ok_or_else(|| format!("a length at byte {at} is cut off"))?;
                let len = usize::try_from(len)
                    .map_err(|_| format!("a length at byte {at} is too large"))?;
                start
                    .checked_add(len)
                    .ok_or_else(|| format!("a length at byte {at} is too large"))?
            }
            other => {
                return Err(format!(
                    "wire type {other} at byte {at} is not used by Canton"
                ));
            }
        };
        if at > bytes.len() {
            return Err(format!(
                "a field needs {} bytes more than the {} there are",
                at - bytes.len(),
                bytes.len()
            ));
        }
    }
    Ok(())
}

/// A base-128 varint at `at`: its value and the index after it.
fn varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(at)?;
        at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value, at));
        }
    }
    None
}

/// Canton's `CryptoKeyPair` (crypto/v30/crypto.proto), as `keys.secret.download` gives it,
/// usually inside Canton's `UntypedVersionedMessage { bytes data = 1; int32 version = 2; }`.
mod keypair {
    use prost::Message;

    use super::Purpose;

    #[derive(Clone, PartialEq, Message)]
    struct Versioned {
        #[prost(bytes = "vec", tag = "1")]
        data: Vec<u8>,
        #[prost(int32, tag = "2")]
        version: i32,
    }

    #[derive(Clone, PartialEq, Message)]
    struct CryptoKeyPair {
        #[prost(message, optional, tag = "1")]
        signing_key_pair: Option<Pair>,
        #[prost(message, optional, tag = "2")]
        encryption_key_pair: Option<Pair>,
    }

    /// `SigningKeyPair` and `EncryptionKeyPair` alike: `private_key = 2` (field 1, the former
    /// public key, is skipped when present).
    #[derive(Clone, PartialEq, Message)]
    struct Pair {
        #[prost(message, optional, tag = "2")]
        private_key: Option<PrivateKey>,
    }

    /// The fields of `SigningPrivateKey` / `EncryptionPrivateKey` this check needs.
    #[derive(Clone, PartialEq, Message)]
    struct PrivateKey {
        #[prost(string, tag = "1")]
        id: String,
        #[prost(bytes = "vec", tag = "3")]
        private_key: Vec<u8>,
    }

    /// The purpose and fingerprint of a downloaded key pair, if it holds a private key.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Purpose, String), String> {
        if bytes.is_empty() {
            return Err("keyPair is empty".into());
        }
        let versioned = Versioned::decode(bytes)
            .ok()
            .filter(|v| v.version > 0 && !v.data.is_empty());
        match versioned {
            Some(v) => from_pair(&v.data),
            None => from_pair(bytes),
        }
    }

    fn from_pair(bytes: &[u8]) -> Result<(Purpose, String), String> {
        let pair = CryptoKeyPair::decode(bytes)
            .map_err(|e| format!("keyPair is not a Canton CryptoKeyPair: {e}"))?;
        let (purpose, inner) = match (pair.signing_key_pair, pair.encryption_key_pair) {
            (Some(p), None) => (Purpose::Signing, p),
            (None, Some(p)) => (Purpose::Encryption, p),
            _ => {
                return Err("keyPair holds neither one signing nor one encryption key pair".into());
            }
        };
        let key = inner
            .private_key
            .ok_or_else(|| "keyPair holds no private key".to_string())?;
        if key.private_key.is_empty() {
            return Err("keyPair's private key is empty".into());
        }
        if key.id.is_empty() {
            return Err("keyPair's private key has no fingerprint".into());
        }
        Ok((purpose, key.id))
    }

    #[cfg(test)]
    pub(crate) mod encode {
        //! Builds key pairs as Canton serializes them, for tests.
        use prost::Message;

        use super::*;

        pub(crate) fn key_pair(purpose: Purpose, fingerprint: &str, secret: &[u8]) -> Vec<u8> {
            let pair = Some(Pair {
                private_key: Some(PrivateKey {
                    id: fingerprint.into(),
                    private_key: secret.to_vec(),
                }),
            });
            let msg = match purpose {
                Purpose::Signing => CryptoKeyPair {
                    signing_key_pair: pair,
                    encryption_key_pair: None,
                },
                Purpose::Encryption => CryptoKeyPair {
                    signing_key_pair: None,
                    encryption_key_pair: pair,
                },
            };
            Versioned {
                data: msg.encode_to_vec(),
                version: 30,
            }
            .encode_to_vec()
        }
    }
}

#[cfg(test)]
pub(crate) use keypair::encode as test_encode;

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(seed: u8) -> String {
        format!("1220{}", format!("{seed:02x}").repeat(32))
    }

    #[test]
    fn participant_ids_split_on_the_last_separator() {
        let p = ParticipantId::parse("PAR::acme::part::1220ab").unwrap();
        assert_eq!(
            (p.identifier.as_str(), p.fingerprint.as_str()),
            ("acme::part", "1220ab")
        );
        for other in ["MED::x::1220", "PAR::::1220", "PAR::x::", "acme"] {
            assert_eq!(ParticipantId::parse(other), None, "{other}");
        }
    }

    #[test]
    fn key_pairs_decode_versioned_and_bare() {
        let versioned = test_encode::key_pair(Purpose::Encryption, &fp(1), b"secret");
        assert_eq!(
            keypair::decode(&versioned).unwrap(),
            (Purpose::Encryption, fp(1))
        );
        // The bare CryptoKeyPair: the versioned wrapper's payload.
        let bare = &versioned[2..versioned.len() - 2];
        assert_eq!(keypair::decode(bare).unwrap(), (Purpose::Encryption, fp(1)));
    }

    #[test]
    fn key_pairs_without_a_private_key_are_refused() {
        let empty_secret = test_encode::key_pair(Purpose::Signing, &fp(1), b"");
        assert!(
            keypair::decode(&empty_secret)
                .unwrap_err()
                .contains("empty")
        );
        let no_id = test_encode::key_pair(Purpose::Signing, "", b"k");
        assert!(keypair::decode(&no_id).unwrap_err().contains("fingerprint"));
        assert!(keypair::decode(b"").is_err());
        assert!(keypair::decode(b"\xff\xff").is_err());
    }

    #[test]
    fn wire_check_finds_cut_off_snapshots() {
        let whole = [0x0a, 3, 1, 2, 3, 0x10, 0x96, 0x01, 0x1d, 0, 0, 0, 0];
        assert_eq!(check_wire(&whole), Ok(()));
        // A cut inside a field is found; one between fields is a shorter valid message (a
        // transport cut also ends the JSON early, which `parse` reports).
        for cut in (1..whole.len()).filter(|c| ![5, 8].contains(c)) {
            assert!(check_wire(&whole[..cut]).is_err(), "cut at {cut}");
        }
        assert!(check_wire(&[0x0b]).is_err(), "group wire type");
    }

    #[test]
    fn kms_references_need_a_type_and_an_id() {
        let kms = |kind: &str, id: &str| RawKey::Kms {
            kind: kind.into(),
            key_id: id.into(),
            name: None,
        };
        assert!(decode_key(&kms("signing", "arn:aws:kms:k")).is_ok());
        assert!(decode_key(&kms("signing", " ")).is_err());
        assert!(decode_key(&kms("mac", "k")).is_err());
    }
}

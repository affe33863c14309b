//! The checks a dump passes before it may be imported, beyond `backup verify`'s: it is not of the
//! new identifier already, and its keys fit where this Validator keeps keys (`spec.kms`).
//!
//! - KMS key references (the keys stay in the KMS) need a participant in external KMS mode with
//!   the same provider, and, where the reference names it, the same AWS region or the same GCP
//!   project, location and key ring. A bare key id (no ARN, no resource name) carries no location
//!   and is left to the participant, which registers each key when it imports the dump.
//! - Private keys cannot go into a participant in external KMS mode (it holds no private keys);
//!   into a participant without KMS or in envelope mode (keys in its database) they can.

use crate::api::KmsSpec;
use crate::backup::dump::{Dump, Key};
use crate::kms::{KmsMode, KmsProvider};

use super::result::RestoreReason;

/// Where this Validator keeps its participant's keys, as the restore checks need it; written on
/// the command line as `off`, `envelope`, `aws/<region>`, `gcp/<project>/<location>/<key ring>`
/// or `driver/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsTarget {
    /// Keys on the node.
    Off,
    /// Keys in the database, wrapped by a KMS key.
    Envelope,
    /// External keys in AWS KMS in this region.
    Aws { region: String },
    /// External keys in this GCP key ring.
    Gcp {
        project: String,
        location: String,
        key_ring: String,
    },
    /// External keys behind a KMS driver.
    Driver { name: String },
}

/// What kind of keys a dump holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Private keys (the file must be readable only by the validator app's user).
    Private,
    /// KMS key references only.
    Kms,
}

/// Why a dump may not be imported here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub reason: RestoreReason,
    pub message: String,
}

fn refuse(reason: RestoreReason, message: String) -> Refusal {
    Refusal { reason, message }
}

impl KmsTarget {
    /// The target of a recorded `spec.kms` (absent: keys on the node).
    pub fn of(kms: Option<&KmsSpec>) -> KmsTarget {
        let Some(kms) = kms.filter(|k| k.enabled) else {
            return KmsTarget::Off;
        };
        if kms.mode == KmsMode::Envelope {
            return KmsTarget::Envelope;
        }
        match kms.provider() {
            Some(KmsProvider::Aws(a)) => KmsTarget::Aws { region: a.region },
            Some(KmsProvider::Gcp(g)) => KmsTarget::Gcp {
                project: g.project_id,
                location: g.location_id,
                key_ring: g.key_ring_id,
            },
            Some(KmsProvider::Driver(d)) => KmsTarget::Driver { name: d.name },
            None => KmsTarget::Off,
        }
    }

    /// The command-line form.
    pub fn to_arg(&self) -> String {
        match self {
            KmsTarget::Off => "off".into(),
            KmsTarget::Envelope => "envelope".into(),
            KmsTarget::Aws { region } => format!("aws/{region}"),
            KmsTarget::Gcp {
                project,
                location,
                key_ring,
            } => format!("gcp/{project}/{location}/{key_ring}"),
            KmsTarget::Driver { name } => format!("driver/{name}"),
        }
    }

    /// Reads the command-line form.
    pub fn parse(text: &str) -> Result<KmsTarget, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |p: &[&str]| p.iter().all(|s| !s.is_empty());
        match parts.as_slice() {
            ["off"] => Ok(KmsTarget::Off),
            ["envelope"] => Ok(KmsTarget::Envelope),
            ["aws", region] if ok(&[region]) => Ok(KmsTarget::Aws {
                region: region.to_string(),
            }),
            ["gcp", project, location, key_ring] if ok(&[project, location, key_ring]) => {
                Ok(KmsTarget::Gcp {
                    project: project.to_string(),
                    location: location.to_string(),
                    key_ring: key_ring.to_string(),
                })
            }
            ["driver", name] if ok(&[name]) => Ok(KmsTarget::Driver {
                name: name.to_string(),
            }),
            _ => Err(format!(
                "--kms {text:?} is not off, envelope, aws/<region>, gcp/<project>/<location>/<key ring> or driver/<name>"
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            KmsTarget::Off => "KMS off (keys on the node)".into(),
            KmsTarget::Envelope => "KMS envelope mode (keys in the database)".into(),
            KmsTarget::Aws { region } => format!("AWS KMS in {region}"),
            KmsTarget::Gcp {
                project,
                location,
                key_ring,
            } => format!("GCP KMS key ring {project}/{location}/{key_ring}"),
            KmsTarget::Driver { name } => format!("the KMS driver {name}"),
        }
    }
}

/// Checks a verified dump against the restore: its keys fit `kms`, and it is not of
/// `new_identifier` already. Returns the kind of keys it holds.
pub(crate) fn check(
    dump: &Dump,
    new_identifier: &str,
    kms: &KmsTarget,
) -> Result<KeyKind, Refusal> {
    if dump
        .participant
        .as_ref()
        .is_some_and(|p| p.identifier == new_identifier)
    {
        return Err(refuse(
            RestoreReason::IdentifierReused,
            format!(
                "the dump is already of {:?}: newParticipantIdentifier must be one never used before",
                dump.id
            ),
        ));
    }
    let references: Vec<&str> = dump
        .keys
        .iter()
        .filter_map(|k| match k {
            Key::Kms { key_id, .. } => Some(key_id.as_str()),
            Key::Pair { .. } => None,
        })
        .collect();
    let private = dump.keys.len() - references.len();
    let external = matches!(
        kms,
        KmsTarget::Aws { .. } | KmsTarget::Gcp { .. } | KmsTarget::Driver { .. }
    );
    if private > 0 && external {
        return Err(refuse(
            RestoreReason::PrivateKeysIntoExternalKms,
            format!(
                "the dump holds {private} private key(s), which cannot be imported into a participant whose keys live in {} (external mode holds no private keys): restore into a Validator with KMS off, or from a dump of a KMS participant",
                kms.describe()
            ),
        ));
    }
    if references.is_empty() {
        return Ok(KeyKind::Private);
    }
    if !external {
        return Err(refuse(
            RestoreReason::KmsMismatch,
            format!(
                "the dump's {} key(s) stay in a KMS ({}), but this Validator has {}: set spec.kms to the KMS, region or key ring the keys are in (external mode)",
                references.len(),
                references[0],
                kms.describe()
            ),
        ));
    }
    for key in &references {
        if let Some(why) = mismatch(key, kms) {
            return Err(refuse(
                RestoreReason::KmsMismatch,
                format!(
                    "KMS key {key} {why}, but this Validator's keys live in {}: spec.kms must name the KMS the dump's keys are in",
                    kms.describe()
                ),
            ));
        }
    }
    Ok(KeyKind::Kms)
}

/// Why a KMS key reference does not fit `kms`, when it names where it is.
fn mismatch(key: &str, kms: &KmsTarget) -> Option<String> {
    let aws_region = key
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').nth(2).filter(|_| rest.contains(":kms:")));
    let gcp = gcp_location(key);
    match (kms, aws_region, gcp) {
        (KmsTarget::Aws { region }, Some(r), _) if r != region => {
            Some(format!("is in AWS region {r}"))
        }
        (KmsTarget::Aws { .. }, None, Some(_)) => Some("is a GCP KMS key".into()),
        (
            KmsTarget::Gcp {
                project,
                location,
                key_ring,
            },
            _,
            Some((p, l, r)),
        ) if (p, l, r) != (project.as_str(), location.as_str(), key_ring.as_str()) => {
            Some(format!("is in GCP key ring {p}/{l}/{r}"))
        }
        (KmsTarget::Gcp { .. }, Some(_), _) => Some("is an AWS KMS key".into()),
        (KmsTarget::Driver { .. }, Some(_), _) => Some("is an AWS KMS key".into()),
        (KmsTarget::Driver { .. }, _, Some(_)) => Some("is a GCP KMS key".into()),
        _ => None,
    }
}

/// Project, location and key ring of `projects/P/locations/L/keyRings/R/cryptoKeys/…`.
fn gcp_location(key: &str) -> Option<(&str, &str, &str)> {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["projects", p, "locations", l, "keyRings", r, ..] => Some((p, l, r)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::dump::{ParticipantId, Purpose};

    fn dump(keys: Vec<Key>) -> Dump {
        Dump {
            id: "PAR::old::1220ab".into(),
            participant: ParticipantId::parse("PAR::old::1220ab"),
            keys,
            snapshot_len: 4,
            version: None,
        }
    }

    fn kms(id: &str) -> Key {
        Key::Kms {
            purpose: Purpose::Signing,
            key_id: id.into(),
            name: None,
        }
    }

    fn pair() -> Key {
        Key::Pair {
            purpose: Purpose::Signing,
            fingerprint: "1220ab".into(),
            name: None,
        }
    }

    fn aws(region: &str) -> KmsTarget {
        KmsTarget::Aws {
            region: region.into(),
        }
    }

    const ARN_EU: &str = "arn:aws:kms:eu-west-1:111122223333:key/ns";

    #[test]
    fn kms_references_need_the_same_provider_and_region() {
        assert_eq!(
            check(&dump(vec![kms(ARN_EU)]), "new", &aws("eu-west-1")),
            Ok(KeyKind::Kms)
        );
        let r = check(&dump(vec![kms(ARN_EU)]), "new", &aws("us-east-1")).unwrap_err();
        assert_eq!(r.reason, RestoreReason::KmsMismatch);
        assert!(
            r.message.contains("eu-west-1") && r.message.contains("us-east-1"),
            "{}",
            r.message
        );
        let gcp = KmsTarget::Gcp {
            project: "p".into(),
            location: "l".into(),
            key_ring: "r".into(),
        };
        assert_eq!(
            check(&dump(vec![kms(ARN_EU)]), "new", &gcp)
                .unwrap_err()
                .reason,
            RestoreReason::KmsMismatch
        );
        let other_ring =
            kms("projects/p/locations/l/keyRings/other/cryptoKeys/k/cryptoKeyVersions/1");
        assert_eq!(
            check(&dump(vec![other_ring]), "new", &gcp)
                .unwrap_err()
                .reason,
            RestoreReason::KmsMismatch
        );
        let same_ring = kms("projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1");
        assert_eq!(check(&dump(vec![same_ring]), "new", &gcp), Ok(KeyKind::Kms));
        // A bare key id names no location: the participant checks it when it registers it.
        assert_eq!(
            check(&dump(vec![kms("1234abcd-12ab")]), "new", &aws("eu-west-1")),
            Ok(KeyKind::Kms)
        );
    }

    #[test]
    fn kms_references_need_an_external_kms() {
        for target in [KmsTarget::Off, KmsTarget::Envelope] {
            let r = check(&dump(vec![kms(ARN_EU)]), "new", &target).unwrap_err();
            assert_eq!(r.reason, RestoreReason::KmsMismatch, "{target:?}");
        }
    }

    #[test]
    fn private_keys_cannot_go_into_an_external_kms() {
        let r = check(&dump(vec![pair()]), "new", &aws("eu-west-1")).unwrap_err();
        assert_eq!(r.reason, RestoreReason::PrivateKeysIntoExternalKms);
        assert_eq!(
            check(&dump(vec![pair()]), "new", &KmsTarget::Off),
            Ok(KeyKind::Private)
        );
        assert_eq!(
            check(&dump(vec![pair()]), "new", &KmsTarget::Envelope),
            Ok(KeyKind::Private)
        );
    }

    #[test]
    fn the_new_identifier_must_be_new() {
        let r = check(&dump(vec![pair()]), "old", &KmsTarget::Off).unwrap_err();
        assert_eq!(r.reason, RestoreReason::IdentifierReused);
    }

    #[test]
    fn targets_round_trip_on_the_command_line() {
        for t in [
            KmsTarget::Off,
            KmsTarget::Envelope,
            aws("eu-west-1"),
            KmsTarget::Gcp {
                project: "p".into(),
                location: "l".into(),
                key_ring: "r".into(),
            },
            KmsTarget::Driver { name: "d".into() },
        ] {
            assert_eq!(KmsTarget::parse(&t.to_arg()), Ok(t));
        }
        for bad in ["", "aws", "aws/", "gcp/p/l", "kms"] {
            assert!(KmsTarget::parse(bad).is_err(), "{bad}");
        }
    }
}

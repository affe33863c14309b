//! `restore fetch`: the init container that brings the dump to the validator app.
//!
//! Without `--cleared-fingerprint` (the first pod of a restore) it fetches and verifies the dump
//! and reports its participant id and fingerprint, writing nothing: the pod stops there (exit 3)
//! until the operator has checked that no live Validator has that fingerprint and renders the pod
//! again with the fingerprint and object it cleared. Then it fetches that object, verifies it
//! again, checks it is still the cleared dump, and writes it (mode 0400 when it holds private
//! keys, else 0440), so the validator app imports exactly what was checked.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::check::{self, KeyKind, KmsTarget};
use super::result::{RestoreReason, RestoreResult};
use crate::backup::commands::{self, CommandError};
use crate::backup::run::verify_alone;
use crate::backup::store::{Connect, Destination, Store, StoreError};

/// Exit code of a dump that verified and waits for the operator's clearance.
pub const AWAITING_CLEARANCE: u8 = 3;

/// Which dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An object name.
    Object(String),
    /// The newest verified dump of a validator (in its namespace).
    Latest {
        validator: String,
        namespace: String,
    },
}

/// What the operator cleared: the object and fingerprint the written dump must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    pub object: String,
    pub fingerprint: String,
}

/// The settings of `restore fetch`.
#[derive(Debug, Clone)]
pub struct FetchSpec {
    pub destination: Destination,
    pub connect: Connect,
    pub source: Source,
    /// The identifier the dump must be of.
    pub participant_identifier: String,
    pub new_participant_identifier: String,
    pub kms: KmsTarget,
    pub cleared: Option<Cleared>,
    /// Where the validator app reads the dump.
    pub output: PathBuf,
}

/// Fetches, verifies and (when cleared) writes; every end is a [`RestoreResult`].
pub async fn run(spec: &FetchSpec) -> RestoreResult {
    match Store::open(&spec.destination, &spec.connect).await {
        Ok(store) => run_with(spec, &store).await,
        Err(e) => RestoreResult::new(RestoreReason::InvalidConfig, e.to_string()),
    }
}

/// [`run`] against an opened store.
pub async fn run_with(spec: &FetchSpec, store: &Store) -> RestoreResult {
    let (object, bytes) = match fetch(spec, store).await {
        Ok(found) => found,
        Err(result) => return *result,
    };
    let mut result = RestoreResult::new(RestoreReason::Verified, String::new());
    result.object = Some(object.clone());
    let dump = match verify_alone(&bytes, Some(&spec.participant_identifier)) {
        Ok(dump) => dump,
        Err(r) => {
            result.reason = RestoreReason::from_backup(r.reason);
            result.message = format!("{object} does not verify: {}", r.message);
            result.participant_id = r.participant_id;
            return result;
        }
    };
    result.participant_id = Some(dump.id.clone());
    let fingerprint = dump
        .participant
        .as_ref()
        .map(|p| p.fingerprint.clone())
        .unwrap_or_default();
    result.fingerprint = Some(fingerprint.clone());
    let kind = match check::check(&dump, &spec.new_participant_identifier, &spec.kms) {
        Ok(kind) => kind,
        Err(refusal) => {
            result.reason = refusal.reason;
            result.message = refusal.message;
            return result;
        }
    };
    let Some(cleared) = &spec.cleared else {
        result.message = format!(
            "{object} verified: {} ({} keys, {}); waiting for the operator to check that no live Validator has fingerprint {fingerprint}",
            dump.id,
            dump.keys.len(),
            kind_words(kind)
        );
        return result;
    };
    if cleared.object != object || cleared.fingerprint != fingerprint {
        result.reason = RestoreReason::DumpChanged;
        result.message = format!(
            "the dump is {object} with fingerprint {fingerprint}, not the cleared {} with {}: restore with a new Validator to import another dump",
            cleared.object, cleared.fingerprint
        );
        return result;
    }
    match write(&spec.output, &bytes, kind) {
        Ok(mode) => {
            result.reason = RestoreReason::Fetched;
            result.message = format!(
                "{object} verified and written to {} (mode {mode:o}, {}) for the validator app to import as PAR::{}::{fingerprint}",
                spec.output.display(),
                kind_words(kind),
                spec.new_participant_identifier
            );
        }
        Err(e) => {
            result.reason = RestoreReason::WriteFailed;
            result.message = format!("writing {}: {e}", spec.output.display());
        }
    }
    result
}

fn kind_words(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::Private => "private keys",
        KeyKind::Kms => "KMS key references",
    }
}

async fn fetch(spec: &FetchSpec, store: &Store) -> Result<(String, Vec<u8>), Box<RestoreResult>> {
    let (object, validator, namespace) = match &spec.source {
        Source::Object(name) => (Some(name.clone()), None, None),
        Source::Latest {
            validator,
            namespace,
        } => (None, Some(validator.as_str()), Some(namespace.clone())),
    };
    commands::fetch(
        &spec.destination,
        store,
        object,
        validator,
        namespace,
        Some(&spec.participant_identifier),
    )
    .await
    .map_err(|e| {
        let reason = match &e {
            CommandError::NoVerifiedDump { .. } | CommandError::Store(StoreError::NotFound(_)) => {
                RestoreReason::DumpNotFound
            }
            CommandError::Store(StoreError::Object {
                source: object_store::Error::NotFound { .. },
                ..
            }) => RestoreReason::DumpNotFound,
            CommandError::Store(StoreError::Secret {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 404 => RestoreReason::DumpNotFound,
            CommandError::Namespace => RestoreReason::InvalidConfig,
            _ => RestoreReason::FetchFailed,
        };
        let mut result = RestoreResult::new(reason, e.to_string());
        if let Source::Object(name) = &spec.source {
            result.object = Some(name.clone());
        }
        Box::new(result)
    })
}

/// Writes the dump through a temporary file renamed into place (a restarted container never
/// leaves half a dump), readable by the owner only when it holds private keys.
fn write(path: &Path, bytes: &[u8], kind: KeyKind) -> std::io::Result<u32> {
    let mode = match kind {
        KeyKind::Private => 0o400,
        KeyKind::Kms => 0o440,
    };
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)?;
    Ok(mode)
}

//! One backup run, start to end: token, fetch, verify against the newest verified dump, upload,
//! read back, prune. Every way it can end is a [`RunResult`]; a failed run writes and deletes
//! nothing.

use chrono::{DateTime, SecondsFormat, Utc};

use super::fetch::{self, Credentials, FetchError};
use super::result::{Outcome, Reason, RunResult};
use super::store::{self, Connect, Destination, Entry, Store, StoreError};
use super::verify::{self, Baseline, Expected};

/// The settings of `backup identities`.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub destination: Destination,
    pub connect: Connect,
    pub namespace: String,
    pub validator: String,
    pub participant_identifier: String,
    /// The namespace fingerprint the dump must have (a restored validator's).
    pub participant_fingerprint: Option<String>,
    pub validator_app_url: String,
    /// Dumps kept after a verified run (at least 1).
    pub keep: usize,
    /// An error naming the missing variables: the run then fails with `InvalidConfig`.
    pub credentials: Result<Credentials, String>,
}

/// A run's failure before it is written down.
struct Failure {
    reason: Reason,
    message: String,
    participant_id: Option<String>,
    size: Option<u64>,
}

impl Failure {
    fn new(reason: Reason, message: impl Into<String>) -> Failure {
        Failure {
            reason,
            message: message.into(),
            participant_id: None,
            size: None,
        }
    }
}

/// The `YYYYMMDDTHHMMSSZ` stamp of an object written at `at`.
pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Runs once against `spec.destination`; `now` names the object.
pub async fn run(spec: &RunSpec, now: DateTime<Utc>) -> RunResult {
    match Store::open(&spec.destination, &spec.connect).await {
        Ok(store) => run_with(spec, &store, now).await,
        Err(e) => {
            let f = store_failure(e);
            let mut r = invalid_config(f.message);
            r.reason = f.reason;
            r
        }
    }
}

/// Runs once against an opened store (a test's, or [`run`]'s).
pub async fn run_with(spec: &RunSpec, store: &Store, now: DateTime<Utc>) -> RunResult {
    let stamp = stamp(now);
    let folder = store::folder(spec.destination.prefix(), &spec.namespace, &spec.validator);
    let name = store::object_name(&folder, &stamp);
    let done = |outcome, reason, message: String, participant_id, size, pruned| RunResult {
        outcome,
        reason,
        message,
        object: Some(name.clone()),
        size_bytes: size,
        participant_id,
        pruned,
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    match backup(spec, store, &folder, &name, &stamp).await {
        Ok(ok) => {
            let (reason, message) = match &ok.prune_error {
                None => (
                    Reason::Verified,
                    format!(
                        "verified and uploaded {name}; {} older dump(s) deleted, keeping {}",
                        ok.pruned, spec.keep
                    ),
                ),
                Some(e) => (
                    Reason::PruneFailed,
                    format!(
                        "verified and uploaded {name}, but retention failed (nothing was lost): {e}"
                    ),
                ),
            };
            done(
                Outcome::Verified,
                reason,
                message,
                Some(ok.participant_id),
                Some(ok.size),
                ok.pruned,
            )
        }
        Err(f) => done(
            Outcome::Failed,
            f.reason,
            f.message,
            f.participant_id,
            f.size,
            0,
        ),
    }
}

/// The result of a run whose settings are wrong before it starts.
pub fn invalid_config(message: String) -> RunResult {
    RunResult {
        outcome: Outcome::Failed,
        reason: Reason::InvalidConfig,
        message,
        object: None,
        size_bytes: None,
        participant_id: None,
        pruned: 0,
        finished_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

/// What a verified run did.
struct Done {
    participant_id: String,
    size: u64,
    pruned: u32,
    prune_error: Option<String>,
}

async fn backup(
    spec: &RunSpec,
    store: &Store,
    folder: &str,
    name: &str,
    stamp: &str,
) -> Result<Done, Failure> {
    let credentials = spec
        .credentials
        .as_ref()
        .map_err(|m| Failure::new(Reason::InvalidConfig, m.clone()))?;
    let bytes = fetch_dump(spec, credentials).await?;
    let size = bytes.len() as u64;
    let entries = store
        .list(folder, &spec.validator)
        .await
        .map_err(store_failure)?;
    let baseline = newest_verified(
        store,
        &entries,
        &spec.validator,
        Some(&spec.participant_identifier),
    )
    .await;
    let expected = Expected {
        identifier: &spec.participant_identifier,
        stamp: Some(stamp),
        baseline: baseline.as_ref(),
        fingerprint: spec.participant_fingerprint.as_deref(),
    };
    let dump = verify::verify(&bytes, expected).map_err(|r| Failure {
        reason: r.reason,
        message: r.message,
        participant_id: r.participant_id,
        size: Some(size),
    })?;
    upload(store, name, &spec.validator, bytes)
        .await
        .map_err(|m| Failure {
            reason: Reason::UploadFailed,
            message: m,
            participant_id: Some(dump.id.clone()),
            size: Some(size),
        })?;
    let (pruned, prune_error) = prune(store, folder, &spec.validator, spec.keep, name).await;
    Ok(Done {
        participant_id: dump.id,
        size,
        pruned,
        prune_error,
    })
}

fn store_failure(e: StoreError) -> Failure {
    let reason = match e {
        StoreError::Destination(_) | StoreError::Region => Reason::InvalidConfig,
        _ => Reason::UploadFailed,
    };
    Failure::new(reason, e.to_string())
}

async fn fetch_dump(spec: &RunSpec, credentials: &Credentials) -> Result<Vec<u8>, Failure> {
    let failure = |e: FetchError| {
        let reason = if e.is_token() {
            Reason::TokenFailed
        } else if e.is_truncated() {
            Reason::Truncated
        } else {
            Reason::FetchFailed
        };
        Failure::new(reason, e.to_string())
    };
    let http = fetch::client().map_err(failure)?;
    let token = fetch::token(&http, credentials).await.map_err(failure)?;
    fetch::dump(&http, &spec.validator_app_url, &token)
        .await
        .map_err(failure)
}

/// Writes the dump, then reads it back: a dump counts only once the destination returns it whole.
async fn upload(store: &Store, name: &str, validator: &str, bytes: Vec<u8>) -> Result<(), String> {
    store
        .put(name, validator, bytes.clone())
        .await
        .map_err(|e| e.to_string())?;
    let back = store
        .get(name, validator)
        .await
        .map_err(|e| format!("reading the upload back: {e}"))?;
    if back != bytes {
        return Err(format!(
            "{name} reads back as {} bytes, not the {} written",
            back.len(),
            bytes.len()
        ));
    }
    Ok(())
}

/// The newest dump in `entries` (newest first) that verifies on its own, with its identifier.
pub(crate) async fn newest_verified(
    store: &Store,
    entries: &[Entry],
    validator: &str,
    identifier: Option<&str>,
) -> Option<Baseline> {
    for entry in entries {
        let Ok(bytes) = store.get(&entry.name, validator).await else {
            continue;
        };
        if let Ok(dump) = verify_alone(&bytes, identifier) {
            return Some(Baseline {
                object: entry.name.clone(),
                stamp: entry.stamp.clone(),
                dump,
            });
        }
    }
    None
}

/// Verifies a stored dump by itself (no baseline): against `identifier`, or its own id's.
pub fn verify_alone(
    bytes: &[u8],
    identifier: Option<&str>,
) -> Result<super::dump::Dump, verify::Rejection> {
    let own = super::dump::parse(bytes)
        .ok()
        .and_then(|d| d.participant)
        .map(|p| p.identifier);
    let identifier = identifier.map(str::to_string).or(own).unwrap_or_default();
    verify::verify(
        bytes,
        Expected {
            identifier: &identifier,
            stamp: None,
            baseline: None,
            fingerprint: None,
        },
    )
}

/// Deletes what retention drops; returns how many went and the first error.
async fn prune(
    store: &Store,
    folder: &str,
    validator: &str,
    keep: usize,
    verified: &str,
) -> (u32, Option<String>) {
    let entries = match store.list(folder, validator).await {
        Ok(e) => e,
        Err(e) => return (0, Some(e.to_string())),
    };
    let mut pruned = 0;
    for name in prune_plan(&entries, keep, verified) {
        if let Err(e) = store.delete(&name, validator).await {
            return (pruned, Some(e.to_string()));
        }
        pruned += 1;
    }
    (pruned, None)
}

/// What retention deletes from `entries` (newest first): all but the newest `keep`, and never
/// `newest_verified`, whatever its place.
pub(crate) fn prune_plan(entries: &[Entry], keep: usize, newest_verified: &str) -> Vec<String> {
    entries
        .iter()
        .skip(keep.max(1))
        .filter(|e| e.name != newest_verified)
        .map(|e| e.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(stamps: &[&str]) -> Vec<Entry> {
        stamps
            .iter()
            .map(|s| Entry {
                name: format!("f/identities-{s}.json"),
                stamp: s.to_string(),
                size: 1,
            })
            .collect()
    }

    #[test]
    fn retention_keeps_the_newest_n() {
        let e = entries(&[
            "20260105T000000Z",
            "20260104T000000Z",
            "20260103T000000Z",
            "20260102T000000Z",
        ]);
        let plan = prune_plan(&e, 2, "f/identities-20260105T000000Z.json");
        assert_eq!(
            plan,
            vec![
                "f/identities-20260103T000000Z.json",
                "f/identities-20260102T000000Z.json"
            ]
        );
    }

    #[test]
    fn retention_never_deletes_the_newest_verified_dump() {
        let e = entries(&["20260105T000000Z", "20260104T000000Z", "20260103T000000Z"]);
        let verified = "f/identities-20260103T000000Z.json";
        let plan = prune_plan(&e, 1, verified);
        assert_eq!(plan, vec!["f/identities-20260104T000000Z.json"]);
        assert!(
            prune_plan(&e, 0, verified).len() < e.len(),
            "keep 0 still keeps one"
        );
    }

    #[test]
    fn stamps_sort_as_time() {
        let a = stamp(
            DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
                .unwrap()
                .into(),
        );
        assert_eq!(a, "20260102T030405Z");
    }
}

//! What the `backup` subcommands do, without printing: `main` only parses and prints.

use std::path::Path;

use serde::Serialize;

use super::fetch::Credentials;
use super::result::{Reason, RunResult};
use super::run::{newest_verified, verify_alone};
use super::store::{self, Connect, Destination, Store, StoreError};

/// Where a Pod's namespace is mounted.
const IN_CLUSTER_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Why a `backup` command could not run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no namespace: pass --namespace or set POD_NAMESPACE")]
    Namespace,
    #[error("say which dump: --object NAME, or --latest --validator NAME")]
    NothingToFetch,
    #[error("no dump of validator {validator} at {folder}/ verifies")]
    NoVerifiedDump { validator: String, folder: String },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The OAuth2 client from the `SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_*` variables; the error
/// names every one that is missing.
pub fn credentials(
    url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
) -> Result<Credentials, String> {
    let prefix = "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_";
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let missing: Vec<String> = [
        ("URL", &url),
        ("CLIENT_ID", &client_id),
        ("CLIENT_SECRET", &client_secret),
        ("AUDIENCE", &audience),
    ]
    .iter()
    .filter(|(_, v)| !present(v))
    .map(|(n, _)| format!("{prefix}{n}"))
    .collect();
    match (url, client_id, client_secret, audience) {
        (Some(token_url), Some(client_id), Some(client_secret), Some(audience))
            if missing.is_empty() =>
        {
            Ok(Credentials {
                token_url,
                client_id,
                client_secret,
                audience,
                scope,
            })
        }
        _ => Err(format!(
            "the backup Job needs the validator app's ledger API client credentials: {} not set (from the validator app's OAuth2 Secret)",
            missing.join(", ")
        )),
    }
}

/// `namespace`, else the Pod's own.
pub fn namespace(namespace: Option<String>) -> Result<String, CommandError> {
    namespace
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string(IN_CLUSTER_NAMESPACE)
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|n| !n.is_empty())
        .ok_or(CommandError::Namespace)
}

/// Writes the result line to `path`. Kubernetes reads `/dev/termination-log`; elsewhere a
/// missing directory is reported, not fatal to the run's exit code.
pub fn write_result(path: &Path, result: &RunResult) -> Result<(), CommandError> {
    std::fs::write(path, result.to_line()).map_err(|source| CommandError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// One row of `backup list`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub object: String,
    pub size_bytes: u64,
    pub verified: bool,
    /// Why it does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
}

/// Opens `destination`.
pub async fn open(
    destination: &str,
    connect: &Connect,
) -> Result<(Destination, Store), CommandError> {
    let dest = Destination::parse(destination)?;
    let store = Store::open(&dest, connect).await?;
    Ok((dest, store))
}

/// A validator's dumps, newest first, each verified on its own.
pub async fn list(
    dest: &Destination,
    store: &Store,
    namespace: &str,
    validator: &str,
    identifier: Option<&str>,
) -> Result<Vec<Listed>, CommandError> {
    let folder = store::folder(dest.prefix(), namespace, validator);
    let mut rows = Vec::new();
    for entry in store.list(&folder, validator).await? {
        let checked = match store.get(&entry.name, validator).await {
            Ok(bytes) => verify_alone(&bytes, identifier)
                .map(|d| d.id)
                .map_err(|r| (r.reason, r.participant_id)),
            Err(_) => Err((Reason::UploadFailed, None)),
        };
        rows.push(Listed {
            object: entry.name,
            size_bytes: entry.size,
            verified: checked.is_ok(),
            participant_id: checked
                .as_ref()
                .ok()
                .cloned()
                .or_else(|| checked.as_ref().err().and_then(|e| e.1.clone())),
            reason: checked.err().map(|e| e.0),
        });
    }
    Ok(rows)
}

/// `backup list` as a table.
pub fn to_table(rows: &[Listed]) -> String {
    let mut out = format!("{:<70} {:>10}  {}\n", "OBJECT", "BYTES", "VERIFIED");
    for r in rows {
        let verified = match r.reason {
            None => "yes".to_string(),
            Some(reason) => format!("no ({})", reason.as_str()),
        };
        out.push_str(&format!(
            "{:<70} {:>10}  {verified}\n",
            r.object, r.size_bytes
        ));
    }
    out
}

/// The newest dump that verifies: its name and bytes.
pub(crate) async fn latest(
    dest: &Destination,
    store: &Store,
    namespace: &str,
    validator: &str,
    identifier: Option<&str>,
) -> Result<(String, Vec<u8>), CommandError> {
    let folder = store::folder(dest.prefix(), namespace, validator);
    let entries = store.list(&folder, validator).await?;
    let found = newest_verified(store, &entries, validator, identifier)
        .await
        .ok_or_else(|| CommandError::NoVerifiedDump {
            validator: validator.into(),
            folder: folder.clone(),
        })?;
    let bytes = store.get(&found.object, validator).await?;
    Ok((found.object, bytes))
}

/// The validator a Secret dump's object name belongs to (`…/<validator>/identities-….json`).
pub(crate) fn validator_of(object: &str) -> &str {
    object.rsplit('/').nth(1).unwrap_or_default()
}

/// `backup fetch`: the named object (its validator read from the name when not given), or the
/// newest verified dump of `validator`.
pub async fn fetch(
    dest: &Destination,
    store: &Store,
    object: Option<String>,
    validator: Option<&str>,
    namespace: Option<String>,
    identifier: Option<&str>,
) -> Result<(String, Vec<u8>), CommandError> {
    match (object, validator) {
        (Some(name), owner) => {
            let owner = owner.unwrap_or_else(|| validator_of(&name)).to_string();
            let bytes = store.get(&name, &owner).await?;
            Ok((name, bytes))
        }
        (None, Some(validator)) => {
            let namespace = self::namespace(namespace)?;
            latest(dest, store, &namespace, validator, identifier).await
        }
        (None, None) => Err(CommandError::NothingToFetch),
    }
}

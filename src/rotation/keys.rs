//! `canton-operator keys`: the participant's keys, and whether each is in its OwnerToKeyMapping
//! (in use), retired (kept, no longer mapped), or the namespace key.

use serde::Serialize;

use super::admin::{AdminClient, AdminError, AdminTarget, Store, Timeouts};
use super::plan::Observed;
use super::step::observe;

/// One key, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRow {
    pub fingerprint: String,
    pub name: String,
    pub purpose: String,
    pub usage: String,
    pub kms_key_id: String,
    /// `in OKM`, `retired` or `namespace`.
    pub state: String,
}

/// The rows for what the participant shows, in vault order.
pub(crate) fn key_rows(obs: &Observed) -> Vec<KeyRow> {
    let auth = obs.okms.iter().find(|o| o.store == Store::Authorized);
    obs.keys
        .iter()
        .map(|k| {
            let state = if auth.is_some_and(|o| o.contains(&k.fingerprint)) {
                "in OKM"
            } else if k.is_namespace_key() {
                "namespace"
            } else {
                "retired"
            };
            KeyRow {
                fingerprint: k.fingerprint.clone(),
                name: k.name.clone().unwrap_or_default(),
                purpose: k.purpose.as_str().to_string(),
                usage: k.usage_names().join(","),
                kms_key_id: k.kms_key_id.clone().unwrap_or_default(),
                state: state.to_string(),
            }
        })
        .collect()
}

/// A plain table, one key per line.
pub fn to_table(rows: &[KeyRow]) -> String {
    let header = [
        "FINGERPRINT",
        "NAME",
        "PURPOSE",
        "USAGE",
        "KMS KEY ID",
        "STATE",
    ];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.fingerprint.as_str(),
                or_dash(&r.name),
                r.purpose.as_str(),
                or_dash(&r.usage),
                or_dash(&r.kms_key_id),
                r.state.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let line = |row: [&str; 6]| {
        let parts: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", parts.join("  ").trim_end())
    };
    let mut out = line(header);
    for row in cells {
        out.push_str(&line(row));
    }
    out
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Connects to the Admin API and lists the keys.
pub async fn list(target: &AdminTarget, timeouts: Timeouts) -> Result<Vec<KeyRow>, AdminError> {
    let mut admin = AdminClient::connect(target, timeouts).await?;
    let obs = observe(&mut admin).await?;
    Ok(key_rows(&obs))
}

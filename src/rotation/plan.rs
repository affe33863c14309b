//! The rotation as a pure state machine: from the request, its status and what the participant
//! shows now, the phase and key progress it should report and the next single action.
//!
//! Resumability lives here. The participant is the source of truth: a new key is found again by
//! its deterministic name (or its KMS key id), a proposal is judged done by the authorized store,
//! and every proposal carries the serial the store expects next, so the participant itself refuses
//! a proposal that already applied. The status only fixes what cannot be re-derived: which keys
//! the request covers, whether the backup gate was passed, and which proposals were sent.

use crate::api::{
    KeyProgress, OkmProposal, PreCreatedKmsKey, RotationPhase, ValidatorKeyRotationStatus,
};

use super::admin::{NewKey, Okm, OkmChange, Purpose, Store, VaultKey};
use super::proto::crypto::PublicKey;

/// Longest key name Canton accepts (`KeyName` is a `String300`).
pub(crate) const MAX_KEY_NAME: usize = 300;
/// The marker in new key names, as Canton's console writes it.
pub(crate) const ROTATED: &str = "-rotated";
/// Proposal kinds, as recorded in status.
pub(crate) const ADD_NEW_KEYS: &str = "AddNewKeys";
pub(crate) const REMOVE_OLD_KEYS: &str = "RemoveOldKeys";

/// What the user asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// Fingerprints to rotate; empty: every key in the OwnerToKeyMapping.
    pub keys: &'a [String],
    pub kms_keys: &'a [PreCreatedKmsKey],
    pub pause_for_backup: bool,
    pub backup_confirmed: bool,
    /// UTC timestamp of the request, such as `20250102T030405Z`: the suffix of new key names.
    pub stamp: &'a str,
}

/// What the participant shows now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Observed {
    /// Unique identifier of the participant.
    pub uid: String,
    pub keys: Vec<VaultKey>,
    /// Head state of the OwnerToKeyMapping in each store.
    pub okms: Vec<Okm>,
    /// Ids (logical and physical) of the synchronizers the participant is connected to. Only
    /// their stores are waited for: a participant also lists the stores of synchronizers it
    /// left, and the old store after a logical synchronizer upgrade, which never catch up.
    pub connected: Vec<String>,
}

impl Observed {
    fn authorized(&self) -> Option<&Okm> {
        self.okms.iter().find(|o| o.store == Store::Authorized)
    }

    /// The stores of the connected synchronizers.
    fn synchronizers(&self) -> impl Iterator<Item = &Okm> {
        self.okms
            .iter()
            .filter(|o| matches!(&o.store, Store::Synchronizer(id) if self.connected.contains(id)))
    }

    fn key(&self, fingerprint: &str) -> Option<&VaultKey> {
        self.keys.iter().find(|k| k.fingerprint == fingerprint)
    }
}

/// The next single thing to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Create (or register) the new key for `keys[index]`.
    Create {
        index: usize,
        key: NewKey,
    },
    /// Propose this OwnerToKeyMapping.
    Propose {
        change: &'static str,
        okm: OkmChange,
    },
    /// A proposal was accepted but the authorized store does not show it yet.
    WaitForProposal {
        serial: u32,
    },
    /// These connected synchronizers' stores do not show the change yet.
    WaitForSynchronizers {
        stores: Vec<String>,
    },
    /// New keys effective; the user must confirm the backup.
    AwaitBackup,
    Succeed,
    Fail {
        reason: &'static str,
        message: String,
    },
}

/// The status the rotation should show, and what to do next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub phase: RotationPhase,
    pub keys: Vec<KeyProgress>,
    pub action: Action,
}

fn fail(
    phase: RotationPhase,
    keys: Vec<KeyProgress>,
    reason: &'static str,
    message: String,
) -> Plan {
    Plan {
        phase,
        keys,
        action: Action::Fail { reason, message },
    }
}

/// The next step of a rotation that is not finished.
pub(crate) fn plan(req: &Request, status: &ValidatorKeyRotationStatus, obs: &Observed) -> Plan {
    let phase = status.phase.unwrap_or_default();
    let Some(auth) = obs.authorized().filter(|o| !o.removed) else {
        return fail(
            phase,
            status.keys.clone(),
            "NoOwnerToKeyMapping",
            format!(
                "participant {} has no OwnerToKeyMapping in its authorized store: it is not onboarded yet, so it has no node keys to rotate",
                obs.uid
            ),
        );
    };
    if phase == RotationPhase::Pending {
        return start(req, obs, auth);
    }
    let keys = match resolve_new_keys(&status.keys, obs) {
        Ok(keys) => keys,
        Err((reason, message)) => return fail(phase, status.keys.clone(), reason, message),
    };
    if let Some(index) = keys.iter().position(|k| k.new_fingerprint.is_none()) {
        return create(index, keys, obs);
    }
    let old_gone = keys.iter().all(|k| !auth.contains(&k.old_fingerprint));
    let new_in = keys
        .iter()
        .all(|k| new_fp(k).is_some_and(|f| auth.contains(f)));
    let removing = phase == RotationPhase::RemovingOldKeys || (old_gone && new_in);
    if !removing {
        return add(req, status, obs, auth, keys);
    }
    remove(status, obs, auth, keys)
}

fn new_fp(k: &KeyProgress) -> Option<&str> {
    k.new_fingerprint.as_deref()
}

/// Fixes the keys the request covers and the names of their replacements.
fn start(req: &Request, obs: &Observed, auth: &Okm) -> Plan {
    let pending = |reason, message| fail(RotationPhase::Pending, Vec::new(), reason, message);
    let targets = match targets(req, obs, auth) {
        Ok(t) => t,
        Err((reason, message)) => return pending(reason, message),
    };
    if let Err((reason, message)) = check_kms_keys(req, &targets) {
        return pending(reason, message);
    }
    let mut keys = Vec::with_capacity(targets.len());
    for fp in &targets {
        let Some(old) = obs.key(fp) else {
            return pending(
                "OldKeyNotInVault",
                format!(
                    "key {fp} is in the OwnerToKeyMapping but the participant holds no private key for it (ListMyKeys): it cannot be replaced by this participant"
                ),
            );
        };
        keys.push(KeyProgress {
            old_fingerprint: fp.clone(),
            old_name: old.name.clone(),
            purpose: old.purpose.as_str().to_string(),
            new_name: new_key_name(old.name.as_deref(), old.purpose, fp, req.stamp),
            new_fingerprint: None,
            kms_key_id: kms_key_for(req, fp),
        });
    }
    create(0, keys, obs)
}

/// Old keys to rotate, in OwnerToKeyMapping order.
fn targets(
    req: &Request,
    obs: &Observed,
    auth: &Okm,
) -> Result<Vec<String>, (&'static str, String)> {
    if req.keys.is_empty() {
        // Our own new keys never count as old ones, even if a stale read showed Pending again.
        let suffix = format!("{ROTATED}-{}", req.stamp);
        let ours = |fp: &String| {
            obs.key(fp)
                .and_then(|k| k.name.as_deref())
                .is_some_and(|n| n.ends_with(&suffix))
        };
        let all: Vec<String> = auth
            .fingerprints
            .iter()
            .filter(|f| !ours(f))
            .cloned()
            .collect();
        return Ok(dedup(all));
    }
    for fp in req.keys {
        if obs.key(fp).is_some_and(VaultKey::is_namespace_key) {
            return Err((
                "NamespaceKeyNotRotatable",
                format!(
                    "key {fp} is the participant's namespace key: it is not in the OwnerToKeyMapping and Canton cannot rotate it. Remove it from spec.keys (create a new request)"
                ),
            ));
        }
        if !auth.contains(fp) {
            return Err((
                "NotANodeKey",
                format!(
                    "key {fp} is not one of the participant's node keys (its OwnerToKeyMapping holds {}): only those can be rotated",
                    auth.fingerprints.join(", ")
                ),
            ));
        }
    }
    let ordered = auth
        .fingerprints
        .iter()
        .filter(|f| req.keys.contains(f))
        .cloned()
        .collect();
    Ok(dedup(ordered))
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn check_kms_keys(req: &Request, targets: &[String]) -> Result<(), (&'static str, String)> {
    for (i, k) in req.kms_keys.iter().enumerate() {
        if !targets.contains(&k.old_fingerprint) {
            return Err((
                "KmsKeyForUnknownKey",
                format!(
                    "spec.kmsKeys names {}, which this rotation does not replace",
                    k.old_fingerprint
                ),
            ));
        }
        let dup_old = req.kms_keys[..i]
            .iter()
            .any(|o| o.old_fingerprint == k.old_fingerprint);
        let dup_id = req.kms_keys[..i]
            .iter()
            .any(|o| o.kms_key_id == k.kms_key_id);
        if dup_old || dup_id {
            return Err((
                "DuplicateKmsKey",
                format!(
                    "spec.kmsKeys names {} or KMS key {} twice: give one KMS key per old key",
                    k.old_fingerprint, k.kms_key_id
                ),
            ));
        }
    }
    Ok(())
}

fn kms_key_for(req: &Request, fingerprint: &str) -> Option<String> {
    req.kms_keys
        .iter()
        .find(|k| k.old_fingerprint == fingerprint)
        .map(|k| k.kms_key_id.clone())
}

/// Finds each new key in the vault (by name, or by KMS key id) and records its fingerprint.
fn resolve_new_keys(
    keys: &[KeyProgress],
    obs: &Observed,
) -> Result<Vec<KeyProgress>, (&'static str, String)> {
    let old_fps: Vec<&str> = keys.iter().map(|k| k.old_fingerprint.as_str()).collect();
    let mut out = keys.to_vec();
    for k in &mut out {
        let found = obs.keys.iter().find(|v| {
            v.name.as_deref() == Some(k.new_name.as_str())
                || (k.kms_key_id.is_some() && v.kms_key_id == k.kms_key_id)
        });
        match (found, &k.new_fingerprint) {
            (Some(v), _) => {
                if old_fps.contains(&v.fingerprint.as_str()) {
                    return Err((
                        "KmsKeyInUse",
                        format!(
                            "KMS key {} is already the participant's key {}: give a KMS key created for this rotation",
                            k.kms_key_id.as_deref().unwrap_or("?"),
                            v.fingerprint
                        ),
                    ));
                }
                if v.purpose.as_str() != k.purpose {
                    return Err((
                        "NewKeyWrongPurpose",
                        format!(
                            "the new key {} for {} is a {} key, but the old key is a {} key",
                            v.fingerprint,
                            k.old_fingerprint,
                            v.purpose.as_str(),
                            k.purpose
                        ),
                    ));
                }
                k.new_fingerprint = Some(v.fingerprint.clone());
            }
            (None, Some(fp)) => {
                return Err((
                    "NewKeyMissing",
                    format!(
                        "the new key {fp} ({}) was created but the participant no longer lists it; both old keys stay in use. Create a new ValidatorKeyRotation",
                        k.new_name
                    ),
                ));
            }
            (None, None) => {}
        }
    }
    Ok(out)
}

fn create(index: usize, keys: Vec<KeyProgress>, obs: &Observed) -> Plan {
    let Some(k) = keys.get(index) else {
        return fail(
            RotationPhase::CreatingKeys,
            keys,
            "NothingToRotate",
            "the participant has no node keys to rotate".to_string(),
        );
    };
    let Some(old) = obs.key(&k.old_fingerprint) else {
        let message = format!(
            "the old key {} is no longer in the participant's vault, so its replacement cannot be made like it",
            k.old_fingerprint
        );
        return fail(
            RotationPhase::CreatingKeys,
            keys,
            "OldKeyNotInVault",
            message,
        );
    };
    let key = NewKey {
        purpose: old.purpose,
        name: k.new_name.clone(),
        spec: old.spec,
        usage: old.usage.clone(),
        kms_key_id: k.kms_key_id.clone(),
    };
    Plan {
        phase: RotationPhase::CreatingKeys,
        keys,
        action: Action::Create { index, key },
    }
}

/// Adds every new key to the mapping, then waits until every connected synchronizer shows them.
fn add(
    req: &Request,
    status: &ValidatorKeyRotationStatus,
    obs: &Observed,
    auth: &Okm,
    keys: Vec<KeyProgress>,
) -> Plan {
    let phase = RotationPhase::AddingKeys;
    let missing: Vec<&KeyProgress> = keys
        .iter()
        .filter(|k| new_fp(k).is_some_and(|f| !auth.contains(f)))
        .collect();
    if !missing.is_empty() {
        if let Some(serial) = sent_not_visible(status, ADD_NEW_KEYS, auth) {
            return Plan {
                phase,
                keys,
                action: Action::WaitForProposal { serial },
            };
        }
        let mut public_keys = auth.keys.clone();
        for k in &missing {
            match new_fp(k).and_then(|f| obs.key(f)) {
                Some(v) => public_keys.push(v.public_key.clone()),
                None => {
                    let message = format!(
                        "the new key {} is not in the participant's vault",
                        k.new_name
                    );
                    return fail(phase, keys, "NewKeyMissing", message);
                }
            }
        }
        let okm = OkmChange {
            serial: auth.serial.saturating_add(1),
            member: auth.member.clone(),
            keys: public_keys,
        };
        return Plan {
            phase,
            keys,
            action: Action::Propose {
                change: ADD_NEW_KEYS,
                okm,
            },
        };
    }
    let lagging = lagging(obs, |o| {
        keys.iter()
            .all(|k| new_fp(k).is_some_and(|f| o.contains(f)))
    });
    if !lagging.is_empty() {
        return Plan {
            phase,
            keys,
            action: Action::WaitForSynchronizers { stores: lagging },
        };
    }
    if req.pause_for_backup && !req.backup_confirmed {
        return Plan {
            phase: RotationPhase::AwaitingBackup,
            keys,
            action: Action::AwaitBackup,
        };
    }
    remove(status, obs, auth, keys)
}

/// Removes the old keys once their replacements are effective everywhere, then waits again.
fn remove(
    status: &ValidatorKeyRotationStatus,
    obs: &Observed,
    auth: &Okm,
    keys: Vec<KeyProgress>,
) -> Plan {
    let phase = RotationPhase::RemovingOldKeys;
    let present: Vec<&str> = keys
        .iter()
        .filter(|k| auth.contains(&k.old_fingerprint))
        .map(|k| k.old_fingerprint.as_str())
        .collect();
    if !present.is_empty() {
        if let Err(message) = replacements_effective(&keys, obs, auth) {
            return fail(phase, keys, "WouldLeaveNoUsableKey", message);
        }
        if let Some(serial) = sent_not_visible(status, REMOVE_OLD_KEYS, auth) {
            return Plan {
                phase,
                keys,
                action: Action::WaitForProposal { serial },
            };
        }
        let (kept, fps): (Vec<PublicKey>, Vec<&String>) = auth
            .keys
            .iter()
            .zip(&auth.fingerprints)
            .filter(|(_, f)| !present.contains(&f.as_str()))
            .map(|(k, f)| (k.clone(), f))
            .unzip();
        if fps.is_empty() {
            let message =
                "removing the old keys would leave the OwnerToKeyMapping empty".to_string();
            return fail(phase, keys, "WouldLeaveNoUsableKey", message);
        }
        let okm = OkmChange {
            serial: auth.serial.saturating_add(1),
            member: auth.member.clone(),
            keys: kept,
        };
        return Plan {
            phase,
            keys,
            action: Action::Propose {
                change: REMOVE_OLD_KEYS,
                okm,
            },
        };
    }
    let lagging = lagging(obs, |o| {
        keys.iter().all(|k| !o.contains(&k.old_fingerprint))
    });
    if !lagging.is_empty() {
        return Plan {
            phase,
            keys,
            action: Action::WaitForSynchronizers { stores: lagging },
        };
    }
    Plan {
        phase: RotationPhase::Succeeded,
        keys,
        action: Action::Succeed,
    }
}

/// Every old key still mapped has its replacement in the authorized store and every connected synchronizer.
fn replacements_effective(keys: &[KeyProgress], obs: &Observed, auth: &Okm) -> Result<(), String> {
    for k in keys.iter().filter(|k| auth.contains(&k.old_fingerprint)) {
        let Some(new) = new_fp(k) else {
            return Err(format!("{} has no replacement yet", k.old_fingerprint));
        };
        let everywhere = auth.contains(new) && obs.synchronizers().all(|o| o.contains(new));
        if !everywhere {
            return Err(format!(
                "the replacement {new} of {} is not effective on every connected synchronizer, so the old key stays",
                k.old_fingerprint
            ));
        }
    }
    Ok(())
}

/// A proposal of this kind was accepted with a serial the authorized store has not reached yet.
fn sent_not_visible(status: &ValidatorKeyRotationStatus, change: &str, auth: &Okm) -> Option<u32> {
    status
        .proposals
        .iter()
        .filter(|p: &&OkmProposal| p.change == change)
        .map(|p| p.serial)
        .max()
        .filter(|serial| *serial > auth.serial)
}

/// Synchronizer stores whose mapping does not satisfy `done`, by name.
fn lagging(obs: &Observed, done: impl Fn(&Okm) -> bool) -> Vec<String> {
    obs.synchronizers()
        .filter(|o| !done(o))
        .map(|o| o.store.to_string())
        .collect()
}

/// `<old name>-rotated-<stamp>`, as Canton's console names rotated keys (a name already ending
/// in `-rotated-…` keeps its base). Never contains "namespace" (a Splice restore would give such a
/// key namespace-only usage), never longer than Canton's 300 characters, never empty.
pub(crate) fn new_key_name(
    old: Option<&str>,
    purpose: Purpose,
    fingerprint: &str,
    stamp: &str,
) -> String {
    let base = match old.filter(|n| !n.is_empty()) {
        Some(name) => match name.rfind(ROTATED) {
            Some(i) => name[..i].to_string(),
            None => name.to_string(),
        },
        None => format!(
            "{}-{}",
            purpose.as_str(),
            fingerprint.get(4..12).unwrap_or(fingerprint)
        ),
    };
    let base = without_namespace(&base);
    let suffix = format!("{ROTATED}-{stamp}");
    let room = MAX_KEY_NAME.saturating_sub(suffix.len());
    let base: String = base.chars().take(room).collect();
    without_namespace(&format!("{base}{suffix}"))
}

/// Replaces every "namespace" (any case) with "ns", until none is left.
fn without_namespace(s: &str) -> String {
    let mut out = s.to_string();
    while let Some(i) = out.to_ascii_lowercase().find("namespace") {
        out.replace_range(i..i + "namespace".len(), "ns");
    }
    out
}

#[cfg(test)]
mod tests;

//! The planner, state by state: every phase, resumption from any point, and every refusal.

use super::*;
use crate::api::{KeyProgress, PreCreatedKmsKey, ValidatorKeyRotationStatus};
use crate::rotation::admin::{Okm, Purpose, Store, VaultKey};
use crate::rotation::fingerprint::key_fingerprint;
use crate::rotation::proto::crypto::{
    EncryptionPublicKey, PublicKey, SigningKeyUsage, SigningPublicKey, public_key,
};

const STAMP: &str = "20250601T120000Z";

fn signing(seed: u8, usage: &[SigningKeyUsage]) -> PublicKey {
    PublicKey {
        key: Some(public_key::Key::SigningPublicKey(SigningPublicKey {
            public_key: vec![seed; 8],
            usage: usage.iter().map(|u| *u as i32).collect(),
            ..Default::default()
        })),
    }
}

fn encryption(seed: u8) -> PublicKey {
    PublicKey {
        key: Some(public_key::Key::EncryptionPublicKey(EncryptionPublicKey {
            public_key: vec![seed; 9],
            ..Default::default()
        })),
    }
}

fn fp(k: &PublicKey) -> String {
    key_fingerprint(k).unwrap_or_default()
}

fn vault(name: &str, k: &PublicKey) -> VaultKey {
    let (purpose, usage) = match &k.key {
        Some(public_key::Key::SigningPublicKey(s)) => (Purpose::Signing, s.usage.clone()),
        _ => (Purpose::Encryption, vec![]),
    };
    VaultKey {
        fingerprint: fp(k),
        name: Some(name.to_string()),
        purpose,
        usage,
        spec: 0,
        kms_key_id: None,
        public_key: k.clone(),
    }
}

fn okm(store: Store, serial: u32, keys: &[&PublicKey]) -> Okm {
    Okm {
        store,
        serial,
        removed: false,
        member: "PAR::p::1220".into(),
        keys: keys.iter().map(|k| (*k).clone()).collect(),
        fingerprints: keys.iter().map(|k| fp(k)).collect(),
    }
}

struct World {
    ns: PublicKey,
    old_s: PublicKey,
    old_e: PublicKey,
    new_s: PublicKey,
    new_e: PublicKey,
}

fn world() -> World {
    World {
        ns: signing(1, &[SigningKeyUsage::Namespace]),
        old_s: signing(2, &[SigningKeyUsage::Protocol]),
        old_e: encryption(3),
        new_s: signing(4, &[SigningKeyUsage::Protocol]),
        new_e: encryption(5),
    }
}

fn name(base: &str) -> String {
    format!("{base}-rotated-{STAMP}")
}

/// A participant with the old keys (and the new ones, when `created`), and these mappings.
fn observed(
    w: &World,
    created: bool,
    auth: &[&PublicKey],
    syncs: &[&[&PublicKey]],
    serial: u32,
) -> Observed {
    let mut keys = vec![
        vault("ns", &w.ns),
        vault("sig", &w.old_s),
        vault("enc", &w.old_e),
    ];
    if created {
        keys.push(vault(&name("sig"), &w.new_s));
        keys.push(vault(&name("enc"), &w.new_e));
    }
    let mut okms = vec![okm(Store::Authorized, serial, auth)];
    for (i, s) in syncs.iter().enumerate() {
        okms.push(okm(Store::Synchronizer(format!("s{i}")), serial, s));
    }
    Observed {
        uid: "p::1220".into(),
        keys,
        okms,
        connected: (0..syncs.len()).map(|i| format!("s{i}")).collect(),
    }
}

fn req<'a>(
    keys: &'a [String],
    kms: &'a [PreCreatedKmsKey],
    pause: bool,
    confirmed: bool,
) -> Request<'a> {
    Request {
        keys,
        kms_keys: kms,
        pause_for_backup: pause,
        backup_confirmed: confirmed,
        stamp: STAMP,
    }
}

fn progress(w: &World, created: bool) -> Vec<KeyProgress> {
    let k = |old: &PublicKey, new: &PublicKey, base: &str, purpose: &str| KeyProgress {
        old_fingerprint: fp(old),
        old_name: Some(base.into()),
        purpose: purpose.into(),
        new_name: name(base),
        new_fingerprint: created.then(|| fp(new)),
        kms_key_id: None,
    };
    vec![
        k(&w.old_s, &w.new_s, "sig", "signing"),
        k(&w.old_e, &w.new_e, "enc", "encryption"),
    ]
}

fn status(phase: RotationPhase, keys: Vec<KeyProgress>) -> ValidatorKeyRotationStatus {
    ValidatorKeyRotationStatus {
        phase: Some(phase),
        keys,
        ..Default::default()
    }
}

#[test]
fn start_fixes_every_node_key_and_names_the_replacements() {
    let w = world();
    let obs = observed(
        &w,
        false,
        &[&w.old_s, &w.old_e],
        &[&[&w.old_s, &w.old_e]],
        1,
    );
    let p = plan(
        &req(&[], &[], false, false),
        &status(RotationPhase::Pending, vec![]),
        &obs,
    );
    assert_eq!(p.phase, RotationPhase::CreatingKeys);
    assert_eq!(p.keys, progress(&w, false));
    let Action::Create { index: 0, key } = p.action else {
        panic!("{:?}", p.action)
    };
    assert_eq!(key.name, name("sig"));
    assert_eq!(key.purpose, Purpose::Signing);
    assert_eq!(key.usage, vec![SigningKeyUsage::Protocol as i32]);
}

#[test]
fn creation_resumes_with_the_first_key_not_found_by_name() {
    let w = world();
    let mut obs = observed(&w, false, &[&w.old_s, &w.old_e], &[], 1);
    obs.keys.push(vault(&name("sig"), &w.new_s));
    let p = plan(
        &req(&[], &[], false, false),
        &status(RotationPhase::CreatingKeys, progress(&w, false)),
        &obs,
    );
    assert_eq!(p.keys[0].new_fingerprint, Some(fp(&w.new_s)));
    assert!(
        matches!(p.action, Action::Create { index: 1, .. }),
        "{:?}",
        p.action
    );
}

#[test]
fn adds_all_new_keys_with_the_next_serial() {
    let w = world();
    let obs = observed(&w, true, &[&w.old_s, &w.old_e], &[&[&w.old_s, &w.old_e]], 7);
    let p = plan(
        &req(&[], &[], false, false),
        &status(RotationPhase::CreatingKeys, progress(&w, true)),
        &obs,
    );
    assert_eq!(p.phase, RotationPhase::AddingKeys);
    let Action::Propose { change, okm } = p.action else {
        panic!("{:?}", p.action)
    };
    assert_eq!(change, ADD_NEW_KEYS);
    assert_eq!(okm.serial, 8);
    assert_eq!(
        okm.keys,
        vec![
            w.old_s.clone(),
            w.old_e.clone(),
            w.new_s.clone(),
            w.new_e.clone()
        ]
    );
}

#[test]
fn a_proposal_sent_but_not_yet_visible_is_not_sent_again() {
    let w = world();
    let obs = observed(&w, true, &[&w.old_s, &w.old_e], &[], 7);
    let mut st = status(RotationPhase::AddingKeys, progress(&w, true));
    st.proposals.push(OkmProposal {
        change: ADD_NEW_KEYS.into(),
        serial: 8,
    });
    let p = plan(&req(&[], &[], false, false), &st, &obs);
    assert_eq!(p.action, Action::WaitForProposal { serial: 8 });
}

#[test]
fn waits_for_every_synchronizer_then_pauses_or_removes() {
    let w = world();
    let all = [&w.old_s, &w.old_e, &w.new_s, &w.new_e];
    let lagging = observed(&w, true, &all, &[&all, &[&w.old_s, &w.old_e]], 8);
    let st = status(RotationPhase::AddingKeys, progress(&w, true));
    let p = plan(&req(&[], &[], false, false), &st, &lagging);
    assert_eq!(
        p.action,
        Action::WaitForSynchronizers {
            stores: vec!["synchronizer s1".into()]
        }
    );

    let effective = observed(&w, true, &all, &[&all, &all], 8);
    let p = plan(&req(&[], &[], true, false), &st, &effective);
    assert_eq!(
        (p.phase, p.action),
        (RotationPhase::AwaitingBackup, Action::AwaitBackup)
    );

    let p = plan(
        &req(&[], &[], true, true),
        &status(RotationPhase::AwaitingBackup, progress(&w, true)),
        &effective,
    );
    assert_eq!(p.phase, RotationPhase::RemovingOldKeys);
    let Action::Propose { change, okm } = p.action else {
        panic!("{:?}", p.action)
    };
    assert_eq!(change, REMOVE_OLD_KEYS);
    assert_eq!(
        (okm.serial, okm.keys),
        (9, vec![w.new_s.clone(), w.new_e.clone()])
    );
}

#[test]
fn removal_waits_for_synchronizers_then_succeeds() {
    let w = world();
    let new = [&w.new_s, &w.new_e];
    let all = [&w.old_s, &w.old_e, &w.new_s, &w.new_e];
    let st = status(RotationPhase::RemovingOldKeys, progress(&w, true));
    let p = plan(
        &req(&[], &[], false, false),
        &st,
        &observed(&w, true, &new, &[&all], 9),
    );
    assert!(
        matches!(p.action, Action::WaitForSynchronizers { .. }),
        "{:?}",
        p.action
    );
    let p = plan(
        &req(&[], &[], false, false),
        &st,
        &observed(&w, true, &new, &[&new], 9),
    );
    assert_eq!(
        (p.phase, p.action),
        (RotationPhase::Succeeded, Action::Succeed)
    );
}

#[test]
fn a_stale_phase_never_goes_back_once_the_old_keys_are_gone() {
    let w = world();
    let new = [&w.new_s, &w.new_e];
    // Status still says AddingKeys (a lost write), but the removal already happened.
    let st = status(RotationPhase::AddingKeys, progress(&w, true));
    let p = plan(
        &req(&[], &[], true, false),
        &st,
        &observed(&w, true, &new, &[&new], 9),
    );
    assert_eq!(p.phase, RotationPhase::Succeeded);
}

#[test]
fn never_removes_an_old_key_whose_replacement_is_not_everywhere() {
    let w = world();
    let all = [&w.old_s, &w.old_e, &w.new_s, &w.new_e];
    let st = status(RotationPhase::RemovingOldKeys, progress(&w, true));
    let p = plan(
        &req(&[], &[], false, false),
        &st,
        &observed(&w, true, &all, &[&[&w.old_s, &w.old_e]], 8),
    );
    assert!(
        matches!(
            p.action,
            Action::Fail {
                reason: "WouldLeaveNoUsableKey",
                ..
            }
        ),
        "{:?}",
        p.action
    );
}

#[test]
fn refusals() {
    let w = world();
    let obs = observed(&w, false, &[&w.old_s, &w.old_e], &[], 1);
    let pending = status(RotationPhase::Pending, vec![]);
    let reason = |p: Plan| match p.action {
        Action::Fail { reason, .. } => reason,
        other => panic!("{other:?}"),
    };
    let ns = [fp(&w.ns)];
    assert_eq!(
        reason(plan(&req(&ns, &[], false, false), &pending, &obs)),
        "NamespaceKeyNotRotatable"
    );
    let unknown = [format!("1220{}", "0".repeat(64))];
    assert_eq!(
        reason(plan(&req(&unknown, &[], false, false), &pending, &obs)),
        "NotANodeKey"
    );
    let kms = [PreCreatedKmsKey {
        old_fingerprint: unknown[0].clone(),
        kms_key_id: "k".into(),
    }];
    assert_eq!(
        reason(plan(&req(&[], &kms, false, false), &pending, &obs)),
        "KmsKeyForUnknownKey"
    );
    let twice = [
        PreCreatedKmsKey {
            old_fingerprint: fp(&w.old_s),
            kms_key_id: "k".into(),
        },
        PreCreatedKmsKey {
            old_fingerprint: fp(&w.old_e),
            kms_key_id: "k".into(),
        },
    ];
    assert_eq!(
        reason(plan(&req(&[], &twice, false, false), &pending, &obs)),
        "DuplicateKmsKey"
    );
    let mut none = obs.clone();
    none.okms.clear();
    assert_eq!(
        reason(plan(&req(&[], &[], false, false), &pending, &none)),
        "NoOwnerToKeyMapping"
    );
    // A recorded new key that disappeared from the vault.
    let gone = plan(
        &req(&[], &[], false, false),
        &status(RotationPhase::AddingKeys, progress(&w, true)),
        &obs,
    );
    assert_eq!(reason(gone), "NewKeyMissing");
}

#[test]
fn a_kms_key_already_in_use_is_refused() {
    let w = world();
    let mut obs = observed(&w, false, &[&w.old_s, &w.old_e], &[], 1);
    obs.keys[1].kms_key_id = Some("in-use".into());
    let mut keys = progress(&w, false);
    keys[1].kms_key_id = Some("in-use".into());
    let p = plan(
        &req(&[], &[], false, false),
        &status(RotationPhase::CreatingKeys, keys),
        &obs,
    );
    assert!(
        matches!(
            p.action,
            Action::Fail {
                reason: "KmsKeyInUse",
                ..
            }
        ),
        "{:?}",
        p.action
    );
}

#[test]
fn restart_from_pending_ignores_our_own_new_keys() {
    let w = world();
    let all = [&w.old_s, &w.old_e, &w.new_s, &w.new_e];
    let obs = observed(&w, true, &all, &[], 8);
    let p = plan(
        &req(&[], &[], false, false),
        &status(RotationPhase::Pending, vec![]),
        &obs,
    );
    let olds: Vec<&str> = p.keys.iter().map(|k| k.old_fingerprint.as_str()).collect();
    assert_eq!(olds, [fp(&w.old_s), fp(&w.old_e)]);
}

#[test]
fn new_names() {
    let n = |old: Option<&str>| new_key_name(old, Purpose::Signing, "1220abcdef0123456789", STAMP);
    assert_eq!(n(Some("sig")), format!("sig-rotated-{STAMP}"));
    assert_eq!(
        n(Some("sig-rotated-20240101T000000Z")),
        format!("sig-rotated-{STAMP}")
    );
    assert_eq!(n(None), format!("signing-abcdef01-rotated-{STAMP}"));
    assert_eq!(n(Some("")), format!("signing-abcdef01-rotated-{STAMP}"));
    assert_eq!(
        n(Some("my-Namespace-key")),
        format!("my-ns-key-rotated-{STAMP}")
    );
    assert!(
        !n(Some("namesnamespacepace"))
            .to_lowercase()
            .contains("namespace")
    );
    let long = "x".repeat(400);
    let named = n(Some(&long));
    assert_eq!(named.chars().count(), MAX_KEY_NAME);
    assert!(named.ends_with(STAMP));
}

#[test]
fn a_store_of_a_synchronizer_not_connected_never_blocks() {
    let w = world();
    let old = [&w.old_s, &w.old_e];
    let new = [&w.new_s, &w.new_e];
    let all = [&w.old_s, &w.old_e, &w.new_s, &w.new_e];
    // s1 is a synchronizer the participant left (or the store an upgrade left behind): it
    // still lists the old keys and never changes.
    let left = |mut o: Observed| {
        o.connected.retain(|id| id != "s1");
        o
    };
    let adding = status(RotationPhase::AddingKeys, progress(&w, true));
    let p = plan(
        &req(&[], &[], false, false),
        &adding,
        &left(observed(&w, true, &all, &[&all, &old], 8)),
    );
    assert_eq!(p.phase, RotationPhase::RemovingOldKeys, "{:?}", p.action);
    assert!(matches!(p.action, Action::Propose { .. }), "{:?}", p.action);

    let removing = status(RotationPhase::RemovingOldKeys, progress(&w, true));
    let p = plan(
        &req(&[], &[], false, false),
        &removing,
        &left(observed(&w, true, &new, &[&new, &old], 9)),
    );
    assert_eq!(
        (p.phase, p.action),
        (RotationPhase::Succeeded, Action::Succeed)
    );

    // The same store, connected, is waited for.
    let p = plan(
        &req(&[], &[], false, false),
        &removing,
        &observed(&w, true, &new, &[&new, &old], 9),
    );
    assert_eq!(
        p.action,
        Action::WaitForSynchronizers {
            stores: vec!["synchronizer s1".into()]
        }
    );
}

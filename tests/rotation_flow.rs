//! Key rotation driven step by step through the real tonic client against the in-process fake
//! Admin API: full rotation, pre-created KMS keys, a restart (and a lost status write) at every
//! step, each RPC failing, pause for backup, refusal of the namespace key, synchronizers that left
//! or lag (the deadline, across restarts); DeleteKeyPair never.

mod rotation_support;

use std::time::Duration;

use canton_operator::api::{
    BACKUP_CONFIRMED_ANNOTATION, PreCreatedKmsKey, RotationPhase, ValidatorKeyRotation,
    ValidatorKeyRotationSpec,
};
use canton_operator::rotation::admin::{AdminClient, AdminTarget, Timeouts};
use canton_operator::rotation::step::{Next, StepSettings, advance, advance_with_backups, stamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use rotation_support::{
    DELETE_KEY_PAIR, FakeParticipant, FaultKind, NODE_SIGNING_USAGE, encryption_key, fp,
    signing_key,
};

const DELAY: Duration = Duration::from_millis(40);

fn settings() -> StepSettings {
    StepSettings {
        poll: Duration::from_millis(15),
        max_failures: 4,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
    }
}

fn request(spec: ValidatorKeyRotationSpec) -> ValidatorKeyRotation {
    let mut r = ValidatorKeyRotation::new("rotate", spec);
    r.metadata.namespace = Some("default".into());
    r.metadata.creation_timestamp = Some(Time("2025-06-01T12:00:00Z".parse().expect("timestamp")));
    r
}

fn spec() -> ValidatorKeyRotationSpec {
    ValidatorKeyRotationSpec {
        validator: "validator1".into(),
        ..Default::default()
    }
}

/// How the driver behaves between steps.
#[derive(Clone, Copy, Default)]
struct Driver {
    /// A new client (an operator restart) before every step.
    restart: bool,
    /// Throw away the status of every step that called the participant (a crash before the write).
    lose_writes: bool,
}

/// Takes steps until the rotation finishes or waits for the user; returns the last `Next`.
async fn drive(
    fake: &FakeParticipant,
    addr: std::net::SocketAddr,
    rotation: &mut ValidatorKeyRotation,
    driver: Driver,
) -> Next {
    let target = AdminTarget::plaintext(&addr.to_string());
    let mut client = AdminClient::connect(&target, Timeouts::default())
        .await
        .expect("connect");
    for _ in 0..400 {
        if driver.restart {
            client = AdminClient::connect(&target, Timeouts::default())
                .await
                .expect("connect");
        }
        let writes_before = mutating_calls(fake);
        let now = Time(Timestamp::now());
        let outcome = advance(rotation, &mut client, &now, &settings()).await;
        let wrote = mutating_calls(fake) != writes_before;
        if !(driver.lose_writes && wrote) {
            rotation.status = Some(outcome.status);
        }
        let paused =
            rotation.status.as_ref().and_then(|s| s.phase) == Some(RotationPhase::AwaitingBackup);
        match outcome.next {
            Next::Done | Next::AwaitChange => return outcome.next,
            // Paused for a backup: it only looks again now and then.
            Next::After(_) if paused => return outcome.next,
            Next::Now => {}
            Next::After(d) => tokio::time::sleep(d).await,
        }
    }
    panic!("the rotation did not finish: {:?}", rotation.status);
}

fn mutating_calls(fake: &FakeParticipant) -> usize {
    [
        "GenerateSigningKey",
        "GenerateEncryptionKey",
        "RegisterKmsSigningKey",
        "RegisterKmsEncryptionKey",
        "Authorize",
    ]
    .iter()
    .map(|m| fake.count(m))
    .sum()
}

fn assert_never_deleted(fake: &FakeParticipant) {
    assert!(
        !fake.calls().iter().any(|p| p == DELETE_KEY_PAIR),
        "DeleteKeyPair was called"
    );
}

/// After a successful rotation: new keys in every store, old ones retired but kept.
fn assert_rotated(fake: &FakeParticipant, rotation: &ValidatorKeyRotation, old: &[String]) {
    let status = rotation.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(RotationPhase::Succeeded), "{status:?}");
    let new: Vec<String> = status
        .keys
        .iter()
        .filter_map(|k| k.new_fingerprint.clone())
        .collect();
    assert_eq!(new.len(), old.len());
    let auth = fake.authorized();
    assert_eq!(
        auth.fingerprints(),
        new,
        "authorized OKM holds exactly the new keys, in order"
    );
    for sync in fake.connected_synchronizers() {
        assert_eq!(sync.fingerprints(), new);
    }
    let vault: Vec<String> = fake.vault().into_iter().map(|(f, _, _)| f).collect();
    for o in old {
        assert!(vault.contains(o), "old key {o} was deleted");
    }
    assert_eq!(
        status
            .proposals
            .iter()
            .map(|p| p.serial)
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(
        status.completed_at.is_some()
            && status.started_at.is_some()
            && status.keys_effective_at.is_some()
    );
    assert_never_deleted(fake);
}

fn old_node_keys(fake: &FakeParticipant) -> Vec<String> {
    fake.authorized().fingerprints()
}

#[tokio::test]
async fn full_rotation_of_all_node_keys() {
    let fake = FakeParticipant::new(3, DELAY);
    let addr = fake.serve().await;
    let old = old_node_keys(&fake);
    let mut rotation = request(spec());
    assert_eq!(
        drive(&fake, addr, &mut rotation, Driver::default()).await,
        Next::Done
    );
    assert_rotated(&fake, &rotation, &old);
    assert_eq!(fake.count("GenerateSigningKey"), 1);
    assert_eq!(fake.count("GenerateEncryptionKey"), 1);
    assert_eq!(fake.count("Authorize"), 2);
    let status = rotation.status.clone().unwrap_or_default();
    let names: Vec<&str> = status.keys.iter().map(|k| k.new_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "participant-signing-rotated-20250601T120000Z",
            "participant-encryption-rotated-20250601T120000Z"
        ]
    );
    for (_, name, _) in fake.vault() {
        if name != "participant-namespace" {
            assert!(!name.contains("namespace"), "{name}");
        }
    }
    assert_eq!(stamp(&rotation), "20250601T120000Z");
}

#[tokio::test]
async fn rotation_to_pre_created_kms_keys() {
    let fake = FakeParticipant::new(2, DELAY);
    let addr = fake.serve().await;
    let old = old_node_keys(&fake);
    fake.create_kms_key(
        "arn:aws:kms:eu-west-1:1:key/sign",
        signing_key(90, &NODE_SIGNING_USAGE),
    );
    fake.create_kms_key("arn:aws:kms:eu-west-1:1:key/enc", encryption_key(91));
    let mut s = spec();
    s.kms_keys = vec![
        PreCreatedKmsKey {
            old_fingerprint: old[0].clone(),
            kms_key_id: "arn:aws:kms:eu-west-1:1:key/sign".into(),
        },
        PreCreatedKmsKey {
            old_fingerprint: old[1].clone(),
            kms_key_id: "arn:aws:kms:eu-west-1:1:key/enc".into(),
        },
    ];
    let mut rotation = request(s);
    drive(&fake, addr, &mut rotation, Driver::default()).await;
    assert_rotated(&fake, &rotation, &old);
    assert_eq!(
        fake.count("GenerateSigningKey") + fake.count("GenerateEncryptionKey"),
        0
    );
    assert_eq!(fake.count("RegisterKmsSigningKey"), 1);
    assert_eq!(fake.count("RegisterKmsEncryptionKey"), 1);
    let status = rotation.status.unwrap_or_default();
    assert_eq!(
        status.keys[0].kms_key_id.as_deref(),
        Some("arn:aws:kms:eu-west-1:1:key/sign")
    );
    assert_eq!(
        status.keys[0].new_fingerprint,
        Some(fp(&signing_key(90, &NODE_SIGNING_USAGE)))
    );
}

#[tokio::test]
async fn restart_at_every_step_and_lost_status_writes_change_nothing() {
    for driver in [
        Driver {
            restart: true,
            lose_writes: false,
        },
        Driver {
            restart: true,
            lose_writes: true,
        },
    ] {
        let fake = FakeParticipant::new(2, DELAY);
        let addr = fake.serve().await;
        let old = old_node_keys(&fake);
        let mut rotation = request(spec());
        drive(&fake, addr, &mut rotation, driver).await;
        let status = rotation.status.clone().unwrap_or_default();
        assert_eq!(status.phase, Some(RotationPhase::Succeeded), "{status:?}");
        assert_eq!(fake.authorized().fingerprints().len(), 2);
        assert!(
            fake.authorized()
                .fingerprints()
                .iter()
                .all(|f| !old.contains(f))
        );
        // Never a second new key for one old key, never the same OKM change twice.
        assert_eq!(fake.count("GenerateSigningKey"), 1);
        assert_eq!(fake.count("GenerateEncryptionKey"), 1);
        assert_eq!(fake.count("Authorize"), 2);
        assert_eq!(fake.authorized().serial, 3);
        assert_never_deleted(&fake);
    }
}

#[tokio::test]
async fn every_failing_rpc_is_retried_then_fails_with_a_reason() {
    let methods = [
        "GetId",
        "ListMyKeys",
        "ListOwnerToKeyMapping",
        "ListConnectedSynchronizers",
        "GenerateSigningKey",
        "GenerateEncryptionKey",
        "Authorize",
    ];
    for method in methods {
        // A few failures: retried with backoff, the rotation still succeeds.
        let fake = FakeParticipant::new(2, DELAY);
        let addr = fake.serve().await;
        let old = old_node_keys(&fake);
        fake.fail(method, 2, FaultKind::Before);
        let mut rotation = request(spec());
        drive(&fake, addr, &mut rotation, Driver::default()).await;
        assert_rotated(&fake, &rotation, &old);

        // Failing for good: Failed, with the method and the reason, and the OKM still usable.
        let fake = FakeParticipant::new(2, DELAY);
        let addr = fake.serve().await;
        fake.fail(method, u32::MAX, FaultKind::Before);
        let mut rotation = request(spec());
        assert_eq!(
            drive(&fake, addr, &mut rotation, Driver::default()).await,
            Next::Done
        );
        let status = rotation.status.clone().unwrap_or_default();
        assert_eq!(
            status.phase,
            Some(RotationPhase::Failed),
            "{method}: {status:?}"
        );
        assert_eq!(
            status.reason.as_deref(),
            Some("ParticipantUnreachable"),
            "{method}"
        );
        let message = status.message.unwrap_or_default();
        assert!(
            message.contains("gave up after 4 failed attempts") && message.contains(method),
            "{message}"
        );
        let auth = fake.authorized();
        assert!(auth.keys.len() >= 2, "{method}: the OKM lost keys");
        assert!(
            auth.fingerprints()
                .iter()
                .all(|f| fake.vault().iter().any(|(v, _, _)| v == f))
        );
        assert_never_deleted(&fake);
    }
}

#[tokio::test]
async fn a_call_that_took_effect_but_failed_is_not_repeated() {
    for method in ["GenerateSigningKey", "GenerateEncryptionKey", "Authorize"] {
        let fake = FakeParticipant::new(2, DELAY);
        let addr = fake.serve().await;
        let old = old_node_keys(&fake);
        fake.fail(method, 1, FaultKind::After);
        let mut rotation = request(spec());
        drive(&fake, addr, &mut rotation, Driver::default()).await;
        let status = rotation.status.clone().unwrap_or_default();
        assert_eq!(
            status.phase,
            Some(RotationPhase::Succeeded),
            "{method}: {status:?}"
        );
        assert_eq!(fake.count("GenerateSigningKey"), 1, "{method}");
        assert_eq!(fake.count("GenerateEncryptionKey"), 1, "{method}");
        assert_eq!(fake.count("Authorize"), 2, "{method}");
        assert_eq!(fake.authorized().serial, 3);
        assert!(
            fake.authorized()
                .fingerprints()
                .iter()
                .all(|f| !old.contains(f))
        );
    }
}

#[tokio::test]
async fn pause_for_backup_then_resume() {
    for by_annotation in [false, true] {
        let fake = FakeParticipant::new(2, DELAY);
        let addr = fake.serve().await;
        let old = old_node_keys(&fake);
        let mut s = spec();
        s.pause_for_backup = true;
        let mut rotation = request(s);
        assert_eq!(
            drive(&fake, addr, &mut rotation, Driver::default()).await,
            AWAITING_BACKUP
        );
        let status = rotation.status.clone().unwrap_or_default();
        assert_eq!(status.phase, Some(RotationPhase::AwaitingBackup));
        // Both old and new keys valid everywhere while waiting.
        let auth = fake.authorized().fingerprints();
        assert_eq!(auth.len(), 4);
        assert!(old.iter().all(|o| auth.contains(o)));
        for sync in fake.synchronizers() {
            assert_eq!(sync.fingerprints(), auth);
        }
        let confirmed = status
            .conditions
            .iter()
            .find(|c| c.type_ == "BackupConfirmed")
            .map(|c| c.status.clone());
        assert_eq!(confirmed.as_deref(), Some("False"));
        // Waiting again changes nothing.
        assert_eq!(
            drive(&fake, addr, &mut rotation, Driver::default()).await,
            AWAITING_BACKUP
        );
        assert_eq!(fake.count("Authorize"), 1);

        if by_annotation {
            rotation.metadata.annotations =
                Some([(BACKUP_CONFIRMED_ANNOTATION.to_string(), "true".to_string())].into());
        } else {
            rotation.spec.backup_confirmed = true;
        }
        assert_eq!(
            drive(&fake, addr, &mut rotation, Driver::default()).await,
            Next::Done
        );
        assert_rotated(&fake, &rotation, &old);
    }
}

/// What a rotation paused for a backup answers: nothing to do until the request or the
/// Validator's status changes (the controller is woken by their watch events, not a poll).
const AWAITING_BACKUP: Next = Next::AwaitChange;

#[tokio::test]
async fn a_verified_backup_after_the_new_keys_resumes_a_paused_rotation() {
    let fake = FakeParticipant::new(2, DELAY);
    let addr = fake.serve().await;
    let old = old_node_keys(&fake);
    let mut s = spec();
    s.pause_for_backup = true;
    let mut rotation = request(s);
    assert_eq!(
        drive(&fake, addr, &mut rotation, Driver::default()).await,
        AWAITING_BACKUP
    );
    let effective = rotation
        .status
        .as_ref()
        .and_then(|s| s.keys_effective_at.clone())
        .expect("keys effective time recorded")
        .0;
    let target = AdminTarget::plaintext(&addr.to_string());
    let mut client = AdminClient::connect(&target, Timeouts::default())
        .await
        .expect("connect");
    let now = Time(Timestamp::now());
    // A backup from before the new keys holds the old ones only: still paused.
    let before = effective - std::time::Duration::from_secs(60);
    let outcome =
        advance_with_backups(&rotation, &mut client, &now, &settings(), Some(before)).await;
    assert_eq!(outcome.status.phase, Some(RotationPhase::AwaitingBackup));
    assert_eq!(fake.count("Authorize"), 1);
    // One after them: the rotation goes on and finishes.
    let after = effective + std::time::Duration::from_secs(1);
    for _ in 0..400 {
        let now = Time(Timestamp::now());
        let outcome =
            advance_with_backups(&rotation, &mut client, &now, &settings(), Some(after)).await;
        rotation.status = Some(outcome.status);
        match outcome.next {
            Next::Done => break,
            Next::After(d) => tokio::time::sleep(d).await,
            _ => {}
        }
    }
    let confirmed = rotation
        .status
        .as_ref()
        .and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "BackupConfirmed")
                .cloned()
        })
        .expect("a BackupConfirmed condition");
    assert_eq!(confirmed.reason, "BackedUp");
    assert_rotated(&fake, &rotation, &old);
}

#[tokio::test]
async fn a_request_naming_the_namespace_key_is_refused() {
    let fake = FakeParticipant::new(1, DELAY);
    let addr = fake.serve().await;
    let namespace = fake
        .fingerprint_named("participant-namespace")
        .expect("namespace key");
    let mut s = spec();
    s.keys = vec![namespace];
    let mut rotation = request(s);
    assert_eq!(
        drive(&fake, addr, &mut rotation, Driver::default()).await,
        Next::Done
    );
    let status = rotation.status.unwrap_or_default();
    assert_eq!(status.phase, Some(RotationPhase::Failed));
    assert_eq!(status.reason.as_deref(), Some("NamespaceKeyNotRotatable"));
    assert!(status.message.unwrap_or_default().contains("namespace key"));
    assert_eq!(mutating_calls(&fake), 0);
    assert_eq!(fake.authorized().serial, 1);
}

#[tokio::test]
async fn rotating_one_named_key_leaves_the_other() {
    let fake = FakeParticipant::new(2, DELAY);
    let addr = fake.serve().await;
    let old = old_node_keys(&fake);
    let mut s = spec();
    s.keys = vec![old[1].clone()];
    let mut rotation = request(s);
    drive(&fake, addr, &mut rotation, Driver::default()).await;
    let status = rotation.status.unwrap_or_default();
    assert_eq!(status.phase, Some(RotationPhase::Succeeded));
    let auth = fake.authorized().fingerprints();
    assert_eq!(auth[0], old[0]);
    assert_eq!(Some(&auth[1]), status.keys[0].new_fingerprint.as_ref());
    assert_eq!(fake.count("GenerateSigningKey"), 0);
}

/// The fake counts DeleteKeyPair when something calls it, so the zero counts above mean "never".
#[tokio::test]
async fn the_fake_would_see_a_delete_key_pair_call() {
    #[derive(Clone, PartialEq, prost::Message)]
    struct DeleteKeyPairRequest {
        #[prost(string, tag = "1")]
        fingerprint: String,
    }
    let fake = FakeParticipant::new(1, DELAY);
    let addr = fake.serve().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = http::uri::PathAndQuery::from_static(DELETE_KEY_PAIR);
    let codec: tonic_prost::ProstCodec<DeleteKeyPairRequest, ()> =
        tonic_prost::ProstCodec::default();
    let answer = grpc
        .unary(
            tonic::Request::new(DeleteKeyPairRequest {
                fingerprint: "x".into(),
            }),
            path,
            codec,
        )
        .await;
    assert_eq!(
        answer.map(|_| ()).map_err(|s| s.code()),
        Err(tonic::Code::Unimplemented)
    );
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|p| *p == DELETE_KEY_PAIR)
            .count(),
        1
    );
    // And the operator's own proto declares no such RPC.
    let vault = std::fs::read_to_string(
        "proto/com/digitalasset/canton/crypto/admin/v30/vault_service.proto",
    )
    .expect("proto");
    assert!(!vault.contains("rpc DeleteKeyPair"));
}

// ---------------------------------------------------------------- synchronizers that left or lag

/// One step at `now`, through a new client (each step is a fresh connection, as after a restart)
/// and with the status as it was read back from the API server (JSON).
async fn step_at(
    addr: std::net::SocketAddr,
    rotation: &mut ValidatorKeyRotation,
    now: Timestamp,
) -> Next {
    let target = AdminTarget::plaintext(&addr.to_string());
    let mut client = AdminClient::connect(&target, Timeouts::default())
        .await
        .expect("connect");
    let outcome = advance(rotation, &mut client, &Time(now), &settings()).await;
    let stored = serde_json::to_value(&outcome.status).expect("status JSON");
    rotation.status = Some(serde_json::from_value(stored).expect("status from JSON"));
    outcome.next
}

/// Steps at `now` until the rotation waits or ends; returns the last `Next`.
async fn steps_at(
    addr: std::net::SocketAddr,
    rotation: &mut ValidatorKeyRotation,
    now: Timestamp,
) -> Next {
    for _ in 0..50 {
        let next = step_at(addr, rotation, now).await;
        if next != Next::Now {
            return next;
        }
    }
    panic!("no wait and no end: {:?}", rotation.status);
}

fn minutes(t: Timestamp, m: i64) -> Timestamp {
    t.checked_add(k8s_openapi::jiff::SignedDuration::from_mins(m))
        .expect("timestamp")
}

#[tokio::test]
async fn stores_of_synchronizers_the_participant_left_never_block() {
    let fake = FakeParticipant::new(3, DELAY);
    let addr = fake.serve().await;
    let old = old_node_keys(&fake);
    fake.disconnect(1);
    fake.upgrade(2);
    let mut rotation = request(spec());
    assert_eq!(
        drive(&fake, addr, &mut rotation, Driver::default()).await,
        Next::Done
    );
    assert_rotated(&fake, &rotation, &old);
    // Both left-behind stores still show only the old keys: nobody waited for them.
    let stores = fake.synchronizers();
    assert_eq!(
        stores.len(),
        4,
        "three synchronizers and the upgrade's successor"
    );
    assert_eq!(stores[1].fingerprints(), old);
    assert_eq!(stores[2].fingerprints(), old);
    assert_eq!(
        stores[3].fingerprints(),
        fake.authorized().fingerprints(),
        "the successor took the changes"
    );
}

#[tokio::test]
async fn a_connected_store_that_lags_fails_the_rotation_at_the_deadline() {
    let fake = FakeParticipant::new(2, Duration::ZERO);
    let addr = fake.serve().await;
    fake.stall(1);
    let mut rotation = request(ValidatorKeyRotationSpec {
        synchronizer_timeout: Some("10m".into()),
        ..spec()
    });
    let t0: Timestamp = "2025-06-01T12:00:00Z".parse().expect("timestamp");
    assert!(matches!(
        steps_at(addr, &mut rotation, t0).await,
        Next::After(_)
    ));
    let status = rotation.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(RotationPhase::AddingKeys));
    assert_eq!(status.synchronizers_waiting_since, Some(Time(t0)));
    let message = status.message.unwrap_or_default();
    assert!(message.contains(&fake.store_name(1)), "{message}");
    assert!(!message.contains(&fake.store_name(0)), "{message}");
    assert!(
        message.contains("gives up at 2025-06-01T12:10:00Z"),
        "{message}"
    );

    // Still waiting a second before the deadline, failed at it.
    let before = minutes(t0, 10)
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(1))
        .expect("timestamp");
    let waiting = rotation.status.clone();
    assert!(matches!(
        step_at(addr, &mut rotation, before).await,
        Next::After(_)
    ));
    assert_eq!(rotation.status, waiting, "waiting writes no new status");
    assert_eq!(
        step_at(addr, &mut rotation, minutes(t0, 10)).await,
        Next::Done
    );
    let status = rotation.status.clone().unwrap_or_default();
    assert_eq!(status.phase, Some(RotationPhase::Failed));
    assert_eq!(status.reason.as_deref(), Some("SynchronizersLagging"));
    let message = status.message.unwrap_or_default();
    assert!(message.contains(&fake.store_name(1)), "{message}");
    assert!(
        message.contains("old and new keys both stay valid"),
        "{message}"
    );
    // The old keys were never removed.
    assert_eq!(fake.count("Authorize"), 1);
    assert_eq!(fake.authorized().keys.len(), 4);
    assert_never_deleted(&fake);
}

#[tokio::test]
async fn the_deadline_counts_from_the_status_not_from_the_process() {
    let fake = FakeParticipant::new(1, Duration::ZERO);
    let addr = fake.serve().await;
    fake.stall(0);
    let mut rotation = request(spec());
    let t0: Timestamp = "2025-06-01T12:00:00Z".parse().expect("timestamp");
    assert!(matches!(
        steps_at(addr, &mut rotation, t0).await,
        Next::After(_)
    ));
    // The operator restarts 11 minutes later: its first step, from the status alone, fails (the
    // default deadline is 10 minutes), where a deadline kept in memory would start again.
    assert_eq!(
        step_at(addr, &mut rotation, minutes(t0, 11)).await,
        Next::Done
    );
    let status = rotation.status.clone().unwrap_or_default();
    assert_eq!(
        status.reason.as_deref(),
        Some("SynchronizersLagging"),
        "{status:?}"
    );

    // A longer spec.synchronizerTimeout, set on the running rotation, lets it wait on.
    let fake = FakeParticipant::new(1, Duration::ZERO);
    let addr = fake.serve().await;
    fake.stall(0);
    let mut rotation = request(spec());
    assert!(matches!(
        steps_at(addr, &mut rotation, t0).await,
        Next::After(_)
    ));
    rotation.spec.synchronizer_timeout = Some("1h".into());
    assert!(matches!(
        step_at(addr, &mut rotation, minutes(t0, 11)).await,
        Next::After(_)
    ));
    assert_eq!(rotation.phase(), RotationPhase::AddingKeys);
}

#[tokio::test]
async fn each_wait_has_its_own_deadline() {
    // Long enough that the steps below reach the removal's wait before the store shows it.
    let lag = Duration::from_millis(1500);
    let fake = FakeParticipant::new(1, lag);
    let addr = fake.serve().await;
    let old = old_node_keys(&fake);
    let mut rotation = request(spec());
    let t0: Timestamp = "2025-06-01T12:00:00Z".parse().expect("timestamp");
    fake.stall(0);
    assert!(matches!(
        steps_at(addr, &mut rotation, t0).await,
        Next::After(_)
    ));
    // The store catches up after 9 minutes; the removal's wait starts its own 10 minutes.
    fake.resume(0);
    let t9 = minutes(t0, 9);
    assert!(matches!(
        steps_at(addr, &mut rotation, t9).await,
        Next::After(_)
    ));
    let status = rotation.status.clone().unwrap_or_default();
    assert_eq!(
        status.phase,
        Some(RotationPhase::RemovingOldKeys),
        "{status:?}"
    );
    assert_eq!(status.synchronizers_waiting_since, Some(Time(t9)));
    tokio::time::sleep(lag).await;
    assert_eq!(
        steps_at(addr, &mut rotation, minutes(t0, 15)).await,
        Next::Done
    );
    assert_rotated(&fake, &rotation, &old);
    assert_eq!(
        rotation
            .status
            .unwrap_or_default()
            .synchronizers_waiting_since,
        None
    );
}

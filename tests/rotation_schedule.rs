//! Scheduled key rotations against the stateful fake API server. The schedule lives in the
//! Validator's `status.keyRotation` and wakes the validator's reconcile when a rotation is due,
//! so an idle fleet costs the API server nothing but its watches; the rotation objects are a
//! bounded history the schedule does not depend on; a rotation paused for a backup waits for a
//! watch event instead of polling.

mod harness;
mod rotation_support;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use canton_operator::api::Validator;
use canton_operator::rotation::admin::{AdminTarget, Timeouts};
use canton_operator::rotation::{RotationSettings, run};
use harness::*;
use http::Method;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use rotation_support::FakeParticipant;
use serde_json::{Value, json};
use support::fake_api::{FakeApiServer, RecordedRequest};
use tokio::sync::watch;

const API: &str = "canton-operator.dev/v1alpha1";
const ROTATIONS: &str = "validatorkeyrotations";
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// `d` before now, to the second (as the API server writes times).
fn ago(d: Duration) -> Timestamp {
    let d = SignedDuration::try_from(d).expect("duration");
    let now = Timestamp::from_second(Timestamp::now().as_second()).expect("in range");
    now.checked_sub(d).expect("in range")
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(d).expect("duration"))
        .expect("in range")
}

fn rfc3339(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse(v: &Value) -> Timestamp {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// The example Validator with `spec.kms.rotation.every`, created `age` ago.
fn insert_scheduled(server: &FakeApiServer, name: &str, every: &str, age: Duration) {
    let mut v = serde_json::to_value(validator(name)).expect("validator");
    v["spec"]["kms"] = json!({"enabled": false, "rotation": {"every": every}});
    server.insert(&v).expect("Validator");
    if !age.is_zero() {
        server
            .backdate(API, "validators", Some(NS), name, age)
            .expect("backdated");
    }
}

/// Sets `status.keyRotation` as an earlier operator would have recorded it.
fn record_schedule(server: &FakeApiServer, name: &str, last: Timestamp, rotation: &str) {
    let mut status = validator_obj(server, name)
        .and_then(|v| v.get("status").cloned())
        .unwrap_or_else(|| json!({}));
    status["keyRotation"] = json!({
        "lastScheduleTime": rfc3339(last),
        "lastScheduledRotation": rotation,
    });
    server
        .set_status(API, "validators", Some(NS), name, status)
        .expect("status");
}

/// A Succeeded rotation requested `created_ago` and finished `completed_ago`.
fn insert_finished(
    server: &FakeApiServer,
    name: &str,
    validator: &str,
    created_ago: Duration,
    completed_ago: Duration,
) {
    server
        .insert(&json!({
            "apiVersion": API,
            "kind": "ValidatorKeyRotation",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"validator": validator},
        }))
        .expect("ValidatorKeyRotation");
    server
        .backdate(API, ROTATIONS, Some(NS), name, created_ago)
        .expect("backdated");
    server
        .set_status(
            API,
            ROTATIONS,
            Some(NS),
            name,
            json!({"phase": "Succeeded", "completedAt": rfc3339(ago(completed_ago))}),
        )
        .expect("rotation status");
}

fn rotations(server: &FakeApiServer) -> Vec<Value> {
    server.list(API, ROTATIONS, Some(NS))
}

fn rotation_names(server: &FakeApiServer) -> Vec<String> {
    let mut names: Vec<String> = rotations(server)
        .iter()
        .filter_map(|r| r["metadata"]["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

fn key_rotation(server: &FakeApiServer, name: &str) -> Value {
    validator_obj(server, name)
        .and_then(|v| v.pointer("/status/keyRotation").cloned())
        .unwrap_or_default()
}

fn creates_of_rotations(server: &FakeApiServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == Method::POST && r.path.ends_with("/validatorkeyrotations"))
        .count()
}

/// Whether a request reads a collection (a LIST), from its path.
fn is_list(r: &RecordedRequest) -> bool {
    if r.method != Method::GET || r.is_watch() {
        return false;
    }
    let segments: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or_default(),
        Some(&"apis") => segments.get(3..).unwrap_or_default(),
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    rest.len() <= 1
}

/// Requests other than watches: (LISTs, GETs of one object, writes).
fn costs(requests: &[RecordedRequest]) -> (usize, usize, usize) {
    let lists = requests.iter().filter(|r| is_list(r)).count();
    let gets = requests
        .iter()
        .filter(|r| r.method == Method::GET && !r.is_watch() && !is_list(r))
        .count();
    let writes = requests.iter().filter(|r| r.is_write()).count();
    (lists, gets, writes)
}

/// Lets the fake settle for `first`, then fails if the operator sends any LIST, GET or write over
/// ten simulated minutes.
async fn assert_quiet_for_ten_minutes(server: &FakeApiServer, first: Duration, who: &str) {
    settle(server, first).await;
    server.clear_requests();
    tokio::time::sleep(10 * MINUTE).await;
    let requests = server.requests();
    assert_eq!(
        costs(&requests),
        (0, 0, 0),
        "{who} asked: {:?}",
        described(&requests)
    );
}

fn described(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| !r.is_watch())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Provisioned, Deployments available, Ready, and the schedule recorded.
async fn converged(server: &FakeApiServer, name: &str) {
    let participant = format!("{name}-participant");
    let app = format!("{name}-validator-app");
    wait_until("both Deployments", || {
        deployment(server, &participant).is_some() && deployment(server, &app).is_some()
    })
    .await;
    make_available(server, &participant);
    make_available(server, &app);
    wait_until("Ready and the schedule recorded", || {
        condition(server, name, "Ready").is_some_and(|c| c["status"] == "True")
            && key_rotation(server, name)["nextScheduleTime"].is_string()
    })
    .await;
}

/// Like `eventually`, with a longer (real time) deadline for whole fleets.
async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_fleet_with_schedules_makes_no_list_and_no_write() {
    let server = server();
    for i in 0..20 {
        insert_scheduled(&server, &format!("v{i}"), "2160h", 30 * DAY);
    }
    let _op = start(&server, config(false));
    for i in 0..20 {
        converged(&server, &format!("v{i}")).await;
    }
    // Ten simulated minutes: ten ticks of a one-minute poll, two resyncs of every Validator.
    assert_quiet_for_ten_minutes(&server, Duration::from_secs(2), "an idle fleet").await;
    assert!(rotations(&server).is_empty());
}

#[tokio::test]
async fn a_due_schedule_requests_one_rotation_and_records_it() {
    within(60, async {
        let server = server();
        insert_scheduled(&server, "due", "1h", DAY);
        // The last rotation two hours ago: the next has been due for an hour.
        let last = ago(2 * HOUR);
        record_schedule(&server, "due", last, "due-rotation-old");
        let _op = start(&server, config(false));
        let expected = format!("due-rotation-{}", plus(last, HOUR).strftime("%Y%m%d%H%M%S"));
        eventually("the rotation recorded in status", || {
            key_rotation(&server, "due")["lastScheduledRotation"] == expected.as_str()
        })
        .await;
        settle(&server, Duration::from_millis(500)).await;
        assert_eq!(creates_of_rotations(&server), 1);
        assert_eq!(rotation_names(&server), vec![expected.clone()]);
        let rotation = &rotations(&server)[0];
        assert_eq!(rotation["spec"]["validator"], "due");
        assert_eq!(rotation["metadata"]["ownerReferences"][0]["name"], "due");
        let status = key_rotation(&server, "due");
        let created = parse(&rotation["metadata"]["creationTimestamp"]);
        assert_eq!(parse(&status["lastScheduleTime"]), created);
        assert_eq!(parse(&status["nextScheduleTime"]), plus(created, HOUR));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn deleting_every_finished_rotation_requests_none() {
    let server = server();
    insert_scheduled(&server, "kept", "24h", 30 * DAY);
    let last = ago(2 * HOUR);
    record_schedule(&server, "kept", last, "kept-c");
    insert_finished(&server, "kept-a", "kept", 4 * HOUR, 4 * HOUR - MINUTE);
    insert_finished(&server, "kept-b", "kept", 3 * HOUR, 3 * HOUR - MINUTE);
    insert_finished(&server, "kept-c", "kept", 2 * HOUR, HOUR);
    let _op = start(&server, config(false));
    converged(&server, "kept").await;
    assert_eq!(
        parse(&key_rotation(&server, "kept")["nextScheduleTime"]),
        plus(last, DAY)
    );
    settle(&server, Duration::from_secs(1)).await;
    for name in rotation_names(&server) {
        server
            .delete(API, ROTATIONS, Some(NS), &name)
            .expect("deleted");
    }
    // Several simulated minutes: the deletions are seen, the validator resynced.
    tokio::time::sleep(10 * MINUTE).await;
    assert_eq!(creates_of_rotations(&server), 0);
    assert!(rotation_names(&server).is_empty());
    assert_eq!(
        parse(&key_rotation(&server, "kept")["lastScheduleTime"]),
        last
    );
}

#[tokio::test]
async fn finished_rotations_are_trimmed_to_the_history_bound() {
    within(60, async {
        let server = server();
        insert_scheduled(&server, "busy", "2160h", Duration::ZERO);
        // Requested in name order, finished in another: r1 finished first.
        let finished_hours_ago = [7, 8, 6, 5, 4, 3, 2, 1];
        for (i, hours) in finished_hours_ago.iter().enumerate() {
            let completed = HOUR * *hours;
            insert_finished(
                &server,
                &format!("r{i}"),
                "busy",
                completed + MINUTE,
                completed,
            );
        }
        let _op = start(&server, config(false));
        eventually("five finished rotations left", || {
            rotations(&server).len() == 5
        })
        .await;
        settle(&server, Duration::from_millis(500)).await;
        assert_eq!(rotation_names(&server), ["r3", "r4", "r5", "r6", "r7"]);
        let deletes = server
            .requests()
            .iter()
            .filter(|r| r.method == Method::DELETE && r.path.contains("/validatorkeyrotations/"))
            .count();
        assert_eq!(deletes, 3);
    })
    .await;
}

#[tokio::test]
async fn after_a_restart_the_schedule_goes_on_from_the_status() {
    within(60, async {
        let server = server();
        insert_scheduled(&server, "steady", "1h", DAY);
        let last = ago(30 * MINUTE);
        record_schedule(&server, "steady", last, "steady-rotation-a");
        let op = start(&server, config(false));
        converged(&server, "steady").await;
        assert_eq!(
            parse(&key_rotation(&server, "steady")["nextScheduleTime"]),
            plus(last, HOUR)
        );
        op.kill();

        // A restart before the due time: nothing is requested.
        let op = start(&server, config(false));
        settle(&server, Duration::from_millis(500)).await;
        assert_eq!(creates_of_rotations(&server), 0);
        op.kill();

        // Down past the due time (the recorded rotation is now 90 minutes old): the missed
        // rotation is requested once, named after when it became due.
        let last = ago(90 * MINUTE);
        record_schedule(&server, "steady", last, "steady-rotation-a");
        let _op = start(&server, config(false));
        let expected = format!(
            "steady-rotation-{}",
            plus(last, HOUR).strftime("%Y%m%d%H%M%S")
        );
        eventually("the missed rotation recorded", || {
            key_rotation(&server, "steady")["lastScheduledRotation"] == expected.as_str()
        })
        .await;
        settle(&server, Duration::from_millis(500)).await;
        assert_eq!(creates_of_rotations(&server), 1);
        assert_eq!(rotation_names(&server), vec![expected]);
    })
    .await;
}

#[tokio::test]
async fn removing_the_schedule_clears_its_status_once() {
    within(60, async {
        let server = server();
        insert_scheduled(&server, "once", "2160h", Duration::ZERO);
        let _op = start(&server, config(false));
        converged(&server, "once").await;
        server
            .merge_patch(
                API,
                "validators",
                Some(NS),
                "once",
                json!({"spec": {"kms": {"rotation": null}}}),
                "kubectl-edit",
            )
            .expect("schedule removed");
        eventually("status.keyRotation gone", || {
            key_rotation(&server, "once").is_null()
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        server.clear_requests();
        // Reconciled again (a label change): the status is as computed, nothing is written.
        server
            .merge_patch(
                API,
                "validators",
                Some(NS),
                "once",
                json!({"metadata": {"labels": {"team": "a"}}}),
                "kubectl-edit",
            )
            .expect("labelled");
        settle(&server, Duration::from_millis(500)).await;
        assert_no_writes(&server, "after the schedule was cleared");
    })
    .await;
}

/// The rotation controller alone, reaching every participant at `address`.
fn rotation_controller(server: &FakeApiServer, address: String) -> tokio::task::JoinHandle<()> {
    let mut settings = RotationSettings::new(Some(NS.to_string()));
    settings.resolver = Arc::new(move |_: &Validator| Ok(AdminTarget::plaintext(&address)));
    settings.timeouts = Timeouts {
        connect: Duration::from_millis(200),
        request: Duration::from_millis(200),
    };
    let (leading_tx, leading) = watch::channel(true);
    let client = server.client();
    tokio::spawn(async move {
        let _leading = leading_tx;
        run(client, settings, leading).await;
    })
}

/// A rotation whose Validator does not exist says so, asks nothing while it waits, and starts
/// when the Validator is created.
#[tokio::test(start_paused = true)]
async fn a_rotation_waits_for_its_validator_without_polling() {
    let server = server();
    server
        .insert(&json!({
            "apiVersion": API,
            "kind": "ValidatorKeyRotation",
            "metadata": {"name": "early", "namespace": NS},
            "spec": {"validator": "later"},
        }))
        .expect("ValidatorKeyRotation");
    // A participant that cannot be reached: the test looks only at the API server.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = closed.local_addr().expect("address").to_string();
    drop(closed);
    let controller = rotation_controller(&server, address);
    let reason = || {
        server
            .get(API, ROTATIONS, Some(NS), "early")
            .map(|r| r["status"]["reason"].clone())
            .unwrap_or_default()
    };
    wait_until("ValidatorNotFound", || reason() == "ValidatorNotFound").await;
    assert_quiet_for_ten_minutes(&server, Duration::from_secs(1), "a waiting rotation").await;
    server.insert(&validator("later")).expect("Validator");
    wait_until("the rotation goes on", || reason() != "ValidatorNotFound").await;
    controller.abort();
}

/// A rotation paused for a backup asks nothing of the API server or the participant while it
/// waits, and goes on when its Validator's status shows a verified backup that finished after
/// the new keys.
#[tokio::test(start_paused = true)]
async fn a_paused_rotation_waits_for_a_watch_event_not_a_poll() {
    let server = server();
    server.insert(&validator("paused")).expect("Validator");
    server
        .insert(&json!({
            "apiVersion": API,
            "kind": "ValidatorKeyRotation",
            "metadata": {"name": "paused-rotation", "namespace": NS},
            "spec": {"validator": "paused", "pauseForBackup": true},
        }))
        .expect("ValidatorKeyRotation");
    let participant = FakeParticipant::new(2, Duration::from_millis(30));
    let address = participant.serve().await.to_string();
    let controller = rotation_controller(&server, address);
    let rotation = || {
        server
            .get(API, ROTATIONS, Some(NS), "paused-rotation")
            .unwrap_or_default()
    };
    wait_until("AwaitingBackup", || {
        rotation()["status"]["phase"] == "AwaitingBackup"
    })
    .await;
    settle(&server, Duration::from_secs(1)).await;
    server.clear_requests();
    let calls = participant.calls().len();
    tokio::time::sleep(10 * MINUTE).await;
    let requests = server.requests();
    assert_eq!(
        costs(&requests),
        (0, 0, 0),
        "a paused rotation asked: {:?}",
        described(&requests)
    );
    assert_eq!(
        participant.calls().len(),
        calls,
        "the participant was asked"
    );

    // A backup from before the new keys changes nothing; one after them lets it finish.
    let effective = parse(&rotation()["status"]["keysEffectiveAt"]);
    let backup = |finished: Timestamp| {
        json!({"backup": {"lastSuccess": {
            "finishedAt": rfc3339(finished), "object": "dump", "sizeBytes": 1
        }}})
    };
    server
        .set_status(
            API,
            "validators",
            Some(NS),
            "paused",
            backup(
                effective
                    .checked_sub(SignedDuration::from_secs(60))
                    .expect("in range"),
            ),
        )
        .expect("status");
    settle(&server, Duration::from_secs(1)).await;
    assert_eq!(costs(&server.requests()), (0, 0, 0));
    assert_eq!(
        participant.calls().len(),
        calls,
        "the participant was asked"
    );
    server
        .set_status(
            API,
            "validators",
            Some(NS),
            "paused",
            backup(plus(effective, Duration::from_secs(1))),
        )
        .expect("status");
    wait_until("Succeeded", || rotation()["status"]["phase"] == "Succeeded").await;
    controller.abort();
}

/// The idle request rate of a fleet with schedules (nothing due), per simulated minute, by kind:
/// `IDLE_N=200 cargo test --test rotation_schedule idle_request_rate -- --ignored --nocapture`.
/// A measurement for docs/performance.md, not an assertion: it runs on any version of the operator.
#[tokio::test(start_paused = true)]
#[ignore = "measurement; prints the idle request rate"]
async fn idle_request_rate() {
    let n: usize = std::env::var("IDLE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let server = server();
    for i in 0..n {
        insert_scheduled(&server, &format!("v{i}"), "2160h", 30 * DAY);
    }
    let _op = start(&server, config(false));
    for i in 0..n {
        let name = format!("v{i}");
        wait_until("both Deployments", || {
            deployment(&server, &format!("{name}-participant")).is_some()
                && deployment(&server, &format!("{name}-validator-app")).is_some()
        })
        .await;
        make_available(&server, &format!("{name}-participant"));
        make_available(&server, &format!("{name}-validator-app"));
    }
    wait_until("every validator Ready", || {
        (0..n).all(|i| {
            condition(&server, &format!("v{i}"), "Ready").is_some_and(|c| c["status"] == "True")
        })
    })
    .await;
    settle(&server, Duration::from_secs(5)).await;
    server.clear_requests();
    let minutes = 10;
    tokio::time::sleep(minutes * MINUTE).await;
    let requests = server.requests();
    let (lists, gets, writes) = costs(&requests);
    let watches = requests.iter().filter(|r| r.is_watch()).count();
    let per_minute = |count: usize| count as f64 / f64::from(minutes);
    let rotation_lists = requests
        .iter()
        .filter(|r| is_list(r) && r.path.ends_with("/validatorkeyrotations"))
        .count();
    println!(
        "idle, {n} validators with schedules, per simulated minute over {minutes}: \
         all {:.1}, LIST {:.1} (of ValidatorKeyRotations {:.1}), GET {:.1}, write {:.1}, WATCH {:.1}",
        per_minute(requests.len()),
        per_minute(lists),
        per_minute(rotation_lists),
        per_minute(gets),
        per_minute(writes),
        per_minute(watches),
    );
}

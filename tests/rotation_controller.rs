//! The rotation controller end to end on the stateful fake kube-apiserver, talking to the fake
//! Admin API: a ValidatorKeyRotation goes to Succeeded; against a participant that cannot be
//! reached, status says so (and the rotation fails with that reason) instead of hanging.

mod rotation_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use canton_operator::api::{Validator, ValidatorKeyRotation};
use canton_operator::rotation::admin::{AdminTarget, Timeouts};
use canton_operator::rotation::step::StepSettings;
use canton_operator::rotation::{RotationSettings, run};
use kube::CustomResourceExt;
use rotation_support::FakeParticipant;
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;
use tokio::sync::watch;

const NS: &str = "canton";
const API: &str = "canton-operator.dev/v1alpha1";

fn cluster() -> FakeApiServer {
    let server = FakeApiServer::new();
    server
        .register_crd(&Validator::crd())
        .expect("Validator CRD");
    server
        .register_crd(&ValidatorKeyRotation::crd())
        .expect("ValidatorKeyRotation CRD");
    let validator: Value = serde_saphyr::from_str(
        &std::fs::read_to_string("tests/fixtures/no-kms.yaml").expect("fixture"),
    )
    .expect("fixture YAML");
    server.insert(&validator).expect("Validator");
    server
        .insert(&json!({
            "apiVersion": API,
            "kind": "ValidatorKeyRotation",
            "metadata": {"name": "rotate", "namespace": NS},
            "spec": {"validator": "plain"},
        }))
        .expect("ValidatorKeyRotation");
    server
}

fn settings(address: String, timeouts: Timeouts) -> RotationSettings {
    let mut s = RotationSettings::new(Some(NS.to_string()));
    s.resolver = Arc::new(move |_: &Validator| Ok(AdminTarget::plaintext(&address)));
    s.step = StepSettings {
        poll: Duration::from_millis(20),
        max_failures: 3,
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(50),
    };
    s.timeouts = timeouts;
    s
}

/// Polls the stored rotation until `done` holds (or 20 s pass).
async fn wait_for(server: &FakeApiServer, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..400 {
        if let Some(r) = server.get(API, "validatorkeyrotations", Some(NS), "rotate")
            && done(&r)
        {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "condition not reached: {:#}",
        server
            .get(API, "validatorkeyrotations", Some(NS), "rotate")
            .unwrap_or_default()
    );
}

#[tokio::test]
async fn a_rotation_request_reaches_succeeded() {
    let server = cluster();
    let fake = FakeParticipant::new(2, Duration::from_millis(30));
    let addr = fake.serve().await;
    let (_leading_tx, leading) = watch::channel(true);
    let controller = tokio::spawn(run(
        server.client(),
        settings(addr.to_string(), Timeouts::default()),
        leading,
    ));
    let done = wait_for(&server, |r| r["status"]["phase"] == "Succeeded").await;
    controller.abort();
    let keys = done["status"]["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(keys.len(), 2, "{done:#}");
    let new: Vec<String> = keys
        .iter()
        .filter_map(|k| k["newFingerprint"].as_str().map(String::from))
        .collect();
    assert_eq!(fake.authorized().fingerprints(), new);
    assert_eq!(fake.count("Authorize"), 2);
    assert_eq!(fake.count("GenerateSigningKey"), 1);
    assert_eq!(fake.count("GenerateEncryptionKey"), 1);
    assert!(done["status"]["completedAt"].is_string());
    // Status is written through the status subresource only.
    let status_writes = server
        .writes()
        .iter()
        .filter(|w| w.path.ends_with("/rotate/status"))
        .count();
    assert!(status_writes > 0);
    assert!(
        server
            .writes()
            .iter()
            .all(|w| !(w.path.ends_with("/rotate") && w.method == http::Method::PUT))
    );
}

#[tokio::test]
async fn an_unreachable_participant_shows_in_status_instead_of_hanging() {
    let server = cluster();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = closed.local_addr().expect("address").to_string();
    drop(closed);
    let timeouts = Timeouts {
        connect: Duration::from_millis(300),
        request: Duration::from_millis(500),
    };
    let (_leading_tx, leading) = watch::channel(true);
    let controller = tokio::spawn(run(server.client(), settings(address, timeouts), leading));
    let reachable = |r: &Value| {
        r["status"]["conditions"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c["type"] == "ParticipantReachable")
                    .cloned()
            })
            .unwrap_or_default()
    };
    let seen = wait_for(&server, |r| reachable(r)["status"] == "False").await;
    assert!(
        reachable(&seen)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot reach"),
        "{seen:#}"
    );
    let failed = wait_for(&server, |r| r["status"]["phase"] == "Failed").await;
    controller.abort();
    assert_eq!(
        failed["status"]["reason"], "ParticipantUnreachable",
        "{failed:#}"
    );
    assert!(
        failed["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("gave up after 3")
    );
}

/// The metric the chart's key-rotation alerts read: a series per rotation in progress, with its
/// phase and when it began, gone once the rotation ends.
#[tokio::test]
async fn a_rotation_in_progress_is_in_the_metrics_until_it_ends() {
    let server = cluster();
    // A participant that takes connections and never answers: each attempt lasts the request
    // timeout, so the rotation is in progress (its status written between attempts) for a while
    // before it fails.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = silent.local_addr().expect("address").to_string();
    let timeouts = Timeouts {
        connect: Duration::from_millis(300),
        request: Duration::from_millis(500),
    };
    let metrics = Arc::new(canton_operator::metrics::Metrics::new());
    let mut s = settings(address, timeouts);
    s.metrics = Some(metrics.clone());
    let (_leading_tx, leading) = watch::channel(true);
    let controller = tokio::spawn(run(server.client(), s, leading));
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("canton_operator_key_rotation_started_timestamp_seconds{"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let mut in_progress = Vec::new();
    for _ in 0..200 {
        in_progress = series(&metrics.encode());
        if !in_progress.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(in_progress.len(), 1, "{in_progress:?}");
    assert!(
        in_progress[0]
            .contains(r#"namespace="canton",rotation="rotate",validator="plain",phase=""#),
        "{in_progress:?}"
    );
    let created = server
        .get(API, "validatorkeyrotations", Some(NS), "rotate")
        .unwrap();
    let created = created["metadata"]["creationTimestamp"].as_str().unwrap();
    let started: i64 = in_progress[0].rsplit(' ').next().unwrap().parse().unwrap();
    let created: k8s_openapi::jiff::Timestamp = created.parse().unwrap();
    assert!(
        (started - created.as_second()).abs() <= 5,
        "{in_progress:?} vs {created}"
    );
    wait_for(&server, |r| r["status"]["phase"] == "Failed").await;
    for _ in 0..200 {
        if series(&metrics.encode()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    controller.abort();
    drop(silent);
    assert!(series(&metrics.encode()).is_empty(), "{}", metrics.encode());
}

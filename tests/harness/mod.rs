//! Running the real controller against the fake API server, and waiting for what it should do.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use canton_operator::api::Validator;
use canton_operator::config::OperatorConfig;
use canton_operator::controller::{Settings, controller_run};
use canton_operator::manifest::decode_validator;
use canton_operator::metrics::Metrics;
use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::fake_api::FakeApiServer;

pub const NS: &str = "validators";
pub const SEED_VALUE: &str = r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#;
pub const SEED_SA: &str = "catalyst-canton-kms";
pub const SEED_PARTICIPANT_VALUE: &str = "canton.participants.participant.crypto.provider = kms\n\
     canton.participants.participant.crypto.kms = { type = \"aws\", region = \"eu-west-1\", audit-logging = true }";

/// A fake API server with the operator's CRDs installed.
pub fn server() -> FakeApiServer {
    let server = FakeApiServer::new();
    for crd in canton_operator::manifest::crds() {
        server.register_crd(&crd).expect("CRD registers");
    }
    server
}

/// An environment with the seed's three variables, or KMS off.
pub fn config(kms: bool) -> OperatorConfig {
    config_from(if kms {
        &[
            ("CANTON_TOPOLOGY_KMS_ENABLED", "true"),
            ("CANTON_TOPOLOGY_KMS_VALUE", SEED_VALUE),
            ("CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT", SEED_SA),
        ]
    } else {
        &[]
    })
}

pub fn config_from(pairs: &[(&str, &str)]) -> OperatorConfig {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OperatorConfig::from_lookup(move |name| {
        pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
    })
}

/// A running controller; dropping or stopping it aborts it like a killed process.
pub struct Operator {
    pub leading: watch::Sender<bool>,
    pub metrics: Arc<Metrics>,
    task: JoinHandle<()>,
}

impl Operator {
    /// Kills the controller (no graceful shutdown), as a crash would.
    pub fn kill(self) {
        self.task.abort();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the controller as leader, without debounce so each test converges quickly.
pub fn start(server: &FakeApiServer, config: OperatorConfig) -> Operator {
    start_with_debounce(server, config, std::time::Duration::ZERO)
}

/// Starts the controller as leader with a reconcile debounce.
pub fn start_with_debounce(
    server: &FakeApiServer,
    config: OperatorConfig,
    debounce: std::time::Duration,
) -> Operator {
    let settings = Settings {
        namespace: None,
        concurrency: 4,
        debounce,
        max_concurrent_rollouts: canton_operator::controller::DEFAULT_MAX_CONCURRENT_ROLLOUTS,
    };
    start_with_settings(server, config, settings)
}

/// Starts the controller as leader with these settings.
pub fn start_with_settings(
    server: &FakeApiServer,
    config: OperatorConfig,
    settings: Settings,
) -> Operator {
    let (leading, rx) = watch::channel(true);
    let metrics = Arc::new(Metrics::new());
    let task = tokio::spawn(controller_run(
        server.client(),
        config,
        settings,
        metrics.clone(),
        rx,
    ));
    Operator {
        leading,
        metrics,
        task,
    }
}

/// The example Validator, renamed.
pub fn validator(name: &str) -> Validator {
    let text = std::fs::read_to_string("examples/validator.yaml").expect("example exists");
    let mut v = decode_validator(&text).expect("example decodes");
    v.metadata.name = Some(name.to_string());
    v.metadata.namespace = Some(NS.to_string());
    v
}

/// The seed's externally managed ServiceAccount, annotated for IRSA.
pub fn seed_service_account(server: &FakeApiServer) {
    service_account(
        server,
        SEED_SA,
        Some("arn:aws:iam::123456789012:role/canton-kms"),
    );
}

pub fn service_account(server: &FakeApiServer, name: &str, role: Option<&str>) {
    let mut sa = ServiceAccount::default();
    sa.metadata.name = Some(name.to_string());
    sa.metadata.namespace = Some(NS.to_string());
    if let Some(role) = role {
        sa.metadata.annotations =
            Some([("eks.amazonaws.com/role-arn".to_string(), role.to_string())].into());
    }
    server.insert(&sa).expect("service account inserted");
}

pub fn get(server: &FakeApiServer, api_version: &str, plural: &str, name: &str) -> Option<Value> {
    server.get(api_version, plural, Some(NS), name)
}

pub fn deployment(server: &FakeApiServer, name: &str) -> Option<Value> {
    get(server, "apps/v1", "deployments", name)
}

pub fn validator_obj(server: &FakeApiServer, name: &str) -> Option<Value> {
    get(server, "canton-operator.dev/v1alpha1", "validators", name)
}

/// The value of a participant env var, if the Deployment has it.
pub fn participant_env(server: &FakeApiServer, validator: &str, var: &str) -> Option<String> {
    let d = deployment(server, &format!("{validator}-participant"))?;
    let env = d
        .pointer("/spec/template/spec/containers/0/env")?
        .as_array()?
        .clone();
    env.iter()
        .find(|e| e["name"] == var)
        .and_then(|e| e["value"].as_str().map(str::to_string))
}

/// A condition of the Validator's status.
pub fn condition(server: &FakeApiServer, validator: &str, type_: &str) -> Option<Value> {
    let v = validator_obj(server, validator)?;
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

/// Events recorded about a validator with a given reason.
pub fn events(server: &FakeApiServer, reason: &str) -> Vec<Value> {
    server
        .list("events.k8s.io/v1", "events", Some(NS))
        .into_iter()
        .filter(|e| e["reason"] == reason)
        .collect()
}

/// Marks a Deployment available, as the Deployment controller would.
pub fn make_available(server: &FakeApiServer, name: &str) {
    let d = deployment(server, name).expect("deployment exists");
    server.make_deployment_available(&d).expect("status set");
}

/// Polls `check` until it holds, failing with `what` after 10 s.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the server has seen no request for `quiet` (the controller has settled).
pub async fn settle(server: &FakeApiServer, quiet: Duration) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = server.requests().len();
    loop {
        tokio::time::sleep(quiet).await;
        let now = server.requests().len();
        if now == seen || Instant::now() > deadline {
            return;
        }
        seen = now;
    }
}

/// GCP KMS with a participant ServiceAccount the operator creates and annotates for Workload
/// Identity.
pub fn gcp_kms_with_created_account() -> canton_operator::api::KmsSpec {
    use canton_operator::api::{KmsServiceAccount, KmsSpec};
    use canton_operator::kms::{GcpKms, KmsProvider};
    let mut kms = KmsSpec::external(KmsProvider::Gcp(GcpKms {
        location_id: "europe-west1".into(),
        project_id: "acme-canton".into(),
        key_ring_id: "validators".into(),
        ..Default::default()
    }));
    kms.service_account = Some(KmsServiceAccount {
        create: Some(true),
        gcp_service_account: Some("canton-kms@acme-canton.iam.gserviceaccount.com".into()),
        ..Default::default()
    });
    kms
}

/// Starts the operator again (after the caller stopped it) and waits until its full reconcile
/// is done and quiet, then fails if it wrote anything: a restarted operator finds nothing of its
/// own to write.
pub async fn restart_and_assert_no_writes(server: &FakeApiServer, when: &str) -> Operator {
    server.clear_requests();
    let op = start(server, config(true));
    eventually("the restarted operator looked", || {
        server
            .requests()
            .iter()
            .any(|r| r.path.contains("serviceaccounts/catalyst-canton-kms"))
    })
    .await;
    settle(server, Duration::from_millis(500)).await;
    assert_no_writes(server, when);
    op
}

/// Fails with the method and path of every write the server has recorded, if any.
pub fn assert_no_writes(server: &FakeApiServer, when: &str) {
    let writes: Vec<String> = server
        .writes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{when}, the operator wrote: {writes:?}");
}

/// The operator's reads of single children of `validator` (not lists or watches): it reads a child
/// only when the cache's fingerprint of it differs from the render's.
pub fn child_reads(server: &FakeApiServer, validator: &str) -> Vec<String> {
    const CHILDREN: [&str; 5] = [
        "deployments",
        "services",
        "serviceaccounts",
        "networkpolicies",
        "cronjobs",
    ];
    server
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::GET && !r.is_watch())
        .filter(|r| {
            let mut segments = r.path.rsplit('/');
            let name = segments.next().unwrap_or_default();
            let plural = segments.next().unwrap_or_default();
            CHILDREN.contains(&plural)
                && (name == validator || name.starts_with(&format!("{validator}-")))
        })
        .map(|r| r.path.clone())
        .collect()
}

/// Runs `f` with a timeout so a hang fails the test instead of CI.
pub async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test finished in time")
}

/// Installs the Prometheus Operator's ServiceMonitor CRD, as a cluster with it serves it.
pub fn serve_service_monitors(server: &FakeApiServer) {
    let text = std::fs::read_to_string("tests/fixtures/servicemonitor-crd.yaml")
        .expect("ServiceMonitor CRD fixture exists");
    let crd: Value = serde_saphyr::from_str(&text).expect("ServiceMonitor CRD fixture parses");
    server
        .register_crd(&crd)
        .expect("ServiceMonitor CRD registers");
}

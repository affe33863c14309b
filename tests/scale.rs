//! Scale run of the reconciler (issue 6): the real `canton-operator run` binary, as its own
//! process, against the fake API server served over HTTP on 127.0.0.1, with N Validators.
//!
//! ```text
//! SCALE_N=1000,10000 cargo test --release --test scale -- --ignored --nocapture
//! ```
//!
//! Settings (environment):
//! - `SCALE_N`: comma-separated validator counts (default `1000`).
//! - `SCALE_CONCURRENCY`: comma-separated `--concurrency` values (default: the binary's default).
//! - `SCALE_KMS`: `seed` (default: the seed's KMS environment and annotated ServiceAccount in every
//!   namespace) or `off` (no KMS environment).
//! - `SCALE_NAMESPACES`: namespaces the validators are spread over (default 10).
//! - `SCALE_PHASE_TIMEOUT`: seconds each phase may take before the run fails (default 900).
//! - `SCALE_OPERATOR_ENV`: space-separated `NAME=value` pairs for the operator process only (allocator
//!   knobs such as `MALLOC_ARENA_MAX=2`, or a heap profiler's `LD_PRELOAD`); `{name}` in a value
//!   becomes the process's name (`first`, `second`), for one output file each.
//! - `SCALE_OPERATOR_BIN`: another build of the operator to run (for example one with frame
//!   pointers and line tables for a heap profiler); default: this build's.
//! - `SCALE_LOG`: the operator's `RUST_LOG` (default `info,kube=warn`); its logs are kept in a
//!   temporary directory whose path is printed.
//!
//! Each run: create the validators, start the operator and time until every validator has both
//! Deployments, both Services and a `KmsConfigured=True` status; mark every Deployment available
//! and wait for `Ready`; then kill the operator and start it again, wait for its full reconcile
//! (its `reconciles` counter reaches N) and count what it writes in that steady state (target:
//! nothing but Lease renewals; Events are counted and reported apart). Requests are counted from the fake's log, peak RSS (VmHWM) and
//! CPU time are read from /proc for each operator process. Nothing here asserts a speed: the run
//! fails only when the operator does not converge, or writes in the steady state.

mod scale_support;
mod support;

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use canton_operator::api::Validator;
use canton_operator::manifest::{crds, decode_validator};
use canton_operator::render::{Ui, web_ui_name};
use k8s_openapi::api::core::v1::ServiceAccount;
use scale_support::{
    Kind, ProcStats, count, free_port, kubeconfig, metric, proc_stats, scrape, serve_http,
};
use serde_json::Value;
use support::fake_api::FakeApiServer;

const VALIDATORS: &str = "canton-operator.dev/v1alpha1";
const SEED_VALUE: &str = r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#;
const SEED_SA: &str = "catalyst-canton-kms";
const RECONCILES: &str = "canton_operator_reconciles_total";
/// Quiet window: no reconcile and no write beyond Lease renewals for this long means settled.
const QUIET: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
struct Plan {
    n: usize,
    concurrency: Option<u16>,
    kms: bool,
    namespaces: usize,
    phase_timeout: Duration,
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
struct Figures {
    n: usize,
    concurrency: String,
    insert_secs: f64,
    provision_secs: f64,
    provision: BTreeMap<Kind, usize>,
    available_secs: f64,
    available: BTreeMap<Kind, usize>,
    restart_secs: f64,
    steady: BTreeMap<Kind, usize>,
    steady_secs: f64,
    first: ProcStats,
    second: ProcStats,
    /// CPU seconds of this test process (the fake API server) in each phase.
    fake_cpu: [f64; 3],
    /// Times an operator process logged that it lost leadership (Lease renewals too slow).
    leadership_lost: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "scale run: SCALE_N=1000,10000 cargo test --release --test scale -- --ignored --nocapture"]
async fn reconciler_at_scale() {
    let ns = list_env("SCALE_N").unwrap_or_else(|| vec![1000]);
    let concurrencies: Vec<Option<u16>> = match list_env("SCALE_CONCURRENCY") {
        Some(cs) => cs.into_iter().map(|c| Some(c as u16)).collect(),
        None => vec![None],
    };
    let kms = std::env::var("SCALE_KMS").map_or(true, |v| v != "off");
    let namespaces = list_env("SCALE_NAMESPACES")
        .and_then(|v| v.first().copied())
        .unwrap_or(10);
    let phase_timeout = Duration::from_secs(
        list_env("SCALE_PHASE_TIMEOUT")
            .and_then(|v| v.first().copied())
            .unwrap_or(900) as u64,
    );
    let mut all = Vec::new();
    for &n in &ns {
        for &concurrency in &concurrencies {
            let plan = Plan {
                n,
                concurrency,
                kms,
                namespaces,
                phase_timeout,
            };
            let figures = run(&plan).await;
            println!("{}", table(std::slice::from_ref(&figures)));
            all.push(figures);
        }
    }
    println!(
        "\n## All runs (KMS {}, {namespaces} namespaces)\n\n{}",
        if kms { "seed environment" } else { "off" },
        table(&all)
    );
    for f in &all {
        let writes: usize = f
            .steady
            .iter()
            .filter(|(k, _)| k.is_object_write())
            .map(|(_, v)| v)
            .sum();
        assert_eq!(
            writes, 0,
            "N={}: the restarted operator wrote in the steady state: {:?}",
            f.n, f.steady
        );
    }
}

fn list_env(name: &str) -> Option<Vec<usize>> {
    let v = std::env::var(name).ok()?;
    let parsed: Vec<usize> = v
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().replace('_', "").parse().expect("a number"))
        .collect();
    (!parsed.is_empty()).then_some(parsed)
}

async fn run(plan: &Plan) -> Figures {
    let n = plan.n;
    let label = plan
        .concurrency
        .map_or("default".to_string(), |c| c.to_string());
    println!("\n# N = {n}, concurrency {label}");
    let server = FakeApiServer::new();
    // Deployments get the status, conditions and managedFields a real cluster gives them.
    server.run_deployment_controller(true);
    for crd in crds() {
        server.register_crd(&crd).expect("CRD registers");
    }
    let namespaces: Vec<String> = (0..plan.namespaces).map(|i| format!("scale-{i}")).collect();
    if plan.kms {
        for ns in &namespaces {
            seed_service_account(&server, ns);
        }
    }
    let started = Instant::now();
    let template = template();
    for i in 0..n {
        let mut v = template.clone();
        v.metadata.name = Some(format!("v{i:05}"));
        v.metadata.namespace = Some(namespaces[i % namespaces.len()].clone());
        server.insert(&v).expect("validator inserted");
    }
    let insert_secs = started.elapsed().as_secs_f64();
    println!("created {n} validators in the fake in {insert_secs:.1} s");

    let (addr, http) = serve_http(server.clone()).await;
    // Kept after the run: the operator logs are there.
    let dir = tempfile::Builder::new()
        .prefix("canton-operator-scale-")
        .tempdir()
        .expect("temp dir")
        .keep();
    println!("kubeconfig and operator logs in {}", dir.display());
    let config = dir.join("kubeconfig");
    std::fs::write(&config, kubeconfig(addr)).expect("kubeconfig written");
    let port = free_port();
    // Looking at every validator costs the fake a LIST; at 10,000 look every 2 s.
    let poll = Duration::from_millis((n as u64 / 5).clamp(100, 2000));
    let fake_cpu = || proc_stats(std::process::id()).map_or(0.0, |s| s.cpu_secs);

    // Provisioning: from process start until every validator has its children and KMS status.
    off_runtime(&server, FakeApiServer::clear_requests).await;
    let cpu = fake_cpu();
    let started = Instant::now();
    let mut op = Operator::spawn(plan, &config, port, &dir, "first");
    op.wait_async(plan, "every validator provisioned", poll, || {
        off_runtime(&server, move |s| provisioned(s, n))
    })
    .await;
    let provision_secs = started.elapsed().as_secs_f64();
    off_runtime(&server, move |s| check_children(s, n)).await;
    println!("provisioned {n} in {provision_secs:.1} s");
    wait_quiet(&server, &mut op, plan).await;
    let provision = off_runtime(&server, take_counts).await;
    let fake_provision = fake_cpu() - cpu;

    // The Deployment controller's part: every Deployment becomes available.
    let cpu = fake_cpu();
    let started = Instant::now();
    off_runtime(&server, make_all_available).await;
    op.wait_async(plan, "every validator Ready", poll, || {
        off_runtime(&server, move |s| ready(s, n))
    })
    .await;
    let available_secs = started.elapsed().as_secs_f64();
    wait_quiet(&server, &mut op, plan).await;
    let available = off_runtime(&server, take_counts).await;
    let first = op.stats();
    let mut leadership_lost = op.leadership_lost();
    op.kill();
    let fake_available = fake_cpu() - cpu;

    // Restart: a fresh process lists everything and reconciles every validator once.
    let cpu = fake_cpu();
    let started = Instant::now();
    let mut op = Operator::spawn(plan, &config, port, &dir, "second");
    op.wait_async(
        plan,
        "the restarted operator's full reconcile",
        poll,
        || async move {
            let reconciled = scrape(port).await.and_then(|t| metric(&t, RECONCILES));
            reconciled.is_some_and(|r| r >= n as f64)
        },
    )
    .await;
    let restart_secs = started.elapsed().as_secs_f64();
    wait_quiet(&server, &mut op, plan).await;
    // And a little longer, idle, to see that nothing comes back.
    tokio::time::sleep(QUIET * 2).await;
    let steady_secs = started.elapsed().as_secs_f64();
    let steady = off_runtime(&server, take_counts).await;
    let second = op.stats();
    leadership_lost += op.leadership_lost();
    op.kill();
    http.abort();
    let fake_cpu = [fake_provision, fake_available, fake_cpu() - cpu];

    let figures = Figures {
        n,
        concurrency: label,
        insert_secs,
        provision_secs,
        provision,
        available_secs,
        available,
        restart_secs,
        steady,
        steady_secs,
        first,
        second,
        fake_cpu,
        leadership_lost,
    };
    println!("raw: {figures:?}");
    figures
}

/// Runs a synchronous look at (or change of) the fake on a blocking thread: with 10,000 validators
/// a LIST of them takes long enough that, on a runtime worker, it would hold up the HTTP side.
async fn off_runtime<T: Send + 'static>(
    server: &FakeApiServer,
    f: impl FnOnce(&FakeApiServer) -> T + Send + 'static,
) -> T {
    let server = server.clone();
    tokio::task::spawn_blocking(move || f(&server))
        .await
        .expect("blocking task")
}

fn template() -> Validator {
    let text = std::fs::read_to_string("examples/validator.yaml").expect("example exists");
    decode_validator(&text).expect("example decodes")
}

fn seed_service_account(server: &FakeApiServer, ns: &str) {
    let mut sa = ServiceAccount::default();
    sa.metadata.name = Some(SEED_SA.to_string());
    sa.metadata.namespace = Some(ns.to_string());
    sa.metadata.annotations = Some(
        [(
            "eks.amazonaws.com/role-arn".to_string(),
            "arn:aws:iam::123456789012:role/canton-kms".to_string(),
        )]
        .into(),
    );
    server.insert(&sa).expect("service account inserted");
}

fn condition_true(v: &Value, type_: &str) -> bool {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}

/// Every validator has a `KmsConfigured=True` status (written after its children were applied).
fn provisioned(server: &FakeApiServer, n: usize) -> bool {
    all_have(server, n, "KmsConfigured")
}

fn ready(server: &FakeApiServer, n: usize) -> bool {
    all_have(server, n, "Ready")
}

fn all_have(server: &FakeApiServer, n: usize, condition: &str) -> bool {
    let validators = list_all(server, VALIDATORS, "validators");
    let done = validators
        .iter()
        .filter(|v| condition_true(v, condition))
        .count();
    if std::env::var("SCALE_DEBUG").is_ok() {
        let stuck = validators.iter().find(|v| !condition_true(v, condition));
        println!(
            "{done}/{n} {condition}; e.g. {}",
            stuck
                .map(|v| format!(
                    "{} {} {}",
                    v["metadata"]["name"], v["metadata"]["generation"], v["status"]
                ))
                .unwrap_or_default()
        );
    }
    validators.len() == n && done == n
}

/// Every object of a resource, one namespace at a time: the fake holds its one lock for a whole
/// LIST, and one LIST of 20,000 Deployments held it long enough for the operator's Lease renewal
/// to time out (5 s) — the operator then stepped down and restarted its controller.
fn list_all(server: &FakeApiServer, api_version: &str, plural: &str) -> Vec<Value> {
    let mut namespaces: Vec<String> = server
        .list("v1", "namespaces", None)
        .iter()
        .map(|ns| key(ns).1)
        .collect();
    namespaces.sort();
    namespaces
        .iter()
        .flat_map(|ns| server.list(api_version, plural, Some(ns)))
        .collect()
}

fn key(obj: &Value) -> (String, String) {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

/// Every Deployment and Service of every validator exists (participant, validator app, web UIs).
fn check_children(server: &FakeApiServer, n: usize) {
    let deployments: HashSet<_> = list_all(server, "apps/v1", "deployments")
        .iter()
        .map(key)
        .collect();
    let services: HashSet<_> = list_all(server, "v1", "services").iter().map(key).collect();
    let validators = list_all(server, VALIDATORS, "validators");
    assert_eq!(validators.len(), n);
    for v in &validators {
        let (ns, name) = key(v);
        let uis = Ui::ALL.into_iter().map(|ui| web_ui_name(&name, ui));
        for child in [
            format!("{name}-participant"),
            format!("{name}-validator-app"),
        ]
        .into_iter()
        .chain(uis)
        {
            let k = (ns.clone(), child);
            assert!(deployments.contains(&k), "Deployment {k:?} missing");
            assert!(services.contains(&k), "Service {k:?} missing");
        }
    }
}

/// Marks every Deployment available, as the Deployment controller would.
fn make_all_available(server: &FakeApiServer) {
    for d in list_all(server, "apps/v1", "deployments") {
        server.make_deployment_available(&d).expect("status set");
    }
}

fn take_counts(server: &FakeApiServer) -> BTreeMap<Kind, usize> {
    let requests = server.requests();
    server.clear_requests();
    count(&requests)
}

/// Waits until the operator has gone `QUIET` without a reconcile or a write beyond Lease renewals.
async fn wait_quiet(server: &FakeApiServer, op: &mut Operator, plan: &Plan) {
    // The Lease is renewed every 2 s with one PUT.
    let allowance = (QUIET.as_secs() / 2 + 1) as usize;
    let port = op.port;
    op.wait_async(plan, "quiet", Duration::ZERO, || async move {
        let writes = || off_runtime(server, FakeApiServer::count_writes);
        let before = (
            writes().await,
            scrape(port).await.and_then(|t| metric(&t, RECONCILES)),
        );
        tokio::time::sleep(QUIET).await;
        let after = (
            writes().await,
            scrape(port).await.and_then(|t| metric(&t, RECONCILES)),
        );
        before.1.is_some() && before.1 == after.1 && after.0 - before.0 <= allowance
    })
    .await;
}

/// The operator process; killed when dropped.
struct Operator {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Operator {
    fn spawn(plan: &Plan, kubeconfig: &Path, port: u16, dir: &Path, name: &str) -> Self {
        let log = dir.join(format!("operator-{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let binary = std::env::var("SCALE_OPERATOR_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_canton-operator").to_string());
        let mut cmd = Command::new(binary);
        cmd.args(["run", "--metrics-addr", &format!("127.0.0.1:{port}")])
            .args(["--lease-namespace", "default", "--identity", "scale"])
            .env_clear()
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                std::env::var("SCALE_LOG").unwrap_or("info,kube=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        // Extra environment for the operator only, for experiments: allocator knobs, or a heap
        // profiler (`SCALE_OPERATOR_ENV='LD_PRELOAD=…/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT=…'`).
        for pair in std::env::var("SCALE_OPERATOR_ENV")
            .unwrap_or_default()
            .split_whitespace()
        {
            if let Some((k, v)) = pair.split_once('=') {
                cmd.env(k, v.replace("{name}", name));
            }
        }
        if let Some(c) = plan.concurrency {
            cmd.args(["--concurrency", &c.to_string()]);
        }
        if plan.kms {
            cmd.env("CANTON_TOPOLOGY_KMS_ENABLED", "true")
                .env("CANTON_TOPOLOGY_KMS_VALUE", SEED_VALUE)
                .env("CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT", SEED_SA);
        }
        let child = cmd.spawn().expect("operator starts");
        Operator { child, port, log }
    }

    fn stats(&self) -> ProcStats {
        proc_stats(self.child.id()).expect("operator still running")
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn alive_or_panic(&mut self, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the operator exited ({status}) while waiting for {what}:\n{}",
                self.log_tail()
            );
        }
    }

    /// How often this process logged that it lost leadership.
    fn leadership_lost(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("lost leadership")
            .count()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    async fn wait_async<F: std::future::Future<Output = bool>>(
        &mut self,
        plan: &Plan,
        what: &str,
        every: Duration,
        mut check: impl FnMut() -> F,
    ) {
        let deadline = Instant::now() + plan.phase_timeout;
        loop {
            self.alive_or_panic(what);
            if check().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; operator log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(every).await;
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The figures as a Markdown table, one column per run, and a growth column (last run over first)
/// when the runs differ in N.
fn table(runs: &[Figures]) -> String {
    let growth = runs.len() >= 2 && runs.first().map(|f| f.n) != runs.last().map(|f| f.n);
    let mut out = String::from("| figure |");
    for f in runs {
        let _ = write!(out, " N={} c={} |", f.n, f.concurrency);
    }
    if growth {
        out.push_str(" growth (last / first) |");
    }
    out.push_str("\n|---|");
    for _ in runs {
        out.push_str("---:|");
    }
    if growth {
        out.push_str("---:|");
    }
    out.push('\n');
    let per = |m: &BTreeMap<Kind, usize>, k: Kind, n: usize| m[&k] as f64 / n as f64;
    let object_writes = |m: &BTreeMap<Kind, usize>| -> f64 {
        m.iter()
            .filter(|(k, _)| k.is_object_write())
            .map(|(_, v)| *v as f64)
            .sum()
    };
    let total = |m: &BTreeMap<Kind, usize>| -> f64 { m.values().map(|v| *v as f64).sum() };
    type Row = (&'static str, Box<dyn Fn(&Figures) -> f64>, usize);
    let rows: Vec<Row> = vec![
        (
            "(fake) creating the validators before start (s)",
            Box::new(|f| f.insert_secs),
            1,
        ),
        (
            "provision all: wall time (s)",
            Box::new(|f| f.provision_secs),
            1,
        ),
        (
            "provision: validators per second",
            Box::new(|f| f.n as f64 / f.provision_secs),
            0,
        ),
        (
            "provision, per validator: capture applies",
            Box::new(move |f| per(&f.provision, Kind::Capture, f.n)),
            2,
        ),
        (
            "provision, per validator: child applies",
            Box::new(move |f| per(&f.provision, Kind::ChildApply, f.n)),
            2,
        ),
        (
            "provision, per validator: status patches",
            Box::new(move |f| per(&f.provision, Kind::StatusPatch, f.n)),
            2,
        ),
        (
            "provision, per validator: events",
            Box::new(move |f| per(&f.provision, Kind::EventWrite, f.n)),
            2,
        ),
        (
            "provision, per validator: GETs",
            Box::new(move |f| per(&f.provision, Kind::Get, f.n)),
            2,
        ),
        (
            "provision, per validator: all requests but the Lease's",
            Box::new(move |f| {
                (total(&f.provision) - f.provision[&Kind::Lease] as f64) / f.n as f64
            }),
            2,
        ),
        (
            "provision: LISTs (total)",
            Box::new(|f| f.provision[&Kind::List] as f64),
            0,
        ),
        (
            "provision: WATCHes (total)",
            Box::new(|f| f.provision[&Kind::Watch] as f64),
            0,
        ),
        (
            "all Deployments available → all Ready (s)",
            Box::new(|f| f.available_secs),
            1,
        ),
        (
            "available, per validator: status patches",
            Box::new(move |f| per(&f.available, Kind::StatusPatch, f.n)),
            2,
        ),
        (
            "available, per validator: other object writes",
            Box::new(move |f| {
                (object_writes(&f.available) - f.available[&Kind::StatusPatch] as f64) / f.n as f64
            }),
            2,
        ),
        (
            "available, per validator: events",
            Box::new(move |f| per(&f.available, Kind::EventWrite, f.n)),
            2,
        ),
        (
            "restart: full reconcile wall time (s)",
            Box::new(|f| f.restart_secs),
            1,
        ),
        (
            "steady state after restart: object writes (total)",
            Box::new(move |f| object_writes(&f.steady)),
            0,
        ),
        (
            "steady state after restart: events (total)",
            Box::new(|f| f.steady[&Kind::EventWrite] as f64),
            0,
        ),
        (
            "steady state after restart, per validator: GETs",
            Box::new(move |f| per(&f.steady, Kind::Get, f.n)),
            2,
        ),
        (
            "steady state after restart: LISTs + WATCHes (total)",
            Box::new(|f| (f.steady[&Kind::List] + f.steady[&Kind::Watch]) as f64),
            0,
        ),
        (
            "steady state after restart: Lease requests (total)",
            Box::new(|f| f.steady[&Kind::Lease] as f64),
            0,
        ),
        ("steady state window (s)", Box::new(|f| f.steady_secs), 1),
        (
            "peak RSS, provisioning process (MiB)",
            Box::new(|f| f.first.peak_mib()),
            1,
        ),
        (
            "peak RSS, restarted process, children cached (MiB)",
            Box::new(|f| f.second.peak_mib()),
            1,
        ),
        (
            "RSS at rest, restarted process (MiB)",
            Box::new(|f| f.second.rss_mib()),
            1,
        ),
        (
            "of which file-backed (the binary's pages) (MiB)",
            Box::new(|f| f.second.rss_file_mib()),
            1,
        ),
        (
            "CPU, provisioning process: provision + available (s)",
            Box::new(|f| f.first.cpu_secs),
            2,
        ),
        (
            "CPU, restarted process: full reconcile + idle (s)",
            Box::new(|f| f.second.cpu_secs),
            2,
        ),
        (
            "CPU per validator, provisioning (ms)",
            Box::new(|f| f.first.cpu_secs * 1000.0 / f.n as f64),
            2,
        ),
        (
            "CPU of the fake API server (test process): provision (s)",
            Box::new(|f| f.fake_cpu[0]),
            1,
        ),
        (
            "CPU of the fake API server: available (s)",
            Box::new(|f| f.fake_cpu[1]),
            1,
        ),
        (
            "CPU of the fake API server: restart + steady state (s)",
            Box::new(|f| f.fake_cpu[2]),
            1,
        ),
        (
            "leadership lost (a Lease renewal took over 5 s), times",
            Box::new(|f| f.leadership_lost as f64),
            0,
        ),
    ];
    for (name, value, digits) in rows {
        let _ = write!(out, "| {name} |");
        for f in runs {
            let _ = write!(out, " {:.*} |", digits, value(f));
        }
        if growth {
            let (a, b) = (value(&runs[0]), value(&runs[runs.len() - 1]));
            if a > 0.0 {
                let _ = write!(out, " ×{:.2} |", b / a);
            } else {
                out.push_str(" – |");
            }
        }
        out.push('\n');
    }
    out
}

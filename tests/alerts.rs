//! The chart's alerts and dashboard (charts/canton-operator/files): Prometheus' own `promtool` checks
//! the rules and runs their unit tests (tests/prometheus/alerts_test.yaml: series that fire each alert
//! and series that keep it quiet), parses every dashboard query, and every metric they name is one a
//! running operator serves on /metrics. Each alert's runbook is a section of docs/troubleshooting.md.

mod harness;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use canton_operator::http::{Health, router};
use harness::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::fake_api::{FakeApiServer, Fault};
use tower::ServiceExt;

const RULES: &str = "charts/canton-operator/files/prometheus-rules.yaml";
const RULE_TESTS: &str = "tests/prometheus/alerts_test.yaml";
const DASHBOARD: &str = "charts/canton-operator/files/grafana-dashboard.json";
const RUNBOOKS: &str = "docs/troubleshooting.md";

/// Runs promtool (Debian's `prometheus` package; scripts/test installs it) and fails with its output.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool runs (apt-get install prometheus; scripts/test installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

fn rules() -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(RULES).unwrap()).unwrap()
}

fn alerts() -> Vec<Value> {
    rules()["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect()
}

fn dashboard_queries() -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect()
}

/// The `canton_operator_*` names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"canton_operator_[a-z0-9_]+").unwrap();
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

/// The sample names of a text exposition: every series, and for every declared family the names
/// its samples take (a family with no series yet is still declared).
fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let mut parts = declared.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

/// GitHub's anchor of a Markdown heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == ' ' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn promtool_checks_the_rules_and_their_tests_pass() {
    let checked = promtool(&["check", "rules", RULES]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", RULE_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_dashboard_query_parses() {
    // promtool parses a recording rule's expression as Prometheus does a panel's query.
    let rules: Vec<Value> = dashboard_queries()
        .iter()
        .enumerate()
        .map(|(i, expr)| json!({"record": format!("dashboard:query_{i}"), "expr": expr}))
        .collect();
    assert!(rules.len() >= 10, "{rules:?}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yaml");
    let doc = json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(&file, serde_json::to_string(&doc).unwrap()).unwrap();
    promtool(&["check", "rules", file.to_str().unwrap()]);
}

#[test]
fn every_alert_has_a_runbook_section_in_troubleshooting() {
    let doc = std::fs::read_to_string(RUNBOOKS).unwrap();
    let anchors: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect();
    for alert in alerts() {
        let name = alert["alert"].as_str().unwrap();
        let url = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_default();
        let (page, section) = url
            .split_once('#')
            .unwrap_or_else(|| panic!("{name}: {url}"));
        assert!(page.ends_with(RUNBOOKS), "{name}: {url}");
        assert!(
            anchors.contains(section),
            "{name}: no heading #{section} in {RUNBOOKS}: {anchors:?}"
        );
        assert!(
            Path::new(RUNBOOKS).exists() && doc.contains(name),
            "{name} is described in {RUNBOOKS}"
        );
        assert!(alert["labels"]["severity"].is_string(), "{name}");
    }
}

/// A finished, verified backup Job pod of `validator`, as the Job controller and kubelet leave it.
fn verified_backup(server: &FakeApiServer, validator: &str) {
    let finished_at = "2099-01-01T06:00:05Z";
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{validator}-identity-backup-1"), "namespace": NS, "labels": {
            "app.kubernetes.io/managed-by": "canton-operator", "app.kubernetes.io/name": "canton-validator",
            "app.kubernetes.io/instance": validator, "app.kubernetes.io/component": "identity-backup",
        }},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "backup", "image": "op"}]},
    });
    server.insert(&pod).unwrap();
    let message = json!({
        "outcome": "Verified", "reason": "Verified", "message": "verified in the test",
        "object": "validators/acme/identities.json", "sizeBytes": 4242, "pruned": 0,
        "finishedAt": finished_at,
    });
    let status = json!({"phase": "Succeeded", "containerStatuses": [{
        "name": "backup", "image": "op", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": finished_at,
            "message": message.to_string()}},
    }]});
    server
        .set_status(
            "v1",
            "pods",
            Some(NS),
            &format!("{validator}-identity-backup-1"),
            status,
        )
        .unwrap();
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_read_is_served_by_a_running_operator() {
    let exposition = within(60, async {
        let server = server();
        seed_service_account(&server);
        let mut v = validator("acme");
        v.spec.backup = Some(
            serde_json::from_value(json!({"identities": {
                "schedule": "0 */6 * * *",
                "destination": {"s3": {"bucket": "acme-backups", "region": "eu-west-1"}},
                "serviceAccount": {"create": true, "awsRoleArn": "arn:aws:iam::123456789012:role/backup"},
            }}))
            .unwrap(),
        );
        server.insert(&v).unwrap();
        // A key rotation (waiting for its Validator, so in progress), a failed reconcile and a
        // verified backup: every family has series.
        server
            .insert(&json!({
                "apiVersion": "canton-operator.dev/v1alpha1", "kind": "ValidatorKeyRotation",
                "metadata": {"name": "rotate", "namespace": NS}, "spec": {"validator": "later"},
            }))
            .unwrap();
        server.inject(Fault::new(500).method(http::Method::PATCH).path("/deployments/"));
        verified_backup(&server, "acme");
        let op = start(&server, config(true));
        let health = Health {
            metrics: op.metrics.clone(),
            ready: Arc::new(AtomicBool::new(true)),
        };
        let mut text = String::new();
        for _ in 0..400 {
            let request = http::Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router(health.clone()).oneshot(request).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            text = String::from_utf8(body.to_vec()).unwrap();
            let has = |name: &str| text.lines().any(|l| l.starts_with(name));
            if has("canton_operator_identity_backup_age_seconds{")
                && has("canton_operator_key_rotation_started_timestamp_seconds{")
                && has("canton_operator_reconcile_failures_total{")
                && has("canton_operator_validator_condition{")
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        text
    })
    .await;
    let exported = exported_names(&exposition);
    // The operator's conditions are there as the alerts read them.
    assert!(
        exposition.contains(
            r#"canton_operator_validator_condition{namespace="validators",validator="acme",condition="IdentityBackedUp",reason="Verified"} 1"#
        ),
        "{exposition}"
    );
    let queries = alerts()
        .into_iter()
        .map(|a| a["expr"].as_str().unwrap().to_string())
        .chain(dashboard_queries());
    let mut read = BTreeSet::new();
    for expr in queries {
        let names = metric_names(&expr);
        assert!(!names.is_empty(), "{expr} reads no operator metric");
        read.extend(names);
    }
    let unknown: Vec<&String> = read.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "not exported: {unknown:?}\n{exposition}"
    );
    // The check itself: a misspelt name would be caught.
    assert!(!exported.contains("canton_operator_validator_conditions"));
    assert!(exported.contains("canton_operator_reconcile_duration_seconds_bucket"));
}

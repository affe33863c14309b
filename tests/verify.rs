//! `verify` against the fake API server: the seed's three checks plus the ServiceAccount annotation.

mod harness;
mod support;

use canton_operator::verify::verify;
use harness::*;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// A participant pod as the Deployment would create it, with the given ready state.
fn pod_from_deployment(
    server: &support::fake_api::FakeApiServer,
    validator: &str,
    ready: bool,
) -> Pod {
    let d = deployment(server, &format!("{validator}-participant")).expect("deployment");
    let template = d["spec"]["template"].clone();
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("{validator}-participant-abc12"), "namespace": NS, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    });
    serde_json::from_value(pod).expect("pod")
}

fn insert_pod(server: &support::fake_api::FakeApiServer, pod: &Pod) {
    let created = server.insert(pod).expect("pod inserted");
    let status = serde_json::to_value(pod).unwrap()["status"].clone();
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    server
        .set_status("v1", "pods", Some(NS), &name, status)
        .expect("pod status");
}

async fn provision(server: &support::fake_api::FakeApiServer, kms: bool, name: &str) {
    if kms {
        seed_service_account(server);
    }
    server.insert(&validator(name)).unwrap();
    let op = start(server, config(kms));
    eventually("provisioned", || {
        deployment(server, &format!("{name}-participant")).is_some()
    })
    .await;
    op.kill();
}

fn names(report: &canton_operator::verify::Report) -> Vec<(&'static str, bool)> {
    report.checks.iter().map(|c| (c.name, c.passed)).collect()
}

#[tokio::test]
async fn a_kms_validator_passes_every_check() {
    within(30, async {
        let server = server();
        provision(&server, true, "acme").await;
        insert_pod(&server, &pod_from_deployment(&server, "acme", true));
        let report = verify(server.client(), NS, "acme").await.unwrap();
        assert!(report.passed, "{}", report.to_text());
        assert_eq!(
            names(&report),
            vec![
                ("serviceAccount", true),
                ("kmsConfig", true),
                ("participantReady", true),
                ("serviceAccountAnnotation", true)
            ]
        );
        let json: Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["passed"], true);
    })
    .await;
}

#[tokio::test]
async fn a_pod_without_the_kms_variable_or_not_ready_fails() {
    within(30, async {
        let server = server();
        provision(&server, true, "drifted").await;
        let mut pod = pod_from_deployment(&server, "drifted", false);
        let spec = pod.spec.as_mut().unwrap();
        spec.containers[0]
            .env
            .as_mut()
            .unwrap()
            .retain(|e| !e.name.starts_with("ADDITIONAL_CONFIG"));
        spec.service_account_name = Some("default".into());
        insert_pod(&server, &pod);
        let report = verify(server.client(), NS, "drifted").await.unwrap();
        assert!(!report.passed);
        assert_eq!(
            names(&report),
            vec![
                ("serviceAccount", false),
                ("kmsConfig", false),
                ("participantReady", false),
                ("serviceAccountAnnotation", true)
            ]
        );
        let text = report.to_text();
        assert!(
            text.contains("FAIL  kmsConfig") && text.contains("missing"),
            "{text}"
        );
        assert!(text.contains("1 of 4 checks passed"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn a_validator_without_kms_passes_when_the_variable_is_absent() {
    within(30, async {
        let server = server();
        provision(&server, false, "plain").await;
        insert_pod(&server, &pod_from_deployment(&server, "plain", true));
        let report = verify(server.client(), NS, "plain").await.unwrap();
        assert!(report.passed, "{}", report.to_text());
        assert_eq!(
            names(&report),
            vec![
                ("serviceAccount", true),
                ("kmsConfig", true),
                ("participantReady", true)
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_validator_and_unprovisioned_validator_are_reported() {
    within(30, async {
        let server = server();
        let err = verify(server.client(), NS, "nobody").await.unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
        server.insert(&validator("fresh")).unwrap();
        let report = verify(server.client(), NS, "fresh").await.unwrap();
        assert!(!report.passed);
        assert!(
            report.checks[0].detail.contains("not recorded yet"),
            "{}",
            report.to_text()
        );
    })
    .await;
}

//! The reconciler and the release table: an unsupported `spec.version` is refused before any write
//! and leaves running workloads alone; a version change rolls the workloads; a web UI turned off
//! is deleted, and only that one.

mod harness;
mod support;

use harness::*;
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;

const V: (&str, &str) = ("canton-operator.dev/v1alpha1", "validators");

fn patch_spec(server: &FakeApiServer, name: &str, spec: Value) {
    server
        .merge_patch(V.0, V.1, Some(NS), name, json!({ "spec": spec }), "kubectl")
        .unwrap();
}

fn image(server: &FakeApiServer, deployment_name: &str) -> Option<String> {
    deployment(server, deployment_name).map(|d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

fn ready_reason(server: &FakeApiServer, name: &str) -> Option<String> {
    condition(server, name, "Ready").map(|c| c["reason"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn an_unsupported_version_is_refused_before_any_write_to_the_validator_or_children() {
    within(30, async {
        let server = server();
        let mut v = validator("old");
        v.spec.version = "0.4.15".to_string();
        server.insert(&v).unwrap();
        let _op = start(&server, config(false));
        eventually("Ready=False UnsupportedVersion", || {
            ready_reason(&server, "old").as_deref() == Some("UnsupportedVersion")
        })
        .await;
        let ready = condition(&server, "old", "Ready").unwrap();
        assert_eq!(ready["status"], "False");
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("0.7.0 to 0.7.4"),
            "{ready}"
        );
        // No capture (spec.kms stays absent), no children; only the status was written.
        assert!(
            validator_obj(&server, "old").unwrap()["spec"]
                .get("kms")
                .is_none()
        );
        assert!(deployment(&server, "old-participant").is_none());
        let writes: Vec<String> = server.writes().iter().map(|w| w.path.clone()).collect();
        assert!(
            writes
                .iter()
                .all(|p| p.ends_with("/validators/old/status") || p.contains("/events")),
            "{writes:#?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_version_change_rolls_the_workloads_and_an_unsupported_one_leaves_them() {
    within(30, async {
        let server = server();
        let mut v = validator("acme");
        v.spec.version = "0.7.3".to_string();
        server.insert(&v).unwrap();
        let _op = start(&server, config(false));
        eventually("0.7.3 workloads", || {
            image(&server, "acme-participant").is_some_and(|i| i.ends_with(":0.7.3"))
        })
        .await;

        patch_spec(&server, "acme", json!({"version": "0.7.4"}));
        eventually("0.7.4 workloads", || {
            image(&server, "acme-participant").is_some_and(|i| i.ends_with(":0.7.4"))
                && image(&server, "acme-validator-app").is_some_and(|i| i.ends_with(":0.7.4"))
                && image(&server, "acme-wallet-web-ui").is_some_and(|i| i.ends_with(":0.7.4"))
        })
        .await;

        // A release the operator does not know (the fake server evaluates the CRD's rules, so
        // this is an upgrade, which admission lets through): refused, workloads untouched.
        patch_spec(&server, "acme", json!({"version": "0.9.0"}));
        eventually("Ready=False UnsupportedVersion", || {
            ready_reason(&server, "acme").as_deref() == Some("UnsupportedVersion")
        })
        .await;
        assert_eq!(
            image(&server, "acme-participant")
                .unwrap()
                .rsplit(':')
                .next(),
            Some("0.7.4")
        );
    })
    .await;
}

#[tokio::test]
async fn a_downgrade_is_refused_by_the_api_server() {
    within(30, async {
        let server = server();
        server.insert(&validator("acme")).unwrap();
        let err = server
            .merge_patch(
                V.0,
                V.1,
                Some(NS),
                "acme",
                json!({"spec": {"version": "0.7.1"}}),
                "kubectl",
            )
            .unwrap_err();
        assert!(err.message.contains("cannot go down"), "{}", err.message);
    })
    .await;
}

#[tokio::test]
async fn a_web_ui_turned_off_is_deleted_and_the_other_kept() {
    within(30, async {
        let server = server();
        server.insert(&validator("acme")).unwrap();
        let _op = start(&server, config(false));
        eventually("both UIs", || {
            deployment(&server, "acme-wallet-web-ui").is_some()
                && deployment(&server, "acme-ans-web-ui").is_some()
                && get(&server, "v1", "services", "acme-ans-web-ui").is_some()
        })
        .await;

        patch_spec(
            &server,
            "acme",
            json!({"webUis": {"ans": {"enabled": false}}}),
        );
        eventually("the ANS UI is gone", || {
            deployment(&server, "acme-ans-web-ui").is_none()
                && get(&server, "v1", "services", "acme-ans-web-ui").is_none()
        })
        .await;
        assert!(deployment(&server, "acme-wallet-web-ui").is_some());
        assert!(deployment(&server, "acme-participant").is_some());
    })
    .await;
}

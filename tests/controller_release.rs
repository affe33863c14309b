//! The reconciler and the release table: an unsupported `spec.version` is refused before any write
//! and leaves running workloads alone; a version change rolls the workloads, across a minor line
//! too; a patch newer than the table runs with a condition and one Warning; validators below the
//! network's minimum release are shown and counted; a web UI turned off is deleted, and only that
//! one.

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
                .contains("0.7.0 to 0.8.1"),
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

fn generation(server: &FakeApiServer, name: &str) -> i64 {
    deployment(server, name).unwrap()["metadata"]["generation"]
        .as_i64()
        .unwrap()
}

fn deployment_writes(server: &FakeApiServer, name: &str) -> usize {
    server
        .writes()
        .iter()
        .filter(|w| w.path.ends_with(&format!("/deployments/{name}")))
        .count()
}

#[tokio::test]
async fn a_new_minor_line_is_refused_before_any_write() {
    within(30, async {
        let server = server();
        let mut v = validator("next");
        v.spec.version = "0.9.0".to_string();
        server.insert(&v).unwrap();
        let _op = start(&server, config(false));
        eventually("Ready=False UnsupportedVersion", || {
            ready_reason(&server, "next").as_deref() == Some("UnsupportedVersion")
        })
        .await;
        let ready = condition(&server, "next", "Ready").unwrap();
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("supported: 0.7.0 to 0.8.1, and later patches of 0.7 and 0.8"),
            "{ready}"
        );
        assert!(condition(&server, "next", "ReleaseKnown").is_none());
        let writes: Vec<String> = server.writes().iter().map(|w| w.path.clone()).collect();
        assert!(
            writes
                .iter()
                .all(|p| p.ends_with("/validators/next/status") || p.contains("/events")),
            "{writes:#?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_upgrade_across_a_minor_line_rolls_the_workloads_once() {
    within(30, async {
        let server = server();
        let mut v = validator("acme");
        v.spec.version = "0.7.4".to_string();
        server.insert(&v).unwrap();
        let _op = start(&server, config(false));
        eventually("0.7.4 workloads", || {
            image(&server, "acme-validator-app").is_some_and(|i| i.ends_with(":0.7.4"))
        })
        .await;
        settle(&server, std::time::Duration::from_millis(300)).await;
        let before = [
            generation(&server, "acme-participant"),
            generation(&server, "acme-validator-app"),
        ];
        server.clear_requests();

        patch_spec(&server, "acme", json!({"version": "0.8.1"}));
        eventually("0.8.1 workloads", || {
            image(&server, "acme-participant").is_some_and(|i| i.ends_with(":0.8.1"))
                && image(&server, "acme-validator-app").is_some_and(|i| i.ends_with(":0.8.1"))
        })
        .await;
        settle(&server, std::time::Duration::from_millis(300)).await;
        let after = [
            generation(&server, "acme-participant"),
            generation(&server, "acme-validator-app"),
        ];
        assert_eq!(after, before.map(|g| g + 1), "one new template each");
        for name in ["acme-participant", "acme-validator-app"] {
            assert_eq!(deployment_writes(&server, name), 1, "{name}");
        }
        assert!(condition(&server, "acme", "ReleaseKnown").is_none());
    })
    .await;
}

#[tokio::test]
async fn a_newer_patch_runs_with_a_condition_and_one_warning() {
    within(30, async {
        let server = server();
        let mut v = validator("acme");
        v.spec.version = "0.8.4".to_string();
        server.insert(&v).unwrap();
        let _op = start(&server, config(false));
        eventually("0.8.4 workloads", || {
            image(&server, "acme-participant").is_some_and(|i| i.ends_with(":0.8.4"))
                && image(&server, "acme-validator-app").is_some_and(|i| i.ends_with(":0.8.4"))
        })
        .await;
        make_available(&server, "acme-participant");
        make_available(&server, "acme-validator-app");
        eventually("Ready=True", || {
            condition(&server, "acme", "Ready").is_some_and(|c| c["status"] == "True")
        })
        .await;
        let known = condition(&server, "acme", "ReleaseKnown").unwrap();
        assert_eq!(known["status"], "False");
        assert_eq!(known["reason"], "NewerPatch");
        assert!(
            known["message"]
                .as_str()
                .unwrap()
                .contains("rendered with the facts of 0.8.1"),
            "{known}"
        );
        settle(&server, std::time::Duration::from_millis(300)).await;
        let warnings = events(&server, "NewerPatch");
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_eq!(warnings[0]["type"], "Warning");
        assert!(warnings[0]["note"].as_str().unwrap().contains("0.8.1"));

        // Another newer patch: one more Warning, naming it.
        patch_spec(&server, "acme", json!({"version": "0.8.5"}));
        eventually("a second Warning for 0.8.5", || {
            events(&server, "NewerPatch").len() == 2
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn validators_below_the_minimum_release_are_shown_counted_and_cleared_by_an_upgrade() {
    within(30, async {
        let server = server();
        for (name, version) in [("old", "0.7.4"), ("new", "0.8.0")] {
            let mut v = validator(name);
            v.spec.version = version.to_string();
            server.insert(&v).unwrap();
        }
        let mut cfg = config(false);
        cfg.minimum_release = Some("0.8.0@2099-12-15".parse().unwrap());
        let op = start(&server, cfg);
        let below = |op: &Operator| {
            op.metrics.encode().lines().find_map(|l| {
                l.strip_prefix("canton_operator_validators_below_minimum_release ")
                    .map(str::to_string)
            })
        };
        eventually("old is below the minimum", || {
            condition(&server, "old", "MinimumReleaseMet").is_some_and(|c| c["status"] == "False")
                && condition(&server, "new", "MinimumReleaseMet").is_some()
        })
        .await;
        let old = condition(&server, "old", "MinimumReleaseMet").unwrap();
        assert_eq!(old["reason"], "BelowMinimumRelease");
        assert!(
            old["message"]
                .as_str()
                .unwrap()
                .contains("0.8.0 or later from 2099-12-15T00:00:00Z"),
            "{old}"
        );
        let new = condition(&server, "new", "MinimumReleaseMet").unwrap();
        assert_eq!(
            (&new["status"], &new["reason"]),
            (&json!("True"), &json!("AtOrAboveMinimum"))
        );
        assert_eq!(below(&op).as_deref(), Some("1"));
        settle(&server, std::time::Duration::from_millis(300)).await;
        let warnings = events(&server, "BelowMinimumRelease");
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_eq!(warnings[0]["type"], "Warning");
        assert_eq!(warnings[0]["regarding"]["name"], "old");

        patch_spec(&server, "old", json!({"version": "0.8.1"}));
        eventually("old meets the minimum", || {
            condition(&server, "old", "MinimumReleaseMet").is_some_and(|c| c["status"] == "True")
        })
        .await;
        assert_eq!(below(&op).as_deref(), Some("0"));
        assert_eq!(events(&server, "AtOrAboveMinimum").len(), 1);
    })
    .await;
}

#[tokio::test]
async fn a_deleted_validator_below_the_minimum_is_no_longer_counted() {
    within(30, async {
        let server = server();
        let mut v = validator("old");
        v.spec.version = "0.7.4".to_string();
        server.insert(&v).unwrap();
        let mut cfg = config(false);
        cfg.minimum_release = Some("0.8.0".parse().unwrap());
        let op = start(&server, cfg);
        let counted = |op: &Operator, n: &str| {
            op.metrics.encode().contains(&format!(
                "canton_operator_validators_below_minimum_release {n}\n"
            ))
        };
        eventually("counted and shown", || {
            counted(&op, "1") && condition(&server, "old", "MinimumReleaseMet").is_some()
        })
        .await;
        let reason = condition(&server, "old", "MinimumReleaseMet").unwrap()["reason"].clone();
        assert_eq!(reason, "MinimumReleaseOverdue");
        server
            .delete(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "old",
            )
            .unwrap();
        eventually("forgotten", || counted(&op, "0")).await;
    })
    .await;
}

#[tokio::test]
async fn releases_below_lists_a_namespace_or_the_whole_cluster() {
    use canton_operator::minimum_release::{below, in_cluster};
    within(30, async {
        let server = server();
        for (name, namespace, version) in [
            ("old", NS, "0.7.4"),
            ("new", NS, "0.8.1"),
            ("elsewhere", "team-b", "0.7.5"),
        ] {
            let mut v = validator(name);
            v.metadata.namespace = Some(namespace.to_string());
            v.spec.version = version.to_string();
            server.insert(&v).unwrap();
        }
        let minimum = "0.8.0".parse().unwrap();
        let names = |fleet: &[canton_operator::minimum_release::ValidatorRelease]| {
            let mut names: Vec<String> = below(fleet, minimum)
                .iter()
                .map(|v| format!("{}/{}", v.namespace, v.name))
                .collect();
            names.sort();
            names
        };
        let one = in_cluster(server.client(), Some(NS)).await.unwrap();
        assert_eq!(one.len(), 2);
        assert_eq!(names(&one), [format!("{NS}/old")]);
        let all = in_cluster(server.client(), None).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            names(&all),
            ["team-b/elsewhere".to_string(), format!("{NS}/old")]
        );
    })
    .await;
}

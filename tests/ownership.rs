//! Server-side apply ownership as the definition of drift, and pruning by ownership, against the
//! stateful fake API server: another manager's items are never the operator's to write back, a
//! field the operator owns is restored once when someone changes or takes it, and whatever this
//! Validator owns and the operator labelled goes when the render no longer has it.

mod harness;
mod support;

use std::time::Duration;

use harness::*;
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;

const PARTICIPANT: &str = "acme-participant";

/// One validator, provisioned, available and settled, with its operator.
async fn settled(server: &FakeApiServer) -> Operator {
    seed_service_account(server);
    server.insert(&validator("acme")).unwrap();
    let op = start(server, config(true));
    eventually("both Deployments exist", || {
        deployment(server, PARTICIPANT).is_some()
            && deployment(server, "acme-validator-app").is_some()
    })
    .await;
    make_available(server, PARTICIPANT);
    make_available(server, "acme-validator-app");
    eventually("Ready=True", || {
        condition(server, "acme", "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
    settle(server, Duration::from_millis(300)).await;
    op
}

/// Reconciles completed so far, from the operator's metrics.
fn reconciles(op: &Operator) -> u64 {
    op.metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix("canton_operator_reconciles_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Makes the operator reconcile `acme` `times` times (an annotation edit on the Validator each).
async fn reconcile_times(server: &FakeApiServer, op: &Operator, times: usize) {
    for i in 0..times {
        let before = reconciles(op);
        server
            .merge_patch(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "acme",
                json!({"metadata": {"annotations": {"example.com/touched": format!("{i}-{before}")}}}),
                "kubectl",
            )
            .unwrap();
        eventually("a reconcile after the edit", || reconciles(op) > before).await;
    }
    settle(server, Duration::from_millis(300)).await;
}

fn strategic(server: &FakeApiServer, name: &str, patch: Value, manager: &str) {
    server
        .strategic_patch("apps/v1", "deployments", Some(NS), name, patch, manager)
        .unwrap();
}

/// The operator's writes of Deployment `name` (applies) since the requests were last cleared.
fn deployment_writes(server: &FakeApiServer, name: &str) -> usize {
    server
        .writes()
        .iter()
        .filter(|r| r.path.ends_with(&format!("/deployments/{name}")))
        .count()
}

/// The writes of children and Events since the requests were last cleared.
fn child_writes(server: &FakeApiServer) -> Vec<String> {
    const WRITTEN: [&str; 6] = [
        "/deployments/",
        "/services/",
        "/serviceaccounts/",
        "/networkpolicies/",
        "/cronjobs/",
        "/events",
    ];
    server
        .writes()
        .iter()
        .filter(|r| WRITTEN.iter().any(|w| r.path.contains(w)))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn container<'a>(deployment: &'a Value, name: &str) -> Option<&'a Value> {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// What `kubectl set env`, a sidecar injector and a platform team's tooling add to the
/// participant's Deployment: an env var in the operator's container, a sidecar container with a
/// volume, a pod-template annotation, and an annotation and a label on the Deployment. Each is
/// another manager's; the operator writes nothing, publishes nothing and reads nothing, over
/// several reconciles, and the additions stay.
#[tokio::test]
async fn another_managers_items_cause_no_write_no_event_and_no_read() {
    within(60, async {
        let server = server();
        let op = settled(&server).await;
        server.clear_requests();
        strategic(
            &server,
            PARTICIPANT,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "participant", "env": [{"name": "EXTRA_JAVA_OPTS", "value": "-Xlog:gc"}]}]}}}}),
            "kubectl-set",
        );
        strategic(
            &server,
            PARTICIPANT,
            json!({"spec": {"template": {
                "metadata": {"annotations": {"sidecar.example.com/status": "injected"}},
                "spec": {
                    "containers": [{"name": "proxy", "image": "envoyproxy/envoy:v1.31.0",
                        "volumeMounts": [{"name": "proxy-config", "mountPath": "/etc/envoy"}]}],
                    "volumes": [{"name": "proxy-config", "emptyDir": {}}]}}}}),
            "sidecar-injector",
        );
        server
            .merge_patch(
                "apps/v1",
                "deployments",
                Some(NS),
                PARTICIPANT,
                json!({"metadata": {"annotations": {"example.com/team": "payments"},
                    "labels": {"example.com/cost-centre": "42"}}}),
                "platform-tooling",
            )
            .unwrap();
        reconcile_times(&server, &op, 4).await;

        // The status may follow the new pod template (the Deployment rolls its pods again);
        // nothing else is written.
        assert_eq!(child_writes(&server), Vec::<String>::new());
        assert!(events(&server, "DriftCorrected").is_empty());
        assert_eq!(child_reads(&server, "acme"), Vec::<String>::new());
        let d = deployment(&server, PARTICIPANT).unwrap();
        let participant = container(&d, "participant").unwrap();
        assert!(participant["env"].as_array().unwrap().iter().any(|e| e["name"] == "EXTRA_JAVA_OPTS"));
        assert!(container(&d, "proxy").is_some());
        assert_eq!(d["spec"]["template"]["spec"]["volumes"].as_array().map(|v| v.iter().any(|v| v["name"] == "proxy-config")), Some(true));
        assert_eq!(d["metadata"]["annotations"]["example.com/team"], "payments");
    })
    .await;
}

/// `kubectl rollout restart` (a strategic merge patch of a pod-template annotation by
/// `kubectl-rollout`) restarts the pods and causes nothing else.
#[tokio::test]
async fn kubectl_rollout_restart_is_left_alone() {
    within(60, async {
        let server = server();
        let op = settled(&server).await;
        server.clear_requests();
        for name in [PARTICIPANT, "acme-validator-app"] {
            server
                .rollout_restart(NS, name, "2026-12-06T05:00:00Z")
                .unwrap();
        }
        reconcile_times(&server, &op, 2).await;
        // The status may follow the restart (the Deployments progress); nothing else is written.
        assert_eq!(child_writes(&server), Vec::<String>::new());
        assert!(events(&server, "DriftCorrected").is_empty());
        assert_eq!(child_reads(&server, "acme"), Vec::<String>::new());
        assert_eq!(
            deployment(&server, PARTICIPANT).unwrap()["spec"]["template"]["metadata"]["annotations"]
                ["kubectl.kubernetes.io/restartedAt"],
            "2026-12-06T05:00:00Z"
        );
    })
    .await;
}

/// The operator's first env var of the participant container, and its rendered value.
fn first_env(server: &FakeApiServer) -> (String, Value) {
    let d = deployment(server, PARTICIPANT).unwrap();
    let env = &container(&d, "participant").unwrap()["env"][0];
    (
        env["name"].as_str().unwrap().to_string(),
        env["value"].clone(),
    )
}

fn env_value(server: &FakeApiServer, name: &str) -> Value {
    let d = deployment(server, PARTICIPANT).unwrap();
    container(&d, "participant").unwrap()["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].clone())
        .unwrap_or(Value::Null)
}

/// `kubectl set env` changing a variable the operator renders: the value moves to kubectl's
/// manager, and the operator takes it back once, with one Event; later reconciles do nothing.
#[tokio::test]
async fn an_owned_field_changed_by_an_update_is_restored_once_with_one_event() {
    within(60, async {
        let server = server();
        let op = settled(&server).await;
        let (name, value) = first_env(&server);
        server.clear_requests();
        strategic(
            &server,
            PARTICIPANT,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "participant", "env": [{"name": name, "value": "changed"}]}]}}}}),
            "kubectl-set",
        );
        eventually("the value restored", || env_value(&server, &name) == value).await;
        reconcile_times(&server, &op, 2).await;
        assert_eq!(deployment_writes(&server, PARTICIPANT), 1);
        assert_eq!(events(&server, "DriftCorrected").len(), 1);
        assert_eq!(child_reads(&server, "acme").len(), 1);
    })
    .await;
}

/// Another tool's forced server-side apply takes the participant's image: the operator takes it
/// back once, with one Event.
#[tokio::test]
async fn an_owned_field_taken_by_a_forced_apply_is_restored_once() {
    within(60, async {
        let server = server();
        let op = settled(&server).await;
        let image =
            container(&deployment(&server, PARTICIPANT).unwrap(), "participant").unwrap()["image"]
                .clone();
        server.clear_requests();
        let taken = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": PARTICIPANT, "namespace": NS},
            "spec": {"template": {"spec": {"containers": [
                {"name": "participant", "image": "registry.example.com/canton:patched"}]}}}});
        server.apply(&taken, "other-tool", true).unwrap();
        eventually("the image restored", || {
            container(&deployment(&server, PARTICIPANT).unwrap(), "participant").unwrap()["image"]
                == image
        })
        .await;
        reconcile_times(&server, &op, 2).await;
        assert_eq!(deployment_writes(&server, PARTICIPANT), 1);
        assert_eq!(events(&server, "DriftCorrected").len(), 1);
    })
    .await;
}

/// A policy engine's mutating webhook rewrites the participant's image to a mirror on every
/// write. After someone else's write passes through it, the operator's image differs from the
/// render; applying the render is answered unchanged (the webhook rewrites it again). That
/// answer is taken as the render's: no Event, and no second apply or read on later reconciles.
#[tokio::test]
async fn an_apply_answered_unchanged_is_not_repeated() {
    within(60, async {
        let server = server();
        let op = settled(&server).await;
        server.mutating_webhook("deployments", |d| {
            let containers = d
                .pointer_mut("/spec/template/spec/containers")
                .and_then(Value::as_array_mut);
            for c in containers.into_iter().flatten() {
                if let Some(image) = c["image"]
                    .as_str()
                    .filter(|i| !i.starts_with("mirror.example.com/"))
                {
                    c["image"] = json!(format!("mirror.example.com/{image}"));
                }
            }
        });
        server.clear_requests();
        server
            .rollout_restart(NS, PARTICIPANT, "2026-12-06T05:00:00Z")
            .unwrap();
        reconcile_times(&server, &op, 4).await;
        let d = deployment(&server, PARTICIPANT).unwrap();
        assert!(
            container(&d, "participant").unwrap()["image"]
                .as_str()
                .unwrap()
                .starts_with("mirror.example.com/")
        );
        assert_eq!(deployment_writes(&server, PARTICIPANT), 1);
        assert_eq!(child_reads(&server, "acme").len(), 1);
        assert!(events(&server, "DriftCorrected").is_empty());
    })
    .await;
}

/// An object labelled as the operator's for `instance` and owned by the Validator `owner`.
fn child(kind: &str, name: &str, instance: &str, owner: &Value, labelled: bool) -> Value {
    let mut labels = json!({"app.kubernetes.io/instance": instance});
    if labelled {
        labels["app.kubernetes.io/managed-by"] = json!("canton-operator");
    }
    let metadata = json!({"name": name, "namespace": NS, "labels": labels,
        "ownerReferences": [{"apiVersion": "canton-operator.dev/v1alpha1", "kind": "Validator",
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": true}]});
    let pod = json!({"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"});
    match kind {
        "Service" => json!({"apiVersion": "v1", "kind": kind, "metadata": metadata,
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}}),
        "ServiceAccount" => json!({"apiVersion": "v1", "kind": kind, "metadata": metadata}),
        "NetworkPolicy" => json!({"apiVersion": "networking.k8s.io/v1", "kind": kind,
            "metadata": metadata, "spec": {"podSelector": {"matchLabels": {"app": name}}}}),
        "CronJob" => json!({"apiVersion": "batch/v1", "kind": kind, "metadata": metadata,
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}}}),
        "Deployment" => json!({"apiVersion": "apps/v1", "kind": kind, "metadata": metadata,
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
        other => panic!("no {other} here"),
    }
}

fn exists(server: &FakeApiServer, kind: &str, name: &str) -> bool {
    let (api_version, plural) = match kind {
        "Service" => ("v1", "services"),
        "ServiceAccount" => ("v1", "serviceaccounts"),
        "NetworkPolicy" => ("networking.k8s.io/v1", "networkpolicies"),
        "CronJob" => ("batch/v1", "cronjobs"),
        "Deployment" => ("apps/v1", "deployments"),
        other => panic!("no {other} here"),
    };
    get(server, api_version, plural, name).is_some()
}

/// Children an earlier release created under other names, and a kind this render no longer has
/// (no identity backup: no CronJob), are deleted; a look-alike owned by another Validator and
/// one owned by this Validator but not labelled as the operator's are kept.
#[tokio::test]
async fn children_are_pruned_by_ownership_whatever_their_names() {
    within(60, async {
        let server = server();
        let _op = settled(&server).await;
        server.insert(&validator("other")).unwrap();
        let acme = validator_obj(&server, "acme").unwrap();
        let other = validator_obj(&server, "other").unwrap();
        let orphans = [
            ("Service", "acme-participant-ledger-api"),
            ("ServiceAccount", "acme-canton-participant"),
            ("NetworkPolicy", "acme-admin-api"),
            ("CronJob", "acme-identities-backup"),
            ("Deployment", "acme-participant-0"),
        ];
        for (kind, name) in orphans {
            server
                .insert(&child(kind, name, "acme", &acme, true))
                .unwrap();
        }
        let look_alikes = [
            (
                "Service",
                "acme-lookalike",
                child("Service", "acme-lookalike", "acme", &other, true),
            ),
            (
                "CronJob",
                "acme-unlabelled",
                child("CronJob", "acme-unlabelled", "acme", &acme, false),
            ),
        ];
        for (_, _, object) in &look_alikes {
            server.insert(object).unwrap();
        }
        eventually("the orphans are deleted", || {
            orphans
                .iter()
                .all(|(kind, name)| !exists(&server, kind, name))
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        for (kind, name, _) in &look_alikes {
            assert!(exists(&server, kind, name), "{kind}/{name} must be kept");
        }
        for name in [PARTICIPANT, "acme-validator-app", "acme-wallet-web-ui"] {
            assert!(exists(&server, "Deployment", name), "{name} is rendered");
        }
        let pruned: Vec<String> = events(&server, "Pruned")
            .iter()
            .filter_map(|e| e["note"].as_str().map(String::from))
            .collect();
        assert!(
            pruned
                .iter()
                .any(|n| n.contains("Service/acme-participant-ledger-api")),
            "{pruned:?}"
        );
    })
    .await;
}

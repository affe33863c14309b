//! Operator upgrades roll a bounded number of validators at a time (issue 14, item 3).
//!
//! An older operator release is simulated as it would have written the workloads: each
//! Deployment of a changed validator is server-side applied by the operator's field manager with
//! a render that differs (one more environment variable) and another spec hash, for the same
//! Validator generation, and then marked available (its rollout finished long ago). A new
//! operator then renders them differently: only `--max-concurrent-rollouts` may be mid-rollout
//! at once, the rest wait visibly; changes made to a Validator and drift are applied at once.

mod harness;
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use canton_operator::controller::Settings;
use harness::*;
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;

const OLDER_VAR: &str = "OLDER_RELEASE_SETTING";
const SPEC_HASH: &str = "canton-operator.dev/spec-hash";
const WORKLOADS: [&str; 4] = [
    "participant",
    "validator-app",
    "wallet-web-ui",
    "ans-web-ui",
];

fn deployments_of(name: &str) -> Vec<String> {
    WORKLOADS.iter().map(|w| format!("{name}-{w}")).collect()
}

fn start_max(server: &FakeApiServer, max: u32) -> Operator {
    let settings = Settings {
        namespace: None,
        concurrency: 4,
        debounce: Duration::ZERO,
        max_concurrent_rollouts: max,
    };
    start_with_settings(server, config(false), settings)
}

/// Provisions `names` with the current operator, makes every workload available and stops it.
async fn provision_all(server: &FakeApiServer, names: &[&str]) {
    for name in names {
        server.insert(&validator(name)).unwrap();
    }
    let op = start_max(server, 1);
    for name in names {
        for d in deployments_of(name) {
            eventually(&format!("{d} exists"), || deployment(server, &d).is_some()).await;
            make_available(server, &d);
        }
    }
    for name in names {
        eventually(&format!("{name} Ready"), || {
            condition(server, name, "Ready").is_some_and(|c| c["status"] == "True")
        })
        .await;
    }
    settle(server, Duration::from_millis(300)).await;
    op.kill();
}

/// Rewrites `name`'s Deployments as an older operator release would have applied them (same
/// field manager, same Validator generation, another render and spec hash), rolled out.
fn as_older_release(server: &FakeApiServer, name: &str) {
    for d in deployments_of(name) {
        let live = deployment(server, &d).unwrap();
        let mut old = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": live["metadata"]["name"],
                "namespace": live["metadata"]["namespace"],
                "labels": live["metadata"]["labels"],
                "ownerReferences": live["metadata"]["ownerReferences"],
            },
            "spec": live["spec"],
        });
        old["metadata"]["labels"][SPEC_HASH] = json!("0123456789abcdef0123456789abcdef");
        let env = old["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .entry("env")
            .or_insert(json!([]));
        env.as_array_mut()
            .unwrap()
            .push(json!({"name": OLDER_VAR, "value": "1"}));
        server.apply(&old, "canton-operator", true).unwrap();
        make_available(server, &d);
    }
    assert!(is_older(server, name));
}

fn env_of(d: &Value) -> Vec<Value> {
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Whether any of `name`'s Deployments still has the older release's render.
fn is_older(server: &FakeApiServer, name: &str) -> bool {
    deployments_of(name).iter().any(|d| {
        deployment(server, d).is_some_and(|d| env_of(&d).iter().any(|e| e["name"] == OLDER_VAR))
    })
}

/// Whether one of `name`'s Deployments has a spec the Deployment controller has not rolled out.
fn mid_rollout(server: &FakeApiServer, name: &str) -> bool {
    deployments_of(name).iter().any(|d| {
        deployment(server, d).is_some_and(|d| {
            d["metadata"]["generation"].as_i64() > d["status"]["observedGeneration"].as_i64()
        })
    })
}

fn rolling(server: &FakeApiServer, names: &[&str]) -> BTreeSet<String> {
    names
        .iter()
        .filter(|n| mid_rollout(server, n))
        .map(|n| n.to_string())
        .collect()
}

fn workloads_reason(server: &FakeApiServer, name: &str) -> Option<String> {
    condition(server, name, "WorkloadsCurrent")
        .and_then(|c| c["reason"].as_str().map(str::to_string))
}

fn finish_rollout(server: &FakeApiServer, name: &str) {
    for d in deployments_of(name) {
        make_available(server, &d);
    }
}

/// A sample of the operator's metrics by its exact name.
fn metric(op: &Operator, name: &str) -> Option<i64> {
    op.metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

const PENDING: &str = "canton_operator_validators_rollout_pending";
const ROLLING: &str = "canton_operator_validators_rolling_out";

/// Events of `reason` about `name`.
fn events_about(server: &FakeApiServer, reason: &str, name: &str) -> usize {
    events(server, reason)
        .iter()
        .filter(|e| e["regarding"]["name"] == name)
        .count()
}

/// Paths of the writes to `name` or its children.
fn writes_to(server: &FakeApiServer, name: &str) -> Vec<String> {
    server
        .writes()
        .iter()
        .map(|r| r.path.clone())
        .filter(|p| p.contains(&format!("/{name}-")) || p.contains(&format!("/validators/{name}")))
        .collect()
}

#[tokio::test]
async fn an_operator_upgrade_rolls_one_validator_at_a_time_across_a_restart() {
    within(120, async {
        let server = server();
        let changed = ["v0", "v1", "v2", "v3"];
        provision_all(&server, &["v0", "v1", "v2", "v3", "calm"]).await;
        for name in changed {
            as_older_release(&server, name);
        }
        server.clear_requests();

        let mut op = start_max(&server, 1);
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut restarted = false;
        while done.len() < changed.len() {
            eventually("one validator rolls", || {
                !rolling(&server, &changed).is_empty()
            })
            .await;
            let waiting: Vec<&str> = changed
                .iter()
                .copied()
                .filter(|n| !done.contains(*n) && !mid_rollout(&server, n))
                .collect();
            for name in &waiting {
                eventually(&format!("{name} shows it waits"), || {
                    workloads_reason(&server, name).as_deref() == Some("RolloutPending")
                })
                .await;
            }
            // Give the operator every chance to start another one.
            settle(&server, Duration::from_millis(300)).await;
            let now = rolling(&server, &changed);
            assert_eq!(now.len(), 1, "mid-rollout at once: {now:?}");
            let current = now.into_iter().next().unwrap();
            assert_eq!(
                workloads_reason(&server, &current).as_deref(),
                Some("Rolling")
            );
            assert_eq!(metric(&op, PENDING), Some(waiting.len() as i64));
            assert_eq!(metric(&op, ROLLING), Some(1));
            for name in &waiting {
                assert!(
                    is_older(&server, name),
                    "{name} was written while it waited"
                );
                assert_eq!(
                    condition(&server, name, "Ready").unwrap()["status"],
                    "True",
                    "{name}: a pending update is no reason for Ready=False"
                );
            }
            if !restarted {
                // A restarted operator counts the slot from the Deployments and starts no other.
                op.kill();
                op = start_max(&server, 1);
                restarted = true;
                settle(&server, Duration::from_millis(300)).await;
                let after = rolling(&server, &changed);
                assert_eq!(after.len(), 1, "after a restart: {after:?}");
                assert!(after.contains(&current));
            }
            finish_rollout(&server, &current);
            eventually(&format!("{current} is current"), || {
                workloads_reason(&server, &current).as_deref() == Some("Current")
            })
            .await;
            assert!(!is_older(&server, &current));
            done.insert(current);
        }
        for name in changed {
            assert_eq!(events_about(&server, "RollingOut", name), 1, "{name}");
            assert!(events_about(&server, "RolloutPending", name) <= 1, "{name}");
            assert_eq!(events_about(&server, "DriftCorrected", name), 0, "{name}");
        }
        eventually("no one waits", || metric(&op, PENDING) == Some(0)).await;
        assert_eq!(metric(&op, ROLLING), Some(0));
        assert_eq!(
            writes_to(&server, "calm"),
            Vec::<String>::new(),
            "the validator whose render is unchanged was written"
        );
    })
    .await;
}

#[tokio::test]
async fn a_validator_whose_render_is_unchanged_gets_no_writes_and_takes_no_slot() {
    within(60, async {
        let server = server();
        provision_all(&server, &["moved", "same1", "same2"]).await;
        as_older_release(&server, "moved");
        server.clear_requests();

        let op = start_max(&server, 1);
        eventually("moved rolls", || mid_rollout(&server, "moved")).await;
        eventually("every validator reconciled", || {
            metric(&op, "canton_operator_reconciles_total").is_some_and(|n| n >= 3)
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        assert_eq!(metric(&op, ROLLING), Some(1));
        assert_eq!(
            metric(&op, PENDING),
            Some(0),
            "the unchanged ones wait for nothing"
        );
        for name in ["same1", "same2"] {
            assert_eq!(workloads_reason(&server, name).as_deref(), Some("Current"));
            assert_eq!(writes_to(&server, name), Vec::<String>::new(), "{name}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_spec_edit_while_others_wait_is_applied_at_once() {
    within(60, async {
        let server = server();
        let names = ["e0", "e1", "e2"];
        provision_all(&server, &names).await;
        for name in names {
            as_older_release(&server, name);
        }
        let op = start_max(&server, 1);
        eventually("one rolls, two wait", || {
            rolling(&server, &names).len() == 1
                && names
                    .iter()
                    .filter(|n| workloads_reason(&server, n).as_deref() == Some("RolloutPending"))
                    .count()
                    == 2
        })
        .await;
        let holder = rolling(&server, &names).into_iter().next().unwrap();
        let waiting: Vec<&str> = names.iter().copied().filter(|n| *n != holder).collect();
        let (edited, other) = (waiting[0], waiting[1]);

        // The user changes one waiting validator: applied at once, slot or not.
        server
            .merge_patch(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                edited,
                json!({"spec": {"participant": {"additionalEnv": [{"name": "USER_SETTING", "value": "on"}]}}}),
                "kubectl",
            )
            .unwrap();
        eventually("the edit is applied", || {
            deployment(&server, &format!("{edited}-participant"))
                .is_some_and(|d| env_of(&d).iter().any(|e| e["name"] == "USER_SETTING"))
        })
        .await;
        eventually("the edited validator is current", || {
            workloads_reason(&server, edited).as_deref() == Some("Current")
        })
        .await;
        assert!(!is_older(&server, edited));
        settle(&server, Duration::from_millis(300)).await;
        assert!(is_older(&server, other), "{other} was written while it waited");
        assert_eq!(
            workloads_reason(&server, other).as_deref(),
            Some("RolloutPending")
        );
        assert_eq!(metric(&op, ROLLING), Some(1));

        // The edit took no slot: when the holder finishes, the other one rolls.
        finish_rollout(&server, &holder);
        eventually("the other rolls", || !is_older(&server, other)).await;
        // The status follows the Deployment writes in the same reconcile.
        eventually("the other is Rolling", || {
            workloads_reason(&server, other).as_deref() == Some("Rolling")
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn drift_is_restored_at_once_while_validators_wait() {
    within(60, async {
        let server = server();
        let names = ["d0", "d1"];
        provision_all(&server, &["d0", "d1", "calm"]).await;
        for name in names {
            as_older_release(&server, name);
        }
        let _op = start_max(&server, 1);
        eventually("one rolls, one waits", || {
            rolling(&server, &names).len() == 1
                && names
                    .iter()
                    .any(|n| workloads_reason(&server, n).as_deref() == Some("RolloutPending"))
        })
        .await;
        let holder = rolling(&server, &names).into_iter().next().unwrap();
        let waiting = names.iter().copied().find(|n| *n != holder).unwrap();

        // Someone edits the unchanged validator's participant and the rolling one's app.
        for d in [
            "calm-participant".to_string(),
            format!("{holder}-validator-app"),
        ] {
            let mut live = deployment(&server, &d).unwrap();
            live["spec"]["template"]["spec"]["containers"][0]["image"] =
                json!("example.com/edited:1");
            live["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("resourceVersion");
            server.update(&live, "kubectl-edit").unwrap();
        }
        for d in [
            "calm-participant".to_string(),
            format!("{holder}-validator-app"),
        ] {
            eventually(&format!("{d} restored"), || {
                deployment(&server, &d).is_some_and(|d| {
                    d["spec"]["template"]["spec"]["containers"][0]["image"]
                        != "example.com/edited:1"
                })
            })
            .await;
        }
        eventually("DriftCorrected for calm", || {
            events_about(&server, "DriftCorrected", "calm") == 1
        })
        .await;
        assert_eq!(
            workloads_reason(&server, "calm").as_deref(),
            Some("Current")
        );

        // A new validator is provisioned at once: it has nothing to roll.
        server.insert(&validator("fresh")).unwrap();
        eventually("fresh provisioned", || {
            deployments_of("fresh")
                .iter()
                .all(|d| deployment(&server, d).is_some())
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        assert!(
            is_older(&server, waiting),
            "{waiting} was written while it waited"
        );
        assert_eq!(
            workloads_reason(&server, waiting).as_deref(),
            Some("RolloutPending")
        );
        assert_eq!(
            workloads_reason(&server, &holder).as_deref(),
            Some("Rolling")
        );
    })
    .await;
}

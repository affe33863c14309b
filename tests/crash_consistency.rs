//! Crash consistency and API faults: the operator dies (or the API fails) at every step of
//! provisioning, restarts, and always converges to one set of objects with the recorded decision.

mod harness;
mod support;

use std::time::Duration;

use harness::*;
use http::Method;
use serde_json::Value;
use support::fake_api::{FakeApiServer, Fault};

const KMS_VAR: &str = "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS";

/// The writes of one provisioning whose decision comes from the environment, in order: the URI
/// fragment that identifies each.
const STEPS: &[(&str, &str)] = &[
    ("capture", "/validators/crash?"),
    ("participant Deployment", "/deployments/crash-participant?"),
    ("participant Service", "/services/crash-participant?"),
    (
        "participant NetworkPolicy",
        "/networkpolicies/crash-participant-admin?",
    ),
    (
        "validator app Deployment",
        "/deployments/crash-validator-app?",
    ),
    ("validator app Service", "/services/crash-validator-app?"),
    ("wallet UI Deployment", "/deployments/crash-wallet-web-ui?"),
    ("wallet UI Service", "/services/crash-wallet-web-ui?"),
    ("ANS UI Deployment", "/deployments/crash-ans-web-ui?"),
    ("ANS UI Service", "/services/crash-ans-web-ui?"),
    ("status", "/validators/crash/status"),
];

/// The writes of one provisioning whose spec asks the operator to create the participant's
/// ServiceAccount (no capture: `spec.kms` is given).
const STEPS_CREATED_ACCOUNT: &[(&str, &str)] = &[
    ("ServiceAccount", "/serviceaccounts/crash-participant?"),
    ("participant Deployment", "/deployments/crash-participant?"),
    ("participant Service", "/services/crash-participant?"),
    (
        "participant NetworkPolicy",
        "/networkpolicies/crash-participant-admin?",
    ),
    (
        "validator app Deployment",
        "/deployments/crash-validator-app?",
    ),
    ("validator app Service", "/services/crash-validator-app?"),
    ("wallet UI Deployment", "/deployments/crash-wallet-web-ui?"),
    ("wallet UI Service", "/services/crash-wallet-web-ui?"),
    ("ANS UI Deployment", "/deployments/crash-ans-web-ui?"),
    ("ANS UI Service", "/services/crash-ans-web-ui?"),
    ("status", "/validators/crash/status"),
];

/// How many Deployments, Services, NetworkPolicies and ServiceAccounts the namespace holds.
fn children(server: &FakeApiServer) -> [usize; 4] {
    [
        ("apps/v1", "deployments"),
        ("v1", "services"),
        ("networking.k8s.io/v1", "networkpolicies"),
        ("v1", "serviceaccounts"),
    ]
    .map(|(api_version, plural)| server.list(api_version, plural, Some(NS)).len())
}

/// One set: four Deployments and Services (participant, validator app, wallet and ANS web UIs),
/// one NetworkPolicy, and one ServiceAccount (the seed's, or the one the operator created).
const ONE_SET: [usize; 4] = [4, 4, 1, 1];

async fn converged(server: &FakeApiServer) {
    eventually("converged: every child, KMS env and a status", || {
        participant_env(server, "crash", KMS_VAR).is_some()
            && deployment(server, "crash-validator-app").is_some()
            && get(server, "v1", "services", "crash-validator-app").is_some()
            && get(server, "v1", "services", "crash-participant").is_some()
            && get(
                server,
                "networking.k8s.io/v1",
                "networkpolicies",
                "crash-participant-admin",
            )
            .is_some()
            && condition(server, "crash", "KmsConfigured").is_some_and(|c| c["status"] == "True")
    })
    .await;
}

/// A Validator on GCP KMS whose participant ServiceAccount the operator creates.
fn with_created_account() -> canton_operator::api::Validator {
    let mut v = validator("crash");
    v.spec.kms = Some(gcp_kms_with_created_account());
    v
}

/// Kills the operator as it reaches `step` (its request is failing, as if the process died
/// there), then restarts it with KMS switched OFF in its environment: the decision recorded before
/// the crash must survive, and the objects must converge to exactly one set.
async fn crash_at(step: &str, fragment: &str, created_account: bool) {
    let server = server();
    if created_account {
        server.insert(&with_created_account()).unwrap();
    } else {
        seed_service_account(&server);
        server.insert(&validator("crash")).unwrap();
    }
    server.inject(Fault::new(500).path(fragment).times(1_000_000));
    let op = start(&server, config(!created_account));
    eventually(&format!("the operator reached {step}"), || {
        server.requests().iter().any(|r| {
            r.is_write() && format!("{}?", r.path).contains(fragment.trim_end_matches('?'))
        })
    })
    .await;
    op.kill();
    server.clear_faults();

    let recorded_before: Option<Value> =
        validator_obj(&server, "crash").and_then(|v| v["spec"].get("kms").cloned());
    let _op = start(
        &server,
        if recorded_before.is_some() {
            config(false)
        } else {
            config(true)
        },
    );
    converged(&server).await;
    settle(&server, Duration::from_millis(200)).await;

    assert_eq!(
        children(&server),
        ONE_SET,
        "exactly one set of children after a crash at {step}"
    );
    if created_account {
        let sa = get(&server, "v1", "serviceaccounts", "crash-participant")
            .unwrap_or_else(|| panic!("the created ServiceAccount exists after a crash at {step}"));
        assert_eq!(
            sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"],
            "canton-kms@acme-canton.iam.gserviceaccount.com"
        );
    } else {
        assert_eq!(
            participant_env(&server, "crash", KMS_VAR).as_deref(),
            Some(SEED_PARTICIPANT_VALUE)
        );
    }
    let v = validator_obj(&server, "crash").unwrap();
    assert_eq!(
        v["spec"]["kms"]["enabled"], true,
        "decision lost after a crash at {step}"
    );
    if let Some(before) = recorded_before {
        assert_eq!(
            v["spec"]["kms"], before,
            "decision changed after a crash at {step}"
        );
    }
}

#[tokio::test]
async fn a_crash_at_any_step_converges_to_one_set_with_the_recorded_decision() {
    within(180, async {
        for (step, fragment) in STEPS {
            crash_at(step, fragment, false).await;
        }
        for (step, fragment) in STEPS_CREATED_ACCOUNT {
            crash_at(step, fragment, true).await;
        }
    })
    .await;
}

#[tokio::test]
async fn conflicts_throttling_and_server_errors_are_retried_until_converged() {
    within(60, async {
        for code in [409u16, 429, 500, 503] {
            let server = server();
            seed_service_account(&server);
            server.insert(&validator("crash")).unwrap();
            server.inject(Fault::new(code).method(Method::PATCH).times(3));
            let _op = start(&server, config(true));
            converged(&server).await;
            assert_eq!(children(&server), ONE_SET, "after {code}s");
            let failures = server
                .requests()
                .iter()
                .filter(|r| r.method == Method::PATCH)
                .count();
            assert!(failures > 3, "the {code}s were retried");
        }
    })
    .await;
}

#[tokio::test]
async fn expired_watches_are_relisted_and_changes_during_the_gap_are_seen() {
    within(60, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("crash")).unwrap();
        let _op = start(&server, config(true));
        converged(&server).await;

        // The watch history is compacted and the streams close (an apiserver restart): re-watching
        // from the old resourceVersion gets 410 Gone, the watchers must re-list, and a Validator
        // created meanwhile must still be provisioned.
        server.compact();
        server.insert(&validator("during-gap")).unwrap();
        server.compact();
        server.drop_watches();
        eventually("validator created during the gap provisioned", || {
            deployment(&server, "during-gap-participant").is_some()
        })
        .await;
        assert!(
            server
                .requests()
                .iter()
                .any(|r| r.param("watch").is_none() && r.path.ends_with("/validators"))
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_capture_never_creates_workloads() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("crash")).unwrap();
        server.inject(Fault::new(500).path("/validators/crash?").times(1_000_000));
        let _op = start(&server, config(true));
        eventually("capture attempted twice (backoff)", || {
            server
                .requests()
                .iter()
                .filter(|r| r.is_write() && r.path.ends_with("/validators/crash"))
                .count()
                >= 2
        })
        .await;
        assert_eq!(
            children(&server),
            [0, 0, 0, 1],
            "no workload without a recorded decision (only the seed's ServiceAccount)"
        );
    })
    .await;
}

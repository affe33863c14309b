//! What each fixture renders to: YAML snapshots of every object, plus the properties that must hold
//! whatever the snapshots say.

mod common;

use std::collections::BTreeMap;

use canton_operator::kms::{KMS_ENV_VAR, KMS_ENVELOPE_ENV_VAR};
use canton_operator::render::Rendered;
use common::{CASES, Case, container, decision, env_value, pod_spec, rendered, validator};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Probe, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

fn objects(case: &Case) -> Vec<Value> {
    rendered(case.file, case.env)
        .to_json()
        .expect("objects serialize")
}

#[test]
fn snapshots() {
    for case in CASES {
        insta::assert_yaml_snapshot!(case.name, objects(case));
    }
}

// ---------------------------------------------------------------- labels and shape

/// The recommended labels of one component of the validator in `case`.
fn expected_labels(case: &Case, component: &str) -> BTreeMap<String, String> {
    let v = validator(case.file);
    [
        ("app.kubernetes.io/name", "canton-validator"),
        (
            "app.kubernetes.io/instance",
            v.metadata.name.as_deref().unwrap(),
        ),
        ("app.kubernetes.io/component", component),
        ("app.kubernetes.io/managed-by", "canton-operator"),
        ("app.kubernetes.io/part-of", "canton-network"),
        ("app.kubernetes.io/version", v.spec.version.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn labels(object: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(object["metadata"]["labels"].clone()).unwrap_or_default()
}

#[test]
fn every_object_and_pod_template_carries_the_recommended_labels() {
    for case in CASES {
        let objects = objects(case);
        assert!(objects.len() >= 4, "{}", case.name);
        for object in &objects {
            let component = object["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: {object} has no component", case.name));
            assert!(
                [
                    "participant",
                    "validator-app",
                    "wallet-web-ui",
                    "ans-web-ui"
                ]
                .contains(&component),
                "{component}"
            );
            let expected = expected_labels(case, component);
            assert_eq!(
                labels(object),
                expected,
                "{}: {}",
                case.name,
                object["kind"]
            );
            if object["kind"] == "Deployment" {
                let template = &object["spec"]["template"];
                assert_eq!(labels(template), expected, "{}: pod template", case.name);
                let selector: BTreeMap<String, String> =
                    serde_json::from_value(object["spec"]["selector"]["matchLabels"].clone())
                        .expect("a selector");
                assert!(
                    selector.iter().all(|(k, v)| expected.get(k) == Some(v))
                        && !selector.contains_key("app.kubernetes.io/version"),
                    "{}: the selector {selector:?} must be a stable subset of the labels",
                    case.name
                );
            }
        }
    }
}

#[test]
fn both_workloads_run_one_replica_with_recreate() {
    for case in CASES {
        let r = rendered(case.file, case.env);
        for d in [&r.participant, &r.validator_app] {
            let spec = d.spec.as_ref().expect("spec");
            assert_eq!(spec.replicas, Some(1), "{}", case.name);
            let strategy = spec.strategy.as_ref().and_then(|s| s.type_.as_deref());
            assert_eq!(strategy, Some("Recreate"), "{}", case.name);
        }
    }
}

// ---------------------------------------------------------------- ports and probes

fn container_ports(c: &Container) -> Vec<(String, i32)> {
    c.ports
        .iter()
        .flatten()
        .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
        .collect()
}

fn service_ports(s: &Service) -> Vec<(String, i32)> {
    let ports = s.spec.as_ref().and_then(|s| s.ports.as_ref());
    ports
        .into_iter()
        .flatten()
        .map(|p| {
            // The charts give no targetPort: the Service targets the same number.
            assert_eq!(p.target_port.as_ref(), Some(&IntOrString::Int(p.port)));
            (p.name.clone().unwrap_or_default(), p.port)
        })
        .collect()
}

fn owned(ports: &[(&str, i32)]) -> Vec<(String, i32)> {
    ports.iter().map(|(n, p)| (n.to_string(), *p)).collect()
}

#[test]
fn ports_match_the_splice_charts() {
    let participant = owned(&[
        ("lg-adm-api", 5002),
        ("lg-api", 5001),
        ("json-api", 7575),
        ("metrics-api", 10013),
    ]);
    let participant_service = owned(&[
        ("lg-adm-api", 5002),
        ("lg-api", 5001),
        ("metrics", 10013),
        ("json-api", 7575),
    ]);
    for case in CASES {
        let r = rendered(case.file, case.env);
        assert_eq!(container_ports(container(&r.participant)), participant);
        assert_eq!(service_ports(&r.participant_service), participant_service);
        assert_eq!(
            container_ports(container(&r.validator_app)),
            owned(&[("val-http", 5003)])
        );
        assert_eq!(
            service_ports(&r.validator_app_service),
            owned(&[("val-http", 5003), ("metrics", 10013)])
        );
    }
}

/// initialDelay, period, failureThreshold, timeout.
fn timing(probe: &Probe) -> [Option<i32>; 4] {
    [
        probe.initial_delay_seconds,
        probe.period_seconds,
        probe.failure_threshold,
        probe.timeout_seconds,
    ]
}

fn grpc(probe: Option<&Probe>) -> (i32, Option<&str>, [Option<i32>; 4]) {
    let probe = probe.expect("a probe");
    let grpc = probe.grpc.as_ref().expect("a gRPC probe");
    (grpc.port, grpc.service.as_deref(), timing(probe))
}

fn http(probe: Option<&Probe>) -> (String, [Option<i32>; 4]) {
    let probe = probe.expect("a probe");
    let get = probe.http_get.as_ref().expect("an HTTP probe");
    assert_eq!(get.port, IntOrString::Int(5003));
    (get.path.clone().unwrap_or_default(), timing(probe))
}

#[test]
fn probes_match_the_splice_charts() {
    for case in CASES {
        let r = rendered(case.file, case.env);
        let p = container(&r.participant);
        assert_eq!(
            grpc(p.liveness_probe.as_ref()),
            (
                5061,
                Some("liveness"),
                [Some(600), Some(60), Some(5), Some(10)]
            )
        );
        assert_eq!(
            grpc(p.readiness_probe.as_ref()),
            (5061, None, [Some(5), Some(5), Some(3), Some(10)])
        );
        let a = container(&r.validator_app);
        assert_eq!(
            http(a.liveness_probe.as_ref()),
            (
                "/api/validator/livez".into(),
                [Some(60), Some(60), Some(5), Some(10)]
            )
        );
        assert_eq!(
            http(a.readiness_probe.as_ref()),
            (
                "/api/validator/readyz".into(),
                [Some(5), Some(5), Some(5), Some(3)]
            )
        );
    }
}

// ---------------------------------------------------------------- who gets KMS

fn service_account(d: &Deployment) -> Option<&str> {
    pod_spec(d).service_account_name.as_deref()
}

fn kms_vars(c: &Container) -> Vec<&str> {
    c.env
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .filter(|n| n.contains("KMS") || n.contains("CRYPTO"))
        .collect()
}

#[test]
fn the_validator_app_never_gets_kms() {
    for case in CASES {
        let r = rendered(case.file, case.env);
        assert_eq!(service_account(&r.validator_app), None, "{}", case.name);
        let app = container(&r.validator_app);
        assert_eq!(kms_vars(app), Vec::<&str>::new(), "{}", case.name);
        assert!(
            app.env.iter().flatten().all(|v| !v
                .value
                .as_deref()
                .unwrap_or_default()
                .contains("crypto")),
            "{}",
            case.name
        );
    }
}

#[test]
fn kms_off_means_no_kms_variable_and_no_service_account() {
    for case in CASES
        .iter()
        .filter(|c| decision(c.file, c.env).provider().is_none())
    {
        let r = rendered(case.file, case.env);
        assert_eq!(kms_vars(container(&r.participant)), Vec::<&str>::new());
        assert_eq!(service_account(&r.participant), None, "{}", case.name);
        assert!(r.service_account.is_none(), "{}", case.name);
    }
}

fn case(name: &str) -> &'static Case {
    CASES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn render_case(name: &str) -> Rendered {
    let c = case(name);
    rendered(c.file, c.env)
}

#[test]
fn each_kms_case_gets_its_variable_and_service_account() {
    for (name, var, sa) in [
        (
            "example-seed-environment",
            KMS_ENV_VAR,
            "catalyst-canton-kms",
        ),
        (
            "gcp-external-created-sa",
            KMS_ENV_VAR,
            "gcp-ext-participant",
        ),
        ("aws-envelope", KMS_ENVELOPE_ENV_VAR, "canton-kms-irsa"),
        ("driver", KMS_ENV_VAR, "acme-hsm-client"),
    ] {
        let r = render_case(name);
        let participant = container(&r.participant);
        assert_eq!(kms_vars(participant), [var], "{name}");
        assert!(env_value(participant, var).is_some(), "{name}");
        assert_eq!(service_account(&r.participant), Some(sa), "{name}");
    }
}

#[test]
fn the_operator_creates_only_the_service_account_it_was_asked_for() {
    let r = render_case("gcp-external-created-sa");
    let sa = r.service_account.expect("a created ServiceAccount");
    assert_eq!(sa.metadata.name.as_deref(), Some("gcp-ext-participant"));
    assert_eq!(sa.metadata.namespace.as_deref(), Some("validators"));
    assert_eq!(
        sa.metadata.annotations,
        Some(BTreeMap::from([(
            "iam.gke.io/gcp-service-account".to_string(),
            "canton-kms@acme-canton.iam.gserviceaccount.com".to_string()
        )]))
    );
    assert_eq!(sa.automount_service_account_token, Some(false));
    for name in ["example-seed-environment", "aws-envelope", "driver"] {
        assert!(render_case(name).service_account.is_none(), "{name}");
    }
}

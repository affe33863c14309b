//! Fixtures and helpers shared by the pure-core tests. Each test binary uses only part of them.
#![allow(dead_code)]

pub mod startup;
pub mod typesafe;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use canton_operator::api::Validator;
use canton_operator::config::{ENABLED_VAR, OperatorConfig, SERVICE_ACCOUNT_VAR, VALUE_VAR};
use canton_operator::decision::{KmsDecision, resolve};
use canton_operator::kms::{AwsKms, DriverKms, GcpKms, KmsProvider};
use canton_operator::manifest::decode_validator;
use canton_operator::render::{Rendered, render};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::json;

/// The seed's `CANTON_TOPOLOGY_KMS_VALUE`.
pub const SEED_VALUE: &str = r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#;
/// The seed's `CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT`.
pub const SEED_SERVICE_ACCOUNT: &str = "catalyst-canton-kms";
/// The seed's example operator environment.
pub const SEED_ENV: &[(&str, &str)] = &[
    (ENABLED_VAR, "true"),
    (VALUE_VAR, SEED_VALUE),
    (SERVICE_ACCOUNT_VAR, SEED_SERVICE_ACCOUNT),
];
/// The seed's participant variable, exactly as the seed prints it (two lines).
pub const SEED_PARTICIPANT_VALUE: &str = "canton.participants.participant.crypto.provider = kms\n\
     canton.participants.participant.crypto.kms = { type = \"aws\", region = \"eu-west-1\", audit-logging = true }";

/// The example Validator without `spec.kms`.
pub const EXAMPLE: &str = "examples/validator.yaml";

/// A Validator file rendered under an operator environment.
pub struct Case {
    /// Snapshot and message name.
    pub name: &'static str,
    pub file: &'static str,
    pub env: &'static [(&'static str, &'static str)],
}

/// Every fixture, from no KMS at all to each provider and mode.
pub const CASES: &[Case] = &[
    Case {
        name: "no-kms",
        file: "tests/fixtures/no-kms.yaml",
        env: &[],
    },
    Case {
        name: "example-kms-disabled",
        file: EXAMPLE,
        env: &[],
    },
    Case {
        name: "example-seed-environment",
        file: EXAMPLE,
        env: SEED_ENV,
    },
    Case {
        name: "gcp-external-created-sa",
        file: "tests/fixtures/gcp-external-created-sa.yaml",
        env: &[],
    },
    Case {
        name: "aws-envelope",
        file: "tests/fixtures/aws-envelope.yaml",
        env: &[],
    },
    Case {
        name: "driver",
        file: "tests/fixtures/driver.yaml",
        env: &[],
    },
];

/// An environment lookup that sees only `pairs`.
pub fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let pairs: Vec<(String, OsString)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// The operator's configuration from exactly these variables.
pub fn config(pairs: &[(&str, &str)]) -> OperatorConfig {
    OperatorConfig::from_lookup(lookup(pairs))
}

/// A path inside the crate.
pub fn crate_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A file inside the crate, as text.
pub fn read(relative: &str) -> String {
    let path = crate_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A Validator file, decoded and checked against its creation rules as `render` does.
pub fn validator(relative: &str) -> Validator {
    decode_validator(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The decision for a Validator file under this environment.
pub fn decision(relative: &str, env: &[(&str, &str)]) -> KmsDecision {
    resolve(&validator(relative).spec, &config(env).kms_default)
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The objects a Validator file renders to under this environment.
pub fn rendered(relative: &str, env: &[(&str, &str)]) -> Rendered {
    render(&validator(relative), &decision(relative, env))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The pod spec of a Deployment.
pub fn pod_spec(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a Deployment with a pod template")
}

/// The only container of a Deployment.
pub fn container(deployment: &Deployment) -> &Container {
    match pod_spec(deployment).containers.as_slice() {
        [c] => c,
        other => panic!("expected one container, found {}", other.len()),
    }
}

/// The literal value of a container's env var.
pub fn env_value<'a>(container: &'a Container, name: &str) -> Option<&'a str> {
    container
        .env
        .iter()
        .flatten()
        .find(|v| v.name == name)
        .and_then(|v| v.value.as_deref())
}

/// A container's `ADDITIONAL_CONFIG*` variables in name order, as the Splice entrypoint appends them.
pub fn additional_config(container: &Container) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = container
        .env
        .iter()
        .flatten()
        .filter(|v| v.name.starts_with("ADDITIONAL_CONFIG"))
        .map(|v| {
            let value = v
                .value
                .clone()
                .unwrap_or_else(|| panic!("{} comes from a reference; expected a literal", v.name));
            (v.name.clone(), value)
        })
        .collect();
    vars.sort();
    vars
}

/// KMS values the operator accepts, spelled in the ways HOCON allows, each with the model it means.
/// `config_table` checks the operator reads them so; `hocon_oracle` checks Canton reads them so.
pub fn accepted_values() -> Vec<(&'static str, KmsProvider)> {
    let seed = aws("eu-west-1", |a| a.audit_logging = Some(true));
    vec![
        (SEED_VALUE, seed.clone()),
        (
            "{\n  type: \"aws\"\n  region: \"eu-west-1\"\n  audit-logging: true\n}",
            seed.clone(),
        ),
        (
            r#"{ type = "aws", region = "eu-west-1", audit-logging = true, }"#,
            seed.clone(),
        ),
        (
            r#"{ type = aws, region = eu-west-1, audit-logging = true }"#,
            seed.clone(),
        ),
        (
            r#"{ "type" = "aws", "region" = "eu-west-1", "audit-logging" = true }"#,
            seed.clone(),
        ),
        (
            r#"{ type = "aws", region = "eu-west-1", audit-logging = true } # a comment"#,
            seed.clone(),
        ),
        (
            r#"{ type = "aws", region = "eu-west-1", audit-logging = true } // } canton.x = 1"#,
            seed.clone(),
        ),
        (
            "{ type = \"aws\", # region = \"us-east-1\" }\n region = \"eu-west-1\", audit-logging = true }",
            seed.clone(),
        ),
        (
            r#"{ type = "aws", region = "eu-west-1", region = "eu-west-1", audit-logging = true }"#,
            seed,
        ),
        (
            r#"{ type = "aws", region = "us-east-1", multi-region-key = false, custom-tags { "team.name" = "canton # ops", "a b" = "}", env = "${HOME}" } }"#,
            aws("us-east-1", |a| {
                a.multi_region_key = Some(false);
                a.custom_tags = Some(
                    [
                        ("team.name", "canton # ops"),
                        ("a b", "}"),
                        ("env", "${HOME}"),
                    ]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
                );
            }),
        ),
        (
            r#"{ type = "aws", region = "eu-west-1", endpoint-override = "https://kms.example/x?y=${z}", disable-ssl-verification = false }"#,
            aws("eu-west-1", |a| {
                a.endpoint_override = Some("https://kms.example/x?y=${z}".into());
                a.disable_ssl_verification = Some(false);
            }),
        ),
        (
            r#"{ type = "gcp", location-id = global, project-id = "acme-canton", key-ring-id = "ring_1", audit-logging = false }"#,
            KmsProvider::Gcp(GcpKms {
                location_id: "global".into(),
                project_id: "acme-canton".into(),
                key_ring_id: "ring_1".into(),
                audit_logging: Some(false),
                endpoint_override: None,
            }),
        ),
        (
            r#"{ type = "driver", name = "acme-hsm", health-check-period = "10s", config = { slots = [1, 2.5], tls { enabled = true, ca = "/etc/ca.pem", crl = null }, "dotted.key" = 1 } }"#,
            KmsProvider::Driver(DriverKms {
                name: "acme-hsm".into(),
                config: json!({
                    "slots": [1, 2.5],
                    "tls": {"enabled": true, "ca": "/etc/ca.pem", "crl": null},
                    "dotted.key": 1,
                })
                .as_object()
                .cloned(),
                health_check_period: Some("10s".into()),
                ..DriverKms::default()
            }),
        ),
    ]
}

/// An AWS provider in `region`, adjusted by `f`.
pub fn aws(region: &str, f: impl FnOnce(&mut AwsKms)) -> KmsProvider {
    let mut a = AwsKms {
        region: region.into(),
        ..AwsKms::default()
    };
    f(&mut a);
    KmsProvider::Aws(a)
}

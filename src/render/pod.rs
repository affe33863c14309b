//! Pieces every workload shares: env vars, security contexts, probes, resources, the Deployment
//! and Service shells.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapKeySelector, Container, ContainerPort, EnvVar, EnvVarSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::labels;
use crate::api::{AdditionalEnvVar, SecretKeyRef};
use crate::release::{ProbeTiming, Resources};

/// A plain env var.
pub(crate) fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// An env var read from a Secret key, so no secret value ever sits in a spec.
pub(crate) fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    secret_var(name, secret, key, None)
}

/// [`env_secret`] for a key the Secret may lack (the variable is then unset).
pub(crate) fn env_secret_optional(name: &str, secret: &str, key: &str) -> EnvVar {
    secret_var(name, secret, key, Some(true))
}

fn secret_var(name: &str, secret: &str, key: &str, optional: Option<bool>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional,
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// [`env_secret`] from a [`SecretKeyRef`].
pub(crate) fn env_from_ref(name: &str, r: &SecretKeyRef) -> EnvVar {
    env_secret(name, &r.name, &r.key)
}

/// A user's `additionalEnv` entry as a container env var.
pub(crate) fn additional(var: &AdditionalEnvVar) -> EnvVar {
    let value_from = match (&var.secret_key_ref, &var.config_map_key_ref) {
        (Some(s), _) => Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: s.name.clone(),
                key: s.key.clone(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        (None, Some(c)) => Some(EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: c.name.clone(),
                key: c.key.clone(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        (None, None) => None,
    };
    EnvVar {
        name: var.name.clone(),
        value: if value_from.is_none() {
            Some(var.value.clone().unwrap_or_default())
        } else {
            None
        },
        value_from,
    }
}

/// The log variables both JVM images' entrypoints read, with the charts' defaults.
pub(crate) fn log_env(canton_level: &str) -> [EnvVar; 4] {
    [
        env("LOG_LEVEL_CANTON", canton_level),
        env("LOG_LEVEL_API_REQUEST", "DEBUG"),
        env("LOG_LEVEL_STDOUT", "DEBUG"),
        // The charts' `logAsyncFlush: true`.
        env("LOG_IMMEDIATE_FLUSH", "false"),
    ]
}

/// `JAVA_TOOL_OPTIONS`: the chart's defaults, then the user's additions.
///
/// The charts end it with `-Dlogback.configurationFile=/app/logback/logback.xml`, a ConfigMap
/// they mount; the operator mounts none, so the images' own `/app/logback.xml` (which the
/// entrypoints select) is used instead.
pub(crate) fn java_tool_options(defaults: &str, additional: Option<&String>) -> EnvVar {
    let value = match additional.map(|a| a.trim()).filter(|a| !a.is_empty()) {
        Some(extra) => format!("{defaults} {extra}"),
        None => defaults.to_string(),
    };
    env("JAVA_TOOL_OPTIONS", value)
}

/// A named TCP container port.
pub(crate) fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_string()),
        container_port: number,
        protocol: Some("TCP".to_string()),
        ..ContainerPort::default()
    }
}

/// A probe with the chart's timing.
pub(crate) fn probe(timing: ProbeTiming) -> Probe {
    Probe {
        initial_delay_seconds: Some(timing.initial_delay_seconds),
        period_seconds: Some(timing.period_seconds),
        failure_threshold: Some(timing.failure_threshold),
        timeout_seconds: Some(timing.timeout_seconds),
        ..Probe::default()
    }
}

/// The spec's resources, or the chart's defaults (no CPU limit, as the charts).
pub(crate) fn resources(
    spec: Option<&ResourceRequirements>,
    defaults: Resources,
) -> ResourceRequirements {
    if let Some(spec) = spec {
        return spec.clone();
    }
    let quantity = |q: &str| Quantity(q.to_string());
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), quantity(defaults.cpu_request)),
            ("memory".to_string(), quantity(defaults.memory_request)),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            quantity(defaults.memory_limit),
        )])),
        ..ResourceRequirements::default()
    }
}

/// The charts' container profile: the images' user and group, never root, no privilege
/// escalation, no capabilities. The root filesystem stays writable: both entrypoints write into
/// `/app` at start.
pub(crate) fn container_security(uid: i64) -> SecurityContext {
    SecurityContext {
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

/// The charts' pod profile: volumes group-owned by the images' group, default seccomp.
pub(crate) fn pod_security(fs_group: Option<i64>) -> PodSecurityContext {
    PodSecurityContext {
        fs_group,
        fs_group_change_policy: fs_group.map(|_| "OnRootMismatch".to_string()),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

/// The pod of one workload.
pub(crate) struct Pod {
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub security: PodSecurityContext,
    pub service_account: Option<String>,
}

/// A one-replica Deployment with the `Recreate` strategy, as the Splice charts run every
/// workload (two participants must never share one database).
pub(crate) fn deployment(ctx: &Context, name: String, component: &str, pod: Pod) -> Deployment {
    let meta = ctx.meta(name, component);
    let template_meta = ObjectMeta {
        labels: meta.labels.clone(),
        ..ObjectMeta::default()
    };
    Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels::selector(ctx.name, component)),
                match_expressions: None,
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".to_string()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(template_meta),
                spec: Some(PodSpec {
                    containers: pod.containers,
                    init_containers: (!pod.init_containers.is_empty())
                        .then_some(pod.init_containers),
                    security_context: Some(pod.security),
                    service_account_name: pod.service_account,
                    automount_service_account_token: Some(false),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// A ClusterIP Service for one component: `(name, port, target port)`.
pub(crate) fn service(
    ctx: &Context,
    name: String,
    component: &str,
    ports: &[(&str, i32, IntOrString)],
) -> Service {
    Service {
        metadata: ctx.meta(name, component),
        spec: Some(ServiceSpec {
            selector: Some(labels::selector(ctx.name, component)),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, number, target)| ServicePort {
                        name: Some(name.to_string()),
                        port: *number,
                        target_port: Some(target.clone()),
                        protocol: Some("TCP".to_string()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

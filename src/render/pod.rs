//! Pieces both workloads share: env vars, security contexts, the Deployment and Service shells.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, EnvVarSource, PodSecurityContext, PodSpec, PodTemplateSpec,
    SeccompProfile, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::labels;
use crate::api::SecretKeyRef;

/// The user and group the Splice images run as.
const SPLICE_UID: i64 = 1001;
/// JVM settings of the Splice charts.
pub const JAVA_TOOL_OPTIONS: &str =
    "-XX:+UseG1GC -XX:MaxRAMPercentage=75 -XX:InitialRAMPercentage=75";

/// A plain env var.
pub fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// An env var read from a Secret key, so no secret value ever sits in a spec.
pub fn env_secret(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// [`env_secret`] from a [`SecretKeyRef`].
pub fn env_from_ref(name: &str, r: &SecretKeyRef) -> EnvVar {
    env_secret(name, &r.name, &r.key)
}

/// A named TCP container port.
pub fn port(name: &str, number: i32) -> k8s_openapi::api::core::v1::ContainerPort {
    k8s_openapi::api::core::v1::ContainerPort {
        name: Some(name.to_string()),
        container_port: number,
        protocol: Some("TCP".to_string()),
        ..Default::default()
    }
}

/// Non-root, no privilege escalation, no capabilities.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            add: None,
        }),
        run_as_non_root: Some(true),
        ..SecurityContext::default()
    }
}

fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_user: Some(SPLICE_UID),
        run_as_group: Some(SPLICE_UID),
        fs_group: Some(SPLICE_UID),
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_string(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

/// A one-replica Deployment with the `Recreate` strategy, as the Splice charts run both apps
/// (two participants must never share one database).
pub fn deployment(
    ctx: &Context,
    name: String,
    component: &str,
    container: Container,
    service_account: Option<String>,
) -> Deployment {
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
                    containers: vec![container],
                    security_context: Some(pod_security()),
                    service_account_name: service_account,
                    automount_service_account_token: Some(false),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// A ClusterIP Service for one component's named ports.
pub fn service(ctx: &Context, name: String, component: &str, ports: &[(&str, i32)]) -> Service {
    Service {
        metadata: ctx.meta(name, component),
        spec: Some(ServiceSpec {
            selector: Some(labels::selector(ctx.name, component)),
            ports: Some(
                ports
                    .iter()
                    .map(|(name, number)| ServicePort {
                        name: Some(name.to_string()),
                        port: *number,
                        target_port: Some(IntOrString::String(name.to_string())),
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

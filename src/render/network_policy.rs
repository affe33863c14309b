//! NetworkPolicy `<name>-participant-admin`: the participant's Admin API (5002) is plaintext and
//! unauthenticated in Splice deployments, so only the validator app and the operator may reach it.
//! The participant's other ports stay open to all, as they were without a policy.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::participant::participant_name;
use super::validator_app::VALIDATOR_APP_COMPONENT;
use super::{Context, PARTICIPANT_COMPONENT, labels};

/// The Admin API port.
pub const ADMIN_API_PORT: i32 = 5002;
/// Ports that stay open to everyone: ledger API, JSON API, metrics, gRPC health.
pub const OPEN_PORTS: [i32; 4] = [5001, 7575, 10013, 5061];
/// Label every namespace carries with its own name (Kubernetes 1.22+).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// Namespace assumed for the operator when none is known (offline renders without POD_NAMESPACE).
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "canton-operator";

/// Name of a validator's Admin API NetworkPolicy.
pub fn network_policy_name(validator: &str) -> String {
    format!("{}-admin", participant_name(validator))
}

pub(super) fn network_policy(ctx: &Context, operator_namespace: &str) -> NetworkPolicy {
    let validator_app = NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels::selector(ctx.name, VALIDATOR_APP_COMPONENT)),
            match_expressions: None,
        }),
        ..NetworkPolicyPeer::default()
    };
    let operator = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                NAMESPACE_NAME_LABEL.to_string(),
                operator_namespace.to_string(),
            )])),
            match_expressions: None,
        }),
        ..NetworkPolicyPeer::default()
    };
    let admin = NetworkPolicyIngressRule {
        from: Some(vec![validator_app, operator]),
        ports: Some(vec![tcp(ADMIN_API_PORT)]),
    };
    let open = NetworkPolicyIngressRule {
        from: None,
        ports: Some(OPEN_PORTS.iter().copied().map(tcp).collect()),
    };
    NetworkPolicy {
        metadata: ctx.meta(network_policy_name(ctx.name), PARTICIPANT_COMPONENT),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels::selector(ctx.name, PARTICIPANT_COMPONENT)),
                match_expressions: None,
            }),
            policy_types: Some(vec!["Ingress".to_string()]),
            ingress: Some(vec![admin, open]),
            egress: None,
        }),
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_string()),
        end_port: None,
    }
}

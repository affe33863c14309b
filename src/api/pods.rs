//! Where a validator's pods run and what they carry: `spec.pods` for every pod of the validator,
//! `pod` on each workload to override it, and the extra volumes, mounts and init containers of
//! the participant and validator-app pods. The types inside are Kubernetes' own, so `kubectl
//! explain` shows the fields a pod spec has.
//!
//! Label keys, annotation prefixes and container and volume names the operator uses itself are
//! refused here at admission (CEL) and again by `render::validate` before anything is written.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, LocalObjectReference, Toleration, TopologySpreadConstraint,
};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pod label keys the operator sets on every pod it renders (the `app.kubernetes.io/*`
/// recommended labels; the first three select the pods of a Deployment and its Service).
pub const OPERATOR_POD_LABELS: &[&str] = &[
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
];

/// The operator's own label and annotation prefix (its spec-hash, generation and rollout stamps,
/// its backup and rotation markers): refused in pod labels and annotations.
pub const OPERATOR_KEY_PREFIX: &str = "canton-operator.dev/";

/// A list of names the operator uses in a pod, and the CEL rule refusing them in a list of
/// objects with a `name`.
macro_rules! reserved_names {
    ($(#[$doc:meta])* $list:ident, $rule:ident, [$first:literal $(, $rest:literal)* $(,)?]) => {
        $(#[$doc])*
        pub const $list: &[&str] = &[$first $(, $rest)*];
        pub(crate) const $rule: &str = concat!(
            "self.all(x, !(x.name in ['", $first, "'" $(, ", '", $rest, "'")*, "]))"
        );
    };
}

reserved_names!(
    /// Container and init container names of the participant pod (`kms-driver` copies a KMS
    /// driver's jar). A pod's containers and init containers share one set of names.
    PARTICIPANT_CONTAINERS,
    PARTICIPANT_CONTAINERS_RULE,
    ["participant", "pg-init", "kms-driver"]
);

reserved_names!(
    /// Container and init container names of the validator-app pod.
    VALIDATOR_APP_CONTAINERS,
    VALIDATOR_APP_CONTAINERS_RULE,
    ["validator-app", "validator-app-pg-init"]
);

reserved_names!(
    /// Volume names the operator uses in the participant and validator-app pods.
    OPERATOR_VOLUMES,
    OPERATOR_VOLUMES_RULE,
    ["kms-driver"]
);

/// CEL: no key of the map is one of [`OPERATOR_POD_LABELS`] or starts with [`OPERATOR_KEY_PREFIX`].
const LABELS_RULE: &str = concat!(
    "self.all(k, !(k in ['app.kubernetes.io/name', 'app.kubernetes.io/instance', ",
    "'app.kubernetes.io/component', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/part-of', ",
    "'app.kubernetes.io/version']) && !k.startsWith('canton-operator.dev/'))"
);
/// CEL: no key of the map starts with [`OPERATOR_KEY_PREFIX`].
const ANNOTATIONS_RULE: &str = "self.all(k, !k.startsWith('canton-operator.dev/'))";

/// The fields whose type is Kubernetes' own pod spec type (their schemas go through
/// [`kubernetes_type`]); the CRD reference lists them without their inner fields.
pub const KUBERNETES_TYPED_FIELDS: &[&str] = &[
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
    "imagePullSecrets",
    "extraVolumes",
    "extraVolumeMounts",
    "extraInitContainers",
];

/// Leaves out the descriptions inside an embedded Kubernetes type, keeping its fields, types and
/// the field's own description: they are Kubernetes' own (`kubectl explain pod.spec.affinity`),
/// and with them the five copies of these types would take the CRD past the 256 KiB annotation
/// that client-side `kubectl apply` writes.
pub(crate) fn kubernetes_type(schema: &mut schemars::Schema) {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("description");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    if let Some(map) = schema.as_object_mut() {
        for (key, value) in map.iter_mut() {
            if key != "description" {
                strip(value);
            }
        }
    }
}

/// Scheduling and metadata of a validator's pods.
///
/// `spec.pods` applies to every pod of the validator (participant, validator app, web UIs, the
/// identity backup Job); each workload's `pod` overrides it. Merge rule: `nodeSelector`,
/// `annotations` and `labels` are merged key by key, the workload's value winning for a key both
/// set; every other field set on the workload replaces the shared one whole (an empty list
/// clears it: `tolerations: []`). The operator's own labels, annotations and scheduling come
/// first and cannot be overridden.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodSettings {
    /// Node labels the pods' node must carry (pod `nodeSelector`); merged key by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32))]
    pub node_selector: BTreeMap<String, String>,
    /// Node and pod (anti-)affinity (pod `affinity`); replaces the shared value whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = kubernetes_type)]
    pub affinity: Option<Affinity>,
    /// Taints the pods tolerate (pod `tolerations`); replaces the shared list whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(transform = kubernetes_type)]
    pub tolerations: Option<Vec<Toleration>>,
    /// How the pods spread over zones or nodes (pod `topologySpreadConstraints`); replaces the
    /// shared list whole. The pods carry `app.kubernetes.io/instance: <validator>` and
    /// `app.kubernetes.io/component` to select them by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[schemars(transform = kubernetes_type)]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    /// PriorityClass of the pods (pod `priorityClassName`), such as one that keeps MainNet pods
    /// from being evicted for DevNet ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub priority_class_name: Option<String>,
    /// Annotations on the pods, such as a Vault agent's or a service mesh's injection settings;
    /// merged key by key. Keys starting with `canton-operator.dev/` are the operator's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = Rule::new(ANNOTATIONS_RULE).message("pod annotations: keys starting with canton-operator.dev/ are the operator's own"))]
    pub annotations: BTreeMap<String, String>,
    /// Labels on the pods; merged key by key. The `app.kubernetes.io/*` labels the operator
    /// selects and describes its pods with, and keys starting with `canton-operator.dev/`, are
    /// the operator's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    #[x_kube(validation = Rule::new(LABELS_RULE).message("pod labels: app.kubernetes.io/name, instance, component, managed-by, part-of and version, and keys starting with canton-operator.dev/, are the operator's own"))]
    pub labels: BTreeMap<String, String>,
    /// Secrets with credentials for the images' registries (pod `imagePullSecrets`); replaces
    /// the shared list whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    #[schemars(transform = kubernetes_type)]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// `imagePullPolicy` of the pods' containers, the operator's and your init containers that
    /// set none (default: Kubernetes' own — `Always` for a `:latest` tag, `IfNotPresent`
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<ImagePullPolicy>,
}

/// A container's `imagePullPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ImagePullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl ImagePullPolicy {
    /// The value Kubernetes reads.
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePullPolicy::Always => "Always",
            ImagePullPolicy::IfNotPresent => "IfNotPresent",
            ImagePullPolicy::Never => "Never",
        }
    }
}

impl PodSettings {
    /// `shared` with `workload` laid over it, by the rule in the type's documentation.
    pub fn merged(shared: Option<&PodSettings>, workload: Option<&PodSettings>) -> PodSettings {
        let base = shared.cloned().unwrap_or_default();
        let Some(over) = workload else {
            return base;
        };
        let map = |a: BTreeMap<String, String>, b: &BTreeMap<String, String>| {
            let mut merged = a;
            merged.extend(b.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged
        };
        PodSettings {
            node_selector: map(base.node_selector, &over.node_selector),
            affinity: over.affinity.clone().or(base.affinity),
            tolerations: over.tolerations.clone().or(base.tolerations),
            topology_spread_constraints: over
                .topology_spread_constraints
                .clone()
                .or(base.topology_spread_constraints),
            priority_class_name: over
                .priority_class_name
                .clone()
                .or(base.priority_class_name),
            annotations: map(base.annotations, &over.annotations),
            labels: map(base.labels, &over.labels),
            image_pull_secrets: over.image_pull_secrets.clone().or(base.image_pull_secrets),
            image_pull_policy: over.image_pull_policy.or(base.image_pull_policy),
        }
    }
}

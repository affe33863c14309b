//! The resource registry: which group/version/plural exist, their kind,
//! scope, subresources and (for custom resources) their schema.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kube::core::cel::{CompiledSchema, compile_schema};
use serde_json::Value;

/// Built-in kinds the fake knows how to decode, default and validate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    Pod,
    Service,
    ServiceAccount,
    Secret,
    ConfigMap,
    CoreEvent,
    Namespace,
    Deployment,
    Event,
    Lease,
    NetworkPolicy,
    CronJob,
    CustomResourceDefinition,
}

/// The schema of one served version of a custom resource.
pub(crate) struct VersionSchema {
    /// The `openAPIV3Schema` as JSON.
    pub(crate) raw: Value,
    /// Its CEL rules, compiled once at registration.
    pub(crate) compiled: CompiledSchema,
}

/// One resource (group + plural) and everything the handlers need about it.
pub(crate) struct ResourceType {
    pub(crate) group: String,
    pub(crate) versions: Vec<String>,
    pub(crate) plural: String,
    pub(crate) singular: String,
    pub(crate) kind: String,
    pub(crate) short_names: Vec<String>,
    pub(crate) namespaced: bool,
    pub(crate) status_subresource: bool,
    /// Whether the apiserver maintains `metadata.generation` for this kind.
    pub(crate) tracks_generation: bool,
    pub(crate) builtin: Option<Builtin>,
    /// Custom resources: schema per served version.
    pub(crate) schemas: BTreeMap<String, Arc<VersionSchema>>,
    /// Custom resources: `spec.versions[].selectableFields` JSON paths.
    pub(crate) selectable_fields: Vec<String>,
}

impl ResourceType {
    /// `deployments.apps`, or `configmaps` for the core group, as used in
    /// error messages.
    pub(crate) fn resource_label(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps` or `ConfigMap`, as used in Invalid messages.
    pub(crate) fn kind_label(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// `apps/v1` or `v1`.
    pub(crate) fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// The id of the resource in the store.
    pub(crate) fn id(&self) -> ResourceId {
        (self.group.clone(), self.plural.clone())
    }

    /// Whether this is a custom resource (typing and validation from schema).
    pub(crate) fn is_custom(&self) -> bool {
        self.builtin.is_none()
    }

    /// Field selector labels the apiserver accepts for this kind.
    pub(crate) fn field_labels(&self) -> Vec<&str> {
        let mut labels = vec!["metadata.name", "metadata.namespace"];
        labels.extend(match self.builtin {
            Some(Builtin::Pod) => vec![
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
            ],
            Some(Builtin::Secret) => vec!["type"],
            Some(Builtin::Namespace) => vec!["status.phase"],
            Some(Builtin::CoreEvent) => vec![
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            _ => vec![],
        });
        labels.extend(
            self.selectable_fields
                .iter()
                .map(|f| f.trim_start_matches('.')),
        );
        labels
    }
}

/// `(group, plural)`.
pub(crate) type ResourceId = (String, String);

/// All registered resources.
pub(crate) struct Registry {
    by_id: HashMap<ResourceId, Arc<ResourceType>>,
}

/// A compact description of a built-in: (group, version, plural, kind,
/// namespaced, status subresource, tracks generation, builtin).
type BuiltinSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    bool,
    Builtin,
);

const BUILTINS: &[BuiltinSpec] = &[
    ("", "v1", "pods", "Pod", true, true, false, Builtin::Pod),
    (
        "",
        "v1",
        "services",
        "Service",
        true,
        true,
        false,
        Builtin::Service,
    ),
    (
        "",
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        false,
        false,
        Builtin::ServiceAccount,
    ),
    (
        "",
        "v1",
        "secrets",
        "Secret",
        true,
        false,
        false,
        Builtin::Secret,
    ),
    (
        "",
        "v1",
        "configmaps",
        "ConfigMap",
        true,
        false,
        false,
        Builtin::ConfigMap,
    ),
    (
        "",
        "v1",
        "events",
        "Event",
        true,
        false,
        false,
        Builtin::CoreEvent,
    ),
    (
        "",
        "v1",
        "namespaces",
        "Namespace",
        false,
        true,
        false,
        Builtin::Namespace,
    ),
    (
        "apps",
        "v1",
        "deployments",
        "Deployment",
        true,
        true,
        true,
        Builtin::Deployment,
    ),
    (
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        true,
        false,
        false,
        Builtin::Event,
    ),
    (
        "coordination.k8s.io",
        "v1",
        "leases",
        "Lease",
        true,
        false,
        false,
        Builtin::Lease,
    ),
    (
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        false,
        true,
        Builtin::NetworkPolicy,
    ),
    (
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        true,
        true,
        true,
        Builtin::CronJob,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        true,
        true,
        Builtin::CustomResourceDefinition,
    ),
];

impl Registry {
    /// A registry holding the built-in resources.
    pub(crate) fn with_builtins() -> Self {
        let mut reg = Registry {
            by_id: HashMap::new(),
        };
        for &(group, version, plural, kind, namespaced, status, generation, builtin) in BUILTINS {
            reg.register(ResourceType {
                group: group.into(),
                versions: vec![version.into()],
                plural: plural.into(),
                singular: kind.to_lowercase(),
                kind: kind.into(),
                short_names: vec![],
                namespaced,
                status_subresource: status,
                tracks_generation: generation,
                builtin: Some(builtin),
                schemas: BTreeMap::new(),
                selectable_fields: vec![],
            });
        }
        reg
    }

    /// Adds or replaces a resource.
    pub(crate) fn register(&mut self, rt: ResourceType) {
        self.by_id.insert(rt.id(), Arc::new(rt));
    }

    /// Removes a resource.
    pub(crate) fn unregister(&mut self, id: &ResourceId) {
        self.by_id.remove(id);
    }

    /// The resource served at group/version/plural.
    pub(crate) fn lookup(
        &self,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Option<Arc<ResourceType>> {
        self.by_id
            .get(&(group.to_string(), plural.to_string()))
            .filter(|rt| rt.versions.iter().any(|v| v == version))
            .cloned()
    }

    /// The resource for an object's apiVersion and kind.
    pub(crate) fn by_kind(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Option<(Arc<ResourceType>, String)> {
        let (group, version) = split_api_version(api_version);
        self.by_id
            .values()
            .find(|rt| {
                rt.group == group && rt.kind == kind && rt.versions.iter().any(|v| v == version)
            })
            .map(|rt| (rt.clone(), version.to_string()))
    }

    /// Every registered resource, for discovery.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.by_id.values()
    }
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Builds the resource a CustomResourceDefinition describes. Fails like the
/// apiserver would on a malformed CRD or CEL rules that do not compile.
pub(crate) fn resource_from_crd(crd: &Value) -> Result<ResourceType, String> {
    let spec = crd.get("spec").ok_or("spec: Required value")?;
    let text = |p: &str| spec.pointer(p).and_then(Value::as_str).map(String::from);
    let group = text("/group").ok_or("spec.group: Required value")?;
    let plural = text("/names/plural").ok_or("spec.names.plural: Required value")?;
    let kind = text("/names/kind").ok_or("spec.names.kind: Required value")?;
    let expected_name = format!("{plural}.{group}");
    if crd.pointer("/metadata/name").and_then(Value::as_str) != Some(expected_name.as_str()) {
        return Err(format!(
            "metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group ({expected_name})"
        ));
    }
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        )?;
    let served: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .collect();
    let mut schemas = BTreeMap::new();
    for v in &served {
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .ok_or("spec.versions[].name: Required value")?;
        let raw = v
            .pointer("/schema/openAPIV3Schema")
            .cloned()
            .ok_or(format!(
                "spec.versions[{name}].schema.openAPIV3Schema: Required value"
            ))?;
        let compiled = compile_schema(&raw);
        if compiled.has_errors() {
            let errs: Vec<String> = compiled
                .compilation_errors()
                .iter()
                .map(|e| e.to_string())
                .collect();
            return Err(format!(
                "spec.validation.openAPIV3Schema: Invalid value: compilation failed: {}",
                errs.join("; ")
            ));
        }
        schemas.insert(name.to_string(), Arc::new(VersionSchema { raw, compiled }));
    }
    let first = served.first().copied().unwrap_or(&versions[0]);
    Ok(ResourceType {
        group,
        versions: schemas.keys().cloned().collect(),
        singular: text("/names/singular").unwrap_or_else(|| kind.to_lowercase()),
        short_names: spec
            .pointer("/names/shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        plural,
        kind,
        namespaced: text("/scope").as_deref() != Some("Cluster"),
        status_subresource: first.pointer("/subresources/status").is_some(),
        tracks_generation: true,
        builtin: None,
        schemas,
        selectable_fields: first
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("jsonPath")?.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

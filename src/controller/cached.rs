//! How the caches hold an object: the few metadata fields the reflector and the controller's
//! owner triggers read, typed, and the rest as compact JSON, LZ4-compressed. At 1,000 validators
//! the caches are most of the operator's memory (docs/performance.md, "Reconciler at scale").
//!
//! A child the operator applies (Deployment, Service, ServiceAccount, NetworkPolicy) is kept as
//! the projection the controller reads: the fields this operator's field manager owns (its
//! server-side apply entry in `managedFields`, which are exactly the fields it rendered and last
//! applied) and, of `status`, only what the status conditions read. Server defaults, the Deployment
//! controller's conditions, `managedFields` and server-set metadata are dropped: on a real server
//! they are more than half of an object. A field someone else changed has moved to their manager,
//! so it is missing from the projection and the drift check still sees it; an item someone added
//! to a list the operator renders is kept whole, so the list no longer matches either. Other kinds
//! (Validators, anything not applied by the operator) are kept whole but for `managedFields`.
//!
//! Read the object with [`Cached::to_value`] (to compare it with what the operator renders) or
//! [`Cached::decode`] (typed). `ResourceExt` on a `Cached` sees only name, namespace, uid,
//! resourceVersion, generation, deletionTimestamp and ownerReferences: labels and annotations
//! are in the JSON.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};

use super::context::FIELD_MANAGER;

/// Annotations the caches leave out: nothing reads them and they can be as large as the object.
const DROPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Of a Deployment's status, what `conditions::is_available` reads (with `spec.replicas` and
/// `metadata.generation`). A status reader that needs more must add it here.
const DEPLOYMENT_STATUS: &[&str] = &[
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
];

/// How the cache keeps objects of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Everything but `managedFields` and the dropped annotations.
    Whole,
    /// What the operator applied, and these fields of `status`.
    Applied { status: &'static [&'static str] },
}

impl Shape {
    /// The children the operator applies and only compares; every other kind is kept whole.
    fn of<K: Resource<DynamicType = ()>>() -> Self {
        match (K::group(&()).as_ref(), K::kind(&()).as_ref()) {
            ("apps", "Deployment") => Shape::Applied {
                status: DEPLOYMENT_STATUS,
            },
            ("", "Service" | "ServiceAccount") | ("networking.k8s.io", "NetworkPolicy") => {
                Shape::Applied { status: &[] }
            }
            _ => Shape::Whole,
        }
    }
}

/// Why a cached object could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum CachedError {
    #[error("the cached JSON does not decompress: {0}")]
    Decompress(#[from] lz4_flex::block::DecompressError),
    #[error("the cached JSON does not decode: {0}")]
    Json(#[from] serde_json::Error),
}

/// One cached object of kind `K`.
pub struct Cached<K> {
    metadata: ObjectMeta,
    /// The object without `apiVersion`, `kind` and the typed metadata fields (see [`Shape`] for
    /// what else is left out), as LZ4-compressed JSON.
    body: Box<[u8]>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource<DynamicType = ()>> Cached<K> {
    /// The object as cached, for comparing with what the operator renders. `apiVersion` and
    /// `kind` come from the type (the items of a LIST carry none), the typed metadata fields
    /// from [`Resource::meta`].
    pub fn to_value(&self) -> Result<Value, CachedError> {
        let json = lz4_flex::block::decompress_size_prepended(&self.body)?;
        let mut object: Map<String, Value> = serde_json::from_slice(&json)?;
        if let Value::Object(typed) = serde_json::to_value(&self.metadata)? {
            let meta = object
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(meta) = meta {
                meta.extend(typed);
            }
        }
        object.insert("apiVersion".into(), K::api_version(&()).into());
        object.insert("kind".into(), K::kind(&()).into());
        Ok(Value::Object(object))
    }

    /// The object, typed (as much of it as is cached).
    pub fn decode(&self) -> Result<K, CachedError>
    where
        K: DeserializeOwned,
    {
        Ok(serde_json::from_value(self.to_value()?)?)
    }

    /// What the cache keeps of an object's JSON.
    fn from_object(mut object: Map<String, Value>) -> Result<Self, serde_json::Error> {
        object.remove("apiVersion");
        object.remove("kind");
        let mut meta = match object.remove("metadata") {
            None => Map::new(),
            Some(Value::Object(meta)) => meta,
            Some(_) => return Err(serde_json::Error::custom("metadata is not an object")),
        };
        let metadata = serde_json::from_value(Value::Object(take_kept(&mut meta)))?;
        let kept = match Shape::of::<K>() {
            Shape::Whole => whole(object, meta),
            Shape::Applied { status } => applied(object, &meta, status),
        };
        let json = serde_json::to_vec(&kept)?;
        let body = lz4_flex::block::compress_prepend_size(&json).into_boxed_slice();
        Ok(Self {
            metadata,
            body,
            kind: PhantomData,
        })
    }
}

/// Moves the typed metadata fields out of `meta`.
fn take_kept(meta: &mut Map<String, Value>) -> Map<String, Value> {
    KEPT_METADATA
        .iter()
        .filter_map(|k| meta.remove(*k).map(|v| ((*k).to_string(), v)))
        .collect()
}

/// The object but `managedFields` and the dropped annotations.
fn whole(mut object: Map<String, Value>, mut meta: Map<String, Value>) -> Map<String, Value> {
    meta.remove("managedFields");
    if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
        annotations.retain(|k, _| !DROPPED_ANNOTATIONS.contains(&k.as_str()));
    }
    object.insert("metadata".into(), Value::Object(meta));
    object
}

/// The fields this operator's apply owns, and `status` cut to `status_fields`.
fn applied(
    object: Map<String, Value>,
    meta: &Map<String, Value>,
    status_fields: &[&str],
) -> Map<String, Value> {
    let empty = Map::new();
    let owned = operator_fields(meta).unwrap_or(&empty);
    let mut kept = Map::new();
    if let Some(Value::Object(owned_meta)) = owned.get("f:metadata") {
        kept.insert(
            "metadata".into(),
            Value::Object(project_map(meta, owned_meta)),
        );
    }
    for (key, value) in &object {
        if key == "status" {
            continue;
        }
        if let Some(Value::Object(fields)) = owned.get(&format!("f:{key}")) {
            kept.insert(key.clone(), project(value, fields));
        }
    }
    if let Some(Value::Object(status)) = object.get("status") {
        let status: Map<String, Value> = status
            .iter()
            .filter(|(k, _)| status_fields.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !status.is_empty() {
            kept.insert("status".into(), Value::Object(status));
        }
    }
    kept
}

/// The fieldsV1 of this operator's server-side apply of the main resource, if it has one.
fn operator_fields(meta: &Map<String, Value>) -> Option<&Map<String, Value>> {
    let entries = meta.get("managedFields")?.as_array()?;
    entries
        .iter()
        .find(|e| {
            e["manager"] == FIELD_MANAGER
                && e["operation"] == "Apply"
                && e.get("subresource").is_none_or(|s| s.is_null() || s == "")
        })
        .and_then(|e| e.get("fieldsV1"))
        .and_then(Value::as_object)
}

/// `value` cut to the fields `owned` names (fieldsV1: `f:<field>`, list items by `k:<key>`,
/// `v:<value>` or `i:<index>`; an empty node owns the whole value). List items nobody gave this
/// operator are kept whole: the list no longer matches the rendered one, and that is drift.
fn project(value: &Value, owned: &Map<String, Value>) -> Value {
    if owned.is_empty() {
        return value.clone();
    }
    match value {
        Value::Object(map) => Value::Object(project_map(map, owned)),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match owned_item(owned, i, item) {
                    Some(fields) => project(item, fields),
                    None => item.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The fields of `map` that `owned` names, each projected.
fn project_map(map: &Map<String, Value>, owned: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter_map(|(k, v)| match owned.get(&format!("f:{k}")) {
            Some(Value::Object(fields)) => Some((k.clone(), project(v, fields))),
            _ => None,
        })
        .collect()
}

/// The fieldsV1 node of list item `item` (at `index`), if this operator owns it.
fn owned_item<'a>(
    owned: &'a Map<String, Value>,
    index: usize,
    item: &Value,
) -> Option<&'a Map<String, Value>> {
    owned.iter().find_map(|(key, fields)| {
        let matches = if let Some(key) = key.strip_prefix("k:") {
            serde_json::from_str::<Map<String, Value>>(key)
                .is_ok_and(|key| key.iter().all(|(k, v)| item.get(k) == Some(v)))
        } else if let Some(value) = key.strip_prefix("v:") {
            serde_json::from_str::<Value>(value).is_ok_and(|v| &v == item)
        } else if let Some(i) = key.strip_prefix("i:") {
            i.parse() == Ok(index)
        } else {
            false
        };
        if matches { fields.as_object() } else { None }
    })
}

/// The object `namespace/name` as `store` last saw it, decoded; `None` when it is not cached.
pub fn lookup<K>(
    store: &Store<Cached<K>>,
    namespace: &str,
    name: &str,
) -> Result<Option<K>, super::error::Error>
where
    K: Resource<DynamicType = ()> + DeserializeOwned,
{
    let Some(cached) = store.get(&ObjectRef::new(name).within(namespace)) else {
        return Ok(None);
    };
    cached
        .decode()
        .map(Some)
        .map_err(|source| super::error::Error::Decode {
            what: format!("{} {namespace}/{name}", K::kind(&())),
            source,
        })
}

/// The metadata fields kept typed: what the reflector keys by and the owner triggers follow.
const KEPT_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "ownerReferences",
];

#[cfg(test)]
impl<K: Resource<DynamicType = ()> + Serialize> Cached<K> {
    /// The cached form of a typed object.
    pub fn from_typed(object: &K) -> Result<Self, serde_json::Error> {
        match serde_json::to_value(object)? {
            Value::Object(map) => Self::from_object(map),
            _ => Err(serde_json::Error::custom(
                "a Kubernetes object is a JSON object",
            )),
        }
    }
}

/// Decoded straight from the API server's JSON, so a typed object is never built.
impl<'de, K: Resource<DynamicType = ()>> Deserialize<'de> for Cached<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_object(object).map_err(D::Error::custom)
    }
}

impl<K> Clone for Cached<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            body: self.body.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Resource<DynamicType = ()>> fmt::Debug for Cached<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cached")
            .field("kind", &K::kind(&()))
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .field("compressed_bytes", &self.body.len())
            .finish()
    }
}

/// The same API resource as `K`: watched, listed and cached like it.
impl<K: Resource<DynamicType = ()>> Resource for Cached<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    fn kind(dt: &()) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        K::version(dt)
    }

    fn api_version(dt: &()) -> Cow<'_, str> {
        K::api_version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Pod, Service};
    use kube::ResourceExt;
    use serde_json::json;

    use super::*;
    use crate::controller::conditions::is_available;
    use crate::controller::diff::first_difference;

    /// What the operator applies (a small participant Deployment).
    fn rendered() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "v1-participant",
                "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "canton-operator"},
                "ownerReferences": [{"apiVersion": "canton-operator.dev/v1alpha1", "kind": "Validator",
                    "name": "v1", "uid": "u-1", "controller": true}]
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "p"}},
                "template": {
                    "metadata": {"labels": {"app": "p"}},
                    "spec": {"containers": [{
                        "name": "participant",
                        "image": "canton:0.7.4",
                        "env": [{"name": "A", "value": "1"}],
                        "ports": [{"name": "ledger", "containerPort": 5001}],
                        "resources": {"limits": {"cpu": "1000m"}}
                    }]}
                }
            }
        })
    }

    /// The fieldsV1 of the operator's apply of [`rendered`].
    fn operator_fields() -> Value {
        json!({
            "f:metadata": {
                "f:labels": {"f:app.kubernetes.io/managed-by": {}},
                "f:ownerReferences": {"k:{\"uid\":\"u-1\"}": {}}
            },
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {"k:{\"name\":\"participant\"}": {
                        ".": {}, "f:name": {}, "f:image": {},
                        "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                        "f:ports": {"k:{\"containerPort\":5001,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:name": {}, "f:containerPort": {}}},
                        "f:resources": {"f:limits": {"f:cpu": {}}}
                    }}}
                }
            }
        })
    }

    /// [`rendered`] as a 1.33 apiserver returns it once the Deployment controller has seen it:
    /// defaults, server-set metadata, both managers' managedFields, status with conditions.
    fn live() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "v1-participant",
                "namespace": "ns",
                "uid": "d-1",
                "resourceVersion": "812",
                "generation": 1,
                "creationTimestamp": "2026-11-30T06:00:00Z",
                "labels": {"app.kubernetes.io/managed-by": "canton-operator"},
                "annotations": {
                    "deployment.kubernetes.io/revision": "1",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"huge\": true}"
                },
                "ownerReferences": [{"apiVersion": "canton-operator.dev/v1alpha1", "kind": "Validator",
                    "name": "v1", "uid": "u-1", "controller": true}],
                "managedFields": [
                    {"manager": "canton-operator", "operation": "Apply", "apiVersion": "apps/v1",
                     "time": "2026-11-30T06:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": operator_fields()},
                    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                     "time": "2026-11-30T06:00:01Z", "fieldsType": "FieldsV1", "subresource": "status",
                     "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}},
                        "f:status": {"f:availableReplicas": {}, "f:conditions": {".": {}}}}}
                ]
            },
            "spec": {
                "replicas": 1,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": {"app": "p"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": "p"}},
                    "spec": {
                        "containers": [{
                            "name": "participant",
                            "image": "canton:0.7.4",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"name": "ledger", "containerPort": 5001, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "1"}},
                            "imagePullPolicy": "IfNotPresent",
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File"
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Always",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30
                    }
                }
            },
            "status": {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": 1,
                "availableReplicas": 1,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                     "message": "Deployment has minimum availability.",
                     "lastUpdateTime": "2026-11-30T06:00:05Z", "lastTransitionTime": "2026-11-30T06:00:05Z"},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                     "message": "ReplicaSet \"v1-participant-5d8f7c9b6\" has successfully progressed.",
                     "lastUpdateTime": "2026-11-30T06:00:05Z", "lastTransitionTime": "2026-11-30T06:00:00Z"}
                ]
            }
        })
    }

    fn cache(object: Value) -> Cached<Deployment> {
        serde_json::from_value(object).unwrap()
    }

    /// Removes `field` from the operator's entry, as the server does when another manager's
    /// update changes a field the operator owned.
    fn disown(live: &mut Value, pointer: &str, field: &str) {
        let node = live
            .pointer_mut(&format!("/metadata/managedFields/0/fieldsV1{pointer}"))
            .and_then(Value::as_object_mut)
            .unwrap();
        node.remove(field).unwrap();
    }

    const CONTAINER: &str = "/f:spec/f:template/f:spec/f:containers/k:{\"name\":\"participant\"}";

    #[test]
    fn keeps_what_the_operator_applied_and_the_status_it_reads() {
        let cached = cache(live());
        let value = cached.to_value().unwrap();
        assert_eq!(first_difference(&rendered(), &value), None);
        let mut expected = rendered();
        expected["metadata"]["uid"] = json!("d-1");
        expected["metadata"]["resourceVersion"] = json!("812");
        expected["metadata"]["generation"] = json!(1);
        expected["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("1");
        expected["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": 1, "availableReplicas": 1});
        assert_eq!(value, expected);
        let deployment = cached.decode().unwrap();
        assert!(is_available(&deployment));
        assert_eq!(cached.name_any(), "v1-participant");
        assert_eq!(cached.owner_references()[0].uid, "u-1");
        assert_eq!(cached.meta().generation, Some(1));
        // Labels and annotations live in the JSON only.
        assert!(cached.labels().is_empty());
    }

    #[test]
    fn server_set_fields_are_not_kept() {
        let mut other = live();
        other["metadata"]["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
        other["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("7");
        other["metadata"]["managedFields"][1]["time"] = json!("2026-12-01T00:00:00Z");
        other["spec"]["revisionHistoryLimit"] = json!(3);
        other["spec"]["template"]["spec"]["dnsPolicy"] = json!("Default");
        other["status"]["conditions"] = json!([]);
        assert_eq!(cache(other).body, cache(live()).body);
    }

    #[test]
    fn a_rendered_field_someone_changed_is_drift() {
        // `kubectl edit`: the value changes and its ownership moves to kubectl.
        let mut edited = live();
        edited["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("2");
        disown(
            &mut edited,
            &format!("{CONTAINER}/f:env/k:{{\"name\":\"A\"}}"),
            "f:value",
        );
        let value = cache(edited).to_value().unwrap();
        assert_eq!(
            first_difference(&rendered(), &value).as_deref(),
            Some("/spec/template/spec/containers/0/env/0/value")
        );
        // Changed while still the operator's: the value is kept, and differs.
        let mut changed = live();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("canton:0.6.0");
        let value = cache(changed).to_value().unwrap();
        assert_eq!(
            first_difference(&rendered(), &value).as_deref(),
            Some("/spec/template/spec/containers/0/image")
        );
        // A label someone removed.
        let mut relabelled = live();
        relabelled["metadata"]["labels"] = json!({});
        disown(
            &mut relabelled,
            "/f:metadata/f:labels",
            "f:app.kubernetes.io/managed-by",
        );
        let value = cache(relabelled).to_value().unwrap();
        assert_eq!(
            first_difference(&rendered(), &value).as_deref(),
            Some("/metadata/labels/app.kubernetes.io~1managed-by")
        );
    }

    #[test]
    fn an_item_someone_added_to_a_rendered_list_is_drift() {
        let mut added = live();
        added["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "B", "value": "x"}));
        let value = cache(added).to_value().unwrap();
        assert_eq!(
            value["spec"]["template"]["spec"]["containers"][0]["env"][1],
            json!({"name": "B", "value": "x"})
        );
        assert_eq!(
            first_difference(&rendered(), &value).as_deref(),
            Some("/spec/template/spec/containers/0/env")
        );
    }

    #[test]
    fn without_the_operators_apply_everything_rendered_is_missing() {
        let mut foreign = live();
        foreign["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let value = cache(foreign).to_value().unwrap();
        assert!(first_difference(&rendered(), &value).is_some());
        assert_eq!(value["metadata"]["name"], "v1-participant");
    }

    #[test]
    fn a_service_keeps_its_ports_but_not_its_cluster_ip() {
        let live = json!({
            "metadata": {"name": "v1-participant", "namespace": "ns", "uid": "s-1",
                "creationTimestamp": "2026-11-30T06:00:00Z",
                "managedFields": [{"manager": "canton-operator", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:selector": {}, "f:ports": {
                        "k:{\"port\":5001,\"protocol\":\"TCP\"}": {".": {}, "f:name": {}, "f:port": {}}}}}}]},
            "spec": {"clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"], "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
                "type": "ClusterIP", "selector": {"app": "p"},
                "ports": [{"name": "ledger", "port": 5001, "protocol": "TCP", "targetPort": 5001}]},
            "status": {"loadBalancer": {}}
        });
        let cached: Cached<Service> = serde_json::from_value(live).unwrap();
        let value = cached.to_value().unwrap();
        assert_eq!(
            value["spec"],
            json!({"selector": {"app": "p"}, "ports": [{"name": "ledger", "port": 5001}]})
        );
        assert!(value.get("status").is_none());
        assert_eq!(
            value["metadata"],
            json!({"name": "v1-participant", "namespace": "ns", "uid": "s-1"})
        );
    }

    #[test]
    fn other_kinds_keep_everything_but_managed_fields_and_the_last_applied_annotation() {
        let mut pod = live();
        pod["apiVersion"] = json!("v1");
        pod["kind"] = json!("Pod");
        pod["spec"] = json!({"containers": [{"name": "backup", "image": "x"}]});
        pod["status"] = json!({"phase": "Succeeded", "containerStatuses": [{"name": "backup",
            "state": {"terminated": {"exitCode": 0, "message": "ok"}}}]});
        let cached: Cached<Pod> = serde_json::from_value(pod.clone()).unwrap();
        let meta = pod["metadata"].as_object_mut().unwrap();
        meta.remove("managedFields");
        meta["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
        assert_eq!(cached.to_value().unwrap(), pod);
        let typed = cached.decode().unwrap();
        assert_eq!(Cached::from_typed(&typed).unwrap().decode().unwrap(), typed);
    }

    #[test]
    fn list_items_without_api_version_and_kind_get_them_from_the_type() {
        let mut item = live();
        let object = item.as_object_mut().unwrap();
        object.remove("apiVersion");
        object.remove("kind");
        let value = cache(item).to_value().unwrap();
        assert_eq!(value["apiVersion"], "apps/v1");
        assert_eq!(value["kind"], "Deployment");
    }

    #[test]
    fn is_the_same_api_resource() {
        assert_eq!(Cached::<Deployment>::plural(&()), "deployments");
        assert_eq!(Cached::<Deployment>::api_version(&()), "apps/v1");
        assert_eq!(
            Cached::<Deployment>::url_path(&(), Some("ns")),
            Deployment::url_path(&(), Some("ns"))
        );
    }

    #[test]
    fn holds_a_deployment_in_a_fraction_of_its_json() {
        let cached = cache(live());
        let json = serde_json::to_vec(&live()).unwrap();
        assert!(
            cached.body.len() * 3 < json.len(),
            "{} * 3 >= {}",
            cached.body.len(),
            json.len()
        );
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        assert!(serde_json::from_value::<Cached<Deployment>>(json!([1])).is_err());
        assert!(serde_json::from_value::<Cached<Deployment>>(json!({"metadata": "x"})).is_err());
    }
}

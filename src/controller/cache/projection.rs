//! What of a live child the operator compares with its render: the fields its own server-side
//! apply owns, as the object's `managedFields` entry for this field manager lists them (which are
//! exactly the fields it rendered and last applied), and a fingerprint of that.
//!
//! Server defaults, other managers' fields, `managedFields` and server-set metadata are left out:
//! on a real server they are more than half of an object. So are the items of keyed lists and sets
//! the operator does not own (another manager's env var, sidecar container or volume): they are
//! someone else's, never drift. A field someone else changed or took has moved to their manager, so
//! it is missing from the projection and the comparison sees that; atomic lists and maps are owned
//! whole and compared whole.
//!
//! The child caches keep only the [`Fingerprint`] of the projection: equal fingerprints mean the
//! child says what the render says. When they differ, the live object is read and compared field
//! by field (`diff::first_difference`), which also names where it differs.

use kube::Resource;
use ring::digest::{SHA256, digest};
use serde_json::{Map, Value};

use super::diff::Entries;
use crate::field_manager::FIELD_MANAGER;

/// The metadata fields the operator renders and compares (name and namespace are the key).
const COMPARED_METADATA: [&str; 3] = ["labels", "annotations", "ownerReferences"];

/// 128 bits of SHA-256 over a child's compared view as `diff::Entries` writes it: equal for two
/// objects that `diff::first_difference` finds equal both ways (quantities by value, empty maps,
/// lists and nulls the same as absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Fingerprint([u8; 16]);

impl Fingerprint {
    /// 32 lower-case hex digits: a label value.
    pub(crate) fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The fingerprint of what a rendered child says: its metadata labels, annotations and owner
/// references, and every other top-level field but `apiVersion`, `kind` and `status`.
pub(crate) fn of_rendered(object: &Value) -> Fingerprint {
    match object.as_object() {
        Some(map) => fingerprint(map),
        None => fingerprint(&Map::new()),
    }
}

/// The fingerprint of what the operator's apply owns of a live child (its JSON as the API server
/// sends it), comparable with [`of_rendered`].
pub(crate) fn of_live(object: &Map<String, Value>) -> Fingerprint {
    fingerprint(&owned(object))
}

/// A live child of kind `K` as the operator compares it with its render — the owned fields, with
/// the identifying metadata, `apiVersion` and `kind` — and its [`of_live`] fingerprint.
pub(crate) fn live<K: Resource<DynamicType = ()>>(
    object: &Map<String, Value>,
) -> (Value, Fingerprint) {
    let mut projected = owned(object);
    let fingerprint = fingerprint(&projected);
    projected.insert("apiVersion".into(), K::api_version(&()).into());
    projected.insert("kind".into(), K::kind(&()).into());
    let identity = ["name", "namespace", "uid", "resourceVersion", "generation"];
    let metadata = projected
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Value::Object(metadata), Some(meta)) = (metadata, metadata_of(object)) {
        for key in identity {
            if let Some(v) = meta.get(key) {
                metadata.insert(key.into(), v.clone());
            }
        }
    }
    (Value::Object(projected), fingerprint)
}

fn metadata_of(object: &Map<String, Value>) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

/// Hashes the compared view of `object`: its fields but `apiVersion`, `kind`, `status` and
/// `metadata`, and of `metadata` only [`COMPARED_METADATA`], normalised as it is written as JSON
/// (no copy of the tree is built).
fn fingerprint(object: &Map<String, Value>) -> Fingerprint {
    let compared: Map<String, Value> = metadata_of(object)
        .into_iter()
        .flat_map(|meta| {
            COMPARED_METADATA
                .iter()
                .filter_map(|k| meta.get_key_value(*k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let compared = Value::Object(compared);
    let view = object
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "status" | "metadata"))
        .map(|(k, v)| (k.as_str(), v))
        .chain(std::iter::once(("metadata", &compared)));
    let json = serde_json::to_vec(&Entries::of(view)).unwrap_or_default();
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest(&SHA256, &json).as_ref()[..16]);
    Fingerprint(bytes)
}

/// The fields this operator's apply owns (`status` never: the operator does not apply it).
fn owned(object: &Map<String, Value>) -> Map<String, Value> {
    let empty = Map::new();
    let meta = metadata_of(object).unwrap_or(&empty);
    let fields = operator_fields(meta).unwrap_or(&empty);
    let mut kept = Map::new();
    if let Some(Value::Object(owned_meta)) = fields.get("f:metadata") {
        kept.insert(
            "metadata".into(),
            Value::Object(project_map(meta, owned_meta)),
        );
    }
    for (key, value) in object {
        if matches!(key.as_str(), "status" | "metadata") {
            continue;
        }
        if let Some(Value::Object(owned)) = fields.get(&format!("f:{key}")) {
            kept.insert(key.clone(), project(value, owned));
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
/// `v:<value>` or `i:<index>`; an empty node owns the whole value, as for an atomic list). List
/// items this operator does not own are left out, in the order the others have.
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
                .filter_map(|(i, item)| owned_item(owned, i, item).map(|f| project(item, f)))
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

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    use super::super::diff::first_difference;
    use super::*;

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

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    /// [`super::live`]'s comparable value.
    fn projected<K: Resource<DynamicType = ()>>(live: &Map<String, Value>) -> Value {
        super::live::<K>(live).0
    }

    /// Whether the fingerprints say "the same", and what the field-by-field comparison says.
    fn compare<K: Resource<DynamicType = ()>>(
        rendered: &Value,
        live: Value,
    ) -> (bool, Option<String>) {
        let live = map(live);
        (
            of_live(&live) == of_rendered(rendered),
            first_difference(rendered, &projected::<K>(&live)),
        )
    }

    #[test]
    fn the_render_and_the_server_s_copy_of_it_are_the_same() {
        // The server's copy has defaults, another manager, a status and `cpu: 1` for `1000m`.
        assert_eq!(compare::<Deployment>(&rendered(), live()), (true, None));
        let mut expected = rendered();
        expected["metadata"]["uid"] = json!("d-1");
        expected["metadata"]["resourceVersion"] = json!("812");
        expected["metadata"]["generation"] = json!(1);
        expected["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("1");
        assert_eq!(projected::<Deployment>(&map(live())), expected);
    }

    #[test]
    fn server_set_fields_do_not_change_the_fingerprint() {
        let mut other = live();
        other["metadata"]["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
        other["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("7");
        other["metadata"]["managedFields"][1]["time"] = json!("2026-12-01T00:00:00Z");
        other["metadata"]["resourceVersion"] = json!("813");
        other["spec"]["revisionHistoryLimit"] = json!(3);
        other["spec"]["template"]["spec"]["dnsPolicy"] = json!("Default");
        other["status"] = json!({"replicas": 3});
        assert_eq!(of_live(&map(other)), of_live(&map(live())));
    }

    #[test]
    fn quantities_count_by_value_and_empty_values_as_absent() {
        let mut rendered = rendered();
        let container = &mut rendered["spec"]["template"]["spec"]["containers"][0];
        container["resources"]["limits"]["cpu"] = json!("1");
        container["volumeMounts"] = json!([]);
        container["securityContext"] = json!({});
        container["args"] = Value::Null;
        assert_eq!(compare::<Deployment>(&rendered, live()), (true, None));
        rendered["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
            json!("1001m");
        assert_eq!(
            compare::<Deployment>(&rendered, live()),
            (
                false,
                Some("/spec/template/spec/containers/0/resources/limits/cpu".into())
            )
        );
        // A quantity's text elsewhere is only text.
        let mut env = self::rendered();
        env["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("1.0");
        assert!(!compare::<Deployment>(&env, live()).0);
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
        assert_eq!(
            compare::<Deployment>(&rendered(), edited),
            (
                false,
                Some("/spec/template/spec/containers/0/env/0/value".into())
            )
        );
        // Changed while still the operator's: the value is kept, and differs.
        let mut changed = live();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("canton:0.6.0");
        assert_eq!(
            compare::<Deployment>(&rendered(), changed),
            (false, Some("/spec/template/spec/containers/0/image".into()))
        );
        // A label someone removed.
        let mut relabelled = live();
        relabelled["metadata"]["labels"] = json!({});
        disown(
            &mut relabelled,
            "/f:metadata/f:labels",
            "f:app.kubernetes.io/managed-by",
        );
        assert_eq!(
            compare::<Deployment>(&rendered(), relabelled),
            (
                false,
                Some("/metadata/labels/app.kubernetes.io~1managed-by".into())
            )
        );
    }

    #[test]
    fn another_managers_items_annotations_and_containers_are_not_drift() {
        // `kubectl set env`, a sidecar injector and a platform team's annotation: their items are
        // in the lists and maps the operator renders, owned by their managers.
        let mut added = live();
        let pod = &mut added["spec"]["template"]["spec"];
        pod["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "B", "value": "x"}));
        pod["containers"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "proxy", "image": "envoy:1", "ports": [{"containerPort": 9901, "protocol": "TCP"}]}));
        pod["volumes"] = json!([{"name": "proxy-config", "emptyDir": {}}]);
        added["spec"]["template"]["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2026-12-06T04:00:00Z"});
        added["metadata"]["annotations"]["example.com/team"] = json!("payments");
        added["metadata"]["labels"]["example.com/cost-centre"] = json!("42");
        added["metadata"]["ownerReferences"]
            .as_array_mut()
            .unwrap()
            .push(json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "c-9"}));
        added["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({
            "manager": "kubectl-set", "operation": "Update", "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {
                "f:containers": {"k:{\"name\":\"participant\"}": {"f:env": {
                    "k:{\"name\":\"B\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}}}));
        assert_eq!(
            compare::<Deployment>(&rendered(), added.clone()),
            (true, None)
        );
        assert_eq!(
            projected::<Deployment>(&map(added)),
            projected::<Deployment>(&map(live()))
        );
    }

    #[test]
    fn an_owned_item_someone_removed_is_drift() {
        let mut removed = live();
        removed["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
        // The operator's only env item went, and with it the node of the list.
        disown(&mut removed, CONTAINER, "f:env");
        assert_eq!(
            compare::<Deployment>(&rendered(), removed),
            (false, Some("/spec/template/spec/containers/0/env".into()))
        );
    }

    #[test]
    fn without_the_operators_apply_everything_rendered_is_missing() {
        let mut foreign = live();
        foreign["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .remove(0);
        let (same, difference) = compare::<Deployment>(&rendered(), foreign.clone());
        assert!(!same);
        assert!(difference.is_some());
        assert_eq!(
            projected::<Deployment>(&map(foreign))["metadata"]["name"],
            "v1-participant"
        );
    }

    #[test]
    fn a_service_is_its_ports_and_selector_not_its_cluster_ip() {
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
        let rendered = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "v1-participant", "namespace": "ns"},
            "spec": {"selector": {"app": "p"}, "ports": [{"name": "ledger", "port": 5001}]}});
        assert_eq!(compare::<Service>(&rendered, live.clone()), (true, None));
        assert_eq!(
            projected::<Service>(&map(live))["spec"],
            json!({"selector": {"app": "p"}, "ports": [{"name": "ledger", "port": 5001}]})
        );
    }

    #[test]
    fn the_fingerprint_tells_apart_what_text_alone_would_not() {
        // Keys and strings are length-prefixed: moving a character between them is a change.
        let a = json!({"spec": {"ab": "c"}});
        let b = json!({"spec": {"a": "bc"}});
        assert_ne!(of_rendered(&a), of_rendered(&b));
        assert_ne!(
            of_rendered(&json!({"spec": {"x": "1"}})),
            of_rendered(&json!({"spec": {"x": 1}}))
        );
        assert_ne!(
            of_rendered(&json!({"spec": {"x": [1, 2]}})),
            of_rendered(&json!({"spec": {"x": [2, 1]}}))
        );
        // Key order is not a change.
        assert_eq!(
            of_rendered(&json!({"spec": {"x": 1, "y": 2}})),
            of_rendered(&json!({"spec": {"y": 2, "x": 1}}))
        );
    }
}

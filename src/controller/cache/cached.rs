//! How the Validator and backup-pod caches hold an object: the few metadata fields the reflector
//! and the controller read typed, and the rest (but `managedFields` and the last-applied
//! annotation) as compact JSON, LZ4-compressed. The children the operator applies are cached
//! apart, smaller still (`child_cache`).
//!
//! Read the object with [`Cached::to_value`] or [`Cached::decode`] (typed). `ResourceExt` on a
//! `Cached` sees all of its metadata but `managedFields` and the dropped annotation.

use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};

/// Annotations the caches leave out: nothing reads them and they can be as large as the object.
const DROPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

/// Why a cached object could not be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CachedError {
    #[error("the cached JSON does not decompress: {0}")]
    Decompress(#[from] lz4_flex::block::DecompressError),
    #[error("the cached JSON does not decode: {0}")]
    Json(#[from] serde_json::Error),
}

/// One cached object of kind `K`.
pub(crate) struct Cached<K> {
    metadata: ObjectMeta,
    /// The object without `apiVersion`, `kind`, the typed metadata fields, `managedFields` and
    /// the dropped annotations, as LZ4-compressed JSON.
    body: Box<[u8]>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource<DynamicType = ()>> Cached<K> {
    /// The object as cached, for comparing with what the operator renders. `apiVersion` and
    /// `kind` come from the type (the items of a LIST carry none), the typed metadata fields
    /// from [`Resource::meta`].
    pub(crate) fn to_value(&self) -> Result<Value, CachedError> {
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
    pub(crate) fn decode(&self) -> Result<K, CachedError>
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
        meta.remove("managedFields");
        if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
            annotations.retain(|k, _| !DROPPED_ANNOTATIONS.contains(&k.as_str()));
        }
        let metadata = serde_json::from_value(Value::Object(take_kept(&mut meta)))?;
        object.insert("metadata".into(), Value::Object(meta));
        let kept = object;
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

/// The metadata fields kept typed: what the reflector keys by, the owner triggers follow and
/// `ResourceExt` reads.
const KEPT_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "deletionTimestamp",
    "ownerReferences",
    "labels",
    "annotations",
];

#[cfg(test)]
impl<K: Resource<DynamicType = ()> + Serialize> Cached<K> {
    /// The cached form of a typed object.
    pub(crate) fn from_typed(object: &K) -> Result<Self, serde_json::Error> {
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

/// Makes `$wrapper<K>`, which holds an object of kind `K` in another shape and its metadata in a
/// `metadata` field, the same API resource as `K`: watched, listed and cached like it.
macro_rules! same_resource_as_kind {
    ($wrapper:ident) => {
        impl<K: kube::Resource<DynamicType = ()>> kube::Resource for $wrapper<K> {
            type DynamicType = ();
            type Scope = K::Scope;

            fn kind(dt: &()) -> std::borrow::Cow<'_, str> {
                K::kind(dt)
            }

            fn group(dt: &()) -> std::borrow::Cow<'_, str> {
                K::group(dt)
            }

            fn version(dt: &()) -> std::borrow::Cow<'_, str> {
                K::version(dt)
            }

            fn api_version(dt: &()) -> std::borrow::Cow<'_, str> {
                K::api_version(dt)
            }

            fn plural(dt: &()) -> std::borrow::Cow<'_, str> {
                K::plural(dt)
            }

            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
pub(super) use same_resource_as_kind;

same_resource_as_kind!(Cached);

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use kube::ResourceExt;
    use serde_json::json;

    use super::*;

    /// A backup Job's pod as a 1.33 apiserver returns it.
    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "v1-identity-backup-29001-abcde",
                "namespace": "ns",
                "uid": "p-1",
                "resourceVersion": "812",
                "creationTimestamp": "2026-11-30T06:00:00Z",
                "labels": {"app.kubernetes.io/instance": "v1"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"huge\": true}"
                },
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                    "name": "v1-identity-backup-29001", "uid": "j-1", "controller": true}],
                "managedFields": [
                    {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                     "time": "2026-11-30T06:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}
                ]
            },
            "spec": {"containers": [{"name": "backup", "image": "x"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "backup", "image": "x",
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "message": "ok"}}}]}
        })
    }

    #[test]
    fn keeps_everything_but_managed_fields_and_the_last_applied_annotation() {
        let pod = pod();
        let cached: Cached<Pod> = serde_json::from_value(pod.clone()).unwrap();
        let mut expected = pod;
        let meta = expected["metadata"].as_object_mut().unwrap();
        meta.remove("managedFields");
        meta["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
        assert_eq!(cached.to_value().unwrap(), expected);
        let typed = cached.decode().unwrap();
        assert_eq!(Cached::from_typed(&typed).unwrap().decode().unwrap(), typed);
        assert_eq!(cached.name_any(), "v1-identity-backup-29001-abcde");
        assert_eq!(cached.owner_references()[0].uid, "j-1");
        assert_eq!(cached.labels()["app.kubernetes.io/instance"], "v1");
        assert!(cached.annotations().is_empty());
        assert_eq!(typed.labels()["app.kubernetes.io/instance"], "v1");
    }

    #[test]
    fn list_items_without_api_version_and_kind_get_them_from_the_type() {
        let mut item = pod();
        let object = item.as_object_mut().unwrap();
        object.remove("apiVersion");
        object.remove("kind");
        let cached: Cached<Pod> = serde_json::from_value(item).unwrap();
        let value = cached.to_value().unwrap();
        assert_eq!(value["apiVersion"], "v1");
        assert_eq!(value["kind"], "Pod");
    }

    #[test]
    fn is_the_same_api_resource() {
        assert_eq!(Cached::<Pod>::plural(&()), "pods");
        assert_eq!(Cached::<Pod>::api_version(&()), "v1");
        assert_eq!(
            Cached::<Pod>::url_path(&(), Some("ns")),
            Pod::url_path(&(), Some("ns"))
        );
    }

    #[test]
    fn holds_an_object_in_a_fraction_of_its_json() {
        let cached: Cached<Pod> = serde_json::from_value(pod()).unwrap();
        let json = serde_json::to_vec(&pod()).unwrap();
        assert!(
            cached.body.len() * 2 < json.len(),
            "{} * 2 >= {}",
            cached.body.len(),
            json.len()
        );
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        assert!(serde_json::from_value::<Cached<Pod>>(json!([1])).is_err());
        assert!(serde_json::from_value::<Cached<Pod>>(json!({"metadata": "x"})).is_err());
    }
}

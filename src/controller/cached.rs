//! How the caches hold an object: the few metadata fields the reflector and the controller's
//! owner triggers read, typed, and the whole object as the compact JSON the API server sent,
//! LZ4-compressed. A typed `k8s-openapi` Deployment takes about 15 KiB of memory, its JSON about
//! 3 KiB, compressed about 1 KiB; at 1,000 validators the caches are most of the operator's
//! memory (docs/performance.md, "Reconciler at scale").
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

/// Annotations the caches leave out: nothing reads them and they can be as large as the object.
const DROPPED_ANNOTATIONS: &[&str] = &["kubectl.kubernetes.io/last-applied-configuration"];

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
    /// The object without `apiVersion`, `kind` and `managedFields`, as LZ4-compressed JSON.
    body: Box<[u8]>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource<DynamicType = ()>> Cached<K> {
    /// The object as JSON (less `managedFields`), for comparing with what the operator renders.
    /// `apiVersion` and `kind` come from the type: the items of a LIST carry none.
    pub fn to_value(&self) -> Result<Value, CachedError> {
        let json = lz4_flex::block::decompress_size_prepended(&self.body)?;
        let mut object: Map<String, Value> = serde_json::from_slice(&json)?;
        object.insert("apiVersion".into(), K::api_version(&()).into());
        object.insert("kind".into(), K::kind(&()).into());
        Ok(Value::Object(object))
    }

    /// The object, typed.
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
        let metadata = match object.get_mut("metadata") {
            None => ObjectMeta::default(),
            Some(Value::Object(meta)) => {
                meta.remove("managedFields");
                if let Some(Value::Object(annotations)) = meta.get_mut("annotations") {
                    annotations.retain(|k, _| !DROPPED_ANNOTATIONS.contains(&k.as_str()));
                }
                serde_json::from_value(Value::Object(Map::from_iter(
                    meta.iter()
                        .filter(|(k, _)| KEPT_METADATA.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone())),
                )))?
            }
            Some(_) => return Err(serde_json::Error::custom("metadata is not an object")),
        };
        let json = serde_json::to_vec(&object)?;
        let body = lz4_flex::block::compress_prepend_size(&json).into_boxed_slice();
        Ok(Self {
            metadata,
            body,
            kind: PhantomData,
        })
    }
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
    use kube::ResourceExt;
    use serde_json::json;

    use super::*;

    fn live_deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "v1-participant",
                "namespace": "ns",
                "labels": {"app.kubernetes.io/managed-by": "canton-operator"},
                "annotations": {
                    "deployment.kubernetes.io/revision": "1",
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"huge\": true}"
                },
                "ownerReferences": [{"apiVersion": "canton-operator.dev/v1alpha1", "kind": "Validator",
                    "name": "v1", "uid": "u-1", "controller": true}],
                "managedFields": [{"manager": "canton-operator", "operation": "Apply"}],
                "generation": 3
            },
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "participant", "image": "x"}]}}},
            "status": {"observedGeneration": 3, "availableReplicas": 1}
        })
    }

    #[test]
    fn keeps_everything_but_managed_fields_and_the_last_applied_annotation() {
        let cached: Cached<Deployment> = serde_json::from_value(live_deployment()).unwrap();
        let mut expected = live_deployment();
        let meta = expected["metadata"].as_object_mut().unwrap();
        meta.remove("managedFields");
        meta["annotations"]
            .as_object_mut()
            .unwrap()
            .remove("kubectl.kubernetes.io/last-applied-configuration");
        assert_eq!(cached.to_value().unwrap(), expected);
        assert_eq!(cached.name_any(), "v1-participant");
        assert_eq!(cached.owner_references()[0].uid, "u-1");
        assert_eq!(cached.meta().generation, Some(3));
        // Labels and annotations live in the JSON only.
        assert!(cached.labels().is_empty());
        assert!(cached.meta().managed_fields.is_none());
    }

    #[test]
    fn decodes_back_to_the_typed_object() {
        let cached: Cached<Deployment> = serde_json::from_value(live_deployment()).unwrap();
        let deployment = cached.decode().unwrap();
        assert_eq!(deployment.metadata.generation, Some(3));
        assert_eq!(
            deployment
                .status
                .as_ref()
                .and_then(|s| s.available_replicas),
            Some(1)
        );
        let again = Cached::from_typed(&deployment).unwrap();
        assert_eq!(again.decode().unwrap(), deployment);
    }

    #[test]
    fn list_items_without_api_version_and_kind_get_them_from_the_type() {
        let mut item = live_deployment();
        let object = item.as_object_mut().unwrap();
        object.remove("apiVersion");
        object.remove("kind");
        let cached: Cached<Deployment> = serde_json::from_value(item).unwrap();
        let value = cached.to_value().unwrap();
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
    fn holds_a_deployment_in_less_than_its_json() {
        let cached: Cached<Deployment> = serde_json::from_value(live_deployment()).unwrap();
        let json = serde_json::to_vec(&live_deployment()).unwrap();
        assert!(
            cached.body.len() < json.len(),
            "{} >= {}",
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

//! "Is this child current?": the one answer the apply, the rollout plan and drift correction
//! use. From the child cache when it can (the fingerprint of what the operator's apply owns, or a
//! render already accepted), else by reading the child once and comparing what the operator owns
//! of it field by field.

use std::fmt::Debug;

use kube::Client;
use kube::api::Api;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::child_cache::ChildCache;
use super::diff::first_difference;
use super::projection::{self, Fingerprint};
use crate::controller::error::{Error, Result};
use crate::render;

/// A namespaced child kind this operator caches, compares and deletes.
pub(crate) trait Child:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
{
}

impl<K> Child for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
{
}

/// Whether a child says what its render says: the one answer the apply, the rollout plan and
/// drift correction use.
pub(crate) enum Current {
    /// Not there: to be created.
    Absent,
    /// Says what the render says, by the cache's fingerprint or accepted render, or read and
    /// compared field by field (and then remembered, so it is not read again).
    Yes,
    /// Read, and a field the operator's apply owns differs (or was taken by another manager).
    No(Live),
}

/// Answers [`Current`] for one rendered child (`desired_json` is `desired` encoded): from the
/// cache when it can, else by reading the child once with `client`.
pub(crate) async fn current<K: Child + Serialize>(
    desired: &K,
    desired_json: &Value,
    cache: &ChildCache<K>,
    client: &Client,
) -> Result<Current> {
    let namespace = desired.namespace().ok_or(Error::MissingNamespace)?;
    let name = desired.name_any();
    let rendered = projection::of_rendered(desired_json);
    Ok(match cache.get(&namespace, &name) {
        None => Current::Absent,
        Some(kept) if kept.matches(rendered) => Current::Yes,
        Some(_) => match live::<K>(client, &namespace, &name).await? {
            None => Current::Absent,
            Some(live) if !differs(desired, desired_json, &live) => {
                cache.accept(&namespace, &name, live.fingerprint, rendered);
                Current::Yes
            }
            Some(live) => Current::No(live),
        },
    })
}

/// Whether the live child fails to say what the render says, logged either way: where it differs
/// when it does (it is applied again), at debug when the fingerprints differed but the fields do
/// not (it is left as it is).
fn differs<K: Resource<DynamicType = ()>>(desired: &K, desired_json: &Value, live: &Live) -> bool {
    match first_difference(desired_json, &live.value) {
        None => {
            tracing::debug!(child = %render::describe(desired), "a child whose fingerprint differs from the render's says everything the render says: left as it is");
            false
        }
        Some(path) => {
            tracing::info!(child = %render::describe(desired), %path, "re-applying a child that differs from the rendered one");
            true
        }
    }
}

/// A child as the API server has it now, projected to what the operator's apply owns.
pub(crate) struct Live {
    /// Comparable with `diff::first_difference` against the render.
    pub value: Value,
    /// As the child cache would keep it.
    pub fingerprint: Fingerprint,
}

impl Live {
    pub(crate) fn resource_version(&self) -> Option<&str> {
        self.value
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
    }
}

/// Reads a child whose cached fingerprint differs from the render's, to compare it field by
/// field and say where it differs (a read, not a write: it happens only on a difference).
async fn live<K: Child + Serialize>(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Live>> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let Some(object) = api.get_opt(name).await.map_err(Error::api(
        "reading",
        format!("{} {namespace}/{name}", K::kind(&())),
    ))?
    else {
        return Ok(None);
    };
    let Value::Object(object) = serde_json::to_value(&object).map_err(|source| Error::Encode {
        what: "a live child object",
        source,
    })?
    else {
        return Ok(None);
    };
    let (value, fingerprint) = projection::live::<K>(&object);
    Ok(Some(Live { value, fingerprint }))
}

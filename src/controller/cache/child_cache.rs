//! The caches of the children the operator applies (Deployments, Services, ServiceAccounts,
//! NetworkPolicies, CronJobs): per child, only what a reconcile reads.
//!
//! A reconcile asks of a child whether it says what the render says, whose it is (labels and
//! owners, before deleting it), whether it is part of a rollout, and of a Deployment whether it is
//! available. So each child is kept as the [`Fingerprint`] of what this operator's apply owns of
//! it, two labels, its owners' uids and, for a Deployment, its replica counts: about 300 bytes
//! instead of the object. At 1,000 validators the caches were most of the operator's memory
//! (docs/performance.md, "Memory"). When a fingerprint differs from the render's, the child is
//! read from the API server and compared field by field (`current::current`).
//!
//! The watch decodes each event into a [`Seen`] (the kept fields and the metadata the controller's
//! owner triggers and echo check read) straight from the API server's JSON; nothing else of the
//! object outlives the event.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::watcher;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::projection::{self, Fingerprint};
use crate::render::{INSTANCE, MANAGED_BY, MANAGER, ROLLOUT as ROLLOUT_LABEL};

/// What the cache keeps of one child.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kept {
    /// Of what this operator's apply owns of the child.
    pub fingerprint: Fingerprint,
    /// A render whose fingerprint differs but that is known to say what the child says: it was
    /// compared field by field with the child, or applied and answered with it (a spelling the
    /// fingerprint does not normalise, a value a mutating webhook sets). It holds while the
    /// child's owned fields are the ones it was known for, whatever else changes.
    accepted: Option<Accepted>,
    /// `app.kubernetes.io/instance`, when the child is labelled managed by this operator.
    instance: Option<Box<str>>,
    /// The uids of its owners.
    owners: Box<[Box<str>]>,
    /// Labelled as part of a rollout that holds a slot.
    pub rollout_marked: bool,
    /// Being deleted already (a `deletionTimestamp`): pruning does not ask again.
    deleting: bool,
    /// Of a Deployment: what `conditions::is_available` reads.
    workload: Option<Box<Workload>>,
}

/// A render's fingerprint known to say what the child with fingerprint `live` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Accepted {
    live: Fingerprint,
    rendered: Fingerprint,
}

/// A Deployment's generation, wanted replicas and replica counts.
#[derive(Debug, Clone, PartialEq, Default)]
struct Workload {
    generation: Option<i64>,
    replicas: Option<i32>,
    status: Option<DeploymentStatus>,
}

impl Kept {
    /// Whether a render with this fingerprint says what the child says.
    pub(crate) fn matches(&self, rendered: Fingerprint) -> bool {
        self.fingerprint == rendered
            || self.accepted
                == Some(Accepted {
                    live: self.fingerprint,
                    rendered,
                })
    }

    /// Labelled as managed by this operator for `instance`, and owned by the object with `uid`.
    pub(crate) fn belongs_to(&self, instance: &str, uid: &str) -> bool {
        self.instance.as_deref() == Some(instance) && self.owners.iter().any(|o| &**o == uid)
    }

    /// A Deployment with what the cache has of it (generation, replicas, status counts); `None`
    /// for other kinds.
    pub(crate) fn deployment(&self) -> Option<Deployment> {
        let workload = self.workload.as_deref()?;
        Some(Deployment {
            metadata: ObjectMeta {
                generation: workload.generation,
                ..ObjectMeta::default()
            },
            spec: Some(DeploymentSpec {
                replicas: workload.replicas,
                ..DeploymentSpec::default()
            }),
            status: workload.status.clone(),
        })
    }

    /// What to keep of a child's JSON.
    fn of(object: &Map<String, Value>, meta: &Map<String, Value>, deployment: bool) -> Self {
        let labels = meta.get("labels").and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let instance = (label(MANAGED_BY) == Some(MANAGER))
            .then(|| label(INSTANCE).map(Box::from))
            .flatten();
        let owners = meta
            .get("ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("uid").and_then(Value::as_str).map(Box::from))
            .collect();
        Self {
            fingerprint: projection::of_live(object),
            accepted: None,
            instance,
            owners,
            rollout_marked: label(ROLLOUT_LABEL).is_some(),
            deleting: meta.get("deletionTimestamp").is_some_and(|t| !t.is_null()),
            workload: deployment.then(|| Box::new(Workload::of(object, meta))),
        }
    }
}

impl Workload {
    fn of(object: &Map<String, Value>, meta: &Map<String, Value>) -> Self {
        let int = |v: Option<&Value>| v.and_then(Value::as_i64);
        let status = object.get("status").and_then(Value::as_object).map(|s| {
            let count = |k: &str| int(s.get(k)).and_then(|n| i32::try_from(n).ok());
            DeploymentStatus {
                observed_generation: int(s.get("observedGeneration")),
                replicas: count("replicas"),
                updated_replicas: count("updatedReplicas"),
                ready_replicas: count("readyReplicas"),
                available_replicas: count("availableReplicas"),
                ..DeploymentStatus::default()
            }
        });
        Self {
            generation: int(meta.get("generation")),
            replicas: int(object.get("spec").and_then(|s| s.get("replicas")))
                .and_then(|n| i32::try_from(n).ok()),
            status,
        }
    }
}

/// One watch event's object of kind `K`: what the cache keeps, and the metadata the controller's
/// owner triggers (owner references) and the echo check (resourceVersion) read.
pub(crate) struct Seen<K> {
    metadata: ObjectMeta,
    kept: Kept,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource<DynamicType = ()>> Seen<K> {
    fn from_object(object: &Map<String, Value>) -> Result<Self, serde_json::Error> {
        let meta = match object.get("metadata") {
            None => &Map::new(),
            Some(Value::Object(meta)) => meta,
            Some(_) => return Err(serde_json::Error::custom("metadata is not an object")),
        };
        let identity: Map<String, Value> = IDENTITY
            .iter()
            .filter_map(|k| meta.get(*k).map(|v| ((*k).to_string(), v.clone())))
            .collect();
        let deployment = K::group(&()) == "apps" && K::kind(&()) == "Deployment";
        Ok(Self {
            metadata: serde_json::from_value(Value::Object(identity))?,
            kept: Kept::of(object, meta, deployment),
            kind: PhantomData,
        })
    }
}

/// The metadata fields a [`Seen`] keeps typed.
const IDENTITY: [&str; 5] = [
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "ownerReferences",
];

/// Decoded straight from the API server's JSON.
impl<'de, K: Resource<DynamicType = ()>> Deserialize<'de> for Seen<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_object(&object).map_err(D::Error::custom)
    }
}

impl<K> Clone for Seen<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            kept: self.kept.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Resource<DynamicType = ()>> fmt::Debug for Seen<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seen")
            .field("kind", &K::kind(&()))
            .field("namespace", &self.metadata.namespace)
            .field("name", &self.metadata.name)
            .finish()
    }
}

super::cached::same_resource_as_kind!(Seen);

type Entries = HashMap<Box<str>, Kept>;

/// The cache of one child kind: [`Kept`] by `namespace/name`. Cheap to clone.
pub(crate) struct ChildCache<K> {
    inner: Arc<RwLock<Entries>>,
    ready: watch::Receiver<bool>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for ChildCache<K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            ready: self.ready.clone(),
            kind: PhantomData,
        }
    }
}

fn key(namespace: &str, name: &str) -> Box<str> {
    format!("{namespace}/{name}").into_boxed_str()
}

impl<K> ChildCache<K> {
    /// An empty cache and the writer that fills it from a watch.
    pub(crate) fn new() -> (Self, ChildCacheWriter<K>) {
        let inner = Arc::new(RwLock::new(Entries::new()));
        let (ready_tx, ready) = watch::channel(false);
        let cache = Self {
            inner: inner.clone(),
            ready,
            kind: PhantomData,
        };
        let writer = ChildCacheWriter {
            inner,
            listing: None,
            ready: ready_tx,
            kind: PhantomData,
        };
        (cache, writer)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Entries> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the cache has of `namespace/name`.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<Kept> {
        self.read().get(&key(namespace, name)).cloned()
    }

    /// Notes that a render with fingerprint `rendered` says what the child whose fingerprint is
    /// `live` says (compared field by field), so no later reconcile reads or writes it while its
    /// owned fields stay so.
    pub(crate) fn accept(
        &self,
        namespace: &str,
        name: &str,
        live: Fingerprint,
        rendered: Fingerprint,
    ) {
        if let Some(kept) = self.write().get_mut(&key(namespace, name)) {
            kept.accepted = Some(Accepted { live, rendered });
        }
    }

    /// Keeps the server's answer to applying a render with fingerprint `rendered`, before its
    /// watch event arrives: what the server made of the render is what applying it again would
    /// make, so it is accepted for it (a value a mutating webhook sets is not applied again and
    /// again), and the next reconcile reads the child as written.
    pub(crate) fn applied(&self, answer: &Seen<K>, rendered: Fingerprint) {
        if let Some(k) = entry_key(answer) {
            let mut kept = answer.kept.clone();
            kept.accepted = Some(Accepted {
                live: kept.fingerprint,
                rendered,
            });
            self.write().insert(k, kept);
        }
    }

    /// The names of the children in `namespace` labelled as managed by this operator for
    /// `instance` and owned by the object with `uid`, and not being deleted yet (what pruning may
    /// delete).
    pub(crate) fn belonging_to(&self, namespace: &str, instance: &str, uid: &str) -> Vec<String> {
        let prefix = format!("{namespace}/");
        self.read()
            .iter()
            .filter(|(_, kept)| !kept.deleting && kept.belongs_to(instance, uid))
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(String::from))
            .collect()
    }

    /// `(namespace, instance)` of every child labelled as part of a rollout.
    pub(crate) fn marked_instances(&self) -> Vec<(String, String)> {
        self.read()
            .iter()
            .filter(|(_, kept)| kept.rollout_marked)
            .filter_map(|(key, kept)| {
                let (namespace, _) = key.split_once('/')?;
                Some((namespace.to_string(), kept.instance.as_deref()?.to_string()))
            })
            .collect()
    }

    /// Resolves once the first list has been stored.
    pub(crate) async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }
}

/// Fills a [`ChildCache`] from its watch, as kube's reflector fills a store: a (re)list is
/// gathered apart and replaces the cache when complete. A child's accepted render is carried
/// from one version of it to the next (it holds only while the owned fields are the same).
pub(crate) struct ChildCacheWriter<K> {
    inner: Arc<RwLock<Entries>>,
    listing: Option<Entries>,
    ready: watch::Sender<bool>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Resource<DynamicType = ()>> ChildCacheWriter<K> {
    /// Applies one watch event.
    pub(crate) fn apply(&mut self, event: &watcher::Event<Seen<K>>) {
        match event {
            watcher::Event::Apply(seen) => {
                if let Some(k) = entry_key(seen) {
                    let mut entries = self.write();
                    let mut kept = seen.kept.clone();
                    kept.accepted = entries.get(&k).and_then(|old| old.accepted);
                    entries.insert(k, kept);
                }
            }
            watcher::Event::Delete(seen) => {
                if let Some(k) = entry_key(seen) {
                    self.write().remove(&k);
                }
            }
            watcher::Event::Init => self.listing = Some(HashMap::new()),
            watcher::Event::InitApply(seen) => {
                if let (Some(listing), Some(k)) = (self.listing.as_mut(), entry_key(seen)) {
                    listing.insert(k, seen.kept.clone());
                }
            }
            watcher::Event::InitDone => {
                if let Some(mut listing) = self.listing.take() {
                    let mut entries = self.write();
                    for (k, kept) in &mut listing {
                        kept.accepted = entries.get(k).and_then(|old| old.accepted);
                    }
                    listing.shrink_to_fit();
                    *entries = listing;
                }
                self.ready.send_replace(true);
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn entry_key<K>(seen: &Seen<K>) -> Option<Box<str>> {
    Some(key(
        seen.metadata.namespace.as_deref()?,
        seen.metadata.name.as_deref()?,
    ))
}

#[cfg(test)]
impl<K: Resource<DynamicType = ()>> Seen<K> {
    /// A watch event's object, from its JSON.
    pub(crate) fn from_json(object: Value) -> Self {
        let Value::Object(map) = object else {
            panic!("a Kubernetes object is a JSON object");
        };
        Self::from_object(&map).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    use super::*;
    use crate::controller::conditions::is_available;

    /// A participant Deployment as a 1.33 apiserver sends it in a watch event.
    fn deployment(name: &str, image: &str, rollout: bool) -> Value {
        let mut labels = json!({"app.kubernetes.io/managed-by": "canton-operator",
            "app.kubernetes.io/instance": "v1"});
        if rollout {
            labels[ROLLOUT_LABEL] = json!("holds-slot");
        }
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "uid": "d-1", "resourceVersion": "7",
                "generation": 2, "labels": labels,
                "ownerReferences": [{"apiVersion": "canton-operator.dev/v1alpha1", "kind": "Validator",
                    "name": "v1", "uid": "u-1", "controller": true}],
                "managedFields": [{"manager": "canton-operator", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                        "k:{\"name\":\"participant\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}}]},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "participant", "image": image,
                "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
        })
    }

    fn rendered(image: &str) -> Fingerprint {
        projection::of_rendered(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "v1-participant", "namespace": "ns"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "participant", "image": image}]}}}}))
    }

    fn seen(object: Value) -> Seen<Deployment> {
        Seen::from_json(object)
    }

    #[test]
    fn keeps_what_a_reconcile_reads() {
        let seen = seen(deployment("v1-participant", "canton:0.7.4", true));
        let kept = &seen.kept;
        assert!(kept.matches(rendered("canton:0.7.4")));
        assert!(!kept.matches(rendered("canton:0.7.3")));
        assert!(kept.belongs_to("v1", "u-1"));
        assert!(!kept.belongs_to("v1", "u-2"));
        assert!(!kept.belongs_to("v2", "u-1"));
        assert!(kept.rollout_marked);
        let typed = kept.deployment().unwrap();
        assert!(is_available(&typed));
        assert_eq!(typed.metadata.generation, Some(2));
        // The owner triggers and the echo check read these.
        assert_eq!(seen.meta().owner_references.as_ref().unwrap()[0].uid, "u-1");
        assert_eq!(seen.meta().resource_version.as_deref(), Some("7"));
    }

    #[test]
    fn a_child_not_labelled_as_ours_belongs_to_no_validator() {
        let mut object = deployment("v1-participant", "canton:0.7.4", false);
        object["metadata"]["labels"]["app.kubernetes.io/managed-by"] = json!("helm");
        let seen = seen(object);
        assert!(!seen.kept.belongs_to("v1", "u-1"));
        assert!(!seen.kept.rollout_marked);
    }

    #[test]
    fn only_deployments_keep_replica_counts() {
        let service: Seen<Service> =
            Seen::from_json(json!({"metadata": {"name": "s", "namespace": "ns"},
            "spec": {"ports": [{"port": 1}]}, "status": {"loadBalancer": {}}}));
        assert_eq!(service.kept.deployment(), None);
    }

    #[test]
    fn a_list_replaces_the_cache_when_complete() {
        let (cache, mut writer) = ChildCache::<Deployment>::new();
        writer.apply(&watcher::Event::Apply(seen(deployment("old", "a", false))));
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitApply(seen(deployment(
            "v1-participant",
            "a",
            false,
        ))));
        // Until the list is complete the cache is what it was.
        assert!(cache.get("ns", "old").is_some());
        assert!(cache.get("ns", "v1-participant").is_none());
        writer.apply(&watcher::Event::InitDone);
        assert!(cache.get("ns", "old").is_none());
        assert!(cache.get("ns", "v1-participant").is_some());
        writer.apply(&watcher::Event::Delete(seen(deployment(
            "v1-participant",
            "a",
            false,
        ))));
        assert!(cache.get("ns", "v1-participant").is_none());
    }

    #[tokio::test]
    async fn is_ready_after_the_first_list() {
        let (cache, mut writer) = ChildCache::<Deployment>::new();
        let waiting = tokio::spawn({
            let cache = cache.clone();
            async move { cache.wait_until_ready().await }
        });
        writer.apply(&watcher::Event::Init);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        writer.apply(&watcher::Event::InitDone);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn an_accepted_render_holds_until_the_owned_fields_change() {
        let (cache, mut writer) = ChildCache::<Deployment>::new();
        let first = seen(deployment("v1-participant", "a", false));
        let live = first.kept.fingerprint;
        writer.apply(&watcher::Event::Apply(first));
        let other = rendered("b");
        let matches = |r| cache.get("ns", "v1-participant").unwrap().matches(r);
        assert!(!matches(other));
        // Accepted against another version of the child: no match for this one.
        cache.accept("ns", "v1-participant", rendered("zzz"), other);
        assert!(!matches(other));
        cache.accept("ns", "v1-participant", live, other);
        assert!(matches(other));
        // A new version with the same owned fields (a status change, say) keeps the memo, a
        // relist too; one whose owned fields changed is compared afresh.
        let mut status = deployment("v1-participant", "a", false);
        status["status"]["readyReplicas"] = json!(0);
        writer.apply(&watcher::Event::Apply(seen(status)));
        assert!(matches(other));
        writer.apply(&watcher::Event::Init);
        writer.apply(&watcher::Event::InitApply(seen(deployment(
            "v1-participant",
            "a",
            false,
        ))));
        writer.apply(&watcher::Event::InitDone);
        assert!(matches(other));
        writer.apply(&watcher::Event::Apply(seen(deployment(
            "v1-participant",
            "c",
            false,
        ))));
        assert!(!matches(other));
    }

    #[test]
    fn an_applied_answer_is_kept_at_once_and_its_render_accepted() {
        let (cache, mut writer) = ChildCache::<Deployment>::new();
        let created = seen(deployment("v1-participant", "a", false));
        let other = rendered("b");
        // Not yet seen by the watch: a memo alone has nothing to hold on to.
        cache.accept("ns", "v1-participant", created.kept.fingerprint, other);
        assert!(cache.get("ns", "v1-participant").is_none());
        cache.applied(&created, other);
        assert!(cache.get("ns", "v1-participant").unwrap().matches(other));
        // Its watch event (the same owned fields) keeps the memo.
        writer.apply(&watcher::Event::Apply(created));
        assert!(cache.get("ns", "v1-participant").unwrap().matches(other));
    }

    #[test]
    fn children_belonging_to_a_validator_whatever_their_names() {
        let (cache, mut writer) = ChildCache::<Deployment>::new();
        for name in ["v1-participant", "v1-old-name", "other"] {
            writer.apply(&watcher::Event::Apply(seen(deployment(name, "a", false))));
        }
        let mut unlabelled = deployment("v1-unlabelled", "a", false);
        unlabelled["metadata"]["labels"] = json!({});
        writer.apply(&watcher::Event::Apply(seen(unlabelled)));
        let mut foreign = deployment("v1-foreign", "a", false);
        foreign["metadata"]["ownerReferences"][0]["uid"] = json!("u-2");
        writer.apply(&watcher::Event::Apply(seen(foreign)));
        let mut going = deployment("v1-going", "a", false);
        going["metadata"]["deletionTimestamp"] = json!("2026-12-06T05:00:00Z");
        writer.apply(&watcher::Event::Apply(seen(going)));
        let mut names = cache.belonging_to("ns", "v1", "u-1");
        names.sort();
        assert_eq!(names, ["other", "v1-old-name", "v1-participant"]);
        assert!(cache.belonging_to("elsewhere", "v1", "u-1").is_empty());
    }

    #[test]
    fn marked_children_name_their_validator() {
        let (cache, mut writer) = ChildCache::<Deployment>::new();
        writer.apply(&watcher::Event::Apply(seen(deployment(
            "v1-participant",
            "a",
            true,
        ))));
        writer.apply(&watcher::Event::Apply(seen(deployment(
            "v1-validator-app",
            "a",
            false,
        ))));
        assert_eq!(
            cache.marked_instances(),
            vec![("ns".to_string(), "v1".to_string())]
        );
    }
}

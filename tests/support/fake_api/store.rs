//! Object storage, the global resourceVersion counter, the watch history and
//! the indexes that keep requests cheap with tens of thousands of objects.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use super::managed::ManagedEntry;
use super::registry::ResourceId;

/// Identifies a stored object. The namespace is empty for cluster-scoped
/// objects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjKey {
    pub(crate) group: String,
    pub(crate) plural: String,
    pub(crate) namespace: String,
    pub(crate) name: String,
}

impl ObjKey {
    pub(crate) fn resource(&self) -> ResourceId {
        (self.group.clone(), self.plural.clone())
    }
}

/// A stored object: its JSON (with `metadata.managedFields` rendered) and the
/// parsed ownership used by apply and updates.
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) obj: Arc<Value>,
    pub(crate) managed: Vec<ManagedEntry>,
}

/// The type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change in the history that watches replay.
#[derive(Clone)]
pub(crate) struct Change {
    pub(crate) rv: u64,
    pub(crate) resource: ResourceId,
    pub(crate) namespace: String,
    pub(crate) event: EventType,
    pub(crate) obj: Arc<Value>,
    /// The object before a modification, so watches with selectors can turn
    /// "stopped matching" into DELETED and "started matching" into ADDED.
    pub(crate) prev: Option<Arc<Value>>,
}

/// Asked for history that has been compacted away.
pub(crate) struct Gone {
    pub(crate) requested: u64,
    pub(crate) oldest: u64,
}

/// Objects of one resource, by namespace then name.
type Objects = BTreeMap<String, BTreeMap<String, Stored>>;

/// All objects plus the history.
pub(crate) struct Store {
    objects: HashMap<ResourceId, Objects>,
    rv: u64,
    uid_counter: u64,
    history: VecDeque<Change>,
    /// Highest resourceVersion whose change is no longer in `history`.
    compacted: u64,
    pub(crate) history_limit: usize,
    by_uid: HashMap<String, ObjKey>,
    /// owner uid -> dependents naming it in `ownerReferences`.
    dependents: HashMap<String, BTreeSet<ObjKey>>,
}

impl Store {
    pub(crate) fn new(history_limit: usize) -> Self {
        Store {
            objects: HashMap::new(),
            rv: 1,
            uid_counter: 0,
            history: VecDeque::new(),
            compacted: 0,
            history_limit,
            by_uid: HashMap::new(),
            dependents: HashMap::new(),
        }
    }

    /// The current (latest) resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Deterministic, unique uid.
    pub(crate) fn new_uid(&mut self) -> String {
        self.uid_counter += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uid_counter)
    }

    pub(crate) fn get(&self, key: &ObjKey) -> Option<&Stored> {
        self.objects
            .get(&key.resource())?
            .get(&key.namespace)?
            .get(&key.name)
    }

    /// Objects of a resource, in one namespace or all, ordered by
    /// (namespace, name).
    pub(crate) fn list<'s>(
        &'s self,
        resource: &ResourceId,
        namespace: Option<&'s str>,
    ) -> Box<dyn Iterator<Item = (&'s String, &'s Stored)> + 's> {
        let Some(by_ns) = self.objects.get(resource) else {
            return Box::new(std::iter::empty());
        };
        match namespace {
            Some(ns) => Box::new(by_ns.get(ns).into_iter().flat_map(|m| m.iter())),
            None => Box::new(by_ns.values().flat_map(|m| m.iter())),
        }
    }

    /// Number of objects of a resource in a namespace (all if `None`).
    pub(crate) fn count(&self, resource: &ResourceId, namespace: Option<&str>) -> usize {
        self.list(resource, namespace).count()
    }

    /// Stores `obj` (whose resourceVersion the caller took from
    /// [`Store::next_rv`]) and records the change.
    pub(crate) fn put(&mut self, key: ObjKey, stored: Stored, rv: u64) {
        let prev = self.get(&key).map(|s| s.obj.clone());
        if let Some(p) = &prev {
            self.unindex(&key, p);
        }
        self.index(&key, &stored.obj);
        self.record(Change {
            rv,
            resource: key.resource(),
            namespace: key.namespace.clone(),
            event: if prev.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            },
            obj: stored.obj.clone(),
            prev,
        });
        self.objects
            .entry(key.resource())
            .or_default()
            .entry(key.namespace.clone())
            .or_default()
            .insert(key.name, stored);
    }

    /// Removes an object; `final_obj` (with the deletion's resourceVersion)
    /// is what watchers see in the DELETED event.
    pub(crate) fn remove(&mut self, key: &ObjKey, final_obj: Arc<Value>, rv: u64) {
        let Some(by_ns) = self.objects.get_mut(&key.resource()) else {
            return;
        };
        let Some(names) = by_ns.get_mut(&key.namespace) else {
            return;
        };
        if let Some(old) = names.remove(&key.name) {
            if names.is_empty() {
                by_ns.remove(&key.namespace);
            }
            self.unindex(key, &old.obj);
            self.record(Change {
                rv,
                resource: key.resource(),
                namespace: key.namespace.clone(),
                event: EventType::Deleted,
                obj: final_obj,
                prev: Some(old.obj),
            });
        }
    }

    /// Allocates the next resourceVersion.
    pub(crate) fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    fn record(&mut self, change: Change) {
        self.history.push_back(change);
        while self.history.len() > self.history_limit {
            if let Some(c) = self.history.pop_front() {
                self.compacted = c.rv;
            }
        }
    }

    /// Forgets all history up to now, like an etcd compaction.
    pub(crate) fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// Changes strictly after `rv`, or [`Gone`] when some were compacted.
    pub(crate) fn changes_after(&self, rv: u64) -> Result<impl Iterator<Item = &Change>, Gone> {
        if rv < self.compacted {
            return Err(Gone {
                requested: rv,
                oldest: self.compacted + 1,
            });
        }
        let start = self.history.partition_point(|c| c.rv <= rv);
        Ok(self.history.range(start..))
    }

    /// Whether `rv` is still inside the retained history window.
    pub(crate) fn is_compacted(&self, rv: u64) -> bool {
        rv < self.compacted
    }

    pub(crate) fn key_by_uid(&self, uid: &str) -> Option<&ObjKey> {
        self.by_uid.get(uid)
    }

    /// Objects whose ownerReferences name `uid`.
    pub(crate) fn dependents_of(&self, uid: &str) -> Vec<ObjKey> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn index(&mut self, key: &ObjKey, obj: &Value) {
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.by_uid.insert(uid.to_string(), key.clone());
        }
        for owner in owner_uids(obj) {
            self.dependents
                .entry(owner)
                .or_default()
                .insert(key.clone());
        }
    }

    fn unindex(&mut self, key: &ObjKey, obj: &Value) {
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            self.by_uid.remove(uid);
        }
        for owner in owner_uids(obj) {
            if let Some(set) = self.dependents.get_mut(&owner) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(&owner);
                }
            }
        }
    }

    /// Total number of stored objects.
    pub(crate) fn total(&self) -> usize {
        self.by_uid.len()
    }
}

/// The uids an object's ownerReferences point at.
pub(crate) fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Now, formatted like Kubernetes timestamps (RFC 3339, second precision).
pub(crate) fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

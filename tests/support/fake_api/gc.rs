//! Deletion: finalizers, propagation policies, the garbage collector's
//! handling of ownerReferences, namespace termination and CRD removal.
//! The real controllers do this asynchronously; here it happens within the
//! triggering request, which keeps tests deterministic.

use std::sync::Arc;

use serde_json::{Value, json};

use super::checks::check_preconditions;
use super::errors::ApiError;
use super::handler::{ListQuery, Propagation, State, WriteCtx, finalizers, namespace_key, render};
use super::managed::ManagedEntry;
use super::meta;
use super::store::{ObjKey, Stored, now_rfc3339, owner_uids};

type Result<T> = std::result::Result<T, ApiError>;

impl State {
    /// DELETE of one object.
    pub(crate) fn delete(
        &mut self,
        ctx: &WriteCtx,
        opts: &Value,
        policy: Option<Propagation>,
    ) -> Result<Value> {
        let old = self.existing(ctx)?;
        check_delete_preconditions(opts, &old.obj, ctx)?;
        let policy = policy
            .or_else(|| propagation_from_body(opts))
            .unwrap_or(Propagation::Background);
        if ctx.dry_run {
            return Ok(render(&old.obj, &ctx.rt, &ctx.version));
        }
        match self.delete_object(&ctx.key(), policy) {
            Some(remaining) => Ok(render(&remaining, &ctx.rt, &ctx.version)),
            None => Ok(json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": ctx.name,
                    "group": ctx.rt.group,
                    "kind": ctx.rt.plural,
                    "uid": old.obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                },
            })),
        }
    }

    /// Deletes or starts deleting an object. Returns the object if it still
    /// exists afterwards (finalizers pending), `None` if it is gone.
    pub(crate) fn delete_object(&mut self, key: &ObjKey, policy: Propagation) -> Option<Value> {
        let old = self.store.get(key)?.clone();
        if old.obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Some((*old.obj).clone());
        }
        let mut obj = (*old.obj).clone();
        let mut fins = finalizers(&obj);
        match policy {
            Propagation::Foreground => fins.push("foregroundDeletion".into()),
            Propagation::Orphan => fins.push("orphan".into()),
            Propagation::Background => {}
        }
        if key.group.is_empty() && key.plural == "namespaces" {
            return self.delete_namespace(key, obj);
        }
        if fins.is_empty() {
            self.remove_object(key, obj);
            return None;
        }
        obj["metadata"]["finalizers"] = json!(fins);
        obj["metadata"]["deletionTimestamp"] = Value::from(now_rfc3339());
        obj["metadata"]["deletionGracePeriodSeconds"] = Value::from(0);
        if let Some(generation) = obj.pointer("/metadata/generation").and_then(Value::as_i64) {
            obj["metadata"]["generation"] = Value::from(generation + 1);
        }
        self.put_internal(key, obj, old.managed);
        self.run_gc_finalizers(key);
        self.store.get(key).map(|s| (*s.obj).clone())
    }

    /// Stores a server-side modification (new resourceVersion, MODIFIED).
    fn put_internal(&mut self, key: &ObjKey, mut obj: Value, managed: Vec<ManagedEntry>) {
        let rv = self.store.next_rv();
        obj["metadata"]["resourceVersion"] = Value::from(rv.to_string());
        self.store.put(
            key.clone(),
            Stored {
                obj: Arc::new(obj),
                managed,
            },
            rv,
        );
        self.changes.send_replace(rv);
    }

    /// The garbage collector's part of `orphan` and `foregroundDeletion`.
    fn run_gc_finalizers(&mut self, key: &ObjKey) {
        let Some(stored) = self.store.get(key).cloned() else {
            return;
        };
        let uid = stored
            .obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let fins = finalizers(&stored.obj);
        if fins.iter().any(|f| f == "orphan") {
            for dep in self.store.dependents_of(&uid) {
                self.drop_owner_reference(&dep, &uid);
            }
            self.remove_finalizer(key, "orphan");
        } else if fins.iter().any(|f| f == "foregroundDeletion") {
            for dep in self.store.dependents_of(&uid) {
                self.delete_object(&dep, Propagation::Foreground);
            }
            if self.store.dependents_of(&uid).is_empty() {
                self.remove_finalizer(key, "foregroundDeletion");
            }
        }
    }

    fn remove_finalizer(&mut self, key: &ObjKey, finalizer: &str) {
        let Some(stored) = self.store.get(key).cloned() else {
            return;
        };
        let mut obj = (*stored.obj).clone();
        let fins: Vec<String> = finalizers(&obj)
            .into_iter()
            .filter(|f| f != finalizer)
            .collect();
        if fins.is_empty() {
            self.remove_object(key, obj);
        } else {
            obj["metadata"]["finalizers"] = json!(fins);
            self.put_internal(key, obj, stored.managed);
        }
    }

    fn drop_owner_reference(&mut self, key: &ObjKey, owner_uid: &str) {
        let Some(stored) = self.store.get(key).cloned() else {
            return;
        };
        let mut obj = (*stored.obj).clone();
        if let Some(refs) = obj
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
        }
        meta::drop_empty_collections(&mut obj);
        self.put_internal(key, obj, stored.managed);
    }

    /// Removes an object for good (DELETED event) and lets the garbage
    /// collector react. Returns the final state as watchers saw it.
    pub(crate) fn remove_object(&mut self, key: &ObjKey, mut obj: Value) -> Value {
        let rv = self.store.next_rv();
        obj["metadata"]["resourceVersion"] = Value::from(rv.to_string());
        let final_obj = Arc::new(obj);
        self.store.remove(key, final_obj.clone(), rv);
        self.changes.send_replace(rv);
        self.after_removal(key, &final_obj);
        (*final_obj).clone()
    }

    fn after_removal(&mut self, key: &ObjKey, obj: &Value) {
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for dep in self.store.dependents_of(&uid) {
            self.collect_dependent(&dep, &uid);
        }
        for owner_uid in owner_uids(obj) {
            if let Some(owner) = self.store.key_by_uid(&owner_uid).cloned() {
                self.run_gc_finalizers(&owner);
            }
        }
        if key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions" {
            self.remove_crd_resource(obj);
        }
        if !key.namespace.is_empty() {
            self.finish_namespace_if_empty(&key.namespace);
        }
    }

    /// A dependent of a deleted owner: deleted if no other owner exists,
    /// otherwise the dangling reference is removed.
    fn collect_dependent(&mut self, dep: &ObjKey, owner_uid: &str) {
        let Some(stored) = self.store.get(dep).cloned() else {
            return;
        };
        let others_exist = owner_uids(&stored.obj)
            .iter()
            .any(|u| u != owner_uid && self.store.key_by_uid(u).is_some());
        if others_exist {
            self.drop_owner_reference(dep, owner_uid);
        } else {
            self.delete_object(dep, Propagation::Background);
        }
    }

    fn remove_crd_resource(&mut self, crd: &Value) {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let id = (group.clone(), plural.clone());
        let keys: Vec<ObjKey> = self
            .store
            .list(&id, None)
            .map(|(name, s)| ObjKey {
                group: group.clone(),
                plural: plural.clone(),
                namespace: s
                    .obj
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                name: name.clone(),
            })
            .collect();
        for key in keys {
            if let Some(s) = self.store.get(&key).cloned() {
                self.remove_object(&key, (*s.obj).clone());
            }
        }
        self.registry.unregister(&id);
    }

    /// Namespace deletion: mark Terminating, delete the content, and remove
    /// the namespace once it is empty.
    fn delete_namespace(&mut self, key: &ObjKey, mut obj: Value) -> Option<Value> {
        obj["metadata"]["deletionTimestamp"] = Value::from(now_rfc3339());
        obj["metadata"]["deletionGracePeriodSeconds"] = Value::from(0);
        obj["status"] = json!({"phase": "Terminating"});
        let managed = self
            .store
            .get(key)
            .map(|s| s.managed.clone())
            .unwrap_or_default();
        self.put_internal(key, obj, managed);
        for content in self.namespace_content(&key.name) {
            self.delete_object(&content, Propagation::Background);
        }
        self.finish_namespace_if_empty(&key.name);
        self.store.get(key).map(|s| (*s.obj).clone())
    }

    fn namespace_content(&self, ns: &str) -> Vec<ObjKey> {
        self.registry
            .all()
            .filter(|rt| rt.namespaced)
            .flat_map(|rt| {
                self.store.list(&rt.id(), Some(ns)).map(|(name, _)| ObjKey {
                    group: rt.group.clone(),
                    plural: rt.plural.clone(),
                    namespace: ns.to_string(),
                    name: name.clone(),
                })
            })
            .collect()
    }

    fn finish_namespace_if_empty(&mut self, ns: &str) {
        let key = namespace_key(ns);
        let terminating = self
            .store
            .get(&key)
            .is_some_and(|s| s.obj.pointer("/metadata/deletionTimestamp").is_some());
        if terminating && self.namespace_content(ns).is_empty() {
            let obj = self
                .store
                .get(&key)
                .map(|s| (*s.obj).clone())
                .unwrap_or(Value::Null);
            if finalizers(&obj).is_empty() {
                self.remove_object(&key, obj);
            }
        }
    }

    /// DELETE of a collection (with selectors).
    pub(crate) fn delete_collection(
        &mut self,
        q: &ListQuery,
        policy: Propagation,
    ) -> Result<Value> {
        let list = self.list(q)?;
        let rt = q.rt.clone();
        for item in list["items"].as_array().into_iter().flatten() {
            let key = ObjKey {
                group: rt.group.clone(),
                plural: rt.plural.clone(),
                namespace: item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                name: item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            };
            self.delete_object(&key, policy);
        }
        Ok(list)
    }
}

fn check_delete_preconditions(opts: &Value, old: &Value, ctx: &WriteCtx) -> Result<()> {
    let pre = opts.get("preconditions").cloned().unwrap_or(Value::Null);
    let as_meta = json!({"metadata": {
        "uid": pre.get("uid").cloned().unwrap_or(Value::Null),
        "resourceVersion": pre.get("resourceVersion").cloned().unwrap_or(Value::Null),
    }});
    check_preconditions(&as_meta, old, ctx)
}

fn propagation_from_body(opts: &Value) -> Option<Propagation> {
    match opts.get("propagationPolicy").and_then(Value::as_str) {
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some("Background") => Some(Propagation::Background),
        _ => (opts.get("orphanDependents") == Some(&Value::Bool(true)))
            .then_some(Propagation::Orphan),
    }
}

/// Parses a propagationPolicy query value.
pub(crate) fn parse_propagation(s: &str) -> Option<Propagation> {
    propagation_from_body(&json!({"propagationPolicy": s}))
}

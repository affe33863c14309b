//! The verbs and the write pipeline every mutation goes through, in the
//! apiserver's order: decode, scope to the endpoint (main vs `/status`),
//! prune/default/validate ("admission"), track field ownership, detect
//! no-ops, then persist with a new resourceVersion and emit the watch event.

use std::sync::Arc;

use kube::core::cel::RootContext;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::apply::{self, ApplyRequest, conflict_message, retain_existing};
use super::builtin;
use super::checks::{
    check_apply_config, check_name_matches, check_namespace_matches, check_preconditions,
    check_types, dropped_fields, parse_apply_body, reject_unknown,
};
use super::deployments;
use super::errors::{ApiError, Cause, FieldErrorKind, field_error};
use super::managed::{self, ManagedEntry, Scope, flatten, record_update, same_ignoring_time};
use super::meta::{self, NameRule};
use super::patch;
use super::registry::{Builtin, Registry, ResourceType, resource_from_crd};
use super::schema;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{ObjKey, Store, Stored, now_rfc3339, owner_uids};
use super::typing::Typing;

/// Everything behind the server's lock.
pub(crate) struct State {
    pub(crate) registry: Registry,
    pub(crate) store: Store,
    /// Wakes watch streams after each committed change.
    pub(crate) changes: watch::Sender<u64>,
    /// Garbage-collect objects whose owners do not exist (the real GC does).
    pub(crate) gc_dangling: bool,
    /// Act as the Deployment controller after each Deployment spec change (`deployments.rs`).
    pub(crate) deployment_controller: bool,
    /// Mutating admission webhooks: run on every create and update of their resource, after
    /// defaulting and after the field manager has recorded the write, so what they change stays
    /// owned by the writer's manager (as on a real apiserver, whose webhooks run after the patch
    /// is applied).
    pub(crate) webhooks: Vec<Webhook>,
    next_ip: u32,
}

/// A mutating admission webhook (a policy engine's mutation), for one resource plural.
#[derive(Clone)]
pub(crate) struct Webhook {
    pub(crate) plural: String,
    pub(crate) mutate: Arc<dyn Fn(&mut Value) + Send + Sync>,
}

/// Deletion propagation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// What a write targets and on whose behalf.
#[derive(Clone)]
pub(crate) struct WriteCtx {
    pub(crate) rt: Arc<ResourceType>,
    pub(crate) version: String,
    /// Empty for cluster-scoped resources.
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) scope: Scope,
    pub(crate) manager: String,
    pub(crate) dry_run: bool,
    pub(crate) strict: bool,
}

impl WriteCtx {
    pub(crate) fn key(&self) -> ObjKey {
        ObjKey {
            group: self.rt.group.clone(),
            plural: self.rt.plural.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    pub(crate) fn api_version(&self) -> String {
        self.rt.api_version(&self.version)
    }
}

/// The patch formats of PATCH requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply { force: bool },
}

type Result<T> = std::result::Result<T, ApiError>;

impl State {
    pub(crate) fn new(history_limit: usize) -> Self {
        let (changes, _) = watch::channel(0);
        let mut state = State {
            registry: Registry::with_builtins(),
            store: Store::new(history_limit),
            changes,
            gc_dangling: true,
            deployment_controller: false,
            webhooks: Vec::new(),
            next_ip: 1,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            // Cannot fail: valid names, fresh store.
            let _ = state.ensure_namespace(ns);
        }
        state
    }

    /// Creates a namespace if it does not exist.
    pub(crate) fn ensure_namespace(&mut self, ns: &str) -> Result<()> {
        let Some(rt) = self.registry.lookup("", "v1", "namespaces") else {
            return Ok(());
        };
        let ctx = self.internal_ctx(rt, "v1", "", ns, "fake-api-server");
        if self.store.get(&ctx.key()).is_none() {
            self.create(
                &ctx,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )?;
        }
        Ok(())
    }

    /// A context for writes made by the test harness rather than over HTTP.
    pub(crate) fn internal_ctx(
        &self,
        rt: Arc<ResourceType>,
        version: &str,
        ns: &str,
        name: &str,
        manager: &str,
    ) -> WriteCtx {
        WriteCtx {
            scope: Scope::Main {
                status_subresource: rt.status_subresource,
            },
            rt,
            version: version.into(),
            namespace: ns.into(),
            name: name.into(),
            manager: manager.into(),
            dry_run: false,
            strict: false,
        }
    }

    fn typing<'a>(rt: &'a ResourceType, version: &str) -> Typing<'a> {
        match rt.schemas.get(version) {
            Some(s) => Typing::crd(&s.raw),
            None => Typing::builtin(),
        }
    }

    // ----- reads -----

    /// GET of one object, rendered for the requested version.
    pub(crate) fn get(&self, ctx: &WriteCtx) -> Result<Value> {
        self.store
            .get(&ctx.key())
            .map(|s| render(&s.obj, &ctx.rt, &ctx.version))
            .ok_or_else(|| ApiError::not_found(&ctx.rt, &ctx.name))
    }

    /// LIST with selectors and limit/continue pagination.
    pub(crate) fn list(&self, q: &ListQuery) -> Result<Value> {
        let rt = &q.rt;
        let labels = LabelSelector::parse(&q.label_selector).map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(&q.field_selector, &rt.field_labels())
            .map_err(ApiError::bad_request)?;
        let (list_rv, start) = self.continue_from(q.continue_token.as_deref())?;
        let mut items = Vec::new();
        let mut more = false;
        for (name, stored) in self.store.list(&rt.id(), q.namespace.as_deref()) {
            let ns = stored
                .obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            if start
                .as_ref()
                .is_some_and(|(sns, sname)| (ns, name.as_str()) <= (sns.as_str(), sname.as_str()))
            {
                continue;
            }
            if !labels.matches(&stored.obj) || !fields.matches(&stored.obj) {
                continue;
            }
            if q.limit.is_some_and(|l| items.len() >= l) {
                more = true;
                break;
            }
            items.push(render_list_item(&stored.obj, rt, &q.version));
        }
        let mut metadata = json!({"resourceVersion": list_rv.to_string()});
        if more {
            metadata["continue"] = Value::from(continue_token_of(list_rv, &items));
        }
        Ok(json!({
            "apiVersion": rt.api_version(&q.version),
            "kind": format!("{}List", rt.kind),
            "metadata": metadata,
            "items": items,
        }))
    }

    /// The list resourceVersion and the key to resume after.
    fn continue_from(&self, token: Option<&str>) -> Result<(u64, Option<(String, String)>)> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok((self.store.current_rv(), None));
        };
        let bad = || ApiError::bad_request(format!("invalid continue token {token:?}"));
        let (rv, rest) = token.split_once(':').ok_or_else(bad)?;
        let rv: u64 = rv.parse().map_err(|_| bad())?;
        let (ns, name) = rest.split_once('/').ok_or_else(bad)?;
        if self.store.is_compacted(rv) {
            return Err(ApiError::new(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result. \
                 You can start a new list without the continue parameter.",
            ));
        }
        Ok((rv, Some((ns.to_string(), name.to_string()))))
    }

    // ----- writes -----

    /// POST.
    pub(crate) fn create(&mut self, ctx: &WriteCtx, mut body: Value) -> Result<Value> {
        check_types(&body, ctx)?;
        if body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut ctx = ctx.clone();
        ctx.name = self.resolve_create_name(&ctx, &mut body)?;
        check_namespace_matches(&body, &ctx)?;
        self.check_name(&ctx)?;
        self.check_namespace_open(&ctx)?;
        if self.store.get(&ctx.key()).is_some() {
            return Err(ApiError::already_exists(&ctx.rt, &ctx.name));
        }
        let obj = self.prepare(&ctx, body, None)?;
        let managed = self.updated_managed(&ctx, None, &obj);
        let obj = self.mutate_and_validate(&ctx, obj, None)?;
        self.commit(&ctx, None, obj, managed)
    }

    /// The object's name, generating one from `generateName` if needed.
    fn resolve_create_name(&mut self, ctx: &WriteCtx, body: &mut Value) -> Result<String> {
        let name = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !name.is_empty() {
            return Ok(name);
        }
        let prefix = body
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if prefix.is_empty() {
            let cause = field_error(
                "metadata.name",
                FieldErrorKind::Required,
                "name or generateName is required",
            );
            return Err(ApiError::invalid(&ctx.rt, "", vec![cause]));
        }
        let suffix = generated_suffix(self.store.new_uid().as_str());
        let generated = format!("{prefix}{suffix}");
        body["metadata"]["name"] = Value::from(generated.clone());
        Ok(generated)
    }

    /// PUT (main resource or `/status`).
    pub(crate) fn replace(&mut self, ctx: &WriteCtx, body: Value) -> Result<Value> {
        check_types(&body, ctx)?;
        check_name_matches(&body, ctx)?;
        check_namespace_matches(&body, ctx)?;
        let old = self.existing(ctx)?;
        check_preconditions(&body, &old.obj, ctx)?;
        let obj = self.prepare(ctx, body, Some(&old.obj))?;
        let managed = self.updated_managed(ctx, Some(&old), &obj);
        let obj = self.mutate_and_validate(ctx, obj, Some(&old.obj))?;
        self.commit(ctx, Some(&old), obj, managed)
    }

    /// PATCH of any type. Returns the HTTP status code too (apply may create).
    pub(crate) fn patch(
        &mut self,
        ctx: &WriteCtx,
        kind: PatchType,
        body: &[u8],
    ) -> Result<(u16, Value)> {
        if let PatchType::Apply { force } = kind {
            return self.apply(ctx, body, force);
        }
        if kind == PatchType::Strategic && ctx.rt.is_custom() {
            return Err(ApiError::unsupported_media(
                "application/strategic-merge-patch+json",
            ));
        }
        let patch_doc: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let old = self.existing(ctx)?;
        let mut target = (*old.obj).clone();
        match kind {
            PatchType::Merge => patch::merge_patch(&mut target, &patch_doc),
            PatchType::Json => patch::json_patch(&mut target, &patch_doc).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?,
            PatchType::Strategic => patch::strategic_merge_patch(&mut target, &patch_doc)
                .map_err(ApiError::bad_request)?,
            PatchType::Apply { .. } => {}
        }
        target["apiVersion"] = Value::from(ctx.api_version());
        target["kind"] = Value::from(ctx.rt.kind.clone());
        check_name_matches(&target, ctx)?;
        check_preconditions(&target, &old.obj, ctx)?;
        let obj = self.prepare(ctx, target, Some(&old.obj))?;
        let managed = self.updated_managed(ctx, Some(&old), &obj);
        let obj = self.mutate_and_validate(ctx, obj, Some(&old.obj))?;
        Ok((200, self.commit(ctx, Some(&old), obj, managed)?))
    }

    /// Server-side apply.
    fn apply(&mut self, ctx: &WriteCtx, body: &[u8], force: bool) -> Result<(u16, Value)> {
        let mut config = parse_apply_body(body)?;
        check_apply_config(&config, ctx)?;
        let old = self.store.get(&ctx.key()).cloned();
        if old.is_none() && ctx.scope == Scope::Status {
            return Err(ApiError::not_found(&ctx.rt, &ctx.name));
        }
        if let Some(old) = &old {
            check_preconditions(&config, &old.obj, ctx)?;
        } else {
            self.check_name(ctx)?;
            self.check_namespace_open(ctx)?;
        }
        if let Some(vs) = ctx.rt.schemas.get(&ctx.version) {
            let unknown = schema::prune(&mut config, &vs.raw);
            reject_unknown(ctx, &unknown)?;
        }
        let live = old
            .as_ref()
            .map_or_else(|| skeleton(ctx), |o| (*o.obj).clone());
        let entries = old.as_ref().map(|o| o.managed.clone()).unwrap_or_default();
        let now = now_rfc3339();
        let api_version = ctx.api_version();
        let req = ApplyRequest {
            manager: &ctx.manager,
            api_version: &api_version,
            scope: ctx.scope,
            force,
            now: &now,
        };
        let typing = Self::typing(&ctx.rt, &ctx.version);
        let applied =
            apply::apply(&live, &entries, &config, typing, &req).map_err(|conflicts| {
                let causes = conflicts
                    .iter()
                    .flat_map(|c| {
                        c.paths.iter().map(|p| Cause {
                            reason: "FieldManagerConflict".into(),
                            message: format!("conflict with {}", c.describe()),
                            field: super::typing::path_to_string(p),
                        })
                    })
                    .collect();
                ApiError::conflict(&ctx.rt, &ctx.name, conflict_message(&conflicts), causes)
            })?;
        let old_obj = old.as_ref().map(|o| &*o.obj);
        let obj = self.prepare(ctx, applied.object, old_obj)?;
        let obj = self.mutate_and_validate(ctx, obj, old_obj)?;
        let mut managed = applied.managed;
        retain_existing(&mut managed, &obj, typing);
        let code = if old.is_some() { 200 } else { 201 };
        Ok((code, self.commit(ctx, old.as_ref(), obj, managed)?))
    }

    /// The stored object or 404.
    pub(crate) fn existing(&self, ctx: &WriteCtx) -> Result<Stored> {
        self.store
            .get(&ctx.key())
            .cloned()
            .ok_or_else(|| ApiError::not_found(&ctx.rt, &ctx.name))
    }

    fn check_name(&self, ctx: &WriteCtx) -> Result<()> {
        let rule = match ctx.rt.builtin {
            Some(Builtin::Namespace | Builtin::Service) => NameRule::Label,
            _ => NameRule::Subdomain,
        };
        match meta::validate_name(&ctx.name, rule) {
            Some(cause) => Err(ApiError::invalid(&ctx.rt, &ctx.name, vec![cause])),
            None => Ok(()),
        }
    }

    /// NamespaceLifecycle admission: the namespace must exist and not be
    /// terminating.
    fn check_namespace_open(&self, ctx: &WriteCtx) -> Result<()> {
        if !ctx.rt.namespaced {
            return Ok(());
        }
        let key = namespace_key(&ctx.namespace);
        match self.store.get(&key) {
            None => Err(ApiError::new(
                404,
                "NotFound",
                format!("namespaces {:?} not found", ctx.namespace),
            )),
            Some(ns) if ns.obj.pointer("/metadata/deletionTimestamp").is_some() => {
                Err(ApiError::forbidden(
                    &ctx.rt,
                    &ctx.name,
                    &format!(
                        "unable to create new content in namespace {} because it is being terminated",
                        ctx.namespace
                    ),
                ))
            }
            Some(_) => Ok(()),
        }
    }

    /// Scope, decoding/pruning and defaulting of a candidate object: what
    /// the field manager records. `old` is the live object on updates.
    fn prepare(&mut self, ctx: &WriteCtx, candidate: Value, old: Option<&Value>) -> Result<Value> {
        let mut obj = scope_to_endpoint(ctx, candidate, old)?;
        obj["apiVersion"] = Value::from(ctx.api_version());
        obj["kind"] = Value::from(ctx.rt.kind.clone());
        set_identity(&mut obj, ctx);
        obj = self.decode(ctx, obj)?;
        meta::drop_empty_collections(&mut obj);
        self.default(ctx, &mut obj, old);
        Ok(obj)
    }

    /// Mutating admission, then validation. Like the apiserver's patch and
    /// update handlers, the field manager has recorded the write before the
    /// webhooks run: what they change is attributed to nobody new.
    fn mutate_and_validate(
        &mut self,
        ctx: &WriteCtx,
        mut obj: Value,
        old: Option<&Value>,
    ) -> Result<Value> {
        for webhook in self.webhooks.iter().filter(|w| w.plural == ctx.rt.plural) {
            (webhook.mutate)(&mut obj);
        }
        self.validate(ctx, &obj, old)?;
        Ok(obj)
    }

    /// Typed decoding (built-ins) or structural pruning (custom resources).
    fn decode(&self, ctx: &WriteCtx, obj: Value) -> Result<Value> {
        match (ctx.rt.builtin, ctx.rt.schemas.get(&ctx.version)) {
            (Some(kind), _) => {
                let before = obj.clone();
                let decoded = builtin::decode(kind, obj).map_err(|e| {
                    ApiError::bad_request(format!(
                        "{} in version {:?} cannot be handled as a {}: {e}",
                        ctx.rt.kind, ctx.version, ctx.rt.kind
                    ))
                })?;
                let mut unknown = Vec::new();
                dropped_fields(&before, &decoded, "", &mut unknown);
                reject_unknown(ctx, &unknown)?;
                Ok(decoded)
            }
            (None, Some(vs)) => {
                let mut obj = obj;
                let unknown = schema::prune(&mut obj, &vs.raw);
                reject_unknown(ctx, &unknown)?;
                Ok(obj)
            }
            (None, None) => Ok(obj),
        }
    }

    fn default(&mut self, ctx: &WriteCtx, obj: &mut Value, old: Option<&Value>) {
        if let Some(kind) = ctx.rt.builtin {
            let next_ip = &mut self.next_ip;
            let mut allocate = || {
                *next_ip += 1;
                format!("10.96.{}.{}", *next_ip / 256, *next_ip % 256)
            };
            builtin::apply_defaults(kind, obj, old, &mut allocate);
        } else if let Some(vs) = ctx.rt.schemas.get(&ctx.version) {
            *obj = schema::default(obj, &vs.raw);
        }
    }

    fn validate(&self, ctx: &WriteCtx, obj: &Value, old: Option<&Value>) -> Result<()> {
        let mut causes = meta::validate_metadata(obj.get("metadata").unwrap_or(&Value::Null));
        if let Some(kind) = ctx.rt.builtin {
            causes.extend(builtin::validate(kind, obj, old));
            if kind == Builtin::CustomResourceDefinition
                && let Err(e) = resource_from_crd(obj)
            {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: e,
                    field: String::new(),
                });
            }
        } else if let Some(vs) = ctx.rt.schemas.get(&ctx.version) {
            let root = RootContext {
                api_version: ctx.api_version(),
                api_group: ctx.rt.group.clone(),
                kind: ctx.rt.kind.clone(),
            };
            let mut errs = schema::validate_openapi(obj, &vs.raw);
            errs.extend(schema::validate_cel(vs, obj, old, &root));
            causes.extend(schema::ratchet(errs, obj, old).into_iter().map(|e| e.cause));
        }
        if let Some(old) = old {
            causes.extend(no_new_finalizers_while_deleting(obj, old));
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&ctx.rt, &ctx.name, causes))
        }
    }

    /// Ownership after an Update-type write (POST, PUT, non-apply PATCH).
    fn updated_managed(
        &self,
        ctx: &WriteCtx,
        old: Option<&Stored>,
        new: &Value,
    ) -> Vec<ManagedEntry> {
        let typing = Self::typing(&ctx.rt, &ctx.version);
        let mut entries = base_entries(old, new);
        let old_flat = old
            .map(|o| flatten(&o.obj, typing, ctx.scope))
            .unwrap_or_default();
        let new_flat = flatten(new, typing, ctx.scope);
        let api_version = ctx.api_version();
        record_update(
            &mut entries,
            (&ctx.manager, &api_version, ctx.scope.subresource()),
            &old_flat,
            &new_flat,
            &now_rfc3339(),
        );
        entries
    }

    /// Server-owned metadata, generation, no-op detection, finalizer-driven
    /// removal, then persistence and the watch event.
    fn commit(
        &mut self,
        ctx: &WriteCtx,
        old: Option<&Stored>,
        mut obj: Value,
        managed: Vec<ManagedEntry>,
    ) -> Result<Value> {
        self.server_metadata(ctx, old, &mut obj);
        if ctx.rt.builtin == Some(Builtin::CustomResourceDefinition) {
            crd_status(&mut obj, old.map(|o| &*o.obj));
        }
        if managed.is_empty() {
            obj["metadata"]
                .as_object_mut()
                .map(|m| m.remove("managedFields"));
        } else {
            obj["metadata"]["managedFields"] = managed::render(&managed);
        }
        if let Some(old) = old {
            if is_noop(&obj, &old.obj, &managed, &old.managed) {
                return Ok(render(&old.obj, &ctx.rt, &ctx.version));
            }
            if old.obj.pointer("/metadata/deletionTimestamp").is_some()
                && finalizers(&obj).is_empty()
            {
                if ctx.dry_run {
                    return Ok(render(&obj, &ctx.rt, &ctx.version));
                }
                let final_obj = self.remove_object(&ctx.key(), obj);
                return Ok(render(&final_obj, &ctx.rt, &ctx.version));
            }
        }
        if ctx.dry_run {
            return Ok(render(&obj, &ctx.rt, &ctx.version));
        }
        let rv = self.store.next_rv();
        obj["metadata"]["resourceVersion"] = Value::from(rv.to_string());
        let obj = Arc::new(obj);
        self.store.put(
            ctx.key(),
            Stored {
                obj: obj.clone(),
                managed,
            },
            rv,
        );
        self.changes.send_replace(rv);
        self.after_write(ctx, &obj);
        Ok(render(&obj, &ctx.rt, &ctx.version))
    }

    /// uid, creationTimestamp, generation and the deletion fields: set by
    /// the server, never by clients.
    fn server_metadata(&mut self, ctx: &WriteCtx, old: Option<&Stored>, obj: &mut Value) {
        let meta = &mut obj["metadata"];
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            meta.as_object_mut().map(|m| m.remove(field));
        }
        match old {
            None => {
                meta["uid"] = Value::from(self.store.new_uid());
                meta["creationTimestamp"] = Value::from(now_rfc3339());
                if ctx.rt.tracks_generation {
                    meta["generation"] = Value::from(1);
                }
            }
            Some(old) => {
                for field in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "resourceVersion",
                ] {
                    if let Some(v) = old.obj.pointer(&format!("/metadata/{field}")) {
                        meta[field] = v.clone();
                    }
                }
                if ctx.rt.tracks_generation {
                    let generation = old
                        .obj
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    // A status write never bumps it, even where it may set annotations.
                    let bump = ctx.scope != Scope::Status && spec_changed(&ctx.rt, obj, &old.obj);
                    obj["metadata"]["generation"] =
                        Value::from(if bump { generation + 1 } else { generation });
                }
            }
        }
    }

    /// Post-commit reactions: CRDs register their resource; objects whose
    /// owners are all gone are garbage collected.
    fn after_write(&mut self, ctx: &WriteCtx, obj: &Value) {
        if ctx.rt.builtin == Some(Builtin::CustomResourceDefinition)
            && let Ok(rt) = resource_from_crd(obj)
        {
            self.registry.register(rt);
        }
        if self.gc_dangling && !owner_uids(obj).is_empty() && self.all_owners_absent(obj) {
            let _ = self.delete_object(&ctx.key(), Propagation::Background);
            return;
        }
        if self.deployment_controller && deployments::needs_observing(ctx, obj) {
            deployments::observe(self, ctx, obj);
        }
    }

    /// Whether every ownerReference points at an object that does not exist
    /// (wrong uid counts as absent, like the garbage collector's check).
    fn all_owners_absent(&self, obj: &Value) -> bool {
        let refs = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array);
        refs.into_iter().flatten().all(|r| {
            let uid = r.get("uid").and_then(Value::as_str).unwrap_or("");
            match self.store.key_by_uid(uid) {
                None => true,
                Some(key) => Some(key.name.as_str()) != r.get("name").and_then(Value::as_str),
            }
        })
    }
}

/// Parameters of a LIST (and DELETE collection).
pub(crate) struct ListQuery {
    pub(crate) rt: Arc<ResourceType>,
    pub(crate) version: String,
    pub(crate) namespace: Option<String>,
    pub(crate) label_selector: String,
    pub(crate) field_selector: String,
    pub(crate) limit: Option<usize>,
    pub(crate) continue_token: Option<String>,
}

pub(crate) fn namespace_key(ns: &str) -> ObjKey {
    ObjKey {
        group: String::new(),
        plural: "namespaces".into(),
        namespace: String::new(),
        name: ns.to_string(),
    }
}

fn last_name(items: &[Value]) -> String {
    items
        .last()
        .and_then(|i| i.pointer("/metadata/name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The continue token resumes after the last returned item.
fn continue_token_of(rv: u64, items: &[Value]) -> String {
    let last = items.last();
    let ns = last
        .and_then(|i| i.pointer("/metadata/namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{rv}:{ns}/{}", last_name(items))
}

/// Five lowercase alphanumerics derived from a fresh uid (deterministic).
fn generated_suffix(uid: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = u64::from_str_radix(uid.rsplit('-').next().unwrap_or("0"), 16).unwrap_or(0);
    n = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// Renders a stored object for a served version (apiVersion rewritten, as a
/// CRD with `conversion: None` does).
pub(crate) fn render(obj: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut out = obj.clone();
    out["apiVersion"] = Value::from(rt.api_version(version));
    out
}

/// List items: built-in typed lists carry no apiVersion/kind on items.
fn render_list_item(obj: &Value, rt: &ResourceType, version: &str) -> Value {
    let mut out = render(obj, rt, version);
    if !rt.is_custom()
        && let Some(m) = out.as_object_mut()
    {
        m.remove("apiVersion");
        m.remove("kind");
    }
    out
}

pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What an apply on a missing object starts from.
fn skeleton(ctx: &WriteCtx) -> Value {
    let mut meta = json!({"name": ctx.name});
    if ctx.rt.namespaced {
        meta["namespace"] = Value::from(ctx.namespace.clone());
    }
    json!({"apiVersion": ctx.api_version(), "kind": ctx.rt.kind, "metadata": meta})
}

/// Endpoint scoping: main-resource writes cannot change `.status` of kinds
/// with a status subresource (and creates drop it); `/status` writes change
/// only `.status`.
fn scope_to_endpoint(ctx: &WriteCtx, candidate: Value, old: Option<&Value>) -> Result<Value> {
    match ctx.scope {
        Scope::Status => {
            let old = old.ok_or_else(|| ApiError::not_found(&ctx.rt, &ctx.name))?;
            let mut obj = old.clone();
            match candidate.get("status") {
                Some(s) if !s.is_null() => obj["status"] = s.clone(),
                _ => {
                    obj.as_object_mut().map(|m| m.remove("status"));
                }
            }
            if let Some(mf) = candidate.pointer("/metadata/managedFields") {
                obj["metadata"]["managedFields"] = mf.clone();
            }
            // The apps status strategy keeps spec and labels but takes annotations: the
            // Deployment controller sets `deployment.kubernetes.io/revision` this way.
            if ctx.rt.builtin == Some(Builtin::Deployment)
                && let Some(annotations) = candidate.pointer("/metadata/annotations")
            {
                obj["metadata"]["annotations"] = annotations.clone();
            }
            Ok(obj)
        }
        Scope::Main {
            status_subresource: true,
        } => {
            let mut obj = candidate;
            match old.and_then(|o| o.get("status")) {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    obj.as_object_mut().map(|m| m.remove("status"));
                }
            }
            Ok(obj)
        }
        Scope::Main { .. } => Ok(candidate),
    }
}

/// Name and namespace come from the URL.
fn set_identity(obj: &mut Value, ctx: &WriteCtx) {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["name"] = Value::from(ctx.name.clone());
    if ctx.rt.namespaced {
        obj["metadata"]["namespace"] = Value::from(ctx.namespace.clone());
    } else {
        obj["metadata"]
            .as_object_mut()
            .map(|m| m.remove("namespace"));
    }
}

/// The managedFields a write starts from: the stored ones, unless the
/// client sent different, non-empty ones (`[{}]` resets them).
fn base_entries(old: Option<&Stored>, new: &Value) -> Vec<ManagedEntry> {
    let old_entries = old.map(|o| o.managed.clone()).unwrap_or_default();
    match new.pointer("/metadata/managedFields") {
        Some(Value::Array(a)) if !a.is_empty() => {
            let current = managed::render(&old_entries);
            if Some(&current) == new.pointer("/metadata/managedFields") {
                old_entries
            } else {
                managed::parse(&Value::Array(a.clone()))
            }
        }
        _ => old_entries,
    }
}

/// Whether something the generation tracks changed: anything outside
/// metadata (and outside status when it is a subresource). Deployments also
/// count annotation changes, as the apps strategy does.
fn spec_changed(rt: &ResourceType, new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            if rt.status_subresource {
                m.remove("status");
            }
        }
        v
    };
    let annotations_changed = rt.builtin == Some(Builtin::Deployment)
        && new.pointer("/metadata/annotations") != old.pointer("/metadata/annotations");
    strip(new) != strip(old) || annotations_changed
}

/// A write whose only effect would be managedFields timestamps is a no-op:
/// no new resourceVersion, no watch event.
fn is_noop(
    new: &Value,
    old: &Value,
    new_managed: &[ManagedEntry],
    old_managed: &[ManagedEntry],
) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    same_ignoring_time(new_managed, old_managed) && strip(new) == strip(old)
}

/// Objects being deleted cannot gain finalizers.
fn no_new_finalizers_while_deleting(new: &Value, old: &Value) -> Vec<Cause> {
    if old.pointer("/metadata/deletionTimestamp").is_none() {
        return vec![];
    }
    let old_fins = finalizers(old);
    let added = finalizers(new).into_iter().any(|f| !old_fins.contains(&f));
    if added {
        vec![field_error(
            "metadata.finalizers",
            FieldErrorKind::Forbidden,
            "no new finalizers can be added if the object is being deleted",
        )]
    } else {
        vec![]
    }
}

/// The apiextensions controllers' status: names accepted, Established.
fn crd_status(obj: &mut Value, old: Option<&Value>) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    if let Some(old_status) = old.and_then(|o| o.get("status"))
        && old_status.get("acceptedNames") == Some(&names)
    {
        obj["status"] = old_status.clone();
        return;
    }
    let now = now_rfc3339();
    let storage: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let condition = |t: &str, reason: &str, message: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": message});
    obj["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": storage,
    });
}

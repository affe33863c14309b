//! A stateful, in-memory fake of the Kubernetes API server that `kube::Client`
//! talks to in-process (it is a `tower::Service`).
//!
//! The goal is fidelity: tests that pass here should pass against a real
//! kube-apiserver. It implements resourceVersion/generation/uid semantics,
//! no-op writes, optimistic concurrency, `/status` isolation, server-side
//! apply with managedFields and conflicts, merge/JSON/strategic patches,
//! CRD schemas (pruning, defaulting, OpenAPI and CEL validation with
//! ratcheting), finalizers, ownerReference garbage collection, namespaces
//! lifecycle, label/field selectors, paginated lists, and streaming watches
//! with bookmarks and 410 Gone. See the module files for each part.
//!
//! Deliberate differences from a real apiserver (keep them in mind when a
//! test depends on them):
//! - Controllers run inline: garbage collection, namespace termination,
//!   finalizer-driven removal and CRD establishment complete within the
//!   request that triggers them (a real cluster does it moments later).
//!   Objects whose ownerReferences all point at missing owners are deleted
//!   right after being written (see `set_gc_dangling`).
//! - No RBAC, quotas, admission plugins, scale subresource or pod lifecycle;
//!   mutating admission webhooks only as a test installs them (`mutating_webhook`).
//!   The Deployment controller is opt-in (`run_deployment_controller`):
//!   otherwise nothing fills in `status` unless a test calls `set_status` or
//!   `make_deployment_available`.
//! - Quantities in pod specs (container and pod resources, `overhead`,
//!   `emptyDir.sizeLimit`) are stored canonical, as the real apiserver does
//!   (`1000m` → `1`, `16384Mi` → `16Gi`); quantities elsewhere are kept as
//!   written.
//! - Built-in defaulting/validation covers what operators usually trip over
//!   (Deployment/PodSpec/Container/Service/Secret/Namespace/NetworkPolicy
//!   defaults, selector/template match, immutable selector and clusterIP,
//!   names, labels, annotations, ownerReferences, ConfigMap/Secret keys and
//!   size, events.k8s.io fields), not the full Go validation.
//! - CRD OpenAPI validation covers type, nullable, required, enum, bounds,
//!   lengths, pattern, items/properties counts and list-type uniqueness, but
//!   not `allOf`/`anyOf`/`oneOf`/`not` or `format`; there is no conversion
//!   between served versions (like `conversion: None`).
//! - Server-side apply follows structured-merge-diff for ownership,
//!   conflicts and removal, with built-in list keys from a table; new
//!   associative-list items are appended (not ordered like the config),
//!   and ownership of fields that no longer exist is dropped for everyone.
//! - core/v1 and events.k8s.io/v1 Events are stored separately.
//! - LIST ignores `resourceVersionMatch=Exact`; continue tokens never expire
//!   except through `compact`/`expire_watches`.
//!
//! ```ignore
//! let server = FakeApiServer::new();
//! let client = server.client();
//! let api: Api<Deployment> = Api::namespaced(client, "default");
//! ```

mod apply;
mod body;
mod builtin;
mod checks;
mod deployments;
mod discovery;
mod errors;
mod faults;
mod gc;
mod handler;
mod managed;
mod meta;
mod patch;
mod quantity;
mod registry;
mod routes;
mod schema;
mod selectors;
mod store;
mod typing;
mod watch;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use kube::core::Status;
use serde::Serialize;
use serde_json::Value;

pub use body::FakeBody;
pub use faults::Fault;

use errors::ApiError;
use handler::{PatchType, Propagation, State, WriteCtx};
use managed::Scope;
use registry::{ResourceType, split_api_version};
use watch::{Control, WatchHub};

/// Default number of changes kept for watches to resume from.
const DEFAULT_HISTORY: usize = 100_000;

/// Manager name used by [`FakeApiServer::insert`].
const TEST_MANAGER: &str = "fake-api-test";

/// A request the fake received, for assertions.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    /// Query parameters (decoded).
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// The body parsed as JSON (or YAML for apply patches), if any.
    pub body: Option<Value>,
}

impl RecordedRequest {
    /// Anything but GET (get, list, watch).
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }

    /// A `?watch=true` request.
    pub fn is_watch(&self) -> bool {
        self.method == Method::GET && matches!(self.param("watch"), Some("true" | "1"))
    }

    /// A query parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }
}

struct Inner {
    state: Arc<Mutex<State>>,
    requests: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<faults::Fault>>,
    hub: WatchHub,
}

/// The fake apiserver. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct FakeApiServer {
    inner: Arc<Inner>,
}

impl Default for FakeApiServer {
    fn default() -> Self {
        Self::new()
    }
}

/// Locks a mutex, recovering from poisoning (a panicking test thread must
/// not cascade into every other assertion).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Converts an internal error into the `Status` a client would receive.
fn to_status(e: ApiError) -> Box<Status> {
    Box::new(
        serde_json::from_value(e.to_status())
            .unwrap_or_else(|_| Status::failure(&e.message, &e.reason).with_code(e.code)),
    )
}

impl FakeApiServer {
    /// A fresh server with built-in resources and the usual namespaces
    /// (`default`, `kube-system`, `kube-public`, `kube-node-lease`).
    pub fn new() -> Self {
        Self::with_history_limit(DEFAULT_HISTORY)
    }

    /// Like [`FakeApiServer::new`], keeping only `limit` changes of watch
    /// history (older resourceVersions get 410 Gone).
    pub fn with_history_limit(limit: usize) -> Self {
        FakeApiServer {
            inner: Arc::new(Inner {
                state: Arc::new(Mutex::new(State::new(limit))),
                requests: Mutex::new(Vec::new()),
                faults: Mutex::new(Vec::new()),
                hub: WatchHub::new(),
            }),
        }
    }

    /// A `kube::Client` wired to this server (default namespace `default`).
    /// Must be called inside a Tokio runtime.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(self.clone(), "default")
    }

    pub(crate) fn state(&self) -> Arc<Mutex<State>> {
        self.inner.state.clone()
    }

    pub(crate) fn hub(&self) -> &WatchHub {
        &self.inner.hub
    }

    pub(crate) fn record(&self, req: RecordedRequest) {
        lock(&self.inner.requests).push(req);
    }

    pub(crate) fn take_fault(&self, method: &Method, uri: &str) -> Option<ApiError> {
        faults::take(&mut lock(&self.inner.faults), method, uri)
    }

    // ----- resources -----

    /// Creates (or updates) a CustomResourceDefinition, registering its
    /// resource with schema, CEL rules, scope and subresources. Accepts a
    /// `serde_json::Value` or a k8s-openapi `CustomResourceDefinition`.
    pub fn register_crd<T: Serialize>(&self, crd: &T) -> Result<Value, Box<Status>> {
        let crd = serde_json::to_value(crd)
            .map_err(|e| to_status(ApiError::bad_request(e.to_string())))?;
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let exists = self
            .get(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                None,
                &name,
            )
            .is_some();
        if exists {
            self.update(&crd, TEST_MANAGER)
        } else {
            self.insert(&crd)
        }
    }

    // ----- requests -----

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.requests).clone()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.inner.requests).clear();
    }

    /// Recorded requests that are not GET/LIST/WATCH.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_write)
            .collect()
    }

    /// Number of recorded writes.
    pub fn count_writes(&self) -> usize {
        lock(&self.inner.requests)
            .iter()
            .filter(|r| r.is_write())
            .count()
    }

    // ----- direct access (acting as another client) -----

    /// The stored object, or `None`. `namespace` is `None` for
    /// cluster-scoped resources.
    pub fn get(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let ctx = self
            .ctx_for(api_version, plural, namespace, name, TEST_MANAGER)
            .ok()?;
        lock(&self.inner.state).get(&ctx).ok()
    }

    /// All objects of a resource (in one namespace, or all if `None`).
    pub fn list(&self, api_version: &str, plural: &str, namespace: Option<&str>) -> Vec<Value> {
        let Ok(ctx) = self.ctx_for(api_version, plural, namespace, "", TEST_MANAGER) else {
            return vec![];
        };
        let q = handler::ListQuery {
            rt: ctx.rt,
            version: ctx.version,
            namespace: namespace.map(String::from),
            label_selector: String::new(),
            field_selector: String::new(),
            limit: None,
            continue_token: None,
        };
        let list = lock(&self.inner.state).list(&q).unwrap_or(Value::Null);
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Creates an object (POST semantics, manager `fake-api-test`), creating
    /// its namespace first if needed. Goes through validation and emits a
    /// watch event like any create.
    pub fn insert<T: Serialize>(&self, obj: &T) -> Result<Value, Box<Status>> {
        let obj = serde_json::to_value(obj)
            .map_err(|e| to_status(ApiError::bad_request(e.to_string())))?;
        let ctx = self.ctx_for_object(&obj, TEST_MANAGER)?;
        let mut state = lock(&self.inner.state);
        if ctx.rt.namespaced {
            state.ensure_namespace(&ctx.namespace).map_err(to_status)?;
        }
        state.create(&ctx, obj).map_err(to_status)
    }

    /// Replaces an object (PUT semantics) as `manager`, like a human's
    /// `kubectl edit`/`replace`. Unconditional unless the object carries a
    /// `metadata.resourceVersion`.
    pub fn update<T: Serialize>(&self, obj: &T, manager: &str) -> Result<Value, Box<Status>> {
        let obj = serde_json::to_value(obj)
            .map_err(|e| to_status(ApiError::bad_request(e.to_string())))?;
        let ctx = self.ctx_for_object(&obj, manager)?;
        lock(&self.inner.state)
            .replace(&ctx, obj)
            .map_err(to_status)
    }

    /// JSON merge patch as `manager` (like `kubectl patch --type=merge`).
    pub fn merge_patch(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        patch: Value,
        manager: &str,
    ) -> Result<Value, Box<Status>> {
        let ctx = self.ctx_for(api_version, plural, namespace, name, manager)?;
        self.patch_as(&ctx, PatchType::Merge, &patch)
    }

    /// Strategic merge patch as `manager`: what `kubectl set env`, `kubectl patch` and
    /// `kubectl rollout restart` send (an update: the fields it adds or changes become
    /// `manager`'s).
    pub fn strategic_patch(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        patch: Value,
        manager: &str,
    ) -> Result<Value, Box<Status>> {
        let ctx = self.ctx_for(api_version, plural, namespace, name, manager)?;
        self.patch_as(&ctx, PatchType::Strategic, &patch)
    }

    fn patch_as(
        &self,
        ctx: &WriteCtx,
        kind: PatchType,
        patch: &Value,
    ) -> Result<Value, Box<Status>> {
        let body = patch.to_string();
        let mut state = lock(&self.inner.state);
        state
            .patch(ctx, kind, body.as_bytes())
            .map(|(_, v)| v)
            .map_err(to_status)
    }

    /// `kubectl rollout restart deployment/<name>` at `at`: a strategic merge patch by manager
    /// `kubectl-rollout` that sets the pod template's `kubectl.kubernetes.io/restartedAt`.
    pub fn rollout_restart(
        &self,
        namespace: &str,
        name: &str,
        at: &str,
    ) -> Result<Value, Box<Status>> {
        let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl.kubernetes.io/restartedAt": at}}}}});
        self.strategic_patch(
            "apps/v1",
            "deployments",
            Some(namespace),
            name,
            patch,
            "kubectl-rollout",
        )
    }

    /// Installs a mutating admission webhook on `plural` (a policy engine rewriting what is
    /// written): it sees every created or updated object after defaulting.
    pub fn mutating_webhook(
        &self,
        plural: &str,
        mutate: impl Fn(&mut Value) + Send + Sync + 'static,
    ) {
        lock(&self.inner.state).webhooks.push(handler::Webhook {
            plural: plural.to_string(),
            mutate: Arc::new(mutate),
        });
    }

    /// Server-side apply as `manager` (like `kubectl apply --server-side`).
    pub fn apply<T: Serialize>(
        &self,
        obj: &T,
        manager: &str,
        force: bool,
    ) -> Result<Value, Box<Status>> {
        let obj = serde_json::to_value(obj)
            .map_err(|e| to_status(ApiError::bad_request(e.to_string())))?;
        let ctx = self.ctx_for_object(&obj, manager)?;
        let body = obj.to_string();
        let mut state = lock(&self.inner.state);
        state
            .patch(&ctx, PatchType::Apply { force }, body.as_bytes())
            .map(|(_, v)| v)
            .map_err(to_status)
    }

    /// Deletes an object (background propagation; finalizers respected).
    pub fn delete(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), Box<Status>> {
        let ctx = self.ctx_for(api_version, plural, namespace, name, TEST_MANAGER)?;
        let mut state = lock(&self.inner.state);
        state
            .delete(&ctx, &Value::Null, Some(Propagation::Background))
            .map(|_| ())
            .map_err(to_status)
    }

    /// Replaces `.status` through the status subresource (e.g. to make a
    /// Deployment available), as manager `fake-api-status`.
    pub fn set_status(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        status: Value,
    ) -> Result<Value, Box<Status>> {
        let mut ctx = self.ctx_for(api_version, plural, namespace, name, "fake-api-status")?;
        if ctx.rt.status_subresource {
            ctx.scope = Scope::Status;
        }
        let mut state = lock(&self.inner.state);
        let mut current = state.get(&ctx).map_err(to_status)?;
        current["status"] = status;
        current["metadata"]
            .as_object_mut()
            .map(|m| m.remove("resourceVersion"));
        state.replace(&ctx, current).map_err(to_status)
    }

    /// Moves an object's `metadata.creationTimestamp` back by `age`, as if it had been created
    /// that long ago: the tests' way to let time pass for objects (a real server never changes
    /// the field). Watches see a modification.
    pub fn backdate(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        age: std::time::Duration,
    ) -> Result<Value, Box<Status>> {
        let ctx = self.ctx_for(api_version, plural, namespace, name, TEST_MANAGER)?;
        let mut state = lock(&self.inner.state);
        let key = ctx.key();
        let mut stored = state
            .store
            .get(&key)
            .cloned()
            .ok_or_else(|| to_status(ApiError::not_found(&ctx.rt, name)))?;
        let mut obj = (*stored.obj).clone();
        let created = obj["metadata"]["creationTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
            .ok_or_else(|| to_status(ApiError::bad_request("no creationTimestamp")))?;
        let age = k8s_openapi::jiff::SignedDuration::try_from(age)
            .map_err(|e| to_status(ApiError::bad_request(e.to_string())))?;
        let back = created
            .checked_sub(age)
            .map_err(|e| to_status(ApiError::bad_request(e.to_string())))?;
        obj["metadata"]["creationTimestamp"] =
            Value::from(back.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        let rv = state.store.next_rv();
        obj["metadata"]["resourceVersion"] = Value::from(rv.to_string());
        stored.obj = Arc::new(obj);
        let out = (*stored.obj).clone();
        state.store.put(key, stored, rv);
        state.changes.send_replace(rv);
        Ok(out)
    }

    /// Marks `deployment` (as read from this server) rolled out and available at its current
    /// generation, as the Deployment controller would: counts, `Available` and `Progressing`
    /// conditions, written as `kube-controller-manager` through the status subresource.
    pub fn make_deployment_available(&self, deployment: &Value) -> Result<Value, Box<Status>> {
        let text = |p: &str| {
            deployment
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let mut ctx = self.ctx_for(
            "apps/v1",
            "deployments",
            Some(text("/metadata/namespace")),
            text("/metadata/name"),
            deployments::CONTROLLER_MANAGER,
        )?;
        ctx.scope = Scope::Status;
        let mut state = lock(&self.inner.state);
        let current = state.get(&ctx).map_err(to_status)?;
        let status = deployments::available(&current);
        deployments::write_status(&mut state, &ctx, current, status).map_err(to_status)
    }

    /// Whether the fake also acts as the Deployment controller: after every change of a
    /// Deployment's spec it writes the revision annotation and a rolling-out status with
    /// conditions, as `kube-controller-manager` (default: off; nothing fills in `status`).
    /// The scale run turns it on, so objects have the shape a real server gives them.
    pub fn run_deployment_controller(&self, enabled: bool) {
        lock(&self.inner.state).deployment_controller = enabled;
    }

    fn ctx_for(
        &self,
        api_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        manager: &str,
    ) -> Result<WriteCtx, Box<Status>> {
        let (group, version) = split_api_version(api_version);
        let state = lock(&self.inner.state);
        let rt: Arc<ResourceType> = state
            .registry
            .lookup(group, version, plural)
            .ok_or_else(|| to_status(ApiError::no_route(&format!("{api_version}/{plural}"))))?;
        Ok(state.internal_ctx(rt, version, namespace.unwrap_or(""), name, manager))
    }

    fn ctx_for_object(&self, obj: &Value, manager: &str) -> Result<WriteCtx, Box<Status>> {
        let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let (rt, version) = lock(&self.inner.state)
            .registry
            .by_kind(api_version, kind)
            .ok_or_else(|| {
                to_status(ApiError::bad_request(format!(
                    "no resource for {api_version} {kind}"
                )))
            })?;
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
        let ns = if rt.namespaced {
            Some(ns.unwrap_or("default"))
        } else {
            None
        };
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.ctx_for(&rt.api_version(&version), &rt.plural, ns, name, manager)
    }

    // ----- faults and watch control -----

    /// Queues a fault for upcoming matching requests.
    pub fn inject(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault);
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Closes every open watch stream cleanly (clients re-watch from their
    /// last resourceVersion, as after an apiserver restart or timeout).
    pub fn drop_watches(&self) {
        self.inner.hub.signal(Control::Drop);
    }

    /// Compacts the history and ends every open watch with a 410 Expired
    /// ERROR event, forcing clients to re-list.
    pub fn expire_watches(&self) {
        self.compact();
        self.inner.hub.signal(Control::Expire);
    }

    /// Discards the watch history: watches (and list continue tokens) from
    /// any older resourceVersion now get 410 Gone.
    pub fn compact(&self) {
        lock(&self.inner.state).store.compact();
    }

    /// Holds back watch event delivery (events queue up).
    pub fn pause_watches(&self) {
        self.inner.hub.paused.send_replace(true);
    }

    /// Delivers held-back watch events and resumes streaming.
    pub fn resume_watches(&self) {
        self.inner.hub.paused.send_replace(false);
    }

    /// Whether objects whose ownerReferences all point at missing owners are
    /// garbage collected right after being written (default: true, as the
    /// real garbage collector would).
    pub fn set_gc_dangling(&self, enabled: bool) {
        lock(&self.inner.state).gc_dangling = enabled;
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.inner.state).store.current_rv()
    }

    /// Number of stored objects (all kinds, including namespaces).
    pub fn object_count(&self) -> usize {
        lock(&self.inner.state).store.total()
    }
}

impl tower::Service<Request<kube::client::Body>> for FakeApiServer {
    type Response = Response<FakeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<FakeBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let server = self.clone();
        Box::pin(async move { Ok(routes::serve(server, req).await) })
    }
}

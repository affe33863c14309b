//! HTTP front: request parsing, URL routing, query parameters, and dispatch
//! to the verbs.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, header};
use serde_json::{Value, json};

use super::body::FakeBody;
use super::discovery;
use super::errors::ApiError;
use super::gc::parse_propagation;
use super::handler::{ListQuery, PatchType, Propagation, WriteCtx};
use super::managed::Scope;
use super::registry::{Registry, ResourceType};
use super::watch::{self, WatchRequest};
use super::{FakeApiServer, RecordedRequest};

/// A request with its body collected.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) uri: String,
    pub(crate) path: String,
    pub(crate) query: BTreeMap<String, String>,
    pub(crate) content_type: String,
    accept: String,
    user_agent: String,
    pub(crate) body: Bytes,
}

impl Incoming {
    pub(crate) async fn read(req: Request<kube::client::Body>) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect_bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("reading request body: {e}")))?;
        let header = |name: header::HeaderName| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let query = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Ok(Incoming {
            method: parts.method.clone(),
            uri: parts.uri.to_string(),
            path: parts.uri.path().to_string(),
            query,
            content_type: header(header::CONTENT_TYPE),
            accept: header(header::ACCEPT),
            user_agent: header(header::USER_AGENT),
            body,
        })
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.query.get(key).map(String::as_str)
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    /// The media type without parameters.
    fn media_type(&self) -> String {
        self.content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    /// The field manager: `fieldManager`, else the user agent's program
    /// name, else `unknown`.
    fn manager(&self) -> String {
        if let Some(m) = self.param("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let prefix = self.user_agent.split('/').next().unwrap_or("").trim();
        if prefix.is_empty() {
            "unknown".into()
        } else {
            prefix.to_string()
        }
    }

    pub(crate) fn record(&self) -> RecordedRequest {
        let body = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .or_else(|| {
                let text = std::str::from_utf8(&self.body)
                    .ok()
                    .filter(|t| !t.trim().is_empty())?;
                serde_saphyr::from_str::<Value>(text).ok()
            });
        RecordedRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            content_type: Some(self.content_type.clone()).filter(|c| !c.is_empty()),
            body,
        }
    }
}

/// Where a URL points.
enum Route {
    Version,
    CoreVersions,
    Groups,
    Resources { group: String, version: String },
    Object(ResourcePath),
}

struct ResourcePath {
    rt: Arc<ResourceType>,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn route(path: &str, registry: &Registry) -> Option<Route> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => Some(Route::Version),
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["api", version, rest @ ..] => resource_route(registry, "", version, rest),
        ["apis", group, version, rest @ ..] => resource_route(registry, group, version, rest),
        _ => None,
    }
}

fn resource_route(registry: &Registry, group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let (namespace, plural, tail) = match rest {
        [] => {
            return Some(Route::Resources {
                group: group.into(),
                version: version.into(),
            });
        }
        ["namespaces", ns, plural, tail @ ..]
            if registry
                .lookup(group, version, plural)
                .is_some_and(|rt| rt.namespaced) =>
        {
            (Some(ns.to_string()), *plural, tail)
        }
        [plural, tail @ ..] => (None, *plural, tail),
    };
    if tail.len() > 2 {
        return None;
    }
    let rt = registry.lookup(group, version, plural)?;
    if rt.namespaced && namespace.is_none() && !tail.is_empty() {
        return None;
    }
    Some(Route::Object(ResourcePath {
        rt,
        version: version.into(),
        namespace,
        name: tail.first().map(|s| s.to_string()),
        subresource: tail.get(1).map(|s| s.to_string()),
    }))
}

/// Serves one request.
pub(crate) async fn serve(
    server: FakeApiServer,
    req: Request<kube::client::Body>,
) -> Response<FakeBody> {
    let inc = match Incoming::read(req).await {
        Ok(inc) => inc,
        Err(e) => return error_response(&e),
    };
    server.record(inc.record());
    if let Some(e) = server.take_fault(&inc.method, &inc.uri) {
        return error_response(&e);
    }
    match dispatch(&server, &inc) {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

fn dispatch(server: &FakeApiServer, inc: &Incoming) -> Result<Response<FakeBody>, ApiError> {
    let state = server.state();
    let route = {
        let guard = state.lock().map_err(|_| poisoned())?;
        match route(&inc.path, &guard.registry) {
            Some(Route::Version) => return Ok(json_response(200, &discovery::version())),
            Some(Route::CoreVersions) => {
                return Ok(json_response(200, &discovery::core_versions()));
            }
            Some(Route::Groups) => {
                return Ok(json_response(200, &discovery::groups(&guard.registry)));
            }
            Some(Route::Resources { group, version }) => {
                return discovery::resources(&guard.registry, &group, &version)
                    .map(|doc| json_response(200, &doc))
                    .ok_or_else(|| ApiError::no_route(&inc.path));
            }
            Some(Route::Object(rp)) => rp,
            None => return Err(ApiError::no_route(&inc.path)),
        }
    };
    let scope = match route.subresource.as_deref() {
        None => Scope::Main {
            status_subresource: route.rt.status_subresource,
        },
        Some("status") if route.rt.status_subresource => Scope::Status,
        Some(_) => return Err(ApiError::no_route(&inc.path)),
    };
    match (&inc.method, route.name.clone()) {
        (&Method::GET, None) if inc.flag("watch") => start_watch(server, inc, route),
        (&Method::GET, None) => list(server, inc, &route),
        (&Method::DELETE, None) => delete_collection(server, inc, &route),
        (&Method::POST, None) if scope != Scope::Status => {
            write(server, inc, &route, scope, String::new())
        }
        (method, Some(name)) if *method != Method::POST => write(server, inc, &route, scope, name),
        (method, _) => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

fn poisoned() -> ApiError {
    ApiError::new(500, "InternalError", "fake apiserver state lock poisoned")
}

fn list_query(inc: &Incoming, rp: &ResourcePath) -> ListQuery {
    ListQuery {
        rt: rp.rt.clone(),
        version: rp.version.clone(),
        namespace: rp.namespace.clone(),
        label_selector: inc.param("labelSelector").unwrap_or("").to_string(),
        field_selector: inc.param("fieldSelector").unwrap_or("").to_string(),
        limit: inc
            .param("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0),
        continue_token: inc.param("continue").map(String::from),
    }
}

fn list(
    server: &FakeApiServer,
    inc: &Incoming,
    rp: &ResourcePath,
) -> Result<Response<FakeBody>, ApiError> {
    let state = server.state();
    let guard = state.lock().map_err(|_| poisoned())?;
    let list = guard.list(&list_query(inc, rp))?;
    Ok(json_response(200, &metadata_only_list(inc, list)))
}

fn delete_collection(
    server: &FakeApiServer,
    inc: &Incoming,
    rp: &ResourcePath,
) -> Result<Response<FakeBody>, ApiError> {
    let opts: Value = serde_json::from_slice(&inc.body).unwrap_or(Value::Null);
    let policy = inc
        .param("propagationPolicy")
        .and_then(parse_propagation)
        .or_else(|| {
            opts.get("propagationPolicy")
                .and_then(Value::as_str)
                .and_then(parse_propagation)
        })
        .unwrap_or(Propagation::Background);
    let state = server.state();
    let mut guard = state.lock().map_err(|_| poisoned())?;
    let list = guard.delete_collection(&list_query(inc, rp), policy)?;
    Ok(json_response(200, &list))
}

fn start_watch(
    server: &FakeApiServer,
    inc: &Incoming,
    rp: ResourcePath,
) -> Result<Response<FakeBody>, ApiError> {
    let req = WatchRequest {
        label_selector: inc.param("labelSelector").unwrap_or("").to_string(),
        field_selector: inc.param("fieldSelector").unwrap_or("").to_string(),
        resource_version: inc.param("resourceVersion").unwrap_or("").to_string(),
        resource_version_match: inc.param("resourceVersionMatch").unwrap_or("").to_string(),
        timeout_seconds: inc.param("timeoutSeconds").and_then(|t| t.parse().ok()),
        bookmarks: inc.flag("allowWatchBookmarks"),
        send_initial_events: inc.flag("sendInitialEvents"),
        metadata_only: inc.accept.contains("as=PartialObjectMetadata"),
        rt: rp.rt,
        version: rp.version,
        namespace: rp.namespace,
    };
    let body = watch::start(&server.state(), server.hub(), req)?;
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))
}

/// GET/PUT/PATCH/DELETE of a named object, and POST.
fn write(
    server: &FakeApiServer,
    inc: &Incoming,
    rp: &ResourcePath,
    scope: Scope,
    name: String,
) -> Result<Response<FakeBody>, ApiError> {
    let ctx = WriteCtx {
        rt: rp.rt.clone(),
        version: rp.version.clone(),
        namespace: rp.namespace.clone().unwrap_or_default(),
        name,
        scope,
        manager: inc.manager(),
        dry_run: inc.param("dryRun") == Some("All"),
        strict: inc.param("fieldValidation") == Some("Strict"),
    };
    let state = server.state();
    let mut guard = state.lock().map_err(|_| poisoned())?;
    let (code, obj) = match inc.method {
        Method::GET => (200, guard.get(&ctx)?),
        Method::POST => (201, guard.create(&ctx, json_body(inc)?)?),
        Method::PUT => (200, guard.replace(&ctx, json_body(inc)?)?),
        Method::PATCH => guard.patch(&ctx, patch_type(inc)?, &inc.body)?,
        Method::DELETE => {
            let opts: Value = serde_json::from_slice(&inc.body).unwrap_or(Value::Null);
            let policy = inc.param("propagationPolicy").and_then(parse_propagation);
            (200, guard.delete(&ctx, &opts, policy)?)
        }
        ref other => return Err(ApiError::method_not_allowed(other.as_str())),
    };
    Ok(json_response(code, &metadata_only(inc, obj)))
}

fn json_body(inc: &Incoming) -> Result<Value, ApiError> {
    serde_json::from_slice(&inc.body)
        .map_err(|e| ApiError::bad_request(format!("couldn't decode request body: {e}")))
}

/// The patch type from Content-Type, plus PatchOptions validation.
fn patch_type(inc: &Incoming) -> Result<PatchType, ApiError> {
    let media = inc.media_type();
    let kind = match media.as_str() {
        "application/merge-patch+json" => PatchType::Merge,
        "application/json-patch+json" => PatchType::Json,
        "application/strategic-merge-patch+json" => PatchType::Strategic,
        "application/apply-patch+yaml" => PatchType::Apply {
            force: inc.flag("force"),
        },
        _ => return Err(ApiError::unsupported_media(&media)),
    };
    let invalid = |msg: &str| {
        ApiError::new(
            422,
            "Invalid",
            format!("PatchOptions.meta.k8s.io \"\" is invalid: {msg}"),
        )
    };
    match kind {
        PatchType::Apply { .. } if inc.param("fieldManager").is_none_or(str::is_empty) => Err(
            invalid("fieldManager: Required value: is required for apply patch"),
        ),
        PatchType::Merge | PatchType::Json | PatchType::Strategic
            if inc.param("force").is_some() =>
        {
            Err(invalid(
                "force: Forbidden: may not be specified for non-apply patch",
            ))
        }
        _ => Ok(kind),
    }
}

/// `Accept: ...;as=PartialObjectMetadata` asks for metadata only.
fn metadata_only(inc: &Incoming, obj: Value) -> Value {
    if !inc.accept.contains("as=PartialObjectMetadata") || obj["kind"] == "Status" {
        return obj;
    }
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj["metadata"]})
}

fn metadata_only_list(inc: &Incoming, mut list: Value) -> Value {
    if !inc.accept.contains("as=PartialObjectMetadataList") {
        return list;
    }
    let items: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": i["metadata"]}))
        .collect();
    list["items"] = Value::Array(items);
    list["kind"] = Value::from("PartialObjectMetadataList");
    list["apiVersion"] = Value::from("meta.k8s.io/v1");
    list
}

pub(crate) fn json_response(code: u16, body: &Value) -> Response<FakeBody> {
    let mut resp = Response::new(FakeBody::json(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn error_response(e: &ApiError) -> Response<FakeBody> {
    json_response(e.code, &e.to_status())
}

//! Request-level checks the apiserver makes before touching storage:
//! identity (apiVersion/kind/name/namespace) of bodies, preconditions, apply
//! configuration decoding, and strict field validation.

use serde_json::Value;

use super::errors::ApiError;
use super::handler::WriteCtx;

type Result<T> = std::result::Result<T, ApiError>;

/// apiVersion (group) and kind of a request body must match the endpoint.
pub(crate) fn check_types(body: &Value, ctx: &WriteCtx) -> Result<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    let expected = ctx.api_version();
    if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
        && av != expected
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({expected})"
        )));
    }
    if let Some(kind) = body.get("kind").and_then(Value::as_str)
        && kind != ctx.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: the kind in the data ({kind}) does not match the expected kind",
            ctx.rt.kind, ctx.version, ctx.rt.kind
        )));
    }
    Ok(())
}

pub(crate) fn check_name_matches(body: &Value, ctx: &WriteCtx) -> Result<()> {
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != ctx.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({name}) does not match the name on the URL ({})",
            ctx.name
        )));
    }
    Ok(())
}

/// `metadata.resourceVersion` (optimistic lock) and `metadata.uid` in a
/// request body are preconditions.
pub(crate) fn check_preconditions(body: &Value, old: &Value, ctx: &WriteCtx) -> Result<()> {
    let rv = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let old_rv = old
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !rv.is_empty() && rv != old_rv {
        return Err(ApiError::stale(&ctx.rt, &ctx.name));
    }
    let uid = body
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let old_uid = old
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !uid.is_empty() && uid != old_uid {
        return Err(ApiError::conflict(
            &ctx.rt,
            &ctx.name,
            format!(
                "Operation cannot be fulfilled on {} {:?}: Precondition failed: UID in precondition: {uid}, UID in object meta: {old_uid}",
                ctx.rt.resource_label(),
                ctx.name
            ),
            vec![],
        ));
    }
    Ok(())
}

pub(crate) fn check_namespace_matches(body: &Value, ctx: &WriteCtx) -> Result<()> {
    let ns = body
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    if ctx.rt.namespaced && !ns.is_empty() && ns != ctx.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// JSON first (what kube sends), YAML otherwise.
pub(crate) fn parse_apply_body(body: &[u8]) -> Result<Value> {
    let parsed = serde_json::from_slice::<Value>(body).or_else(|_| {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
    });
    match parsed {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(ApiError::bad_request(
            "error decoding YAML: the apply configuration must be an object",
        )),
        Err(e) => Err(ApiError::bad_request(format!("error decoding YAML: {e}"))),
    }
}

/// Identity checks of an apply configuration.
pub(crate) fn check_apply_config(config: &Value, ctx: &WriteCtx) -> Result<()> {
    if config
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "error decoding YAML: Object 'apiVersion' is missing",
        ));
    }
    if config
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "error decoding YAML: Object 'Kind' is missing",
        ));
    }
    check_types(config, ctx)?;
    check_name_matches(config, ctx)?;
    check_namespace_matches(config, ctx)?;
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    Ok(())
}

/// A `fieldValidation=Strict` request fails on unknown fields; otherwise
/// they are silently dropped (the apiserver only warns).
pub(crate) fn reject_unknown(ctx: &WriteCtx, unknown: &[String]) -> Result<()> {
    if !ctx.strict || unknown.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = unknown
        .iter()
        .map(|u| format!("unknown field {u:?}"))
        .collect();
    Err(ApiError::bad_request(format!(
        "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
        ctx.rt.kind,
        ctx.version,
        ctx.rt.kind,
        list.join(", ")
    )))
}

/// Paths present before typed decoding but gone after (unknown fields).
pub(crate) fn dropped_fields(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, bv) in b {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => dropped_fields(bv, av, &p, out),
                    None if is_empty_value(bv) || k == "stringData" => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                dropped_fields(bv, av, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

pub(crate) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

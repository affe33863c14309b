//! Custom resource schemas: pruning of unknown fields, defaulting, OpenAPI
//! validation and CEL `x-kubernetes-validations`, with validation ratcheting
//! on updates (unchanged invalid values do not fail, as on Kubernetes 1.30+).

use std::cell::RefCell;

use kube::core::cel::{RootContext, ValidationError, Validator, apply_defaults};
use serde_json::Value;

use super::errors::{Cause, FieldErrorKind, field_error};
use super::registry::VersionSchema;

/// ObjectMeta fields; anything else under a custom resource's metadata is
/// dropped, as decoding into ObjectMeta does in the apiserver.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// A validation failure plus what ratcheting needs to know about it.
pub(crate) struct SchemaError {
    pub(crate) cause: Cause,
    /// Path whose (un)changed value decides ratcheting.
    pub(crate) ratchet_path: String,
    /// Transition rules (using `oldSelf`) never ratchet.
    pub(crate) transition: bool,
}

/// Drops fields the schema does not declare (respecting
/// `x-kubernetes-preserve-unknown-fields` and embedded resources) and nulls
/// of non-nullable fields. Returns the dropped unknown field paths.
pub(crate) fn prune(obj: &mut Value, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    let Some(map) = obj.as_object_mut() else {
        return unknown;
    };
    if let Some(meta) = map.get_mut("metadata") {
        prune_metadata(meta, "metadata", &mut unknown);
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        prune_field(map, &k, schema, "", &mut unknown);
    }
    unknown
}

fn prune_metadata(meta: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if let Some(m) = meta.as_object_mut() {
        m.retain(|k, _| {
            let known = OBJECT_META_FIELDS.contains(&k.as_str());
            if !known {
                unknown.push(format!("{path}.{k}"));
            }
            known
        });
    }
}

/// Prunes one field of an object node whose schema is `parent`.
fn prune_field(
    map: &mut serde_json::Map<String, Value>,
    key: &str,
    parent: &Value,
    path: &str,
    unknown: &mut Vec<String>,
) {
    let child_path = join(path, key);
    let declared = parent
        .get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| parent.get("additionalProperties").filter(|a| a.is_object()));
    let preserve = parent.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || parent.get("additionalProperties") == Some(&Value::Bool(true));
    let embedded = parent.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true));
    match declared {
        Some(schema) => {
            let nullable = schema.get("nullable") == Some(&Value::Bool(true));
            if map.get(key).is_some_and(Value::is_null) && !nullable {
                map.remove(key);
            } else if let Some(v) = map.get_mut(key) {
                prune_value(v, schema, &child_path, unknown);
            }
        }
        None if embedded && matches!(key, "apiVersion" | "kind") => {}
        None if embedded && key == "metadata" => {
            if let Some(v) = map.get_mut(key) {
                prune_metadata(v, &child_path, unknown);
            }
        }
        None if preserve => {}
        None => {
            map.remove(key);
            unknown.push(child_path);
        }
    }
}

fn prune_value(v: &mut Value, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                prune_field(map, &k, schema, path, unknown);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_value(item, item_schema, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Applies schema `default`s, as the apiserver does on every write.
pub(crate) fn default(obj: &Value, schema: &Value) -> Value {
    apply_defaults(schema, obj)
}

/// OpenAPI v3 validation of the object against the schema (everything but
/// apiVersion/kind/metadata).
pub(crate) fn validate_openapi(obj: &Value, schema: &Value) -> Vec<SchemaError> {
    let mut errs = Vec::new();
    let Some(map) = obj.as_object() else {
        return errs;
    };
    for req in required(schema) {
        if !map.contains_key(req) {
            errs.push(error(req, FieldErrorKind::Required, "", ""));
        }
    }
    for (k, v) in map {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(s) = schema.get("properties").and_then(|p| p.get(k)) {
            validate_node(v, s, k, &mut errs);
        }
    }
    errs
}

fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn error(path: &str, kind: FieldErrorKind, detail: &str, ratchet_path: &str) -> SchemaError {
    SchemaError {
        cause: field_error(path, kind, detail),
        ratchet_path: if ratchet_path.is_empty() {
            parent_path(path)
        } else {
            ratchet_path.to_string()
        },
        transition: false,
    }
}

fn parent_path(path: &str) -> String {
    path.rfind(['.', '['])
        .map(|i| path[..i].to_string())
        .unwrap_or_default()
}

fn validate_node(v: &Value, s: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    if v.is_null() {
        if s.get("nullable") != Some(&Value::Bool(true)) {
            errs.push(error(
                path,
                FieldErrorKind::Invalid,
                "\"null\": must not be null",
                path,
            ));
        }
        return;
    }
    if !type_matches(v, s) {
        let want = s
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("int-or-string");
        let detail = format!(
            "{}: {path} in body must be of type {want}: {}",
            type_name(v),
            quoted(v)
        );
        errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
        return;
    }
    validate_enum(v, s, path, errs);
    match v {
        Value::String(text) => validate_string(text, s, path, errs),
        Value::Number(_) => validate_number(v, s, path, errs),
        Value::Array(items) => validate_array(items, s, path, errs),
        Value::Object(map) => validate_object(map, s, path, errs),
        Value::Bool(_) | Value::Null => {}
    }
}

fn type_matches(v: &Value, s: &Value) -> bool {
    if s.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return v.is_string() || is_integer(v);
    }
    match s.get("type").and_then(Value::as_str) {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => is_integer(v),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    }
}

fn is_integer(v: &Value) -> bool {
    v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// The OpenAPI type name of a JSON value, as CEL errors print it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if is_integer(v) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn quoted(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn validate_enum(v: &Value, s: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed.iter().map(quoted).collect();
        let detail = format!("{}: supported values: {}", quoted(v), list.join(", "));
        errs.push(error(path, FieldErrorKind::NotSupported, &detail, path));
    }
}

fn validate_string(text: &str, s: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    let len = text.chars().count() as u64;
    if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        errs.push(error(
            path,
            FieldErrorKind::TooLong,
            &format!("may not be more than {max} bytes"),
            path,
        ));
    }
    if let Some(min) = s.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        let detail = format!("{text:?}: {path} in body should be at least {min} chars long");
        errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str)
        && regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(text))
    {
        let detail = format!("{text:?}: {path} in body should match '{pattern}'");
        errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
    }
}

fn validate_number(v: &Value, s: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    let Some(n) = v.as_f64() else {
        return;
    };
    let exclusive = |k: &str| s.get(k) == Some(&Value::Bool(true));
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        let (bad, word) = if exclusive("exclusiveMinimum") {
            (n <= min, "greater than")
        } else {
            (n < min, "greater than or equal to")
        };
        if bad {
            let detail = format!("{v}: {path} in body should be {word} {}", fmt_num(min));
            errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
        }
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        let (bad, word) = if exclusive("exclusiveMaximum") {
            (n >= max, "less than")
        } else {
            (n > max, "less than or equal to")
        };
        if bad {
            let detail = format!("{v}: {path} in body should be {word} {}", fmt_num(max));
            errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
        }
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn validate_array(items: &[Value], s: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    let len = items.len() as u64;
    if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        errs.push(error(
            path,
            FieldErrorKind::TooMany,
            &format!("{len}: must have at most {max} items"),
            path,
        ));
    }
    if let Some(min) = s.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        let detail = format!("{len}: {path} in body should have at least {min} items");
        errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
    }
    validate_list_uniqueness(items, s, path, errs);
    if let Some(item_schema) = s.get("items") {
        for (i, item) in items.iter().enumerate() {
            validate_node(item, item_schema, &format!("{path}[{i}]"), errs);
        }
    }
}

/// `x-kubernetes-list-type: map|set` forbid duplicate keys / values.
fn validate_list_uniqueness(items: &[Value], s: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    let key_of = |item: &Value| -> Value {
        match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("map") => {
                let keys = s
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array);
                let mut m = serde_json::Map::new();
                for k in keys.into_iter().flatten().filter_map(Value::as_str) {
                    m.insert(k.to_string(), item.get(k).cloned().unwrap_or(Value::Null));
                }
                Value::Object(m)
            }
            _ => item.clone(),
        }
    };
    if !matches!(
        s.get("x-kubernetes-list-type").and_then(Value::as_str),
        Some("map" | "set")
    ) {
        return;
    }
    let mut seen: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let k = key_of(item);
        if seen.contains(&k) {
            let p = format!("{path}[{i}]");
            errs.push(error(&p, FieldErrorKind::Duplicate, &k.to_string(), path));
        }
        seen.push(k);
    }
}

fn validate_object(
    map: &serde_json::Map<String, Value>,
    s: &Value,
    path: &str,
    errs: &mut Vec<SchemaError>,
) {
    for req in required(s) {
        if !map.contains_key(req) {
            errs.push(error(&join(path, req), FieldErrorKind::Required, "", path));
        }
    }
    let n = map.len() as u64;
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && n > max
    {
        errs.push(error(
            path,
            FieldErrorKind::TooMany,
            &format!("{n}: must have at most {max} items"),
            path,
        ));
    }
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && n < min
    {
        let detail = format!("{n}: {path} in body should have at least {min} properties");
        errs.push(error(path, FieldErrorKind::Invalid, &detail, path));
    }
    let props = s.get("properties");
    let additional = s.get("additionalProperties").filter(|a| a.is_object());
    for (k, v) in map {
        if let Some(child) = props.and_then(|p| p.get(k)).or(additional) {
            validate_node(v, child, &join(path, k), errs);
        }
    }
}

thread_local! {
    /// Registering every CEL extension function is not free; do it once per thread.
    static VALIDATOR: RefCell<Validator> = RefCell::new(Validator::new());
}

/// Evaluates the `x-kubernetes-validations` rules (transition rules with
/// `oldSelf` when `old` is given).
pub(crate) fn validate_cel(
    schema: &VersionSchema,
    obj: &Value,
    old: Option<&Value>,
    root: &RootContext,
) -> Vec<SchemaError> {
    let result = VALIDATOR.with(|v| {
        v.borrow()
            .validate_compiled_with_context(&schema.compiled, obj, old, Some(root))
    });
    match result {
        Ok(()) => vec![],
        Err(errors) => errors.into_iter().map(|e| cel_error(&e, obj)).collect(),
    }
}

fn cel_error(e: &ValidationError, obj: &Value) -> SchemaError {
    let kind = match e.reason.as_deref() {
        Some("FieldValueForbidden") => FieldErrorKind::Forbidden,
        Some("FieldValueRequired") => FieldErrorKind::Required,
        Some("FieldValueDuplicate") => FieldErrorKind::Duplicate,
        _ => FieldErrorKind::Invalid,
    };
    let detail = match kind {
        FieldErrorKind::Invalid => {
            let t = lookup(obj, &e.field_path).map_or("object", type_name);
            format!("{t:?}: {}", e.message)
        }
        _ => e.message.clone(),
    };
    SchemaError {
        cause: field_error(&e.field_path, kind, &detail),
        ratchet_path: e.field_path.clone(),
        transition: e.rule.contains("oldSelf"),
    }
}

/// Resolves `spec.items[0].name` style paths.
pub(crate) fn lookup<'v>(obj: &'v Value, path: &str) -> Option<&'v Value> {
    let mut node = obj;
    if path.is_empty() {
        return Some(node);
    }
    for segment in path.split('.') {
        let (field, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !field.is_empty() {
            node = node.get(field)?;
        }
        for idx in indexes.split('[').filter(|s| !s.is_empty()) {
            let idx = idx.trim_end_matches(']');
            node = match idx.parse::<usize>() {
                Ok(i) => node.get(i)?,
                Err(_) => node.get(idx.trim_matches('"'))?,
            };
        }
    }
    Some(node)
}

/// Validation ratcheting: drop errors on values the update did not change.
pub(crate) fn ratchet(
    errs: Vec<SchemaError>,
    new: &Value,
    old: Option<&Value>,
) -> Vec<SchemaError> {
    let Some(old) = old else {
        return errs;
    };
    errs.into_iter()
        .filter(|e| e.transition || lookup(new, &e.ratchet_path) != lookup(old, &e.ratchet_path))
        .collect()
}

//! Structural typing of object trees: which lists are associative (and by which
//! keys), which are sets, which are atomic, and which maps are atomic.
//!
//! Server-side apply, managed-field tracking and strategic merge patch all need
//! this. The real apiserver reads it from the OpenAPI schema: for custom
//! resources we do the same from the CRD's `openAPIV3Schema`
//! (`x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
//! `x-kubernetes-map-type`; lists without a list type are atomic, exactly like
//! the real server). For built-in kinds we carry a table of the Kubernetes
//! markers that matter for an operator.

use serde_json::Value;

/// One step in a path through an object: a map field, an associative list
/// item identified by its key fields, or a set member identified by value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// `f:<name>`: a field of a map or struct.
    Field(String),
    /// `k:<json>`: an associative list item; the JSON is the item's key fields,
    /// serialized compactly with sorted keys.
    Key(String),
    /// `v:<json>`: a member of a set list.
    Value(String),
}

/// A path from the object root.
pub(crate) type Path = Vec<PathElement>;

impl PathElement {
    /// The fieldsV1 spelling (`f:`, `k:`, `v:` prefixes).
    pub(crate) fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
        }
    }

    /// Parses the fieldsV1 spelling; `None` for `i:` (index) and unknown forms.
    pub(crate) fn decode(s: &str) -> Option<Self> {
        let (prefix, rest) = s.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => Some(PathElement::Key(canonical_json_str(rest)?)),
            "v:" => Some(PathElement::Value(canonical_json_str(rest)?)),
            _ => None,
        }
    }
}

/// Re-serializes JSON text so that equal keys compare equal as strings.
fn canonical_json_str(s: &str) -> Option<String> {
    serde_json::from_str::<Value>(s)
        .ok()
        .and_then(|v| serde_json::to_string(&v).ok())
}

/// Renders a path like the apiserver does in conflict messages:
/// `.spec.containers[name="app"].image`.
pub(crate) fn path_to_string(path: &[PathElement]) -> String {
    let mut out = String::new();
    for pe in path {
        match pe {
            PathElement::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            PathElement::Key(k) => out.push_str(&render_key(k)),
            PathElement::Value(v) => out.push_str(&format!("[={v}]")),
        }
    }
    out
}

/// `[name="app",port=80]` from a key's JSON object text.
fn render_key(k: &str) -> String {
    let parsed: Value = serde_json::from_str(k).unwrap_or(Value::Null);
    let parts: Vec<String> = parsed
        .as_object()
        .map(|m| m.iter().map(|(f, v)| format!("{f}={v}")).collect())
        .unwrap_or_default();
    format!("[{}]", parts.join(","))
}

/// How a list merges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Replaced as a whole and owned as a single field.
    Atomic,
    /// Primitive set: merged by value (union).
    Set,
    /// Associative list keyed by these item fields.
    Map(Vec<String>),
}

/// Typing information for one object: either a CRD schema or a built-in table.
#[derive(Clone, Copy)]
pub(crate) struct Typing<'a> {
    /// The openAPIV3Schema of the served version (custom resources only).
    pub(crate) schema: Option<&'a Value>,
}

impl<'a> Typing<'a> {
    /// Typing for a built-in kind (table-driven).
    pub(crate) fn builtin() -> Self {
        Typing { schema: None }
    }

    /// Typing driven by a CRD schema.
    pub(crate) fn crd(schema: &'a Value) -> Self {
        Typing {
            schema: Some(schema),
        }
    }

    /// The list semantics of the list at `path`.
    pub(crate) fn list_kind(&self, path: &[PathElement]) -> ListKind {
        if is_metadata_path(path) {
            return metadata_list_kind(path);
        }
        match self.schema {
            Some(schema) => schema_node(schema, path)
                .map(schema_list_kind)
                .unwrap_or(ListKind::Atomic),
            None => builtin_list_kind(path),
        }
    }

    /// Whether the map at `path` is atomic (replaced and owned as a whole).
    pub(crate) fn map_is_atomic(&self, path: &[PathElement]) -> bool {
        if is_metadata_path(path) {
            return false;
        }
        match self.schema {
            Some(schema) => {
                schema_node(schema, path)
                    .and_then(|n| n.get("x-kubernetes-map-type"))
                    .and_then(Value::as_str)
                    == Some("atomic")
            }
            None => builtin_map_is_atomic(path),
        }
    }

    /// The key element of an associative-list `item` (missing key fields that
    /// the apiserver defaults, like `protocol`, are filled in so applied and
    /// live items correlate).
    pub(crate) fn item_key(keys: &[String], item: &Value) -> PathElement {
        let mut map = serde_json::Map::new();
        for k in keys {
            match item.get(k) {
                Some(v) if !v.is_null() => {
                    map.insert(k.clone(), v.clone());
                }
                _ if k == "protocol" => {
                    map.insert(k.clone(), Value::from("TCP"));
                }
                _ => {}
            }
        }
        PathElement::Key(Value::Object(map).to_string())
    }

    /// The set-member element for a primitive `item`.
    pub(crate) fn value_element(item: &Value) -> PathElement {
        PathElement::Value(item.to_string())
    }
}

/// Field names along a path, skipping list item elements.
fn field_names(path: &[PathElement]) -> Vec<&str> {
    path.iter()
        .filter_map(|pe| match pe {
            PathElement::Field(f) => Some(f.as_str()),
            _ => None,
        })
        .collect()
}

fn is_metadata_path(path: &[PathElement]) -> bool {
    matches!(path.first(), Some(PathElement::Field(f)) if f == "metadata") && path.len() <= 2
}

/// ObjectMeta markers: finalizers are a set, ownerReferences keyed by uid.
fn metadata_list_kind(path: &[PathElement]) -> ListKind {
    match field_names(path).last().copied() {
        Some("finalizers") => ListKind::Set,
        Some("ownerReferences") => ListKind::Map(vec!["uid".into()]),
        _ => ListKind::Atomic,
    }
}

/// Table of `+listType=map` / `+patchMergeKey` markers of built-in types, as the apiserver's
/// typed schema has them (client-go `applyconfigurations/internal/internal.go`: every list of
/// the kinds an operator writes that is `associative`, with its keys; all others are atomic).
fn builtin_list_kind(path: &[PathElement]) -> ListKind {
    let names = field_names(path);
    let keyed = |keys: &[&str]| ListKind::Map(keys.iter().map(|k| k.to_string()).collect());
    match names.last().copied() {
        // A ServiceAccount's pull secrets are atomic, its `secrets` keyed by name.
        Some("imagePullSecrets") if names.len() == 1 => ListKind::Atomic,
        Some("secrets") if names.len() == 1 => keyed(&["name"]),
        Some(
            "containers"
            | "initContainers"
            | "ephemeralContainers"
            | "env"
            | "volumes"
            | "imagePullSecrets"
            | "resourceClaims"
            | "schedulingGates"
            | "claims",
        ) => keyed(&["name"]),
        Some("volumeMounts") => keyed(&["mountPath"]),
        Some("volumeDevices") => keyed(&["devicePath"]),
        Some("conditions") => keyed(&["type"]),
        Some("hostAliases") => keyed(&["ip"]),
        Some("topologySpreadConstraints") => keyed(&["topologyKey", "whenUnsatisfiable"]),
        Some("ports") if names.len() >= 2 && is_container_list(names[names.len() - 2]) => {
            keyed(&["containerPort", "protocol"])
        }
        Some("ports") if names == ["spec", "ports"] => keyed(&["port", "protocol"]),
        Some("finalizers") => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

fn is_container_list(name: &str) -> bool {
    matches!(
        name,
        "containers" | "initContainers" | "ephemeralContainers"
    )
}

/// Built-in maps marked `+mapType=atomic` (label selectors, node selectors,
/// Service selectors).
fn builtin_map_is_atomic(path: &[PathElement]) -> bool {
    matches!(
        field_names(path).last().copied(),
        Some("selector" | "podSelector" | "namespaceSelector" | "labelSelector" | "nodeSelector")
    )
}

/// Walks a structural schema along `path`.
pub(crate) fn schema_node<'s>(schema: &'s Value, path: &[PathElement]) -> Option<&'s Value> {
    let mut node = schema;
    for pe in path {
        node = match pe {
            PathElement::Field(f) => node
                .get("properties")
                .and_then(|p| p.get(f))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?,
            PathElement::Key(_) | PathElement::Value(_) => node.get("items")?,
        };
    }
    Some(node)
}

fn schema_list_kind(node: &Value) -> ListKind {
    match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => ListKind::Map(
            node.get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Some("set") => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

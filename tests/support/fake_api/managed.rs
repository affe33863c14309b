//! Field ownership (`metadata.managedFields`): flattening objects into owned
//! field paths, the fieldsV1 wire format, and ownership transfer on updates.
//!
//! The model follows sigs.k8s.io/structured-merge-diff, the library inside the
//! apiserver: a manager owns a set of leaf paths; associative list items are
//! owned as members (`"."` in fieldsV1) as well as through their fields.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::typing::{ListKind, Path, PathElement, Typing};

/// A set of owned paths.
pub(crate) type FieldSet = BTreeSet<Path>;

/// Leaves of an object: each owned path and its value (`None` for the
/// membership of an associative-list item, whose presence is what matters).
pub(crate) type Flat<'v> = BTreeMap<Path, Option<&'v Value>>;

/// Metadata fields that are never tracked (the apiserver strips them before
/// computing ownership).
const UNTRACKED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Which part of an object a request may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The main resource endpoint; `.status` is reset when the kind has a
    /// status subresource.
    Main { status_subresource: bool },
    /// The `/status` subresource: only `.status` is writable.
    Status,
}

impl Scope {
    /// Whether a top-level field is writable (and trackable) in this scope.
    pub(crate) fn covers(&self, top_level: &str) -> bool {
        match self {
            Scope::Status => top_level == "status",
            Scope::Main { status_subresource } => !(top_level == "status" && *status_subresource),
        }
    }

    /// The `subresource` value recorded in managedFields.
    pub(crate) fn subresource(&self) -> Option<String> {
        match self {
            Scope::Status => Some("status".into()),
            Scope::Main { .. } => None,
        }
    }
}

/// Flattens `obj` into the paths a manager writing it would own.
pub(crate) fn flatten<'v>(obj: &'v Value, typing: Typing, scope: Scope) -> Flat<'v> {
    let mut out = Flat::new();
    let Some(root) = obj.as_object() else {
        return out;
    };
    for (key, value) in root {
        if key == "apiVersion" || key == "kind" || !scope.covers(key) {
            continue;
        }
        if key == "metadata" {
            flatten_metadata(value, typing, &mut out);
        } else {
            walk(
                value,
                vec![PathElement::Field(key.clone())],
                typing,
                &mut out,
            );
        }
    }
    out
}

fn flatten_metadata<'v>(meta: &'v Value, typing: Typing, out: &mut Flat<'v>) {
    let Some(meta) = meta.as_object() else {
        return;
    };
    for (key, value) in meta {
        if UNTRACKED_METADATA.contains(&key.as_str()) {
            continue;
        }
        let path = vec![
            PathElement::Field("metadata".into()),
            PathElement::Field(key.clone()),
        ];
        walk(value, path, typing, out);
    }
}

fn walk<'v>(value: &'v Value, path: Path, typing: Typing, out: &mut Flat<'v>) {
    match value {
        Value::Object(map) if !map.is_empty() && !typing.map_is_atomic(&path) => {
            for (k, v) in map {
                walk(v, child(&path, PathElement::Field(k.clone())), typing, out);
            }
        }
        Value::Array(items) => walk_list(value, items, path, typing, out),
        _ => {
            out.insert(path, Some(value));
        }
    }
}

fn walk_list<'v>(
    whole: &'v Value,
    items: &'v [Value],
    path: Path,
    typing: Typing,
    out: &mut Flat<'v>,
) {
    match typing.list_kind(&path) {
        ListKind::Atomic => {
            out.insert(path, Some(whole));
        }
        ListKind::Set => {
            for item in items {
                out.insert(child(&path, Typing::value_element(item)), Some(item));
            }
        }
        ListKind::Map(keys) => {
            for item in items {
                let item_path = child(&path, Typing::item_key(&keys, item));
                out.insert(item_path.clone(), None);
                if let Some(fields) = item.as_object() {
                    for (k, v) in fields {
                        walk(
                            v,
                            child(&item_path, PathElement::Field(k.clone())),
                            typing,
                            out,
                        );
                    }
                }
            }
        }
    }
}

/// `path` extended by one element.
pub(crate) fn child(path: &[PathElement], pe: PathElement) -> Path {
    let mut p = path.to_vec();
    p.push(pe);
    p
}

/// The paths of a flattened object.
pub(crate) fn paths(flat: &Flat) -> FieldSet {
    flat.keys().cloned().collect()
}

/// Paths added or whose value changed from `old` to `new`, and paths removed.
pub(crate) fn diff(old: &Flat, new: &Flat) -> (FieldSet, FieldSet) {
    let changed = new
        .iter()
        .filter(|(p, v)| old.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let removed = old
        .keys()
        .filter(|p| !new.contains_key(*p))
        .cloned()
        .collect();
    (changed, removed)
}

/// Whether `set` holds `path` or anything beneath it.
pub(crate) fn owns_at_or_below(set: &FieldSet, path: &[PathElement]) -> bool {
    set.range(path.to_vec()..)
        .next()
        .is_some_and(|p| p.starts_with(path))
}

/// The operation recorded in a managedFields entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ManagedEntry {
    pub(crate) manager: String,
    pub(crate) operation: Operation,
    pub(crate) api_version: String,
    pub(crate) subresource: Option<String>,
    pub(crate) time: String,
    pub(crate) fields: FieldSet,
}

impl ManagedEntry {
    /// Whether this entry belongs to the given identity. Like the apiserver,
    /// Apply entries ignore the apiVersion; Update entries include it.
    pub(crate) fn is(
        &self,
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: &Option<String>,
    ) -> bool {
        self.manager == manager
            && self.operation == operation
            && &self.subresource == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation.as_str(),
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": encode_fields(&self.fields),
        });
        if let Some(sub) = &self.subresource {
            v["subresource"] = Value::from(sub.clone());
        }
        v
    }

    fn from_json(v: &Value) -> Option<Self> {
        let operation = match v.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            _ => Operation::Update,
        };
        Some(ManagedEntry {
            manager: v
                .get("manager")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            operation,
            api_version: v
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            subresource: v
                .get("subresource")
                .and_then(Value::as_str)
                .map(String::from),
            time: v
                .get("time")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            fields: decode_fields(v.get("fieldsV1").unwrap_or(&Value::Null)),
        })
    }
}

/// Renders entries as the `metadata.managedFields` array.
pub(crate) fn render(entries: &[ManagedEntry]) -> Value {
    Value::Array(entries.iter().map(ManagedEntry::to_json).collect())
}

/// Parses a client-supplied `metadata.managedFields` array.
pub(crate) fn parse(v: &Value) -> Vec<ManagedEntry> {
    v.as_array()
        .map(|a| a.iter().filter_map(ManagedEntry::from_json).collect())
        .unwrap_or_default()
}

/// Encodes a field set in the fieldsV1 trie notation.
pub(crate) fn encode_fields(set: &FieldSet) -> Value {
    let mut root = Map::new();
    // Sorted iteration visits a path before its extensions, so a node that
    // already exists and is empty must be a member leaf and gets a ".".
    for path in set {
        insert_path(&mut root, path);
    }
    Value::Object(root)
}

fn insert_path(node: &mut Map<String, Value>, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let key = first.encode();
    let existed = node.contains_key(&key);
    let entry = node.entry(key).or_insert_with(|| json!({}));
    let Some(child) = entry.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        return;
    }
    if existed && child.is_empty() {
        child.insert(".".into(), json!({}));
    }
    insert_path(child, rest);
}

/// Decodes fieldsV1 into a field set.
pub(crate) fn decode_fields(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    decode_into(v, &mut Vec::new(), &mut out);
    out
}

fn decode_into(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
    let Some(map) = v.as_object() else {
        return;
    };
    for (k, child) in map {
        if k == "." {
            out.insert(prefix.clone());
            continue;
        }
        let Some(pe) = PathElement::decode(k) else {
            continue;
        };
        prefix.push(pe);
        if child.as_object().is_some_and(Map::is_empty) {
            out.insert(prefix.clone());
        } else {
            decode_into(child, prefix, out);
        }
        prefix.pop();
    }
}

/// Records an Update operation by `manager` (a PUT, or a JSON, merge or strategic merge patch), as
/// structured-merge-diff's `Updater.Update` does: the writer takes every field it added or changed
/// away from everyone else, and a field it removed is nobody's any more. Items it added to a keyed
/// list are its own; the other items and their owners stay as they were.
pub(crate) fn record_update(
    entries: &mut Vec<ManagedEntry>,
    identity: (&str, &str, Option<String>),
    old: &Flat,
    new: &Flat,
    now: &str,
) {
    let (manager, api_version, subresource) = identity;
    let (changed, removed) = diff(old, new);
    for e in entries.iter_mut() {
        e.fields.retain(|p| !removed.contains(p));
        if !e.is(manager, Operation::Update, api_version, &subresource) {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    let idx = entry_index(
        entries,
        manager,
        Operation::Update,
        api_version,
        &subresource,
    );
    let me = &mut entries[idx];
    me.fields.retain(|p| !removed.contains(p));
    me.fields.extend(changed);
    me.time = now.to_string();
    me.api_version = api_version.to_string();
    entries.retain(|e| !e.fields.is_empty());
}

/// Index of the entry for an identity, creating an empty one if absent.
pub(crate) fn entry_index(
    entries: &mut Vec<ManagedEntry>,
    manager: &str,
    operation: Operation,
    api_version: &str,
    subresource: &Option<String>,
) -> usize {
    if let Some(i) = entries
        .iter()
        .position(|e| e.is(manager, operation, api_version, subresource))
    {
        return i;
    }
    entries.push(ManagedEntry {
        manager: manager.to_string(),
        operation,
        api_version: api_version.to_string(),
        subresource: subresource.clone(),
        time: String::new(),
        fields: FieldSet::new(),
    });
    entries.len() - 1
}

/// Entries equal apart from timestamps: the apiserver treats a write whose
/// only effect is a managedFields timestamp as a no-op.
pub(crate) fn same_ignoring_time(a: &[ManagedEntry], b: &[ManagedEntry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.manager == y.manager
                && x.operation == y.operation
                && x.api_version == y.api_version
                && x.subresource == y.subresource
                && x.fields == y.fields
        })
}

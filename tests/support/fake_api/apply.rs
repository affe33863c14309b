//! Server-side apply (`application/apply-patch+yaml`).
//!
//! Mirrors structured-merge-diff's `Updater.Apply`: merge the applied
//! configuration into the live object, refuse (409) when that changes a field
//! another manager owns unless forced, drop fields this manager applied before
//! and no longer applies (unless someone else still owns them), and record the
//! applied configuration's fields as this manager's `Apply` entry.

use serde_json::{Map, Value};

use super::managed::{
    self, FieldSet, ManagedEntry, Operation, Scope, child, diff, entry_index, flatten,
    owns_at_or_below, paths,
};
use super::typing::{ListKind, Path, PathElement, Typing, path_to_string};

/// Who is applying and how.
pub(crate) struct ApplyRequest<'a> {
    pub(crate) manager: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) scope: Scope,
    pub(crate) force: bool,
    pub(crate) now: &'a str,
}

/// Fields of one other manager that an apply would change.
#[derive(Debug)]
pub(crate) struct Conflict {
    pub(crate) manager: String,
    pub(crate) operation: Operation,
    pub(crate) api_version: String,
    pub(crate) subresource: Option<String>,
    pub(crate) paths: Vec<Path>,
}

impl Conflict {
    /// The manager as the apiserver names it in conflict messages.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        s
    }
}

/// The result of a successful apply.
pub(crate) struct Applied {
    pub(crate) object: Value,
    pub(crate) managed: Vec<ManagedEntry>,
}

/// Applies `config` onto `live` (the skeleton of a new object when creating).
pub(crate) fn apply(
    live: &Value,
    entries: &[ManagedEntry],
    config: &Value,
    typing: Typing,
    req: &ApplyRequest,
) -> Result<Applied, Vec<Conflict>> {
    let config = scoped_config(config, req.scope);
    let mut merged = merge_root(live, &config, typing);
    let (changed, _) = diff(
        &flatten(live, typing, req.scope),
        &flatten(&merged, typing, req.scope),
    );
    let subresource = req.scope.subresource();
    let mut entries = entries.to_vec();
    let conflicts = conflicts(&entries, req, &subresource, &changed);
    if !conflicts.is_empty() && !req.force {
        return Err(conflicts);
    }
    for e in entries.iter_mut() {
        if !e.is(req.manager, Operation::Apply, req.api_version, &subresource) {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    let new_set = paths(&flatten(&config, typing, req.scope));
    let idx = entry_index(
        &mut entries,
        req.manager,
        Operation::Apply,
        req.api_version,
        &subresource,
    );
    let old_set = std::mem::take(&mut entries[idx].fields);
    remove_abandoned(&mut merged, &old_set, &new_set, &entries, typing);
    let me = &mut entries[idx];
    me.fields = new_set;
    me.time = req.now.to_string();
    me.api_version = req.api_version.to_string();
    entries.retain(|e| !e.fields.is_empty());
    Ok(Applied {
        object: merged,
        managed: entries,
    })
}

/// Restricts the applied configuration to what the endpoint may write.
fn scoped_config(config: &Value, scope: Scope) -> Value {
    let mut out = Map::new();
    if let Some(map) = config.as_object() {
        for (k, v) in map {
            let keep = match k.as_str() {
                "apiVersion" | "kind" => true,
                "metadata" => scope != Scope::Status,
                other => scope.covers(other),
            };
            if keep {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Other managers' fields that the apply changes.
fn conflicts(
    entries: &[ManagedEntry],
    req: &ApplyRequest,
    subresource: &Option<String>,
    changed: &FieldSet,
) -> Vec<Conflict> {
    entries
        .iter()
        .filter(|e| !e.is(req.manager, Operation::Apply, req.api_version, subresource))
        .filter_map(|e| {
            let paths: Vec<Path> = e.fields.intersection(changed).cloned().collect();
            (!paths.is_empty()).then(|| Conflict {
                manager: e.manager.clone(),
                operation: e.operation,
                api_version: e.api_version.clone(),
                subresource: e.subresource.clone(),
                paths,
            })
        })
        .collect()
}

/// Removes fields this manager owned before but no longer applies, unless
/// another manager owns them (or something beneath them), or the new
/// configuration still owns something beneath them.
fn remove_abandoned(
    obj: &mut Value,
    old_set: &FieldSet,
    new_set: &FieldSet,
    others: &[ManagedEntry],
    typing: Typing,
) {
    for path in old_set.difference(new_set) {
        let kept = owns_at_or_below(new_set, path)
            || others.iter().any(|e| owns_at_or_below(&e.fields, path));
        if !kept {
            remove_path(obj, path, typing);
        }
    }
}

/// The 409 message, formatted like the apiserver's.
pub(crate) fn conflict_message(conflicts: &[Conflict]) -> String {
    let total: usize = conflicts.iter().map(|c| c.paths.len()).sum();
    let plural = if total == 1 { "" } else { "s" };
    let parts: Vec<String> = conflicts
        .iter()
        .map(|c| {
            if c.paths.len() == 1 {
                format!(
                    "conflict with {}: {}",
                    c.describe(),
                    path_to_string(&c.paths[0])
                )
            } else {
                let list: Vec<String> = c
                    .paths
                    .iter()
                    .map(|p| format!("- {}", path_to_string(p)))
                    .collect();
                format!("conflicts with {}:\n{}", c.describe(), list.join("\n"))
            }
        })
        .collect();
    format!(
        "Apply failed with {total} conflict{plural}: {}",
        parts.join("\n")
    )
}

/// Merges the applied configuration into the live object at the root.
fn merge_root(live: &Value, config: &Value, typing: Typing) -> Value {
    let mut out = live.as_object().cloned().unwrap_or_default();
    let Some(cfg) = config.as_object() else {
        return Value::Object(out);
    };
    for (k, cv) in cfg {
        let path = vec![PathElement::Field(k.clone())];
        let merged = match k.as_str() {
            "apiVersion" | "kind" => cv.clone(),
            "metadata" => merge_metadata(out.get(k).unwrap_or(&Value::Null), cv, typing),
            _ => merge_value(out.get(k).unwrap_or(&Value::Null), cv, &path, typing),
        };
        set_or_remove(&mut out, k, merged);
    }
    Value::Object(out)
}

/// Merges only the tracked metadata fields (labels, annotations, finalizers,
/// ownerReferences, ...); identity and server-owned fields stay as they are.
fn merge_metadata(live: &Value, config: &Value, typing: Typing) -> Value {
    let mut out = live.as_object().cloned().unwrap_or_default();
    if let Some(cfg) = config.as_object() {
        for (k, cv) in cfg {
            if matches!(
                k.as_str(),
                "name"
                    | "namespace"
                    | "uid"
                    | "resourceVersion"
                    | "generation"
                    | "creationTimestamp"
                    | "deletionTimestamp"
                    | "deletionGracePeriodSeconds"
                    | "managedFields"
                    | "selfLink"
            ) {
                continue;
            }
            let path = vec![
                PathElement::Field("metadata".into()),
                PathElement::Field(k.clone()),
            ];
            let merged = merge_value(out.get(k).unwrap_or(&Value::Null), cv, &path, typing);
            set_or_remove(&mut out, k, merged);
        }
    }
    Value::Object(out)
}

/// A null result removes the field (the configuration asked for it to be unset).
fn set_or_remove(map: &mut Map<String, Value>, key: &str, value: Value) {
    if value.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_string(), value);
    }
}

/// Structural merge of `config` into `live` at `path`.
pub(crate) fn merge_value(
    live: &Value,
    config: &Value,
    path: &[PathElement],
    typing: Typing,
) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) if !typing.map_is_atomic(path) => {
            let mut out = l.clone();
            for (k, cv) in c {
                let p = child(path, PathElement::Field(k.clone()));
                let merged = merge_value(l.get(k).unwrap_or(&Value::Null), cv, &p, typing);
                set_or_remove(&mut out, k, merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(c)) => merge_list(l, c, path, typing),
        _ => config.clone(),
    }
}

fn merge_list(live: &[Value], config: &[Value], path: &[PathElement], typing: Typing) -> Value {
    match typing.list_kind(path) {
        ListKind::Atomic => Value::Array(config.to_vec()),
        ListKind::Set => merge_items(live, config, Typing::value_element, |l, _| l.clone()),
        ListKind::Map(keys) => merge_items(
            live,
            config,
            |v| Typing::item_key(&keys, v),
            |l, c| merge_value(l, c, &child(path, Typing::item_key(&keys, c)), typing),
        ),
    }
}

/// Associative lists and sets, as structured-merge-diff's `visitListItems` merges them: the
/// items both have come in the configuration's order, merged; items only the live list has keep
/// their place among them; items only the configuration has come where it puts them.
fn merge_items(
    live: &[Value],
    config: &[Value],
    element: impl Fn(&Value) -> PathElement,
    merge: impl Fn(&Value, &Value) -> Value,
) -> Value {
    let lhs: Vec<PathElement> = live.iter().map(&element).collect();
    let rhs: Vec<PathElement> = config.iter().map(&element).collect();
    let live_item = |pe: &PathElement| lhs.iter().position(|l| l == pe).map(|i| &live[i]);
    let in_config = |pe: &PathElement| rhs.contains(pe);
    let mut shared = rhs.iter().filter(|pe| lhs.contains(pe));
    let mut next_shared = shared.next();
    let mut merged_rhs: Vec<&PathElement> = Vec::new();
    let mut out = Vec::with_capacity(live.len() + config.len());
    let (mut l, mut r) = (0, 0);
    let take = |r: usize, out: &mut Vec<Value>| match live_item(&rhs[r]) {
        Some(lv) => out.push(merge(lv, &config[r])),
        None => out.push(config[r].clone()),
    };
    while l < lhs.len() || r < rhs.len() {
        if l < lhs.len() && r < rhs.len() {
            if lhs[l] == rhs[r] {
                merged_rhs.push(&rhs[r]);
                take(r, &mut out);
                l += 1;
                r += 1;
                next_shared = shared.next();
                continue;
            }
            if in_config(&lhs[l]) && next_shared.is_some_and(|n| n != &lhs[l]) {
                l += 1;
                continue;
            }
        }
        if l < lhs.len() {
            if !in_config(&lhs[l]) {
                out.push(live[l].clone());
                l += 1;
                continue;
            } else if merged_rhs.contains(&&lhs[l]) {
                l += 1;
            }
        }
        if r < rhs.len() {
            merged_rhs.push(&rhs[r]);
            take(r, &mut out);
            if next_shared == Some(&rhs[r]) {
                next_shared = shared.next();
            }
            r += 1;
        }
    }
    Value::Array(out)
}

/// Removes the field, list item or set member at `path`, if present.
pub(crate) fn remove_path(obj: &mut Value, path: &[PathElement], typing: Typing) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let Some(parent) = navigate_mut(obj, parent_path, typing) else {
        return;
    };
    match (last, parent) {
        (PathElement::Field(f), Value::Object(map)) => {
            map.remove(f);
        }
        (PathElement::Key(_), Value::Array(items)) => {
            if let ListKind::Map(keys) = typing.list_kind(parent_path) {
                items.retain(|i| &Typing::item_key(&keys, i) != last);
            }
        }
        (PathElement::Value(_), Value::Array(items)) => {
            items.retain(|i| &Typing::value_element(i) != last);
        }
        _ => {}
    }
}

/// Mutable access to the value at `path`.
fn navigate_mut<'v>(
    obj: &'v mut Value,
    path: &[PathElement],
    typing: Typing,
) -> Option<&'v mut Value> {
    let mut node = obj;
    for (i, pe) in path.iter().enumerate() {
        node = match pe {
            PathElement::Field(f) => node.get_mut(f.as_str())?,
            PathElement::Key(_) => {
                let ListKind::Map(keys) = typing.list_kind(&path[..i]) else {
                    return None;
                };
                node.as_array_mut()?
                    .iter_mut()
                    .find(|item| &Typing::item_key(&keys, item) == pe)?
            }
            PathElement::Value(_) => return None,
        };
    }
    Some(node)
}

/// Drops owned paths that do not exist in the final object (pruned unknown
/// fields, nulls), so managers never own fields that are not there.
pub(crate) fn retain_existing(entries: &mut Vec<ManagedEntry>, obj: &Value, typing: Typing) {
    let existing = paths(&managed::flatten(
        obj,
        typing,
        Scope::Main {
            status_subresource: false,
        },
    ));
    for e in entries.iter_mut() {
        e.fields.retain(|p| existing.contains(p));
    }
    entries.retain(|e| !e.fields.is_empty());
}

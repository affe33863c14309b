//! The non-apply patch types: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902, with the apiserver's Go-library quirks) and strategic merge
//! patch (built-in kinds only).

use serde_json::{Map, Value};

use super::managed::child;
use super::typing::{ListKind, PathElement, Typing};

/// RFC 7386: objects merge recursively, `null` deletes, everything else
/// (including arrays) replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, pv) in patch_map {
            if pv.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), pv);
            }
        }
    }
}

/// RFC 6902. Like the apiserver (evanphx/json-patch), `test` of a missing
/// path against `null` succeeds, which kube's finalizer helper relies on.
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    let mut doc = target.clone();
    for op in ops {
        apply_op(&mut doc, op)?;
    }
    *target = doc;
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = op
        .get("op")
        .and_then(Value::as_str)
        .ok_or("operation has no op")?;
    let path = op
        .get("path")
        .and_then(Value::as_str)
        .ok_or("operation has no path")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or(format!("{kind} operation has no value"))
    };
    let from = || {
        op.get("from")
            .and_then(Value::as_str)
            .ok_or(format!("{kind} operation has no from"))
    };
    match kind {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(|_| ()),
        "replace" => {
            remove(doc, path)?;
            add(doc, path, value()?)
        }
        "move" => {
            let v = remove(doc, from()?)?;
            add(doc, path, v)
        }
        "copy" => {
            let v = doc
                .pointer(from()?)
                .cloned()
                .ok_or("copy from a missing path")?;
            add(doc, path, v)
        }
        "test" => test(doc, path, &value()?),
        other => Err(format!("unexpected kind: {other}")),
    }
}

fn test(doc: &Value, path: &str, expected: &Value) -> Result<(), String> {
    match doc.pointer(path) {
        None if expected.is_null() => Ok(()),
        Some(actual) if actual == expected => Ok(()),
        _ => Err(format!("testing value {path} failed: test failed")),
    }
}

/// Splits a JSON pointer into parent pointer and unescaped last token.
fn split_pointer(path: &str) -> Result<(&str, String), String> {
    let idx = path
        .rfind('/')
        .ok_or(format!("invalid JSON pointer {path:?}"))?;
    let token = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..idx], token))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, token) = split_pointer(path)?;
    let missing = || format!("add operation does not apply: doc is missing path: {path:?}");
    match doc.pointer_mut(parent).ok_or_else(missing)? {
        Value::Object(map) => {
            map.insert(token, value);
            Ok(())
        }
        Value::Array(items) => {
            let idx = if token == "-" {
                items.len()
            } else {
                token.parse::<usize>().map_err(|_| missing())?
            };
            if idx > items.len() {
                return Err(missing());
            }
            items.insert(idx, value);
            Ok(())
        }
        _ => Err(missing()),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, token) = split_pointer(path)?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path:?}");
    match doc.pointer_mut(parent).ok_or_else(missing)? {
        Value::Object(map) => map.remove(&token).ok_or_else(missing),
        Value::Array(items) => {
            let idx = token.parse::<usize>().map_err(|_| missing())?;
            if idx >= items.len() {
                return Err(missing());
            }
            Ok(items.remove(idx))
        }
        _ => Err(missing()),
    }
}

/// Strategic merge patch for built-in kinds: lists with a patch merge key
/// merge by that key (honouring `$patch: delete` / `$patch: replace`),
/// merge-strategy primitive lists (finalizers) take the union, other lists
/// replace; `$setElementOrder/...` and `$retainKeys` are accepted and
/// ignored, `$deleteFromPrimitiveList/<field>` removes values.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    *target = smp_value(target, patch, &[])?;
    Ok(())
}

fn smp_value(live: &Value, patch: &Value, path: &[PathElement]) -> Result<Value, String> {
    let Value::Object(p) = patch else {
        return Ok(patch.clone());
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = p.clone();
        replaced.remove("$patch");
        return Ok(Value::Object(replaced));
    }
    let mut out = live.as_object().cloned().unwrap_or_default();
    for (k, pv) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            delete_from_primitive_list(&mut out, field, pv);
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        let fpath = child(path, PathElement::Field(k.clone()));
        if pv.is_null() {
            out.remove(k);
            continue;
        }
        let lv = out.get(k).cloned().unwrap_or(Value::Null);
        let merged = match (&lv, pv) {
            (Value::Array(l), Value::Array(pl)) => smp_list(l, pl, &fpath)?,
            (_, Value::Array(pl)) => smp_list(&[], pl, &fpath)?,
            (_, Value::Object(_)) => smp_value(&lv, pv, &fpath)?,
            _ => pv.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Ok(Value::Object(out))
}

fn delete_from_primitive_list(out: &mut Map<String, Value>, field: &str, values: &Value) {
    let Some(remove) = values.as_array() else {
        return;
    };
    if let Some(Value::Array(items)) = out.get_mut(field) {
        items.retain(|i| !remove.contains(i));
    }
}

fn smp_list(live: &[Value], patch: &[Value], path: &[PathElement]) -> Result<Value, String> {
    match Typing::builtin().list_kind(path) {
        ListKind::Atomic => Ok(Value::Array(patch.to_vec())),
        ListKind::Set => {
            let mut out = live.to_vec();
            out.extend(patch.iter().filter(|p| !live.contains(p)).cloned());
            Ok(Value::Array(out))
        }
        ListKind::Map(keys) => smp_keyed(live, patch, &keys[0], path),
    }
}

/// Lists merged by their patch merge key (the first key field).
fn smp_keyed(
    live: &[Value],
    patch: &[Value],
    key: &str,
    path: &[PathElement],
) -> Result<Value, String> {
    if patch
        .iter()
        .any(|p| p.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        let items = patch.iter().filter(|p| p.get("$patch").is_none()).cloned();
        return Ok(Value::Array(items.collect()));
    }
    let mut out = live.to_vec();
    for item in patch {
        let k = item.get(key).ok_or(format!(
            "map: {item} does not contain declared merge key: {key}"
        ))?;
        let pos = out.iter().position(|l| l.get(key) == Some(k));
        let deleting = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, deleting) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => out[i] = smp_value(&out[i], item, path)?,
            (None, false) => out.push(smp_value(&Value::Null, item, path)?),
        }
    }
    Ok(Value::Array(out))
}

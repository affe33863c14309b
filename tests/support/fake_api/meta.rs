//! ObjectMeta validation shared by every kind: names, labels, annotations,
//! finalizers and ownerReferences, with the apiserver's messages.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::errors::{Cause, FieldErrorKind, field_error};

static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
        .expect("static regex")
});
static DNS_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("static regex"));
static LABEL_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$").expect("static regex")
});
static QUALIFIED_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").expect("static regex")
});

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Which name rule a kind uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    Subdomain,
    Label,
}

/// Validates `metadata.name` (422 messages).
pub(crate) fn validate_name(name: &str, rule: NameRule) -> Option<Cause> {
    let (ok, msg) = match rule {
        NameRule::Subdomain => (
            name.len() <= 253 && DNS_SUBDOMAIN.is_match(name),
            SUBDOMAIN_MSG,
        ),
        NameRule::Label => (name.len() <= 63 && DNS_LABEL.is_match(name), LABEL_MSG),
    };
    (!ok).then(|| {
        field_error(
            "metadata.name",
            FieldErrorKind::Invalid,
            &format!("{name:?}: {msg}"),
        )
    })
}

/// Validates labels, annotations, finalizers and ownerReferences.
pub(crate) fn validate_metadata(meta: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    for (k, v) in meta
        .get("labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        validate_qualified_name(k, "metadata.labels", &mut errs);
        let value = v.as_str().unwrap_or("");
        if value.len() > 63 {
            errs.push(field_error(
                "metadata.labels",
                FieldErrorKind::Invalid,
                &format!("{value:?}: must be no more than 63 characters"),
            ));
        } else if !LABEL_VALUE.is_match(value) {
            errs.push(field_error(
                "metadata.labels",
                FieldErrorKind::Invalid,
                &format!("{value:?}: {LABEL_VALUE_MSG}"),
            ));
        }
    }
    let annotations = meta.get("annotations").and_then(Value::as_object);
    let mut total = 0usize;
    for (k, v) in annotations.into_iter().flatten() {
        validate_qualified_name(k, "metadata.annotations", &mut errs);
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > 256 * 1024 {
        errs.push(field_error(
            "metadata.annotations",
            FieldErrorKind::TooLong,
            "may not be more than 262144 bytes",
        ));
    }
    for f in meta
        .get("finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        validate_qualified_name(f.as_str().unwrap_or(""), "metadata.finalizers", &mut errs);
    }
    validate_owner_references(meta, &mut errs);
    errs
}

/// `prefix/name` with a DNS subdomain prefix and a 63-char name part.
fn validate_qualified_name(key: &str, field: &str, errs: &mut Vec<Cause>) {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && !(p.len() <= 253 && DNS_SUBDOMAIN.is_match(p))
    {
        errs.push(field_error(
            field,
            FieldErrorKind::Invalid,
            &format!("{key:?}: prefix part {SUBDOMAIN_MSG}"),
        ));
    }
    if name.is_empty() || name.len() > 63 || !QUALIFIED_NAME.is_match(name) {
        errs.push(field_error(
            field,
            FieldErrorKind::Invalid,
            &format!("{key:?}: {QUALIFIED_NAME_MSG}"),
        ));
    }
}

fn validate_owner_references(meta: &Value, errs: &mut Vec<Cause>) {
    let refs = meta.get("ownerReferences").and_then(Value::as_array);
    let mut controllers = 0;
    for (i, r) in refs.into_iter().flatten().enumerate() {
        for field in ["apiVersion", "kind", "name", "uid"] {
            if r.get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                let path = format!("metadata.ownerReferences[{i}].{field}");
                errs.push(field_error(
                    &path,
                    FieldErrorKind::Invalid,
                    "\"\": must not be empty",
                ));
            }
        }
        if r.get("controller") == Some(&Value::Bool(true)) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errs.push(field_error(
            "metadata.ownerReferences",
            FieldErrorKind::Invalid,
            "Only one reference can have Controller set to true",
        ));
    }
}

/// ObjectMeta's `omitempty` collections: empty ones are not stored.
pub(crate) fn drop_empty_collections(obj: &mut Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, v| {
            let collection = matches!(
                k.as_str(),
                "labels" | "annotations" | "finalizers" | "ownerReferences"
            );
            let empty = match v {
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                Value::Null => true,
                _ => false,
            };
            !(collection && empty)
        });
    }
}

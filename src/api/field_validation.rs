//! `kubectl`'s default field validation (`--validate=strict`), offline: a Validator read from a file
//! is checked against the generated CRD's `openAPIV3Schema` as the API server checks a request, so
//! that `render`, `iam-policy` and `verify -f` refuse what `kubectl apply` refuses.
//!
//! The typed structs stay lenient (the controller must read live objects written under a newer
//! CRD); strictness lives here, on the YAML as written, with the line of every field.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::Validator;

/// The group/version a Validator is served under.
pub(crate) const API_VERSION: &str = "canton-operator.dev/v1alpha1";

/// Why a Validator document is not one the API server would accept as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldValidationError {
    #[error("not YAML the API server reads: {0}")]
    Yaml(String),
    #[error("line {line}: apiVersion is `{found}`; a Validator is {API_VERSION}")]
    ApiVersion { line: u64, found: String },
    #[error("apiVersion is missing; a Validator is {API_VERSION}")]
    NoApiVersion,
    #[error("{}", unknown_fields(.0))]
    UnknownFields(Vec<UnknownField>),
}

/// A field the schema does not declare, where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    /// As kubectl names it, such as `spec.participant.postgress` or `spec.x[0].y`.
    pub path: String,
    pub line: u64,
}

fn unknown_fields(fields: &[UnknownField]) -> String {
    let lines: Vec<String> = fields
        .iter()
        .map(|f| format!("line {}: unknown field \"{}\"", f.line, f.path))
        .collect();
    format!(
        "{} (strict field validation, as kubectl apply does by default)",
        lines.join("; ")
    )
}

/// serde-saphyr's message without its own leading `error: ` (the command prints one already).
pub(crate) fn yaml_error(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    text.strip_prefix("error: ").unwrap_or(&text).to_string()
}

/// A YAML document as written: maps keep each key's line.
enum Node {
    Map(Vec<(Spanned<String>, Node)>),
    Seq(Vec<Node>),
    Scalar(Option<String>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Node::Map(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(None))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
}

/// The fields of `metadata` the API server knows (ObjectMeta); the CRD schema leaves it open.
const OBJECT_META: &[&str] = &[
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

/// The Validator CRD's `openAPIV3Schema`, as JSON; built once.
fn validator_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Validator::crd()
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or(Value::Null)
    })
}

/// Checks one YAML document that says it is a Validator (`kind: Validator`): its `apiVersion`, and
/// that every field it writes is one the CRD declares. `text` may be padded with blank lines so
/// that lines count from the start of the whole file.
pub(crate) fn check_validator_document(text: &str) -> Result<(), FieldValidationError> {
    let node: Node =
        serde_saphyr::from_str(text).map_err(|e| FieldValidationError::Yaml(yaml_error(&e)))?;
    let Node::Map(entries) = &node else {
        return Ok(()); // not an object: the typed decode says what it is
    };
    match entries.iter().find(|(k, _)| k.value == "apiVersion") {
        None => return Err(FieldValidationError::NoApiVersion),
        Some((key, Node::Scalar(Some(v)))) if v == API_VERSION => {
            let _ = key;
        }
        Some((key, value)) => {
            return Err(FieldValidationError::ApiVersion {
                line: key.referenced.line(),
                found: match value {
                    Node::Scalar(Some(v)) => v.clone(),
                    _ => "not a string".to_string(),
                },
            });
        }
    }
    let mut unknown = Vec::new();
    for (key, value) in entries {
        match key.value.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => check_metadata(value, &mut unknown),
            field => match validator_schema()["properties"].get(field) {
                Some(schema) => check(value, schema, field, &mut unknown),
                None => unknown.push(UnknownField {
                    path: field.to_string(),
                    line: key.referenced.line(),
                }),
            },
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(FieldValidationError::UnknownFields(unknown))
    }
}

fn check_metadata(node: &Node, unknown: &mut Vec<UnknownField>) {
    if let Node::Map(entries) = node {
        for (key, _) in entries {
            if !OBJECT_META.contains(&key.value.as_str()) {
                unknown.push(UnknownField {
                    path: format!("metadata.{}", key.value),
                    line: key.referenced.line(),
                });
            }
        }
    }
}

/// Walks `node` along `schema` (a structural schema: `properties`, `additionalProperties`,
/// `items`, `x-kubernetes-preserve-unknown-fields`), collecting the fields it does not declare.
fn check(node: &Node, schema: &Value, path: &str, unknown: &mut Vec<UnknownField>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match node {
        Node::Map(entries) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (key, value) in entries {
                let at = format!("{path}.{}", key.value);
                if let Some(field) = properties.and_then(|p| p.get(&key.value)) {
                    check(value, field, &at, unknown);
                } else if let Some(additional) = additional.filter(|a| a.is_object()) {
                    check(value, additional, &at, unknown);
                } else if additional != Some(&Value::Bool(true)) {
                    unknown.push(UnknownField {
                        path: at,
                        line: key.referenced.line(),
                    });
                }
            }
        }
        Node::Seq(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        Node::Scalar(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../examples/validator.yaml");

    fn unknown(text: &str) -> Vec<(String, u64)> {
        match check_validator_document(text) {
            Err(FieldValidationError::UnknownFields(f)) => {
                f.into_iter().map(|f| (f.path, f.line)).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    /// `EXAMPLE` with `line` inserted after the first line that starts with `after`.
    fn with_line(after: &str, line: &str) -> (String, u64) {
        let mut out = Vec::new();
        let mut at = 0;
        for (i, l) in EXAMPLE.lines().enumerate() {
            out.push(l.to_string());
            if at == 0 && l.trim_start().starts_with(after) {
                out.push(line.to_string());
                at = i as u64 + 2;
            }
        }
        assert!(at > 0, "{after} not in the example");
        (out.join("\n") + "\n", at)
    }

    #[test]
    fn the_examples_pass() {
        for example in [
            EXAMPLE,
            include_str!("../../examples/validator-no-kms.yaml"),
        ] {
            assert_eq!(check_validator_document(example), Ok(()));
        }
    }

    #[test]
    fn unknown_fields_are_named_with_their_line() {
        let (text, line) = with_line("version:", "  replicas: 3");
        assert_eq!(unknown(&text), [("spec.replicas".to_string(), line)]);
        let (text, line) = with_line("participant:", "    postgress: {}");
        assert_eq!(
            unknown(&text),
            [("spec.participant.postgress".to_string(), line)]
        );
        let (text, line) = with_line("name:", "  nmespace: x");
        assert_eq!(unknown(&text), [("metadata.nmespace".to_string(), line)]);
    }

    #[test]
    fn maps_of_free_keys_and_lists_are_walked() {
        let (text, _) = with_line("name:", "  labels: {a: b, c: d}");
        assert_eq!(check_validator_document(&text), Ok(()));
        let (text, line) = with_line(
            "participant:",
            "    additionalEnv: [{name: A, value: b, valu: c}]",
        );
        assert_eq!(
            unknown(&text),
            [("spec.participant.additionalEnv[0].valu".to_string(), line)]
        );
    }

    #[test]
    fn the_api_version_is_the_crd_s() {
        let text = EXAMPLE.replace(API_VERSION, "canton-operator.dev/v1");
        assert!(matches!(
            check_validator_document(&text),
            Err(FieldValidationError::ApiVersion { line: 2, .. })
        ));
    }
}

//! Reading `CANTON_TOPOLOGY_KMS_VALUE`: one HOCON object, known keys only.
//!
//! The value comes from outside the operator and ends up inside the participant's configuration,
//! so anything HOCON can do besides plain values — includes, substitutions, extra objects after
//! the first, appends, dotted paths that reach elsewhere — is refused rather than interpreted.

use std::collections::BTreeMap;

use hocon::parser::{AstField, AstNode};
use hocon::{ScalarType, Token, TokenKind};

use super::model::{AwsKms, DriverKms, GcpKms, KmsProvider};

/// Longer values are refused before parsing; a real one is well under a kilobyte.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
const AWS_KEYS: &[&str] = &[
    "type",
    "region",
    "multi-region-key",
    "audit-logging",
    "endpoint-override",
    "disable-ssl-verification",
    "custom-tags",
];
const GCP_KEYS: &[&str] = &[
    "type",
    "location-id",
    "project-id",
    "key-ring-id",
    "audit-logging",
    "endpoint-override",
];
const DRIVER_KEYS: &[&str] = &["type", "name", "config", "health-check-period"];

/// Why a KMS value was refused; each names the key or construct at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsValueError {
    #[error("is empty; expected an object such as {{ type = \"aws\", region = \"eu-west-1\" }}")]
    Empty,
    #[error("is {0} bytes long; at most {MAX_VALUE_BYTES} bytes are accepted")]
    TooLong(usize),
    #[error("contains the control character U+{0:04X}; only plain text is accepted")]
    ControlCharacter(u32),
    #[error("is not valid HOCON: {0}")]
    Syntax(String),
    #[error(
        "must be a single HOCON object in braces, such as {{ type = \"aws\", region = \"eu-west-1\" }}"
    )]
    NotAnObject,
    #[error(
        "has text after the closing brace at line {line}, column {col}; only one object is accepted"
    )]
    TrailingContent { line: usize, col: usize },
    #[error("uses a substitution (${{…}}) at line {line}, column {col}; write the value itself")]
    Substitution { line: usize, col: usize },
    #[error("uses `include` at line {line}, column {col}; includes are not accepted")]
    Include { line: usize, col: usize },
    #[error("uses `+=` on `{0}`; appends are not accepted")]
    Append(String),
    #[error("uses the dotted key `{0}`; write nested objects with braces instead")]
    DottedKey(String),
    #[error("defines `{0}` twice with different values")]
    Duplicate(String),
    #[error("has no `type`; set type = \"aws\", \"gcp\" or \"driver\"")]
    MissingType,
    #[error("has type = \"{0}\"; canton-operator knows \"aws\", \"gcp\" and \"driver\"")]
    UnknownType(String),
    #[error("has the key `{key}`, which is not a Canton {provider} KMS setting (known: {known})")]
    UnknownKey {
        key: String,
        provider: &'static str,
        known: String,
    },
    #[error("lacks `{key}`, which {provider} KMS requires")]
    Missing {
        key: &'static str,
        provider: &'static str,
    },
    #[error("has `{key}` of the wrong type: expected {expected}")]
    WrongType { key: String, expected: &'static str },
}

/// Parses a KMS value such as `{ type = "aws", region = "eu-west-1", audit-logging = true }`.
pub fn parse_kms_value(text: &str) -> Result<KmsProvider, KmsValueError> {
    check_text(text)?;
    let tokens = hocon::tokenize(text).map_err(|e| KmsValueError::Syntax(e.to_string()))?;
    check_tokens(&tokens)?;
    let root =
        hocon::parser::parse_tokens(&tokens).map_err(|e| KmsValueError::Syntax(e.to_string()))?;
    let AstNode::Object { fields, .. } = root else {
        return Err(KmsValueError::NotAnObject);
    };
    let fields = collect_fields(&fields)?;
    provider_from(&fields)
}

fn check_text(text: &str) -> Result<(), KmsValueError> {
    if text.len() > MAX_VALUE_BYTES {
        return Err(KmsValueError::TooLong(text.len()));
    }
    if text.trim().is_empty() {
        return Err(KmsValueError::Empty);
    }
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(KmsValueError::ControlCharacter(c as u32)),
        None => Ok(()),
    }
}

/// Token-level checks the AST cannot show: one braced root and nothing after it, no substitutions.
fn check_tokens(tokens: &[Token]) -> Result<(), KmsValueError> {
    if let Some(t) = tokens.iter().find(|t| t.kind == TokenKind::Substitution) {
        return Err(KmsValueError::Substitution {
            line: t.line,
            col: t.col,
        });
    }
    let mut significant = tokens
        .iter()
        .filter(|t| !matches!(t.kind, TokenKind::Newline | TokenKind::Eof));
    if significant.next().map(|t| &t.kind) != Some(&TokenKind::LBrace) {
        return Err(KmsValueError::NotAnObject);
    }
    let mut depth = 1usize;
    for t in significant {
        if depth == 0 {
            return Err(KmsValueError::TrailingContent {
                line: t.line,
                col: t.col,
            });
        }
        match t.kind {
            TokenKind::LBrace | TokenKind::LBracket => depth += 1,
            TokenKind::RBrace | TokenKind::RBracket => depth -= 1,
            _ => {}
        }
    }
    Ok(())
}

/// Top-level fields by key; a repeated key is accepted only when it says the same thing.
fn collect_fields(fields: &[AstField]) -> Result<BTreeMap<String, &AstNode>, KmsValueError> {
    let mut out: BTreeMap<String, &AstNode> = BTreeMap::new();
    for field in fields {
        let key = field_key(field)?;
        if let Some(previous) = out.get(&key)
            && literal(previous)? != literal(&field.value)?
        {
            return Err(KmsValueError::Duplicate(key));
        }
        out.insert(key, &field.value);
    }
    Ok(out)
}

fn field_key(field: &AstField) -> Result<String, KmsValueError> {
    if let AstNode::Include { pos, .. } = &field.value {
        return Err(KmsValueError::Include {
            line: pos.line,
            col: pos.col,
        });
    }
    let key = field.key.join(".");
    if field.key.len() != 1 {
        return Err(KmsValueError::DottedKey(key));
    }
    if field.append {
        return Err(KmsValueError::Append(key));
    }
    Ok(key)
}

fn provider_from(fields: &BTreeMap<String, &AstNode>) -> Result<KmsProvider, KmsValueError> {
    let ty = match fields.get("type") {
        Some(node) => string(node, "type")?,
        None => return Err(KmsValueError::MissingType),
    };
    match ty.as_str() {
        "aws" => {
            known_keys(fields, AWS_KEYS, "AWS")?;
            Ok(KmsProvider::Aws(aws(fields)?))
        }
        "gcp" => {
            known_keys(fields, GCP_KEYS, "GCP")?;
            Ok(KmsProvider::Gcp(gcp(fields)?))
        }
        "driver" => {
            known_keys(fields, DRIVER_KEYS, "driver")?;
            Ok(KmsProvider::Driver(driver(fields)?))
        }
        _ => Err(KmsValueError::UnknownType(ty)),
    }
}

fn known_keys(
    fields: &BTreeMap<String, &AstNode>,
    known: &[&str],
    provider: &'static str,
) -> Result<(), KmsValueError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(KmsValueError::UnknownKey {
            key: key.clone(),
            provider,
            known: known.join(", "),
        }),
        None => Ok(()),
    }
}

fn aws(f: &BTreeMap<String, &AstNode>) -> Result<AwsKms, KmsValueError> {
    Ok(AwsKms {
        region: required_string(f, "region", "AWS")?,
        multi_region_key: opt(f, "multi-region-key", boolean)?,
        audit_logging: opt(f, "audit-logging", boolean)?,
        endpoint_override: opt(f, "endpoint-override", string)?,
        disable_ssl_verification: opt(f, "disable-ssl-verification", boolean)?,
        custom_tags: opt(f, "custom-tags", string_map)?,
    })
}

fn gcp(f: &BTreeMap<String, &AstNode>) -> Result<GcpKms, KmsValueError> {
    Ok(GcpKms {
        location_id: required_string(f, "location-id", "GCP")?,
        project_id: required_string(f, "project-id", "GCP")?,
        key_ring_id: required_string(f, "key-ring-id", "GCP")?,
        audit_logging: opt(f, "audit-logging", boolean)?,
        endpoint_override: opt(f, "endpoint-override", string)?,
    })
}

fn driver(f: &BTreeMap<String, &AstNode>) -> Result<DriverKms, KmsValueError> {
    let config = match f.get("config") {
        Some(node) => match json(node, "config")? {
            serde_json::Value::Object(map) => Some(map),
            _ => return Err(wrong("config", "an object")),
        },
        None => None,
    };
    Ok(DriverKms {
        name: required_string(f, "name", "driver")?,
        config,
        health_check_period: opt(f, "health-check-period", string)?,
        jar: None,
    })
}

fn required_string(
    f: &BTreeMap<String, &AstNode>,
    key: &'static str,
    provider: &'static str,
) -> Result<String, KmsValueError> {
    opt(f, key, string)?.ok_or(KmsValueError::Missing { key, provider })
}

fn opt<T>(
    f: &BTreeMap<String, &AstNode>,
    key: &str,
    read: fn(&AstNode, &str) -> Result<T, KmsValueError>,
) -> Result<Option<T>, KmsValueError> {
    f.get(key).map(|node| read(node, key)).transpose()
}

fn wrong(key: &str, expected: &'static str) -> KmsValueError {
    KmsValueError::WrongType {
        key: key.to_string(),
        expected,
    }
}

fn string(node: &AstNode, key: &str) -> Result<String, KmsValueError> {
    match node {
        AstNode::Scalar { value, .. } if value.value_type == ScalarType::String => {
            Ok(value.raw.clone())
        }
        _ => Err(wrong(key, "a string")),
    }
}

fn boolean(node: &AstNode, key: &str) -> Result<bool, KmsValueError> {
    match node {
        AstNode::Scalar { value, .. } if value.value_type == ScalarType::Boolean => {
            match value.raw.as_str() {
                "true" | "yes" | "on" => Ok(true),
                "false" | "no" | "off" => Ok(false),
                _ => Err(wrong(key, "true or false")),
            }
        }
        _ => Err(wrong(key, "true or false")),
    }
}

fn string_map(node: &AstNode, key: &str) -> Result<BTreeMap<String, String>, KmsValueError> {
    let AstNode::Object { fields, .. } = node else {
        return Err(wrong(key, "an object of strings"));
    };
    let fields = collect_fields(fields)?;
    fields
        .into_iter()
        .map(|(k, v)| {
            let value = string(v, &format!("{key}.{k}"))?;
            Ok((k, value))
        })
        .collect()
}

/// A literal value tree, for free-form driver configuration and for comparing duplicates.
fn json(node: &AstNode, key: &str) -> Result<serde_json::Value, KmsValueError> {
    match node {
        AstNode::Scalar { value, .. } => scalar_json(value, key),
        AstNode::Array { items, .. } => items
            .iter()
            .map(|item| json(item, key))
            .collect::<Result<Vec<_>, _>>()
            .map(serde_json::Value::Array),
        AstNode::Object { fields, .. } => {
            let fields = collect_fields(fields)?;
            let mut map = serde_json::Map::new();
            for (k, v) in fields {
                let inner = json(v, &format!("{key}.{k}"))?;
                map.insert(k, inner);
            }
            Ok(serde_json::Value::Object(map))
        }
        AstNode::Substitution { pos, .. } => Err(KmsValueError::Substitution {
            line: pos.line,
            col: pos.col,
        }),
        AstNode::Include { pos, .. } => Err(KmsValueError::Include {
            line: pos.line,
            col: pos.col,
        }),
        _ => Err(wrong(
            key,
            "a single value (quote text that contains spaces)",
        )),
    }
}

fn scalar_json(value: &hocon::ScalarValue, key: &str) -> Result<serde_json::Value, KmsValueError> {
    match value.value_type {
        ScalarType::String => Ok(serde_json::Value::String(value.raw.clone())),
        ScalarType::Boolean => Ok(serde_json::Value::Bool(value.raw == "true")),
        ScalarType::Null => Ok(serde_json::Value::Null),
        ScalarType::Number => number(&value.raw)
            .map(serde_json::Value::Number)
            .ok_or_else(|| wrong(key, "a number")),
        _ => Err(wrong(key, "a plain value")),
    }
}

/// A number exactly as written: `serde_json`'s own float parsing (without its `float_roundtrip`
/// feature) can be off by one unit in the last place, which would change a driver setting.
fn number(raw: &str) -> Option<serde_json::Number> {
    if let Ok(i) = raw.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = raw.parse::<u64>() {
        return Some(u.into());
    }
    raw.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
}

/// Any node as a comparable literal (used to accept a key repeated with the same value).
fn literal(node: &AstNode) -> Result<serde_json::Value, KmsValueError> {
    json(node, "value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_example() {
        let p = parse_kms_value(r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#)
            .unwrap();
        assert_eq!(
            p,
            KmsProvider::Aws(AwsKms {
                region: "eu-west-1".into(),
                audit_logging: Some(true),
                ..Default::default()
            })
        );
    }

    #[test]
    fn refuses_appended_settings() {
        let e = parse_kms_value(r#"{ type = "aws", region = "x" } canton.x = 1"#).unwrap_err();
        assert!(matches!(e, KmsValueError::TrailingContent { .. }), "{e}");
    }
}

//! Reading `CANTON_TOPOLOGY_KMS_VALUE`: one HOCON object, known keys only.
//!
//! The value comes from outside the operator and ends up inside the participant's configuration,
//! so anything HOCON can do besides plain values — includes, substitutions, extra objects after
//! the first, appends, dotted paths that reach elsewhere — is refused rather than interpreted.
//! One reader, `hocon-parser`, reads every value and makes every refusal; it runs once per start,
//! so its few microseconds do not matter (docs/performance.md).

use std::collections::BTreeMap;

use hocon::parser::{AstField, AstNode};
use hocon::{ScalarType, Token, TokenKind};

use super::error::{KmsValueError, MAX_VALUE_BYTES};
use super::fields::{self, Fields};
use super::model::KmsProvider;

/// Parses a KMS value such as `{ type = "aws", region = "eu-west-1", audit-logging = true }`.
pub fn parse_kms_value(text: &str) -> Result<KmsProvider, KmsValueError> {
    check_text(text)?;
    fields::provider_from(hocon_fields(text)?)
}

/// The top-level fields as `hocon-parser` reads them, after refusing what the value may not use.
fn hocon_fields(text: &str) -> Result<Fields, KmsValueError> {
    let tokens = hocon::tokenize(text).map_err(|e| KmsValueError::Syntax(e.to_string()))?;
    check_tokens(&tokens)?;
    let root =
        hocon::parser::parse_tokens(&tokens).map_err(|e| KmsValueError::Syntax(e.to_string()))?;
    let AstNode::Object { fields, .. } = root else {
        return Err(KmsValueError::NotAnObject);
    };
    Ok(collect_fields(&fields)?
        .into_iter()
        .map(|(key, node)| {
            let value = json(node, &key);
            (key, value)
        })
        .collect())
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
        _ => Err(fields::wrong(
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
        ScalarType::Number => {
            fields::number_literal(&value.raw).ok_or_else(|| fields::wrong(key, "a number"))
        }
        _ => Err(fields::wrong(key, "a plain value")),
    }
}

/// Any node as a comparable literal (used to accept a key repeated with the same value).
fn literal(node: &AstNode) -> Result<serde_json::Value, KmsValueError> {
    json(node, "value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::AwsKms;

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

    #[test]
    fn comments_and_bare_words_parse() {
        let commented = "{ type = \"aws\" # the seed's provider\n region = eu-west-1 }";
        assert_eq!(
            parse_kms_value(commented),
            Ok(KmsProvider::Aws(AwsKms {
                region: "eu-west-1".into(),
                ..Default::default()
            }))
        );
    }
}

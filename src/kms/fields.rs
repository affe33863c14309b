//! From a KMS value's top-level fields, read as literal trees, to the typed model.
//!
//! Which keys are known, which are required and what type each must have, apart from the HOCON
//! syntax checks in `parse.rs`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::KmsValueError;
use super::model::{AwsKms, DriverKms, GcpKms, KmsProvider};

/// Top-level fields by key. A value that could not be read keeps its error until the field is
/// used, so an unknown key is reported before whatever is wrong underneath it.
pub(super) type Fields = BTreeMap<String, Result<Value, KmsValueError>>;

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

/// The typed provider the fields describe, or the first thing wrong with them.
pub(super) fn provider_from(mut fields: Fields) -> Result<KmsProvider, KmsValueError> {
    let ty = match fields.remove("type") {
        Some(value) => string(value, "type")?,
        None => return Err(KmsValueError::MissingType),
    };
    match ty.as_str() {
        "aws" => {
            known_keys(&fields, AWS_KEYS, "AWS")?;
            Ok(KmsProvider::Aws(aws(&mut fields)?))
        }
        "gcp" => {
            known_keys(&fields, GCP_KEYS, "GCP")?;
            Ok(KmsProvider::Gcp(gcp(&mut fields)?))
        }
        "driver" => {
            known_keys(&fields, DRIVER_KEYS, "driver")?;
            Ok(KmsProvider::Driver(driver(&mut fields)?))
        }
        _ => Err(KmsValueError::UnknownType(ty)),
    }
}

fn known_keys(
    fields: &Fields,
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

fn aws(f: &mut Fields) -> Result<AwsKms, KmsValueError> {
    Ok(AwsKms {
        region: required_string(f, "region", "AWS")?,
        multi_region_key: opt(f, "multi-region-key", boolean)?,
        audit_logging: opt(f, "audit-logging", boolean)?,
        endpoint_override: opt(f, "endpoint-override", string)?,
        disable_ssl_verification: opt(f, "disable-ssl-verification", boolean)?,
        custom_tags: opt(f, "custom-tags", string_map)?,
    })
}

fn gcp(f: &mut Fields) -> Result<GcpKms, KmsValueError> {
    Ok(GcpKms {
        location_id: required_string(f, "location-id", "GCP")?,
        project_id: required_string(f, "project-id", "GCP")?,
        key_ring_id: required_string(f, "key-ring-id", "GCP")?,
        audit_logging: opt(f, "audit-logging", boolean)?,
        endpoint_override: opt(f, "endpoint-override", string)?,
    })
}

fn driver(f: &mut Fields) -> Result<DriverKms, KmsValueError> {
    Ok(DriverKms {
        name: required_string(f, "name", "driver")?,
        config: opt(f, "config", object)?,
        health_check_period: opt(f, "health-check-period", string)?,
        jar: None,
    })
}

fn required_string(
    f: &mut Fields,
    key: &'static str,
    provider: &'static str,
) -> Result<String, KmsValueError> {
    opt(f, key, string)?.ok_or(KmsValueError::Missing { key, provider })
}

type Read<T> = fn(Result<Value, KmsValueError>, &str) -> Result<T, KmsValueError>;

fn opt<T>(f: &mut Fields, key: &str, read: Read<T>) -> Result<Option<T>, KmsValueError> {
    f.remove(key).map(|value| read(value, key)).transpose()
}

pub(super) fn wrong(key: &str, expected: &'static str) -> KmsValueError {
    KmsValueError::WrongType {
        key: key.to_string(),
        expected,
    }
}

fn string(value: Result<Value, KmsValueError>, key: &str) -> Result<String, KmsValueError> {
    match value? {
        Value::String(s) => Ok(s),
        _ => Err(wrong(key, "a string")),
    }
}

fn boolean(value: Result<Value, KmsValueError>, key: &str) -> Result<bool, KmsValueError> {
    match value? {
        Value::Bool(b) => Ok(b),
        _ => Err(wrong(key, "true or false")),
    }
}

fn object(
    value: Result<Value, KmsValueError>,
    key: &str,
) -> Result<Map<String, Value>, KmsValueError> {
    match value? {
        Value::Object(map) => Ok(map),
        _ => Err(wrong(key, "an object")),
    }
}

fn string_map(
    value: Result<Value, KmsValueError>,
    key: &str,
) -> Result<BTreeMap<String, String>, KmsValueError> {
    let Value::Object(map) = value? else {
        return Err(wrong(key, "an object of strings"));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            _ => Err(wrong(&format!("{key}.{k}"), "a string")),
        })
        .collect()
}

/// A number literal as Typesafe Config (Canton's reader) takes it: with `.`, `e` or `E` a double;
/// otherwise a 64-bit integer, and an integer literal too long for one is text (Typesafe falls
/// back to a string when `Long.parseLong` fails). Parsed here rather than by `serde_json`, whose
/// float parsing (without `float_roundtrip`) can be one unit off in the last place. `None` for a
/// double that overflows.
pub(super) fn number_literal(raw: &str) -> Option<Value> {
    if !raw.contains(['.', 'e', 'E']) {
        return Some(match raw.parse::<i64>() {
            Ok(i) => Value::Number(i.into()),
            Err(_) => Value::String(raw.to_string()),
        });
    }
    raw.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
}

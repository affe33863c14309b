//! "Equal as the API server stores it", the one definition both the fingerprint
//! (`projection`) and the field-by-field comparison use.
//!
//! The API server adds defaults (clusterIP, probe timeouts, …), so "equal" would always be false;
//! what matters is that every field we set has our value. Lists must match item for item, which
//! also catches an env var someone added or removed. The server drops empty maps and lists and
//! stores quantities canonical (`1000m` as `1`), so [`Entries`] leaves out empty values and
//! writes quantities by value before anything is compared or hashed.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::quantity;

/// Maps whose values are quantities (`resources.limits`, `resources.requests`, pod `overhead`).
const QUANTITY_MAPS: &[&str] = &["limits", "requests", "overhead"];
/// Fields that are quantities themselves (`emptyDir.sizeLimit`).
const QUANTITY_FIELDS: &[&str] = &["sizeLimit"];

/// What the value at a place holds, as far as comparing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Plain,
    QuantityMap,
    Quantity,
}

impl Field {
    /// The kind of the value under `key` of an object of this kind.
    fn child(self, key: &str) -> Field {
        match self {
            Field::QuantityMap => Field::Quantity,
            _ if QUANTITY_MAPS.contains(&key) => Field::QuantityMap,
            _ if QUANTITY_FIELDS.contains(&key) => Field::Quantity,
            _ => Field::Plain,
        }
    }
}

/// A map's entries as compared: sorted by key, empty values left out, each value [`Normalised`].
/// Serialized, it is the one definition of "equal as the server stores it": the fingerprint hashes
/// its JSON (no copy of the tree is built), and [`normalise`] reads it back as a value.
pub(super) struct Entries<'a>(Vec<(&'a str, &'a Value)>, Field);

impl<'a> Entries<'a> {
    /// The entries of a top-level object (or any map of plain fields).
    pub(super) fn of(entries: impl Iterator<Item = (&'a str, &'a Value)>) -> Self {
        Self(entries.collect(), Field::Plain)
    }
}

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<&(&str, &Value)> =
            self.0.iter().filter(|(_, v)| !is_empty(v)).collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, &Normalised(value, self.1.child(key)))?;
        }
        map.end()
    }
}

/// A value as compared: quantities written as their exact value (`1000m` and `1` both as `1e0`),
/// maps as [`Entries`].
struct Normalised<'a>(&'a Value, Field);

impl Serialize for Normalised<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let entries = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                Entries(entries, self.1).serialize(serializer)
            }
            Value::Array(items) => {
                serializer.collect_seq(items.iter().map(|v| Normalised(v, Field::Plain)))
            }
            Value::String(text) if self.1 == Field::Quantity => match quantity::parse(text) {
                Ok(q) => {
                    let (mantissa, exponent) = q.parts();
                    serializer.serialize_str(&format!("{mantissa}e{exponent}"))
                }
                Err(_) => serializer.serialize_str(text),
            },
            other => other.serialize(serializer),
        }
    }
}

/// `value` as compared, as a value (what [`Normalised`] writes).
fn normalise(value: &Value) -> Value {
    serde_json::to_value(Normalised(value, Field::Plain)).unwrap_or(Value::Null)
}

/// Where `live` first fails to say what `desired` says, as a JSON pointer (`/spec/replicas`),
/// for the log line that explains why a child is applied again; `None` when every field of
/// `desired` is present in `live` with the same value.
pub(crate) fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    difference(&normalise(desired), &normalise(live))
}

fn difference(desired: &Value, live: &Value) -> Option<String> {
    match (desired, live) {
        // A missing map is followed down to the first field it lacks, for the log line.
        (Value::Object(d), Value::Object(_) | Value::Null) => d.iter().find_map(|(k, dv)| {
            let lv = live.get(k).unwrap_or(&Value::Null);
            difference(dv, lv).map(|rest| format!("/{}{rest}", escape(k)))
        }),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => d
            .iter()
            .zip(l)
            .enumerate()
            .find_map(|(i, (dv, lv))| difference(dv, lv).map(|rest| format!("/{i}{rest}"))),
        (d, l) if d == l => None,
        _ => Some(String::new()),
    }
}

/// A JSON pointer token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The server drops empty maps and lists, so their absence is not a difference.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_added_by_the_server_are_not_drift() {
        let desired = json!({"spec": {"ports": [{"name": "a", "port": 1}]}});
        let live = json!({"spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "a", "port": 1, "protocol": "TCP"}]}});
        assert!(first_difference(&desired, &live).is_none());
    }

    #[test]
    fn changed_or_missing_values_are_drift() {
        let desired = json!({"env": [{"name": "A", "value": "1"}], "sa": "kms"});
        assert!(
            first_difference(
                &desired,
                &json!({"env": [{"name": "A", "value": "2"}], "sa": "kms"})
            )
            .is_some()
        );
        assert!(first_difference(&desired, &json!({"env": [], "sa": "kms"})).is_some());
        assert!(
            first_difference(&desired, &json!({"env": [{"name": "A", "value": "1"}]})).is_some()
        );
        assert!(
            first_difference(
                &desired,
                &json!({"env": [{"name": "A", "value": "1"}, {"name": "B"}], "sa": "kms"})
            )
            .is_some()
        );
    }

    #[test]
    fn quantities_are_compared_by_value_and_only_where_they_are_quantities() {
        let desired = json!({"resources": {"limits": {"cpu": "1000m", "memory": "16384Mi"},
            "requests": {"cpu": "0.5"}}, "volumes": [{"emptyDir": {"sizeLimit": "1024Mi"}}]});
        let live = json!({"resources": {"limits": {"cpu": "1", "memory": "16Gi"},
            "requests": {"cpu": "500m"}}, "volumes": [{"emptyDir": {"sizeLimit": "1Gi"}}]});
        assert_eq!(first_difference(&desired, &live), None);
        let changed = json!({"resources": {"limits": {"cpu": "2", "memory": "16Gi"},
            "requests": {"cpu": "500m"}}, "volumes": [{"emptyDir": {"sizeLimit": "1Gi"}}]});
        assert_eq!(
            first_difference(&desired, &changed).as_deref(),
            Some("/resources/limits/cpu")
        );
        // The same spellings elsewhere (an env value) are text.
        let env = json!({"env": [{"name": "CPU", "value": "1000m"}]});
        let env_live = json!({"env": [{"name": "CPU", "value": "1"}]});
        assert_eq!(
            first_difference(&env, &env_live).as_deref(),
            Some("/env/0/value")
        );
    }

    #[test]
    fn names_where_live_first_differs() {
        let desired = json!({"metadata": {"labels": {"a/b": "x"}}, "spec": {"env": [{"name": "A", "value": "1"}]}});
        let live = json!({"metadata": {"labels": {"a/b": "x"}}, "spec": {"env": [{"name": "A", "value": "2"}]}});
        assert_eq!(
            first_difference(&desired, &live).as_deref(),
            Some("/spec/env/0/value")
        );
        let relabelled =
            json!({"metadata": {"labels": {}}, "spec": {"env": [{"name": "A", "value": "1"}]}});
        assert_eq!(
            first_difference(&desired, &relabelled).as_deref(),
            Some("/metadata/labels/a~1b")
        );
        assert_eq!(first_difference(&desired, &desired), None);
    }
}

//! Whether a live object already says everything the desired one says.
//!
//! The API server adds defaults (clusterIP, probe timeouts, …), so "equal" would always be false;
//! what matters is that every field we set has our value. Lists must match item for item, which
//! also catches an env var someone added or removed.

use serde_json::Value;

/// Where `live` first fails to say what `desired` says, as a JSON pointer (`/spec/replicas`),
/// for the log line that explains why a child is applied again; `None` when every field of
/// `desired` is present in `live` with the same value.
pub fn first_difference(desired: &Value, live: &Value) -> Option<String> {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().find_map(|(k, dv)| {
            let found = match l.get(k) {
                Some(lv) => first_difference(dv, lv),
                None if is_empty(dv) => None,
                None => Some(String::new()),
            };
            found.map(|rest| format!("/{}{rest}", escape(k)))
        }),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            d.iter().zip(l).enumerate().find_map(|(i, (dv, lv))| {
                first_difference(dv, lv).map(|rest| format!("/{i}{rest}"))
            })
        }
        (Value::Array(d), Value::Null) if d.is_empty() => None,
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

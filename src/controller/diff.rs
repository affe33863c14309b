//! Whether a live object already says everything the desired one says.
//!
//! The API server adds defaults (clusterIP, probe timeouts, …), so "equal" would always be false;
//! what matters is that every field we set has our value. Lists must match item for item, which
//! also catches an env var someone added or removed.

use serde_json::Value;

/// True when every field of `desired` is present in `live` with the same value.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => is_subset(dv, lv),
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| is_subset(dv, lv))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (d, l) => d == l,
    }
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
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn changed_or_missing_values_are_drift() {
        let desired = json!({"env": [{"name": "A", "value": "1"}], "sa": "kms"});
        assert!(!is_subset(
            &desired,
            &json!({"env": [{"name": "A", "value": "2"}], "sa": "kms"})
        ));
        assert!(!is_subset(&desired, &json!({"env": [], "sa": "kms"})));
        assert!(!is_subset(
            &desired,
            &json!({"env": [{"name": "A", "value": "1"}]})
        ));
        assert!(!is_subset(
            &desired,
            &json!({"env": [{"name": "A", "value": "1"}, {"name": "B"}], "sa": "kms"})
        ));
    }
}

//! What a workload Deployment carries about the render it was written from, and what that says
//! about a difference between the render and the live object. `SPEC_HASH` holds the cache's own
//! fingerprint of the render (`cache::of_rendered`): one hash says whether a child is its render,
//! and the stamp says whether a difference is the render's or someone else's.
//!
//! The stamps are labels on the Deployment itself, never on its pod template: a Deployment's
//! labels can change without a new generation or a restart (its annotations would bump the
//! generation, its pod template would restart the pods).

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::Value;

use super::super::cache::{first_difference, of_rendered};
pub(crate) use crate::render::{GENERATION, ROLLOUT, ROLLOUT_HOLDS_SLOT, SPEC_HASH};

const STAMPS: [&str; 3] = [SPEC_HASH, GENERATION, ROLLOUT];

/// Why a rendered Deployment differs from the live one, which decides when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Not there yet: created at once (new validators are never held back).
    Create,
    /// Nothing to write.
    Unchanged,
    /// Only the stamps or the metadata differ: written at once, nothing restarts.
    Restamp,
    /// The same render, but the live object was edited: restored at once.
    Drift,
    /// The Validator changed since the Deployment was written: applied at once.
    Spec,
    /// The same Validator renders differently (a new operator release): waits for a slot.
    Operator,
}

impl Change {
    /// Whether writing it changes the Deployment's spec (and so restarts its pods).
    pub(crate) fn writes_spec(self) -> bool {
        matches!(
            self,
            Change::Create | Change::Drift | Change::Spec | Change::Operator
        )
    }
}

/// Puts the render's fingerprint and the Validator generation on a rendered Deployment.
pub(crate) fn stamp(deployment: &mut Deployment, generation: i64) -> Result<(), serde_json::Error> {
    let hash = of_rendered(&serde_json::to_value(&*deployment)?).to_hex();
    let labels = deployment.metadata.labels.get_or_insert_default();
    labels.insert(SPEC_HASH.to_string(), hash);
    labels.insert(GENERATION.to_string(), generation.to_string());
    Ok(())
}

/// Marks a rendered Deployment as part of a rollout that holds a slot.
pub(crate) fn mark(deployment: &mut Deployment) {
    deployment
        .metadata
        .labels
        .get_or_insert_default()
        .insert(ROLLOUT.to_string(), ROLLOUT_HOLDS_SLOT.to_string());
}

/// A label of an object as JSON.
fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/labels")?.get(key)?.as_str()
}

/// How the stamped render `desired` differs from `live`. `observed` (the Validator's
/// `status.observedGeneration`) stands in for the generation of a Deployment written before the
/// stamps existed.
pub(crate) fn classify(desired: &Value, live: Option<&Value>, observed: Option<i64>) -> Change {
    let Some(live) = live else {
        return Change::Create;
    };
    if first_difference(desired, live).is_none() {
        return Change::Unchanged;
    }
    if only_stamps_differ(desired, live) {
        return Change::Restamp;
    }
    let hash = label(live, SPEC_HASH);
    if hash.is_some() && hash == label(desired, SPEC_HASH) {
        return Change::Drift;
    }
    let spec = |v: &Value| v.get("spec").cloned().unwrap_or(Value::Null);
    if first_difference(&spec(desired), &spec(live)).is_none() {
        return Change::Restamp;
    }
    let generation = |v: &Value| label(v, GENERATION).and_then(|g| g.parse::<i64>().ok());
    if generation(live).or(observed) != generation(desired) {
        return Change::Spec;
    }
    Change::Operator
}

/// Whether `desired` with the live object's stamps would say nothing `live` does not.
fn only_stamps_differ(desired: &Value, live: &Value) -> bool {
    let mut restamped = desired.clone();
    if let Some(labels) = restamped
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        for key in STAMPS {
            match label(live, key) {
                Some(value) => labels.insert(key.to_string(), value.into()),
                None => labels.remove(key),
            };
        }
    }
    first_difference(&restamped, live).is_none()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(hash: Option<&str>, generation: Option<&str>, image: &str) -> Value {
        let mut labels = json!({"app": "x"});
        if let Some(h) = hash {
            labels[SPEC_HASH] = json!(h);
        }
        if let Some(g) = generation {
            labels[GENERATION] = json!(g);
        }
        json!({"metadata": {"name": "d", "labels": labels},
               "spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn the_stamp_is_a_label_value_and_the_render_s_fingerprint() {
        let mut deployment = Deployment::default();
        deployment.metadata.name = Some("d".into());
        let unstamped = serde_json::to_value(&deployment).unwrap();
        stamp(&mut deployment, 3).unwrap();
        let labels = deployment.metadata.labels.unwrap();
        let hash = &labels[SPEC_HASH];
        assert_eq!(hash.len(), 32);
        assert!(crate::names::is_label_value(hash));
        assert_eq!(*hash, of_rendered(&unstamped).to_hex());
        assert_eq!(labels[GENERATION], "3");
    }

    #[test]
    fn each_kind_of_difference_is_told_apart() {
        let desired = object(Some("new"), Some("3"), "img:2");
        assert_eq!(classify(&desired, None, Some(3)), Change::Create);
        assert_eq!(
            classify(&desired, Some(&desired.clone()), Some(3)),
            Change::Unchanged
        );
        // The same spec, other stamps: labels only.
        let old_stamps = object(Some("old"), Some("2"), "img:2");
        assert_eq!(
            classify(&desired, Some(&old_stamps), Some(3)),
            Change::Restamp
        );
        assert_eq!(
            classify(&desired, Some(&object(None, None, "img:2")), Some(3)),
            Change::Restamp
        );
        // The same render, edited by someone.
        let edited = object(Some("new"), Some("3"), "img:9");
        assert_eq!(classify(&desired, Some(&edited), Some(3)), Change::Drift);
        let mut relabelled = desired.clone();
        relabelled["metadata"]["labels"]["app"] = json!("y");
        assert_eq!(
            classify(&desired, Some(&relabelled), Some(3)),
            Change::Drift
        );
        // Another render for an older generation: the user changed the Validator.
        let older_spec = object(Some("old"), Some("2"), "img:1");
        assert_eq!(classify(&desired, Some(&older_spec), Some(3)), Change::Spec);
        // Another render for the same generation: the operator renders it differently now.
        let older_release = object(Some("old"), Some("3"), "img:1");
        assert_eq!(
            classify(&desired, Some(&older_release), Some(3)),
            Change::Operator
        );
        // Written before the stamps: the status tells whether the Validator moved since.
        let unstamped = object(None, None, "img:1");
        assert_eq!(
            classify(&desired, Some(&unstamped), Some(3)),
            Change::Operator
        );
        assert_eq!(classify(&desired, Some(&unstamped), Some(2)), Change::Spec);
    }

    #[test]
    fn only_spec_writes_restart() {
        assert!(Change::Operator.writes_spec());
        assert!(!Change::Restamp.writes_spec());
        assert!(!Change::Unchanged.writes_spec());
    }
}

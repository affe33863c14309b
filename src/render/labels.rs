//! The recommended `app.kubernetes.io/*` labels and the operator's own stamps, in one place.

use std::collections::BTreeMap;

/// `app.kubernetes.io/managed-by` on everything this operator creates.
pub const MANAGER: &str = "canton-operator";
/// `app.kubernetes.io/name` of every child: the application they make up.
pub const APP_NAME: &str = "canton-validator";
/// Label keys.
pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub(crate) const PART_OF: &str = "app.kubernetes.io/part-of";
pub(crate) const VERSION: &str = "app.kubernetes.io/version";

/// The controller's stamps on a workload Deployment (never on its pod template: writing them
/// restarts nothing). The fingerprint of the render it was written from:
pub(crate) const SPEC_HASH: &str = "canton-operator.dev/spec-hash";
/// The Validator `metadata.generation` it was rendered for.
pub(crate) const GENERATION: &str = "canton-operator.dev/validator-generation";
/// Present while an operator-caused change is rolling out: the validator holds a rollout slot.
pub(crate) const ROLLOUT: &str = "canton-operator.dev/rollout";
/// The value of [`ROLLOUT`].
pub(crate) const ROLLOUT_HOLDS_SLOT: &str = "holds-slot";

/// Labels that select one component's pods; stable for the Deployment's lifetime.
pub fn selector(instance: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_string(), APP_NAME.to_string()),
        (INSTANCE.to_string(), instance.to_string()),
        (COMPONENT.to_string(), component.to_string()),
    ])
}

/// All labels of a child object and its pod template.
pub(crate) fn labels(instance: &str, component: &str, version: &str) -> BTreeMap<String, String> {
    let mut labels = selector(instance, component);
    labels.insert(MANAGED_BY.to_string(), MANAGER.to_string());
    labels.insert(PART_OF.to_string(), "canton-network".to_string());
    if crate::names::is_label_value(version) {
        labels.insert(VERSION.to_string(), version.to_string());
    }
    labels
}

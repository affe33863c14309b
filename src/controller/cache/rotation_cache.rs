//! The ValidatorKeyRotation cache, shared by the rotation controller (whose watch fills it) and
//! the Validator reconcile (the rotation schedule and its history).

use std::sync::Arc;

use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::ValidatorKeyRotation;
use crate::store_ready::{Ready, ready_once};

/// The ValidatorKeyRotation cache the rotation controller's watch fills, shared with the
/// Validator reconcile.
#[derive(Clone)]
pub(crate) struct RotationCache {
    store: Store<ValidatorKeyRotation>,
    ready: Ready,
}

impl RotationCache {
    pub(crate) fn new(store: Store<ValidatorKeyRotation>) -> Self {
        let ready = ready_once(store.clone());
        Self { store, ready }
    }

    /// Resolves once the cache holds its first list; any number of tasks may wait.
    pub(crate) async fn wait_until_ready(&self) {
        self.ready.clone().await;
    }

    /// One rotation.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<Arc<ValidatorKeyRotation>> {
        self.store.get(&ObjectRef::new(name).within(namespace))
    }

    /// The rotations of one validator.
    pub(crate) fn of(&self, namespace: &str, validator: &str) -> Vec<Arc<ValidatorKeyRotation>> {
        self.store
            .state()
            .into_iter()
            .filter(|r| {
                r.metadata.namespace.as_deref() == Some(namespace) && r.spec.validator == validator
            })
            .collect()
    }
}

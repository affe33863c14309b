//! What every reconcile shares: the client, the environment, the caches, metrics and leadership.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::watch;

use super::cache::{Cached, Echoes, RotationCache, Stores};
use super::rollout::slots::Rollouts;
use crate::api::Validator;
use crate::config::OperatorConfig;
use crate::events::Publisher;
use crate::field_manager::FIELD_MANAGER;
use crate::metrics::Metrics;

/// Shared state of the reconciler.
pub(crate) struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub stores: Stores,
    pub metrics: Arc<Metrics>,
    pub events: Publisher,
    /// True while this replica holds the leader Lease; every write checks it first.
    pub leading: watch::Receiver<bool>,
    /// The resourceVersions of this operator's own writes, whose watch events start no reconcile.
    pub echoes: Arc<Echoes>,
    /// The Validator cache: what exists now, so state about deleted validators can be dropped.
    pub validators: Store<Cached<Validator>>,
    /// Rollout slots for operator-caused workload changes.
    pub rollouts: Rollouts,
    /// The ValidatorKeyRotations, for the rotation schedule and its history.
    pub rotations: RotationCache,
    /// Consecutive failures per validator, for exponential backoff.
    failures: Mutex<HashMap<ObjectRef<Cached<Validator>>, u32>>,
}

impl Context {
    /// A context for one controller run.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        client: Client,
        config: OperatorConfig,
        stores: Stores,
        metrics: Arc<Metrics>,
        leading: watch::Receiver<bool>,
        validators: Store<Cached<Validator>>,
        echoes: Arc<Echoes>,
        rollouts: Rollouts,
        rotations: RotationCache,
    ) -> Self {
        Self {
            echoes,
            rollouts,
            rotations,
            events: Publisher::new(client.clone(), FIELD_MANAGER),
            client,
            config,
            stores,
            metrics,
            leading,
            validators,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether writes are allowed right now.
    pub(crate) fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Counts one more consecutive failure of `validator` and returns the count.
    pub(crate) fn failed(&self, validator: &ObjectRef<Cached<Validator>>) -> u32 {
        self.with_failures(|failures| {
            let n = failures.entry(validator.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1)
    }

    /// Clears the failure count of a validator that reconciled.
    pub(crate) fn succeeded(&self, validator: &ObjectRef<Cached<Validator>>) {
        self.with_failures(|failures| failures.remove(validator));
    }

    /// Drops what is kept about a deleted validator: its failure count and its place in the
    /// `validators` gauge. Without a finalizer no reconcile sees the deletion, so the watch's
    /// delete events call this.
    pub(crate) fn forget(&self, validator: &ObjectRef<Cached<Validator>>) {
        self.with_failures(|failures| failures.remove(validator));
        self.metrics.forget_validator(&metrics_key(validator));
        self.rollouts.forget(validator);
    }

    /// Forgets `validator` if the cache no longer has it (a reconcile or failure that finished
    /// after the delete event must not bring it back).
    pub(crate) fn forget_if_deleted(&self, validator: &ObjectRef<Cached<Validator>>) {
        if self.validators.get(validator).is_none() {
            self.forget(validator);
        }
    }

    /// After a re-list: forgets every validator deleted while the watch was down (a re-list
    /// reports no delete events for them).
    pub(crate) fn forget_all_deleted(&self) {
        let known: Vec<ObjectRef<Cached<Validator>>> = self
            .with_failures(|failures| failures.keys().cloned().collect())
            .unwrap_or_default();
        for validator in known.into_iter().chain(self.rollouts.known()) {
            self.forget_if_deleted(&validator);
        }
        for key in self.metrics.validators_known() {
            if let Some((namespace, name)) = key.split_once('/') {
                self.forget_if_deleted(&ObjectRef::new(name).within(namespace));
            }
        }
    }

    /// Runs `f` on the failure counts and keeps the failing gauge in step.
    fn with_failures<T>(
        &self,
        f: impl FnOnce(&mut HashMap<ObjectRef<Cached<Validator>>, u32>) -> T,
    ) -> Option<T> {
        let mut failures = self.failures.lock().ok()?;
        let out = f(&mut failures);
        self.metrics.set_failing(failures.len());
        Some(out)
    }
}

/// How the metrics name a validator: `namespace/name`.
pub(crate) fn metrics_key(validator: &ObjectRef<Cached<Validator>>) -> String {
    format!(
        "{}/{}",
        validator.namespace.as_deref().unwrap_or_default(),
        validator.name
    )
}

//! What every reconcile shares: the client, the environment, the caches, metrics and leadership.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::watch;

use super::cached::Cached;
use super::child_cache::ChildCache;
use super::echoes::Echoes;
use super::monitoring::ServiceMonitorCrd;
use super::rollout::slots::Rollouts;
use super::rotation_cache::RotationCache;
use crate::api::Validator;
use crate::config::OperatorConfig;
use crate::events::Publisher;
use crate::field_manager::FIELD_MANAGER;
use crate::metrics::Metrics;
use crate::render::ServiceMonitor;

/// Caches of the children, fed by the controller's own watches.
#[derive(Clone)]
pub(crate) struct Stores {
    pub deployments: ChildCache<Deployment>,
    pub services: ChildCache<Service>,
    pub service_accounts: ChildCache<ServiceAccount>,
    pub network_policies: ChildCache<NetworkPolicy>,
    pub cron_jobs: ChildCache<CronJob>,
    /// The identity backup Jobs' pods, whose termination messages hold each run's result.
    pub backup_pods: Store<Cached<Pod>>,
    backup_pods_ready: Shared<BoxFuture<'static, ()>>,
    /// ServiceMonitors, watched only once the cluster serves their CRD (so not waited for).
    pub service_monitors: ChildCache<ServiceMonitor>,
    /// Whether it does.
    pub service_monitor_crd: ServiceMonitorCrd,
}

impl Stores {
    /// The caches of one controller run.
    pub(crate) fn new(
        deployments: ChildCache<Deployment>,
        services: ChildCache<Service>,
        service_accounts: ChildCache<ServiceAccount>,
        network_policies: ChildCache<NetworkPolicy>,
        cron_jobs: ChildCache<CronJob>,
        backup_pods: Store<Cached<Pod>>,
    ) -> Self {
        let backup_pods_ready = {
            let store = backup_pods.clone();
            async move {
                let _ = store.wait_until_ready().await;
            }
            .boxed()
            .shared()
        };
        Self {
            deployments,
            services,
            service_accounts,
            network_policies,
            cron_jobs,
            backup_pods,
            backup_pods_ready,
            service_monitors: ChildCache::new().0,
            service_monitor_crd: ServiceMonitorCrd::new(),
        }
    }

    /// With the controller's ServiceMonitor cache and CRD discovery (instead of a cache nothing
    /// fills).
    pub(crate) fn with_service_monitors(
        mut self,
        cache: ChildCache<ServiceMonitor>,
        crd: ServiceMonitorCrd,
    ) -> Self {
        self.service_monitors = cache;
        self.service_monitor_crd = crd;
        self
    }

    /// Resolves once every cache has its initial list, so a reconcile never mistakes a cold cache
    /// for missing children (which would re-apply all of them after every restart). Any number
    /// of reconciles may wait at once.
    ///
    /// kube's `Store::wait_until_ready` must not be awaited by several tasks: it keeps one waker
    /// (a oneshot receiver's), so only the task that polled it last is woken and the others hang
    /// for good, each holding a reconcile slot and its validator. The backup pods' store is
    /// therefore awaited through one shared future.
    pub(crate) async fn wait_until_ready(&self) {
        self.deployments.wait_until_ready().await;
        self.services.wait_until_ready().await;
        self.service_accounts.wait_until_ready().await;
        self.network_policies.wait_until_ready().await;
        self.cron_jobs.wait_until_ready().await;
        self.backup_pods_ready.clone().await;
    }
}

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
        self.metrics.set_mode(&metrics_key(validator), None);
        self.metrics
            .set_backup_success(&metrics_key(validator), None);
        self.metrics
            .set_below_minimum(&metrics_key(validator), false);
        self.metrics.set_conditions(&metrics_key(validator), &[]);
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
        let mut modes = self.metrics.validators_known();
        modes.extend(self.metrics.validators_below_minimum());
        for validator in known.into_iter().chain(self.rollouts.known()) {
            self.forget_if_deleted(&validator);
        }
        for key in modes {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;
    use crate::controller::child_cache::Seen;

    fn listed<K: kube::Resource<DynamicType = ()>>(
        writer: &mut crate::controller::child_cache::ChildCacheWriter<K>,
    ) {
        writer.apply(&Event::<Seen<K>>::Init);
        writer.apply(&Event::<Seen<K>>::InitDone);
    }

    /// Several reconciles wait for cold caches at once (the controller starts them as soon as
    /// the Validators are listed): all of them go on when the caches are listed.
    #[tokio::test]
    async fn every_waiting_reconcile_goes_on_when_the_caches_are_listed() {
        let (deployments, mut dw) = ChildCache::<Deployment>::new();
        let (services, mut sw) = ChildCache::<Service>::new();
        let (service_accounts, mut aw) = ChildCache::<ServiceAccount>::new();
        let (network_policies, mut nw) = ChildCache::<NetworkPolicy>::new();
        let (cron_jobs, mut cw) = ChildCache::<CronJob>::new();
        let (backup_pods, mut pw) = reflector::store::<Cached<Pod>>();
        let stores = Stores::new(
            deployments,
            services,
            service_accounts,
            network_policies,
            cron_jobs,
            backup_pods,
        );
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let stores = stores.clone();
                tokio::spawn(async move { stores.wait_until_ready().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        for waiter in &waiters {
            assert!(!waiter.is_finished(), "no cache is listed yet");
        }
        listed(&mut dw);
        listed(&mut sw);
        listed(&mut aw);
        listed(&mut nw);
        listed(&mut cw);
        tokio::time::sleep(Duration::from_millis(20)).await;
        for waiter in &waiters {
            assert!(!waiter.is_finished(), "the backup pods are not listed yet");
        }
        pw.apply_watcher_event(&Event::Init);
        pw.apply_watcher_event(&Event::InitDone);
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("every waiter is woken")
                .expect("waiter ran");
        }
    }
}

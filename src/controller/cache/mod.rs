//! The controller's caches and the one answer they give: is this child current?
//!
//! The rest of the controller sees [`Stores`] (one cache per watched kind), [`current`] (whether
//! a rendered child says what the live one says, from the cache when it can) and [`Echoes`] (the
//! watch events of the operator's own writes). Inside: how a child is cached
//! (`child_cache`: a fingerprint of what the operator's apply owns, two labels, its owners, a
//! Deployment's counts), how that fingerprint is taken (`projection`, with `quantity` and `diff`
//! comparing the way the API server stores values), and how Validators and backup pods are
//! cached compact (`cached`). ARCHITECTURE.md, "Drift", says why each piece is there.

mod cached;
mod child_cache;
mod current;
mod diff;
mod echoes;
mod projection;
mod quantity;
mod rotation_cache;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::runtime::reflector::Store;

pub(crate) use cached::Cached;
#[cfg(test)]
use child_cache::ChildCacheWriter;
pub(crate) use child_cache::{ChildCache, Kept, Seen};
pub(crate) use current::{Child, Current, current};
pub(crate) use diff::first_difference;
pub(crate) use echoes::Echoes;
pub(crate) use projection::of_rendered;
pub(crate) use rotation_cache::RotationCache;

use super::monitoring::ServiceMonitorCrd;
use crate::render::ServiceMonitor;
use crate::store_ready::{Ready, ready_once};

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
    backup_pods_ready: Ready,
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
        let backup_pods_ready = ready_once(backup_pods.clone());
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
    /// of reconciles may wait at once (the backup pods' store through `store_ready`).
    pub(crate) async fn wait_until_ready(&self) {
        self.deployments.wait_until_ready().await;
        self.services.wait_until_ready().await;
        self.service_accounts.wait_until_ready().await;
        self.network_policies.wait_until_ready().await;
        self.cron_jobs.wait_until_ready().await;
        self.backup_pods_ready.clone().await;
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;

    fn listed<K: kube::Resource<DynamicType = ()>>(writer: &mut ChildCacheWriter<K>) {
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

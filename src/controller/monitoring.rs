//! ServiceMonitors: whether the cluster serves Prometheus Operator's CRD, and the
//! `MonitoringReady` condition that says what became of a validator's request for one.
//!
//! The CRD is optional. Whether it is served is asked of API discovery (which every
//! authenticated client may read, no RBAC needed): once at start-up, and again by a reconcile
//! that wants a ServiceMonitor while it is missing (no periodic poll: an idle fleet makes no
//! requests). The ServiceMonitor watch starts only once the CRD is served, so clusters without
//! the Prometheus Operator see no failing watch.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Client, Resource};
use tokio::sync::watch;

use super::conditions;
use crate::api::ValidatorStatus;
use crate::render::ServiceMonitor;

/// The condition, present while the spec asks for a ServiceMonitor. Not part of `Ready`.
pub(crate) const MONITORING_READY: &str = "MonitoringReady";
/// Reasons.
pub(crate) const SERVICE_MONITOR_APPLIED: &str = "ServiceMonitorApplied";
pub(crate) const SERVICE_MONITOR_CRD_MISSING: &str = "ServiceMonitorCrdMissing";
pub(crate) const SERVICE_MONITOR_NOT_APPLIED: &str = "ServiceMonitorNotApplied";

/// What became of a validator's ServiceMonitor in one reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Monitoring {
    /// Applied (or found as rendered).
    Applied { name: String },
    /// The cluster does not serve `monitoring.coreos.com/v1` ServiceMonitor: nothing created.
    CrdMissing,
    /// The API server refused it (RBAC, admission): the workloads were applied regardless.
    NotApplied { name: String, error: String },
}

impl Monitoring {
    fn describe(&self) -> (bool, &'static str, String) {
        match self {
            Monitoring::Applied { name } => (
                true,
                SERVICE_MONITOR_APPLIED,
                format!(
                    "ServiceMonitor {name} selects the participant's and the validator app's metrics ports"
                ),
            ),
            Monitoring::CrdMissing => (
                false,
                SERVICE_MONITOR_CRD_MISSING,
                "the cluster does not serve monitoring.coreos.com/v1 ServiceMonitor (the Prometheus Operator's CRD): nothing was created. Install the Prometheus Operator (discovery is asked again at this validator's next reconcile, within five minutes), or turn spec.monitoring.serviceMonitor off".to_string(),
            ),
            Monitoring::NotApplied { name, error } => (
                false,
                SERVICE_MONITOR_NOT_APPLIED,
                format!(
                    "ServiceMonitor {name} could not be applied: {error}. Check that the operator's RBAC allows servicemonitors (the chart grants it)"
                ),
            ),
        }
    }
}

/// Sets `MonitoringReady` in `status`: from `outcome` when this reconcile knows it, as before
/// when it does not (a refused spec), and removes it when the spec no longer asks.
pub(crate) fn set_condition(
    status: &mut ValidatorStatus,
    previous: Option<&ValidatorStatus>,
    outcome: Option<&Monitoring>,
    asked: bool,
    generation: Option<i64>,
    now: &Time,
) {
    let before = previous.map_or(&[][..], |p| p.conditions.as_slice());
    let old = before.iter().find(|c| c.type_ == MONITORING_READY);
    status.conditions.retain(|c| c.type_ != MONITORING_READY);
    if !asked {
        return;
    }
    let condition = match outcome {
        Some(outcome) => {
            let (ok, reason, message) = outcome.describe();
            let fresh = conditions::condition(MONITORING_READY, ok, reason, message, generation);
            conditions::keep_transition_time(fresh, before, now)
        }
        None => match old {
            Some(o) => o.clone(),
            None => return,
        },
    };
    status.conditions.push(condition);
}

/// Whether the cluster serves the ServiceMonitor CRD, as discovery last said. Cheap to clone.
#[derive(Clone)]
pub(crate) struct ServiceMonitorCrd {
    served: Arc<watch::Sender<bool>>,
}

impl ServiceMonitorCrd {
    /// Not (yet) known to be served.
    pub(crate) fn new() -> Self {
        Self {
            served: Arc::new(watch::channel(false).0),
        }
    }

    /// Follows whether the CRD is served (the watch waits for `true`).
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.served.subscribe()
    }

    /// Whether the CRD is served, asking discovery when it was not at the last look: a
    /// validator asking for a ServiceMonitor while it is missing costs one discovery read per
    /// reconcile (every five minutes, or when it changes), and is served as soon as it is there.
    pub(crate) async fn served(&self, client: &Client) -> bool {
        if !self.is_served() {
            self.check(client).await;
        }
        self.is_served()
    }

    /// Asks discovery now, whatever it said before.
    pub(crate) async fn served_now(&self, client: &Client) -> bool {
        self.check(client).await;
        self.is_served()
    }

    fn is_served(&self) -> bool {
        *self.served.borrow()
    }

    /// Asks discovery and records the answer; an unanswered question changes nothing.
    pub(crate) async fn check(&self, client: &Client) {
        let api_version = ServiceMonitor::api_version(&());
        let plural = ServiceMonitor::plural(&());
        let served = match client.list_api_group_resources(&api_version).await {
            Ok(list) => list.resources.iter().any(|r| r.name == plural),
            Err(kube::Error::Api(status)) if status.code == 404 => false,
            Err(error) => {
                tracing::warn!(%error, %api_version, "could not ask discovery whether ServiceMonitors are served");
                return;
            }
        };
        let changed = self.served.send_if_modified(|s| {
            let changed = *s != served;
            *s = served;
            changed
        });
        if changed {
            tracing::info!(
                served,
                "monitoring.coreos.com/v1 ServiceMonitor served by the cluster"
            );
        }
    }

    /// Asks discovery once, at start. Later questions come only from reconciles of validators
    /// that ask for a ServiceMonitor ([`Self::served`]) and from an apply the server answers
    /// 404 ([`Self::served_now`]): an idle fleet that asks for none costs no discovery request.
    pub(crate) async fn discover(self, client: Client) {
        self.check(&client).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    fn status_with(
        outcome: Option<&Monitoring>,
        asked: bool,
        previous: Option<&ValidatorStatus>,
        now: i64,
    ) -> ValidatorStatus {
        let mut status = ValidatorStatus::default();
        set_condition(&mut status, previous, outcome, asked, Some(3), &at(now));
        status
    }

    #[test]
    fn says_why_nothing_was_created_and_goes_when_not_asked() {
        let missing = status_with(Some(&Monitoring::CrdMissing), true, None, 10);
        let c = &missing.conditions[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", SERVICE_MONITOR_CRD_MISSING)
        );
        assert!(
            c.message.contains("monitoring.coreos.com/v1"),
            "{}",
            c.message
        );
        // Unchanged status keeps its transition time; a refused reconcile keeps the condition.
        let again = status_with(Some(&Monitoring::CrdMissing), true, Some(&missing), 20);
        assert_eq!(again.conditions[0].last_transition_time, at(10));
        let refused = status_with(None, true, Some(&missing), 30);
        assert_eq!(refused.conditions, missing.conditions);
        let applied = status_with(
            Some(&Monitoring::Applied {
                name: "v-metrics".into(),
            }),
            true,
            Some(&missing),
            40,
        );
        assert_eq!(applied.conditions[0].status, "True");
        assert_eq!(applied.conditions[0].last_transition_time, at(40));
        // Turned off: the condition goes.
        assert!(
            status_with(None, false, Some(&applied), 50)
                .conditions
                .is_empty()
        );
    }
}

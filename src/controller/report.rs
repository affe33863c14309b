//! What one reconcile's apply and prune changed, as the status and Events report it (a leaf of
//! the reconcile: the steps fill it in, the status reads it).

use super::monitoring::Monitoring;
use super::rollout::condition::Workloads;

/// What applying the children changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ApplyReport {
    /// Children that did not exist and were created.
    pub created: Vec<String>,
    /// Children that existed but differed (someone edited them, or the spec changed).
    pub updated: Vec<String>,
    /// Children deleted because the spec no longer wants them.
    pub deleted: Vec<String>,
    /// Where the workloads stand against this operator release's render (`WorkloadsCurrent`).
    pub rollout: Option<Workloads>,
    /// What became of the ServiceMonitor the spec asks for (`MonitoringReady`).
    pub monitoring: Option<Monitoring>,
}

//! `spec.monitoring`: how Prometheus finds a validator's metrics.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// What a validator asks of the cluster's monitoring stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// A Prometheus Operator ServiceMonitor (`monitoring.coreos.com/v1`) that scrapes the
    /// participant's and the validator app's `metrics` ports (10013). Created only when the
    /// cluster serves that CRD; otherwise the `MonitoringReady` condition says so and nothing fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_monitor: Option<ServiceMonitorSettings>,
}

/// The ServiceMonitor `<name>-metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSettings {
    /// Create the ServiceMonitor; `false` (or removing the block) deletes it.
    pub enabled: bool,
    /// Scrape interval, such as `30s` or `1m` (Prometheus duration); default: the Prometheus's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self.matches('^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$')").message("interval is a Prometheus duration such as 30s, 1m or 1m30s"))]
    #[schemars(length(min = 1, max = 32))]
    pub interval: Option<String>,
    /// Extra labels on the ServiceMonitor, for the Prometheus that selects it (kube-prometheus-stack
    /// selects `release: <its release name>` by default). The operator's own
    /// `app.kubernetes.io/*` labels cannot be set here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = Rule::new("self.all(k, !k.startsWith('app.kubernetes.io/'))").message("labels: app.kubernetes.io/* labels are set by the operator (its selector and instance labels); use another key"))]
    #[schemars(extend("maxProperties" = 32))]
    pub labels: BTreeMap<String, String>,
}

impl MonitoringSpec {
    /// The ServiceMonitor settings, when one is asked for.
    pub fn service_monitor(&self) -> Option<&ServiceMonitorSettings> {
        self.service_monitor.as_ref().filter(|s| s.enabled)
    }
}

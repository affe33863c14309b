//! The Prometheus Operator ServiceMonitor that scrapes a validator's metrics ports.
//!
//! The type is this operator's own, typed view of `monitoring.coreos.com/v1` ServiceMonitor:
//! only the fields it renders (Prometheus Operator's CRD has many more, which other managers
//! may set and server-side apply leaves alone). Typed, it is one more child kind to the
//! controller: cached, compared, applied and pruned as the built-in ones are.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::labels::{self, APP_NAME, COMPONENT, INSTANCE, NAME};
use super::{Context, PARTICIPANT_COMPONENT, VALIDATOR_APP_COMPONENT};

/// `app.kubernetes.io/component` of the ServiceMonitor.
pub const MONITORING_COMPONENT: &str = "monitoring";
/// The Service port both scraped Services name `metrics` (10013), as the Splice charts do.
pub const METRICS_PORT_NAME: &str = "metrics";

/// `spec` of a ServiceMonitor, as far as this operator renders it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "monitoring.coreos.com",
    version = "v1",
    kind = "ServiceMonitor",
    plural = "servicemonitors",
    namespaced,
    schema = "disabled",
    derive = "PartialEq",
    derive = "Default"
)]
#[serde(rename_all = "camelCase")]
pub struct ServiceMonitorSpec {
    /// The Services to scrape.
    pub selector: LabelSelector,
    /// Only the validator's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    /// How each selected Service is scraped.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

/// `spec.namespaceSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_names: Vec<String>,
}

/// `spec.endpoints[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// The Service port's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Default: the Prometheus's scrape interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// Name of a validator's ServiceMonitor.
pub fn service_monitor_name(validator: &str) -> String {
    format!("{validator}-metrics")
}

/// The ServiceMonitor, when the spec asks for one.
pub(super) fn service_monitor(ctx: &Context) -> Option<ServiceMonitor> {
    let settings = ctx.validator.spec.service_monitor()?;
    let mut meta = ctx.meta(service_monitor_name(ctx.name), MONITORING_COMPONENT);
    // The operator's labels win; the CRD refuses app.kubernetes.io/* keys in the settings anyway.
    let mut all: BTreeMap<String, String> = settings.labels.clone();
    all.extend(meta.labels.take().unwrap_or_default());
    meta.labels = Some(all);
    let selector = LabelSelector {
        match_labels: Some(BTreeMap::from([
            (NAME.to_string(), APP_NAME.to_string()),
            (INSTANCE.to_string(), ctx.name.to_string()),
            (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        ])),
        // The web UIs' Services have no metrics port.
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: COMPONENT.to_string(),
            operator: "In".to_string(),
            values: Some(vec![
                PARTICIPANT_COMPONENT.to_string(),
                VALIDATOR_APP_COMPONENT.to_string(),
            ]),
        }]),
    };
    Some(ServiceMonitor {
        metadata: meta,
        spec: ServiceMonitorSpec {
            selector,
            namespace_selector: Some(NamespaceSelector {
                match_names: vec![ctx.namespace.clone()],
            }),
            endpoints: vec![Endpoint {
                port: Some(METRICS_PORT_NAME.to_string()),
                interval: settings.interval.clone(),
            }],
        },
    })
}

//! What every reconcile shares: the client, the environment, the caches, metrics and leadership.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::watch;

use crate::api::Validator;
use crate::config::OperatorConfig;
use crate::metrics::Metrics;

/// The field manager of every write this operator makes.
pub const FIELD_MANAGER: &str = "canton-operator";

/// Caches of the children, fed by the controller's own watches.
#[derive(Clone)]
pub struct Stores {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub service_accounts: Store<ServiceAccount>,
    pub network_policies: Store<NetworkPolicy>,
}

impl Stores {
    /// Resolves once every cache has its initial list, so a reconcile never mistakes a cold cache
    /// for missing children (which would re-apply all of them after every restart).
    pub async fn wait_until_ready(&self) {
        let _ = self.deployments.wait_until_ready().await;
        let _ = self.services.wait_until_ready().await;
        let _ = self.service_accounts.wait_until_ready().await;
        let _ = self.network_policies.wait_until_ready().await;
    }
}

/// Shared state of the reconciler.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub stores: Stores,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// True while this replica holds the leader Lease; every write checks it first.
    pub leading: watch::Receiver<bool>,
    /// Consecutive failures per validator, for exponential backoff.
    pub failures: Mutex<HashMap<ObjectRef<Validator>, u32>>,
}

impl Context {
    /// A context for one controller run.
    pub fn new(
        client: Client,
        config: OperatorConfig,
        stores: Stores,
        metrics: Arc<Metrics>,
        leading: watch::Receiver<bool>,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            stores,
            metrics,
            leading,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether writes are allowed right now.
    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }
}

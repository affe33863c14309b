//! Waiting for the Validator CRD to be installed and established before watching it.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use kube::{Client, CustomResourceExt};

use crate::api::Validator;

/// Whether a CRD reports `Established=True`.
pub(crate) fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Polls (a `get`, which is all the operator's RBAC allows on CRDs) until the CRD is established.
pub(crate) async fn wait_until_established(client: Client, every: Duration) {
    let name = Validator::crd_name();
    let api: Api<CustomResourceDefinition> = Api::all(client);
    let mut told = false;
    loop {
        match api.get_opt(name).await {
            Ok(Some(crd)) if is_established(&crd) => return,
            Ok(Some(_)) => tracing::info!(crd = name, "waiting for the CRD to be established"),
            Ok(None) if !told => {
                tracing::error!(
                    crd = name,
                    "the Validator CRD is not installed: run `canton-operator crd | kubectl apply -f -` or install the Helm chart"
                );
                told = true;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the Validator CRD"),
        }
        tokio::time::sleep(every).await;
    }
}

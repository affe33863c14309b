//! ServiceMonitors through the reconciler: created only where the cluster serves the Prometheus
//! Operator's CRD and the validator asks, pruned when turned off, and `MonitoringReady` saying why
//! nothing was created when the CRD is missing.

mod harness;
mod support;

use harness::*;
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;

const SM: (&str, &str) = ("monitoring.coreos.com/v1", "servicemonitors");
const V: (&str, &str) = ("canton-operator.dev/v1alpha1", "validators");

fn monitored_validator(name: &str) -> canton_operator::api::Validator {
    let mut v = validator(name);
    v.spec.monitoring = Some(
        serde_json::from_value(json!({"serviceMonitor": {
            "enabled": true, "interval": "30s", "labels": {"release": "kube-prometheus-stack"},
        }}))
        .unwrap(),
    );
    v
}

fn service_monitor(server: &FakeApiServer, validator: &str) -> Option<Value> {
    get(server, SM.0, SM.1, &format!("{validator}-metrics"))
}

fn monitoring_condition(server: &FakeApiServer, validator: &str) -> Option<Value> {
    condition(server, validator, "MonitoringReady")
}

fn set_monitoring(server: &FakeApiServer, validator: &str, monitoring: Value) {
    server
        .merge_patch(
            V.0,
            V.1,
            Some(NS),
            validator,
            json!({"spec": {"monitoring": monitoring}}),
            "kubectl",
        )
        .unwrap();
}

#[tokio::test]
async fn a_service_monitor_is_created_where_served_and_pruned_when_turned_off() {
    within(60, async {
        let server = server();
        serve_service_monitors(&server);
        seed_service_account(&server);
        server.insert(&monitored_validator("acme")).unwrap();
        server.insert(&validator("quiet")).unwrap();
        let _op = start(&server, config(true));
        eventually("the ServiceMonitor", || {
            service_monitor(&server, "acme").is_some()
        })
        .await;
        let sm = service_monitor(&server, "acme").unwrap();
        assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
        assert_eq!(
            sm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "canton-operator"
        );
        assert_eq!(sm["metadata"]["ownerReferences"][0]["kind"], "Validator");
        assert_eq!(
            sm["spec"]["endpoints"],
            json!([{"port": "metrics", "interval": "30s"}])
        );
        assert_eq!(sm["spec"]["namespaceSelector"]["matchNames"], json!([NS]));
        // It selects exactly the two Services with a metrics port.
        let selector = &sm["spec"]["selector"];
        for service in ["acme-participant", "acme-validator-app"] {
            let svc = get(&server, "v1", "services", service).unwrap();
            assert!(selects(selector, &svc["metadata"]["labels"]), "{service}");
            let ports = svc["spec"]["ports"].as_array().unwrap();
            assert!(
                ports
                    .iter()
                    .any(|p| p["name"] == "metrics" && p["port"] == 10013),
                "{service}: {ports:?}"
            );
        }
        for service in ["acme-wallet-web-ui", "quiet-participant"] {
            if let Some(svc) = get(&server, "v1", "services", service) {
                assert!(!selects(selector, &svc["metadata"]["labels"]), "{service}");
            }
        }
        eventually("MonitoringReady=True", || {
            monitoring_condition(&server, "acme").is_some_and(|c| c["status"] == "True")
        })
        .await;
        // Not asked: none, and no condition.
        eventually("the other validator reconciled", || {
            condition(&server, "quiet", "Ready").is_some()
        })
        .await;
        assert!(service_monitor(&server, "quiet").is_none());
        assert!(monitoring_condition(&server, "quiet").is_none());

        // Turned off: pruned, and the condition goes.
        set_monitoring(
            &server,
            "acme",
            json!({"serviceMonitor": {"enabled": false}}),
        );
        eventually("the ServiceMonitor pruned", || {
            service_monitor(&server, "acme").is_none()
        })
        .await;
        eventually("MonitoringReady removed", || {
            monitoring_condition(&server, "acme").is_none()
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn without_the_crd_nothing_is_created_and_the_condition_says_why() {
    within(60, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&monitored_validator("acme")).unwrap();
        let _op = start(&server, config(true));
        eventually("MonitoringReady=False ServiceMonitorCrdMissing", || {
            monitoring_condition(&server, "acme").is_some_and(|c| {
                c["status"] == "False" && c["reason"] == "ServiceMonitorCrdMissing"
            })
        })
        .await;
        // Nothing failed: the workloads are there, and no ServiceMonitor was tried.
        assert!(deployment(&server, "acme-participant").is_some());
        assert!(
            !server
                .requests()
                .iter()
                .any(|r| r.path.contains("/servicemonitors")),
            "no request for an unserved resource"
        );
        let ready = condition(&server, "acme", "Ready").unwrap();
        assert_ne!(ready["reason"], "ServiceMonitorCrdMissing", "{ready}");

        // The CRD installed later: the next reconcile of the validator creates it.
        serve_service_monitors(&server);
        set_monitoring(
            &server,
            "acme",
            json!({"serviceMonitor": {"enabled": true, "interval": "1m"}}),
        );
        eventually("the ServiceMonitor once the CRD is served", || {
            service_monitor(&server, "acme").is_some()
        })
        .await;
        eventually("MonitoringReady=True", || {
            monitoring_condition(&server, "acme").is_some_and(|c| c["status"] == "True")
        })
        .await;
    })
    .await;
}

/// Whether a label selector (matchLabels, and matchExpressions with `In`) selects `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let labels_match = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let expressions_match = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            assert_eq!(e["operator"], "In");
            let key = e["key"].as_str().unwrap();
            e["values"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| label(key) == v.as_str())
        });
    labels_match && expressions_match
}

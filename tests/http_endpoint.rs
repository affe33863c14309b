//! The operator's HTTP endpoint: metrics in the Prometheus text format, liveness, readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use canton_operator::http::{Health, router};
use canton_operator::metrics::Metrics;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get(health: &Health, path: &str) -> (u16, String) {
    let request = http::Request::get(path)
        .body(axum::body::Body::empty())
        .unwrap();
    let response = router(health.clone()).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn metrics_health_and_readiness() {
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let health = Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };

    assert_eq!(get(&health, "/healthz").await.0, 200);
    assert_eq!(
        get(&health, "/readyz").await.0,
        503,
        "not ready before the CRD is established"
    );
    ready.store(true, Ordering::Relaxed);
    assert_eq!(get(&health, "/readyz").await.0, 200);

    metrics.reconciled(Duration::from_millis(3));
    metrics.failed("Api409");
    metrics.set_mode("ns/a", Some("aws/external"));
    metrics.set_mode("ns/b", Some("off"));
    metrics.set_mode("ns/b", Some("aws/external"));
    let (status, text) = get(&health, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("canton_operator_reconciles_total 1"),
        "{text}"
    );
    assert!(
        text.contains("canton_operator_reconcile_failures_total{reason=\"Api409\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("canton_operator_validators{kms=\"aws/external\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("canton_operator_validators{kms=\"off\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("canton_operator_reconcile_duration_seconds_bucket"),
        "{text}"
    );
}

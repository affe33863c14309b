//! `canton-operator run`: wires the HTTP endpoint, CRD wait, leader election and controller.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::Client;
use tokio::sync::watch;

use crate::config::OperatorConfig;
use crate::controller::{self, CRD_POLL, Settings, leader};
use crate::http::{self, Health};
use crate::metrics::Metrics;

/// Everything `run` needs, resolved from flags and environment.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub namespace: Option<String>,
    pub metrics_addr: SocketAddr,
    pub lease_namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub concurrency: u16,
    pub debounce: std::time::Duration,
    /// Validators rolled at once for an operator-caused change (0: no limit).
    pub max_concurrent_rollouts: u32,
    /// The release the network requires of its validators (`--minimum-release`).
    pub minimum_release: Option<crate::minimum_release::MinimumRelease>,
}

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot serve HTTP on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Runs until SIGTERM or Ctrl-C.
pub async fn run(settings: RunSettings) -> Result<(), RunError> {
    let config = OperatorConfig {
        minimum_release: settings.minimum_release,
        ..OperatorConfig::from_env()
    };
    log_config(&config);
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown) = watch::channel(false);
    let health = Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let addr = settings.metrics_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Http { addr, source })?;
    let server = tokio::spawn(http::serve_on(listener, health, shutdown.clone()));
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });

    let mut stop = shutdown.clone();
    tokio::select! {
        _ = controller::crd::wait_until_established(client.clone(), CRD_POLL) => {}
        _ = stop.wait_for(|s| *s) => return Ok(()),
    }
    ready.store(true, Ordering::Relaxed);

    let (leading_tx, leading) = watch::channel(false);
    let lease = leader::LeaseSettings::new(
        settings.lease_namespace,
        settings.lease_name,
        settings.identity,
    );
    let elector = tokio::spawn(leader::run(
        client.clone(),
        lease,
        leading_tx,
        shutdown.clone(),
    ));
    let controller_settings = Settings {
        namespace: settings.namespace,
        concurrency: settings.concurrency,
        debounce: settings.debounce,
        max_concurrent_rollouts: settings.max_concurrent_rollouts,
    };
    controller::run(
        client,
        config,
        controller_settings,
        metrics,
        leading,
        shutdown,
    )
    .await;
    let _ = elector.await;
    let _ = server.await;
    Ok(())
}

fn log_config(config: &OperatorConfig) {
    for e in config.errors() {
        tracing::error!(error = %e, "KMS configuration error: validators that need the environment default will not be provisioned");
    }
    tracing::info!(config = %config.summary(), "operator configuration");
    if let Some(minimum) = &config.minimum_release {
        tracing::info!(%minimum, "validators below this release are reported (MinimumReleaseMet)");
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

//! Leader election with a `coordination.k8s.io` Lease: only the holder reconciles.
//!
//! The holder renews every `renew_every`; a replica that cannot renew for `renew_deadline`
//! (shorter than the lease duration) stops writing at once, before anyone else can take over.
//! As in client-go, a standby judges expiry by how long it has seen the record unchanged on its
//! own monotonic clock, never by comparing the holder's `renewTime` with its own wall clock: a
//! replica whose clock runs ahead would otherwise take a live lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub renew_every: Duration,
}

impl LeaseSettings {
    /// The usual timings: 15 s lease, 10 s renew deadline, renew every 2 s.
    pub fn new(namespace: String, name: String, identity: String) -> Self {
        Self {
            namespace,
            name,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_every: Duration::from_secs(2),
        }
    }
}

/// The wall-clock time an elector writes into the Lease (`acquireTime`, `renewTime`). It is for
/// people and other tools to read: expiry is judged on the local monotonic clock, so a replica
/// whose clock is wrong neither takes a live lease nor keeps a dead one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Runs the election until `shutdown` turns true, publishing leadership on `leading`.
pub(crate) async fn run(
    client: Client,
    settings: LeaseSettings,
    leading: watch::Sender<bool>,
    shutdown: watch::Receiver<bool>,
) {
    run_with_clock(client, settings, Arc::new(SystemClock), leading, shutdown).await;
}

/// [`run`] with the wall clock given (tests run one replica's clock hours off).
pub async fn run_with_clock(
    client: Client,
    settings: LeaseSettings,
    clock: Arc<dyn Clock>,
    leading: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut elector = Elector {
        api: Api::namespaced(client, &settings.namespace),
        settings,
        clock,
        observed: None,
    };
    let mut last_renewal: Option<Instant> = None;
    loop {
        // A hung request must not keep us leading past the deadline: bound each round.
        let round = tokio::time::timeout(elector.settings.renew_deadline / 2, elector.round());
        match round.await {
            Ok(Ok(true)) => last_renewal = Some(Instant::now()),
            Ok(Ok(false)) => last_renewal = None,
            Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the leader lease"),
            Err(_) => tracing::warn!("renewing the leader lease timed out"),
        }
        let holding = last_renewal.is_some_and(|t| t.elapsed() < elector.settings.renew_deadline);
        leading.send_if_modified(|l| std::mem::replace(l, holding) != holding);
        tokio::select! {
            _ = tokio::time::sleep(elector.settings.renew_every) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    leading.send_replace(false);
    if last_renewal.is_some() {
        release(&elector.api, &elector.settings).await;
    }
}

/// A Lease record as last seen, and when (on this replica's monotonic clock) it last changed.
struct Observation {
    spec: LeaseSpec,
    at: Instant,
}

/// One replica's view of the election.
struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    clock: Arc<dyn Clock>,
    observed: Option<Observation>,
}

impl Elector {
    /// One election round: create, renew or take over the Lease. `Ok(true)` when we hold it.
    async fn round(&mut self) -> Result<bool, kube::Error> {
        let s = self.settings.clone();
        let now = self.clock.now();
        let Some(lease) = self.api.get_opt(&s.name).await? else {
            let created = self
                .api
                .create(&PostParams::default(), &new_lease(&s, now))
                .await;
            return self.wrote(created);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        self.observe(&spec);
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let ours = holder == Some(s.identity.as_str());
        if holder.is_some() && !ours && !self.expired(&spec) {
            return Ok(false);
        }
        let mut next = lease.clone();
        let mut next_spec = spec.clone();
        if !ours {
            next_spec.holder_identity = Some(s.identity.clone());
            next_spec.acquire_time = Some(MicroTime(now));
            next_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        next_spec.lease_duration_seconds = Some(duration_secs(s.lease_duration));
        next_spec.renew_time = Some(MicroTime(now));
        next.spec = Some(next_spec);
        let replaced = self
            .api
            .replace(&s.name, &PostParams::default(), &next)
            .await;
        self.wrote(replaced)
    }

    /// Notes the record, restarting the expiry countdown when it changed (the holder renewed).
    fn observe(&mut self, spec: &LeaseSpec) {
        if self.observed.as_ref().is_none_or(|o| &o.spec != spec) {
            self.observed = Some(Observation {
                spec: spec.clone(),
                at: Instant::now(),
            });
        }
    }

    /// Whether the holder has let the record stand unchanged for its lease duration, as seen
    /// here: the holder's clock (`renewTime`) is never compared with ours.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let secs = spec
            .lease_duration_seconds
            .unwrap_or(15)
            .max(0)
            .unsigned_abs();
        self.observed
            .as_ref()
            .is_none_or(|o| o.at.elapsed() >= Duration::from_secs(u64::from(secs)))
    }

    /// The outcome of our write: we hold the Lease (and saw it as written), or lost a race (409).
    fn wrote(&mut self, result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
        match result {
            Ok(lease) => {
                self.observe(&lease.spec.unwrap_or_default());
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn new_lease(s: &LeaseSettings, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(s.name.clone()),
            namespace: Some(s.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(s.identity.clone()),
            lease_duration_seconds: Some(duration_secs(s.lease_duration)),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    }
}

fn duration_secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// On shutdown, let another replica take over at once instead of after the lease duration.
async fn release(api: &Api<Lease>, s: &LeaseSettings) {
    let Ok(Some(mut lease)) = api.get_opt(&s.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(s.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.renew_time = None;
    if let Err(e) = api.replace(&s.name, &PostParams::default(), &lease).await {
        tracing::warn!(error = %e, "could not release the leader lease");
    }
}

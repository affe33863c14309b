//! Leader election with a `coordination.k8s.io` Lease: only the holder reconciles.
//!
//! The holder renews every `renew_every`; a replica that cannot renew for `renew_deadline`
//! (shorter than the lease duration) stops writing at once, before anyone else can take over.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
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

/// Runs the election until `shutdown` turns true, publishing leadership on `leading`.
pub async fn run(
    client: Client,
    settings: LeaseSettings,
    leading: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api: Api<Lease> = Api::namespaced(client, &settings.namespace);
    let mut last_renewal: Option<Instant> = None;
    loop {
        // A hung request must not keep us leading past the deadline: bound each round.
        let round = tokio::time::timeout(
            settings.renew_deadline / 2,
            try_acquire(&api, &settings, Timestamp::now()),
        );
        match round.await {
            Ok(Ok(true)) => last_renewal = Some(Instant::now()),
            Ok(Ok(false)) => last_renewal = None,
            Ok(Err(e)) => tracing::warn!(error = %e, "could not renew the leader lease"),
            Err(_) => tracing::warn!("renewing the leader lease timed out"),
        }
        let holding = last_renewal.is_some_and(|t| t.elapsed() < settings.renew_deadline);
        leading.send_if_modified(|l| std::mem::replace(l, holding) != holding);
        tokio::select! {
            _ = tokio::time::sleep(settings.renew_every) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    leading.send_replace(false);
    if last_renewal.is_some() {
        release(&api, &settings).await;
    }
}

/// One election round: create, renew or take over the Lease. `Ok(true)` when we hold it.
pub async fn try_acquire(
    api: &Api<Lease>,
    s: &LeaseSettings,
    now: Timestamp,
) -> Result<bool, kube::Error> {
    let Some(lease) = api.get_opt(&s.name).await? else {
        return created(api.create(&PostParams::default(), &new_lease(s, now)).await);
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let ours = spec.holder_identity.as_deref() == Some(s.identity.as_str());
    if !ours && !expired(&spec, now) {
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
    created(api.replace(&s.name, &PostParams::default(), &next).await)
}

/// A write that lost a race (409) means someone else holds the Lease.
fn created(result: Result<Lease, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
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

/// A Lease nobody renewed within its duration (or never held) may be taken.
pub fn expired(spec: &LeaseSpec, now: Timestamp) -> bool {
    let Some(MicroTime(renewed)) = spec.renew_time else {
        return true;
    };
    let secs = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    renewed
        .checked_add(SignedDuration::from_secs(secs))
        .map_or(true, |until| until < now)
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

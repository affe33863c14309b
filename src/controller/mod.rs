//! The Validator controller: watches Validators and their children, and reconciles while it
//! holds the Lease; the key-rotation controller (`crate::rotation`) runs beside it on a shared
//! ValidatorKeyRotation watch. Besides these two, only `backup`/`restore` (their Jobs' own
//! commands), `verify` and `events` hold a Kubernetes client (ARCHITECTURE.md has the map).

pub(crate) mod backup_status;
mod cache;
mod capture;
mod children;
pub(crate) mod conditions;
mod context;
pub(crate) mod crd;
mod error;
mod events;
pub mod leader;
mod monitoring;
pub(crate) mod preflight;
mod reconcile;
mod report;
pub(crate) mod restore_status;
mod rollout;
mod rotation_schedule;
mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::Api;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use tokio::sync::watch;

use cache::{Cached, ChildCache, Echoes, RotationCache, Seen, Stores};
use context::Context;
use monitoring::ServiceMonitorCrd;
use reconcile::{error_policy, reconcile};

use crate::api::{Validator, ValidatorKeyRotation};
use crate::config::OperatorConfig;
use crate::metrics::Metrics;
use crate::render::{
    BACKUP_COMPONENT, COMPONENT, INSTANCE, MANAGED_BY, MANAGER, ServiceMonitor,
    VALIDATOR_APP_COMPONENT,
};

/// `run --debounce-ms` when not given (chosen from the scale runs, docs/performance.md).
pub const DEFAULT_DEBOUNCE_MS: u64 = 250;
/// `run --max-concurrent-rollouts` when not given: one validator restarts at a time.
pub const DEFAULT_MAX_CONCURRENT_ROLLOUTS: u32 = 1;

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    /// Validators reconciled at once.
    pub concurrency: u16,
    /// How long a reconcile waits for further triggers of the same Validator (its own writes
    /// and its children's watch events arrive in a burst).
    pub debounce: Duration,
    /// Validators whose operator-caused workload changes roll at once (0: no limit).
    pub max_concurrent_rollouts: u32,
}

/// Runs the controller while `leading` is true, until `shutdown` turns true. When leadership is
/// lost the controller stops at once (writes also check it), and starts again if regained.
pub async fn run(
    client: Client,
    config: OperatorConfig,
    settings: Settings,
    metrics: Arc<Metrics>,
    mut leading: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = leading.wait_for(|l| *l) => if r.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        tracing::info!("leading: starting the controller");
        let lost = {
            let mut leading = leading.clone();
            async move {
                let _ = leading.wait_for(|l| !*l).await;
            }
        };
        let stop = {
            let mut shutdown = shutdown.clone();
            async move {
                let _ = shutdown.wait_for(|s| *s).await;
            }
        };
        let run = controller_run(
            client.clone(),
            config.clone(),
            settings.clone(),
            metrics.clone(),
            leading.clone(),
        );
        tokio::select! {
            _ = run => {}
            _ = lost => tracing::warn!("lost leadership: stopped reconciling"),
            _ = stop => return,
        }
    }
}

/// One controller lifetime: fresh caches, watches and work queue.
pub async fn controller_run(
    client: Client,
    config: OperatorConfig,
    settings: Settings,
    metrics: Arc<Metrics>,
    leading: watch::Receiver<bool>,
) {
    let ns = settings.namespace.as_deref();
    let echoes = Arc::new(Echoes::default());
    let (deployments, deployment_events) = child_cache::<Deployment>(&client, ns, &echoes);
    let (services, service_events) = child_cache::<Service>(&client, ns, &echoes);
    let (service_accounts, sa_events) = child_cache::<ServiceAccount>(&client, ns, &echoes);
    let (network_policies, np_events) = child_cache::<NetworkPolicy>(&client, ns, &echoes);
    let (cron_jobs, cron_job_events) = child_cache::<CronJob>(&client, ns, &echoes);
    let (backup_pods, backup_pod_events) = backup_pod_cache(&client, ns);
    // ServiceMonitors: the watch starts once discovery finds the CRD; every validator is looked
    // at again when it appears (those asking for one were told it is missing).
    let (monitor_cache, monitor_events) = child_cache::<ServiceMonitor>(&client, ns, &echoes);
    let monitor_crd = ServiceMonitorCrd::new();
    let monitor_events = after_served(monitor_crd.subscribe(), monitor_events);
    let crd_appeared = became_served(monitor_crd.subscribe());
    let discovery = monitor_crd.clone().discover(client.clone());
    let stores = Stores::new(
        deployments,
        services,
        service_accounts,
        network_policies,
        cron_jobs,
        backup_pods,
    )
    .with_service_monitors(monitor_cache, monitor_crd);
    // Validators are cached compactly too, and decoded when reconciled.
    let (validator_store, validator_writer) = reflector::store();
    // Key rotations run under the same leadership, beside the Validator controller, on one
    // watch of ValidatorKeyRotations: a rotation's change wakes its Validator (the schedule
    // reads the cache), a Validator's change wakes its waiting rotations.
    let (rotation_store, rotation_writer) = reflector::store();
    let (wake_validator, validator_wakeups) = futures::channel::mpsc::unbounded();
    let rotation_events = watcher(
        api::<ValidatorKeyRotation>(&client, ns),
        watcher::Config::default()
            .any_semantic()
            .page_size(LIST_PAGE),
    )
    .default_backoff()
    .reflect(rotation_writer)
    .touched_objects()
    .inspect_ok(move |rotation| {
        if let Some(namespace) = rotation.namespace() {
            let validator = ObjectRef::new(&rotation.spec.validator).within(&namespace);
            let _ = wake_validator.unbounded_send(validator);
        }
    });
    let (validator_changed, validator_changes) = futures::channel::mpsc::unbounded();
    let mut rotation_settings = crate::rotation::RotationSettings::new(settings.namespace.clone());
    rotation_settings.metrics = Some(metrics.clone());
    let rotations = crate::rotation::run_shared(
        client.clone(),
        rotation_settings,
        leading.clone(),
        crate::rotation::Shared {
            rotations: rotation_store.clone(),
            rotation_events: log_errors(rotation_events, "validatorkeyrotations").boxed(),
            validator: validator_lookup(validator_store.clone()),
            validators_ready: crate::store_ready::ready_once(validator_store.clone()),
            validator_changes: validator_changes.boxed(),
        },
    );
    let (rollouts, rollout_wakeups) =
        rollout::slots::Rollouts::new(settings.max_concurrent_rollouts, metrics.clone());
    let ctx = Arc::new(Context::new(
        client.clone(),
        config,
        stores,
        metrics,
        leading,
        validator_store.clone(),
        echoes.clone(),
        rollouts,
        RotationCache::new(rotation_store),
    ));
    // Every watch backs off on its own and its errors stop here (see `log_errors`).
    let forget = ctx.clone();
    let validator_events = watcher(
        api::<Cached<Validator>>(&client, ns),
        watcher::Config::default()
            .any_semantic()
            .page_size(LIST_PAGE),
    )
    .default_backoff()
    .reflect(validator_writer)
    .inspect(move |event| forget_deleted(&forget, event))
    .inspect(move |event| tell_rotations(&validator_changed, event))
    .applied_objects();
    let validator_events = skip_echoes(validator_events, echoes);
    let validators =
        Controller::for_stream(log_errors(validator_events, "validators"), validator_store)
            .owns_stream(deployment_events)
            .owns_stream(service_events)
            .owns_stream(sa_events)
            .owns_stream(np_events)
            .owns_stream(cron_job_events)
            .owns_stream(monitor_events)
            .reconcile_all_on(crd_appeared)
            // A backup run or a restore step finished: status.backup / status.restore follow.
            .watches_stream(backup_pod_events, validator_of_backup_pod)
            // Validators waiting for a rollout slot are reconciled when one frees.
            .reconcile_on(rollout_wakeups)
            // A rotation changed: its validator's schedule and history follow.
            .reconcile_on(validator_wakeups)
            .with_config(
                controller::Config::default()
                    .concurrency(settings.concurrency)
                    .debounce(settings.debounce),
            )
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "controller event");
                }
            });
    futures::future::join3(validators, rotations, discovery).await;
}

/// `stream`, started only once `served` turns true.
fn after_served<S>(
    mut served: watch::Receiver<bool>,
    stream: S,
) -> impl futures::Stream<Item = S::Item> + Send + 'static
where
    S: futures::Stream + Send + 'static,
{
    futures::stream::once(async move {
        let _ = served.wait_for(|s| *s).await;
        stream
    })
    .flatten()
}

/// One item each time `served` turns true.
fn became_served(
    served: watch::Receiver<bool>,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((served, false), |(mut served, was)| async move {
        let mut was = was;
        loop {
            served.changed().await.ok()?;
            let now = *served.borrow_and_update();
            if now && !was {
                return Some(((), (served, now)));
            }
            was = now;
        }
    })
}

/// Deleted Validators are never reconciled (there is no finalizer): their metrics and failure
/// counts are dropped when the watch reports the deletion, or, after a re-list, when the cache no
/// longer has them.
fn forget_deleted(
    ctx: &Context,
    event: &Result<watcher::Event<Cached<Validator>>, watcher::Error>,
) {
    match event {
        Ok(watcher::Event::Delete(validator)) => ctx.forget(&ObjectRef::from(validator)),
        Ok(watcher::Event::InitDone) => ctx.forget_all_deleted(),
        _ => {}
    }
}

/// Passes every Validator the watch shows (the operator's own status writes included, such as a
/// new verified backup) to the rotation controller.
fn tell_rotations(
    changed: &futures::channel::mpsc::UnboundedSender<(String, String)>,
    event: &Result<watcher::Event<Cached<Validator>>, watcher::Error>,
) {
    if let Ok(watcher::Event::Apply(validator) | watcher::Event::InitApply(validator)) = event
        && let Some(namespace) = validator.namespace()
    {
        let _ = changed.unbounded_send((namespace, validator.name_any()));
    }
}

/// A Validator from the compact cache, decoded.
fn validator_lookup(store: Store<Cached<Validator>>) -> crate::rotation::ValidatorLookup {
    Arc::new(move |namespace: &str, name: &str| {
        store
            .get(&ObjectRef::new(name).within(namespace))
            .and_then(|cached| cached.decode().ok())
    })
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The pods of identity backup Jobs (they belong to Jobs, not to the Validator), cached to read
/// each run's result, and the validator app's pods, whose restore init containers leave theirs.
fn backup_pod_cache(
    client: &Client,
    namespace: Option<&str>,
) -> (
    Store<Cached<Pod>>,
    impl futures::Stream<Item = Result<Cached<Pod>, watcher::Error>> + Send + 'static,
) {
    let (store, writer) = reflector::store();
    let config = watcher::Config::default()
        .labels(&format!(
            "{MANAGED_BY}={MANAGER},{COMPONENT} in ({BACKUP_COMPONENT},{VALIDATOR_APP_COMPONENT})"
        ))
        .any_semantic()
        .page_size(LIST_PAGE);
    let stream = watcher(api::<Cached<Pod>>(client, namespace), config)
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    (store, log_errors(stream, "backup pods".to_string()))
}

/// The Validator a backup pod reports on: its namespace and `app.kubernetes.io/instance` (the
/// compact cache keeps no labels, so the pod is decoded; there are a few per validator).
fn validator_of_backup_pod(pod: Cached<Pod>) -> Option<ObjectRef<Cached<Validator>>> {
    let namespace = pod.namespace()?;
    let pod = pod.decode().ok()?;
    let instance = pod.labels().get(INSTANCE)?.clone();
    Some(ObjectRef::new(&instance).within(&namespace))
}

/// A cache of one child kind, limited to objects this operator manages and holding only what a
/// reconcile reads ([`child_cache`]), and its change stream without the echoes of the operator's
/// own writes.
fn child_cache<K>(
    client: &Client,
    namespace: Option<&str>,
    echoes: &Arc<Echoes>,
) -> (
    ChildCache<K>,
    impl futures::Stream<Item = Result<Seen<K>, watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + 'static,
{
    let (cache, mut writer) = ChildCache::new();
    let config = watcher::Config::default()
        .labels(&format!("{MANAGED_BY}={MANAGER}"))
        .any_semantic()
        .page_size(LIST_PAGE);
    let stream = watcher(api::<Seen<K>>(client, namespace), config)
        .default_backoff()
        .inspect_ok(move |event| writer.apply(event))
        .touched_objects();
    let stream = skip_echoes(stream, echoes.clone());
    (cache, log_errors(stream, K::plural(&()).into_owned()))
}

/// Drops the events that only show an object as the operator's own write left it: the cache has
/// them (the reflector comes first), but they start no reconcile (see [`Echoes`]).
fn skip_echoes<K, E>(
    stream: impl futures::Stream<Item = Result<K, E>> + Send + 'static,
    echoes: Arc<Echoes>,
) -> impl futures::Stream<Item = Result<K, E>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Send + 'static,
    E: Send + 'static,
{
    stream.filter_map(move |event| {
        let echoes = echoes.clone();
        async move {
            let check = event.as_ref().ok().map(|obj| echoes.is_echo(obj));
            let echo = match check {
                Some(check) => check.await,
                None => false,
            };
            (!echo).then_some(event)
        }
    })
}

/// Logs a watch's errors and keeps them from the controller. Each watch already backs off on its
/// own; an error passed on would also pause the controller's one shared trigger backoff, which
/// takes a single error per pause: when all five watches fail at once (410 Gone after an
/// apiserver restart or compaction) the last one would re-list only after five growing pauses,
/// and changes made meanwhile would go unseen for that long.
fn log_errors<K: Send + 'static>(
    stream: impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    what: impl std::fmt::Display + Send + 'static,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    stream.filter_map(move |event| {
        let item = match event {
            Ok(obj) => Some(Ok(obj)),
            Err(error) => {
                tracing::warn!(watch = %what, %error, "watch failed: backing off, then resuming or re-listing");
                None
            }
        };
        futures::future::ready(item)
    })
}

/// Objects per LIST page when a cache (re)lists. Each page arrives whole, with the managedFields
/// the cache then drops, so the page size bounds the start-up peak of memory: 50 instead of
/// kube's 500 (docs/performance.md, "Memory").
pub(crate) const LIST_PAGE: u32 = 50;

/// How long to wait between CRD checks at start-up.
pub(crate) const CRD_POLL: Duration = Duration::from_secs(5);

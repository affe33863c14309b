//! The rotation controller: for each ValidatorKeyRotation, one [`step`](super::step) per
//! reconcile against `<validator>-participant:5002`, status written with merge patches on the
//! status subresource, Events on phase changes. Finished rotations and rotations paused for a
//! backup cost no request: they are judged from the caches and woken by watch events. (Scheduled
//! rotations are requested by the Validator's reconcile, `controller::rotation_schedule`.)

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::admin::{AdminClient, AdminError, AdminTarget, Timeouts, TlsTarget, in_cluster_address};
use super::schedule::blocking_rotation;
use super::step::{self, Next, Outcome, StepSettings, still_awaiting_backup};
use crate::api::{RotationPhase, Validator, ValidatorKeyRotation, ValidatorKeyRotationStatus};
use crate::events::{Note, Publisher, Severity};
use crate::field_manager::FIELD_MANAGER;
use crate::metrics::Metrics;
use crate::store_ready::{Ready, ready_once};

/// Finds a validator's Admin API: in the cluster by default; tests point it elsewhere.
pub type AdminResolver = Arc<dyn Fn(&Validator) -> Result<AdminTarget, AdminError> + Send + Sync>;

/// Why a rotation reconcile failed (Kubernetes side; Admin API failures go to status).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RotationError {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("the ValidatorKeyRotation has no namespace")]
    MissingNamespace,
    #[error("this replica lost leadership; the write was not sent")]
    NotLeader,
}

/// How the rotation controller runs.
#[derive(Clone)]
pub struct RotationSettings {
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    pub step: StepSettings,
    pub timeouts: Timeouts,
    pub resolver: AdminResolver,
    /// Rotations reconciled at once.
    pub concurrency: u16,
    /// Where the rotations in progress are shown (`key_rotation_started_timestamp_seconds`).
    pub metrics: Option<Arc<Metrics>>,
}

impl RotationSettings {
    /// Production settings: in-cluster addresses, TLS from `spec.kms.rotation.adminApiTls`.
    pub fn new(namespace: Option<String>) -> Self {
        Self {
            namespace,
            step: StepSettings::default(),
            timeouts: Timeouts::default(),
            resolver: Arc::new(default_target),
            concurrency: 2,
            metrics: None,
        }
    }
}

/// `<validator>-participant.<ns>.svc:5002`, plaintext unless the Validator configures TLS.
pub fn default_target(validator: &Validator) -> Result<AdminTarget, AdminError> {
    let name = validator.name_any();
    let namespace = validator
        .namespace()
        .unwrap_or_else(|| "default".to_string());
    let address = in_cluster_address(&name, &namespace);
    let tls = validator
        .spec
        .kms
        .as_ref()
        .and_then(|k| k.rotation.as_ref())
        .and_then(|r| r.admin_api_tls.as_ref());
    Ok(match tls {
        None => AdminTarget::plaintext(&address),
        Some(tls) => AdminTarget {
            uri: format!("https://{address}"),
            tls: Some(TlsTarget {
                ca_pem: tls.ca_pem.clone(),
                ca_file: tls.ca_file.as_ref().map(Into::into),
                server_name: tls.server_name.clone(),
            }),
        },
    })
}

/// A Validator by namespace and name, as the operator's cache has it.
pub type ValidatorLookup = Arc<dyn Fn(&str, &str) -> Option<Validator> + Send + Sync>;

/// What the rotation controller reads and is woken by, shared with the Validator controller so
/// that each kind is watched once.
pub struct Shared {
    /// The rotations' cache, and the watch events that fill it.
    pub rotations: Store<ValidatorKeyRotation>,
    pub rotation_events: BoxStream<'static, Result<ValidatorKeyRotation, watcher::Error>>,
    /// The Validators' cache, and a future that resolves once it holds the first list (it may
    /// be awaited by many tasks).
    pub validator: ValidatorLookup,
    pub validators_ready: Ready,
    /// Validators that changed, as (namespace, name): their waiting rotations look again.
    pub validator_changes: BoxStream<'static, (String, String)>,
}

struct Ctx {
    client: Client,
    settings: RotationSettings,
    events: Publisher,
    leading: watch::Receiver<bool>,
    rotations: Store<ValidatorKeyRotation>,
    validator: ValidatorLookup,
    validators_ready: Ready,
}

impl Ctx {
    fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }
}

/// Runs the rotation controller with its own watches of ValidatorKeyRotations and Validators,
/// until the future is dropped.
pub async fn run(client: Client, settings: RotationSettings, leading: watch::Receiver<bool>) {
    let ns = settings.namespace.as_deref();
    let (rotations, rotation_writer) = reflector::store();
    let rotation_events = watcher(
        namespaced_or_all::<ValidatorKeyRotation>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(rotation_writer)
    .touched_objects()
    .boxed();
    let (validators, validator_writer) = reflector::store::<Validator>();
    let validator_changes = watcher(
        namespaced_or_all::<Validator>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .reflect(validator_writer)
    .applied_objects()
    .try_filter_map(|v| futures::future::ok(v.namespace().map(|ns| (ns, v.name_any()))))
    .filter_map(|r| futures::future::ready(r.ok()))
    .boxed();
    let validators_ready = ready_once(validators.clone());
    let validator: ValidatorLookup = Arc::new(move |namespace: &str, name: &str| {
        validators
            .get(&ObjectRef::new(name).within(namespace))
            .map(|v| Validator::clone(&v))
    });
    let shared = Shared {
        rotations,
        rotation_events,
        validator,
        validators_ready,
        validator_changes,
    };
    run_shared(client, settings, leading, shared).await;
}

/// Runs the rotation controller on caches and watches the caller keeps.
pub async fn run_shared(
    client: Client,
    settings: RotationSettings,
    leading: watch::Receiver<bool>,
    shared: Shared,
) {
    let ctx = Arc::new(Ctx {
        events: Publisher::new(client.clone(), FIELD_MANAGER),
        client,
        settings: settings.clone(),
        leading,
        rotations: shared.rotations.clone(),
        validator: shared.validator,
        validators_ready: shared.validators_ready,
    });
    let store = shared.rotations.clone();
    let wakeups = shared.validator_changes.flat_map(move |(namespace, name)| {
        futures::stream::iter(waiting_for_validator(&store, &namespace, &name))
    });
    Controller::for_stream(shared.rotation_events, shared.rotations)
        .reconcile_on(wakeups)
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "rotation controller event");
            }
        })
        .await;
}

/// The rotations a change of their Validator may let go on: those paused for a backup (its
/// `status.backup` may now show a verified one) and those waiting for it to exist.
fn waiting_for_validator(
    store: &Store<ValidatorKeyRotation>,
    namespace: &str,
    name: &str,
) -> Vec<ObjectRef<ValidatorKeyRotation>> {
    store
        .state()
        .iter()
        .filter(|r| {
            r.metadata.namespace.as_deref() == Some(namespace)
                && r.spec.validator == name
                && (r.phase() == RotationPhase::AwaitingBackup
                    || r.status.as_ref().and_then(|s| s.reason.as_deref())
                        == Some(VALIDATOR_NOT_FOUND))
        })
        .map(|r| ObjectRef::from(r.as_ref()))
        .collect()
}

/// The waiting reason of a rotation whose Validator does not exist.
const VALIDATOR_NOT_FOUND: &str = "ValidatorNotFound";

fn namespaced_or_all<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn error_policy(rotation: Arc<ValidatorKeyRotation>, error: &RotationError, _: Arc<Ctx>) -> Action {
    tracing::warn!(rotation = %rotation.name_any(), %error, "rotation reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(
    rotation: Arc<ValidatorKeyRotation>,
    ctx: Arc<Ctx>,
) -> Result<Action, RotationError> {
    if !ctx.is_leading() {
        return Ok(Action::await_change());
    }
    let namespace = rotation
        .namespace()
        .ok_or(RotationError::MissingNamespace)?;
    // A finished rotation stays finished: the cached copy is enough to leave it alone.
    if rotation.phase().is_terminal() || rotation.metadata.deletion_timestamp.is_some() {
        show_progress(&ctx, &namespace, &rotation, None);
        return Ok(Action::await_change());
    }
    let api: Api<ValidatorKeyRotation> = Api::namespaced(ctx.client.clone(), &namespace);
    ctx.validators_ready.clone().await;
    let Some(validator) = (ctx.validator)(&namespace, &rotation.spec.validator) else {
        let message = format!(
            "Validator {} does not exist in namespace {namespace}; the rotation starts when it does",
            rotation.spec.validator
        );
        // The cache may lag our own status writes: the waiting status starts from the latest.
        let Some(current) = fresh(&api, &rotation).await? else {
            show_progress(&ctx, &namespace, &rotation, None);
            return Ok(Action::await_change());
        };
        let status = waiting_status(&current, VALIDATOR_NOT_FOUND, message);
        write_status(&current, &status, &api, &ctx).await?;
        show_progress(&ctx, &namespace, &current, Some(&status));
        // Woken when the Validator appears (`waiting_for_validator`).
        return Ok(Action::await_change());
    };
    let backup = validator
        .status
        .as_ref()
        .and_then(|s| s.backup.as_ref()?.last_success_time());
    // Paused for a backup nobody confirmed: nothing to ask anyone until the request or the
    // Validator's status changes, and both wake this controller.
    if still_awaiting_backup(&rotation, backup) {
        show_progress(&ctx, &namespace, &rotation, rotation.status.as_ref());
        return Ok(Action::await_change());
    }
    // The cache may lag our own status writes; the step must start from the latest status.
    let Some(current) = fresh(&api, &rotation).await? else {
        show_progress(&ctx, &namespace, &rotation, None);
        return Ok(Action::await_change());
    };
    let outcome = match blocked_by_another(&current, &ctx) {
        None => take_step(&current, &validator, &ctx).await,
        Some(waiting) => waiting,
    };
    write_status(&current, &outcome.status, &api, &ctx).await?;
    show_progress(&ctx, &namespace, &current, Some(&outcome.status));
    if let Some(note) = &outcome.event {
        publish(&ctx, &current, note).await;
    }
    Ok(match outcome.next {
        Next::Now => Action::requeue(Duration::from_millis(10)),
        Next::After(d) => Action::requeue(d),
        Next::AwaitChange | Next::Done => Action::await_change(),
    })
}

/// The rotation as the API server has it now, unless it is gone, finished or being deleted.
async fn fresh(
    api: &Api<ValidatorKeyRotation>,
    rotation: &ValidatorKeyRotation,
) -> Result<Option<ValidatorKeyRotation>, RotationError> {
    let current = api.get_opt(&rotation.name_any()).await?;
    Ok(current.filter(|r| !r.phase().is_terminal() && r.metadata.deletion_timestamp.is_none()))
}

/// The waiting status of a pending rotation while another of the same validator is unfinished
/// (from the cache, whose watch events wake this one when that one finishes).
fn blocked_by_another(rotation: &ValidatorKeyRotation, ctx: &Ctx) -> Option<Outcome> {
    if rotation.phase() != RotationPhase::Pending {
        return None;
    }
    let siblings: Vec<ValidatorKeyRotation> = ctx
        .rotations
        .state()
        .iter()
        .filter(|r| {
            r.metadata.namespace == rotation.metadata.namespace
                && r.spec.validator == rotation.spec.validator
        })
        .map(|r| ValidatorKeyRotation::clone(r))
        .collect();
    let other = blocking_rotation(rotation, &siblings)?;
    let message = format!(
        "waiting for ValidatorKeyRotation {} of the same validator to finish: at most one runs at a time",
        other.name_any()
    );
    Some(waiting(
        rotation,
        "WaitingForOtherRotation",
        message,
        ctx.settings.step.poll,
    ))
}

fn waiting(
    rotation: &ValidatorKeyRotation,
    reason: &str,
    message: String,
    after: Duration,
) -> Outcome {
    Outcome {
        status: waiting_status(rotation, reason, message),
        next: Next::After(after),
        event: None,
    }
}

fn waiting_status(
    rotation: &ValidatorKeyRotation,
    reason: &str,
    message: String,
) -> ValidatorKeyRotationStatus {
    let mut status = rotation.status.clone().unwrap_or_default();
    status.phase.get_or_insert(RotationPhase::Pending);
    status.reason = Some(reason.to_string());
    status.message = Some(message);
    status
}

/// Connects (with timeouts) and takes one step; an unreachable participant becomes status.
async fn take_step(rotation: &ValidatorKeyRotation, validator: &Validator, ctx: &Ctx) -> Outcome {
    let now = now();
    let settings = &ctx.settings;
    let connected = match (settings.resolver)(validator) {
        Ok(target) => AdminClient::connect(&target, settings.timeouts).await,
        Err(e) => Err(e),
    };
    match connected {
        Ok(mut admin) => {
            let backup = validator
                .status
                .as_ref()
                .and_then(|s| s.backup.as_ref()?.last_success_time());
            step::advance_with_backups(rotation, &mut admin, &now, &settings.step, backup).await
        }
        Err(e) => step::failed_call(rotation, &e, &now, &settings.step),
    }
}

/// Shows a rotation in the metrics while it is in progress (`status`: the one just computed).
fn show_progress(
    ctx: &Ctx,
    namespace: &str,
    rotation: &ValidatorKeyRotation,
    status: Option<&ValidatorKeyRotationStatus>,
) {
    let Some(metrics) = &ctx.settings.metrics else {
        return;
    };
    let key = format!("{namespace}/{}", rotation.name_any());
    let phase = status.and_then(|s| s.phase).unwrap_or_default();
    let started = status
        .and_then(|s| s.started_at.as_ref())
        .or(rotation.metadata.creation_timestamp.as_ref());
    match (status, started) {
        (Some(_), Some(started)) if !phase.is_terminal() => metrics.set_rotation(
            &key,
            Some((&rotation.spec.validator, phase.as_str(), started.0)),
        ),
        _ => metrics.set_rotation(&key, None),
    }
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Writes the status if it changed, as a JSON merge patch on the status subresource.
async fn write_status(
    rotation: &ValidatorKeyRotation,
    status: &ValidatorKeyRotationStatus,
    api: &Api<ValidatorKeyRotation>,
    ctx: &Ctx,
) -> Result<(), RotationError> {
    let empty = ValidatorKeyRotationStatus::default();
    let previous = rotation.status.as_ref().unwrap_or(&empty);
    if previous == status {
        return Ok(());
    }
    if !ctx.is_leading() {
        return Err(RotationError::NotLeader);
    }
    let body = status_patch(previous, status);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch_status(&rotation.name_any(), &params, &Patch::Merge(&body))
        .await?;
    Ok(())
}

/// `{"status": new}`, with `null` for every field the new status drops (a merge patch would
/// otherwise keep it).
pub(crate) fn status_patch(
    previous: &ValidatorKeyRotationStatus,
    status: &ValidatorKeyRotationStatus,
) -> Value {
    let mut new = serde_json::to_value(status).unwrap_or_else(|_| json!({}));
    let old = serde_json::to_value(previous).unwrap_or_else(|_| json!({}));
    if let (Some(new_map), Some(old_map)) = (new.as_object_mut(), old.as_object()) {
        for key in old_map.keys() {
            new_map.entry(key.clone()).or_insert(Value::Null);
        }
    }
    json!({ "status": new })
}

async fn publish(ctx: &Ctx, rotation: &ValidatorKeyRotation, note: &step::Note) {
    if !ctx.is_leading() {
        return;
    }
    let event = Note {
        severity: Severity::warning_if(note.warning),
        reason: &note.reason,
        action: "RotateKeys",
        message: &note.message,
    };
    if let Err(e) = ctx.events.publish(rotation, &event).await {
        tracing::warn!(error = %e, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RotationPhase;

    #[test]
    fn dropped_fields_are_nulled() {
        let old = ValidatorKeyRotationStatus {
            phase: Some(RotationPhase::AddingKeys),
            reason: Some("ParticipantUnreachable".into()),
            consecutive_failures: Some(2),
            ..Default::default()
        };
        let new = ValidatorKeyRotationStatus {
            phase: Some(RotationPhase::AddingKeys),
            ..Default::default()
        };
        let patch = status_patch(&old, &new);
        assert_eq!(patch["status"]["reason"], Value::Null);
        assert_eq!(patch["status"]["consecutiveFailures"], Value::Null);
        assert_eq!(patch["status"]["phase"], "AddingKeys");
    }
}

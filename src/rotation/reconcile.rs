//! The rotation controller: for each ValidatorKeyRotation, one [`step`](super::step) per
//! reconcile against `<validator>-participant:5002`, status written with merge patches on the
//! status subresource, Events on phase changes; and the scheduler that requests due rotations.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::admin::{AdminClient, AdminError, AdminTarget, Timeouts, TlsTarget, in_cluster_address};
use super::duration::parse_every;
use super::schedule::{Existing, blocking_rotation, due_rotation};
use super::step::{self, Next, Outcome, StepSettings};
use crate::api::{
    ROTATION_VALIDATOR_LABEL, RotationPhase, Validator, ValidatorKeyRotation,
    ValidatorKeyRotationSpec, ValidatorKeyRotationStatus,
};
use crate::controller::backup_status::last_success_time;
use crate::events::{Note, Publisher, Severity};
use crate::metrics::Metrics;

/// The field manager of every write.
const FIELD_MANAGER: &str = "canton-operator";

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
    /// How often the scheduler looks for due rotations.
    pub schedule_period: Duration,
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
            schedule_period: Duration::from_secs(60),
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

struct Ctx {
    client: Client,
    settings: RotationSettings,
    events: Publisher,
    leading: watch::Receiver<bool>,
}

impl Ctx {
    fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }
}

/// Runs the rotation controller and the scheduler until the future is dropped.
pub async fn run(client: Client, settings: RotationSettings, leading: watch::Receiver<bool>) {
    let ctx = Arc::new(Ctx {
        events: Publisher::new(client.clone(), FIELD_MANAGER),
        client: client.clone(),
        settings: settings.clone(),
        leading,
    });
    let api: Api<ValidatorKeyRotation> = namespaced_or_all(&client, settings.namespace.as_deref());
    let controller = Controller::new(api, watcher::Config::default().any_semantic())
        .with_config(controller::Config::default().concurrency(settings.concurrency))
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "rotation controller event");
            }
        });
    futures::future::join(controller, schedule_loop(ctx)).await;
}

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
    let api: Api<ValidatorKeyRotation> = Api::namespaced(ctx.client.clone(), &namespace);
    // The cache may lag our own status writes; the step must start from the latest status.
    let Some(current) = api.get_opt(&rotation.name_any()).await? else {
        show_progress(&ctx, &namespace, &rotation, None);
        return Ok(Action::await_change());
    };
    if current.phase().is_terminal() || current.metadata.deletion_timestamp.is_some() {
        show_progress(&ctx, &namespace, &current, None);
        return Ok(Action::await_change());
    }
    let outcome = match prerequisites(&current, &api, &ctx, &namespace).await? {
        Ok(validator) => take_step(&current, &validator, &ctx).await,
        Err(waiting) => waiting,
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

/// The Validator, or the waiting status when the rotation cannot start yet.
async fn prerequisites(
    rotation: &ValidatorKeyRotation,
    api: &Api<ValidatorKeyRotation>,
    ctx: &Ctx,
    namespace: &str,
) -> Result<Result<Validator, Outcome>, RotationError> {
    let validators: Api<Validator> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(validator) = validators.get_opt(&rotation.spec.validator).await? else {
        let message = format!(
            "Validator {} does not exist in namespace {namespace}; the rotation starts when it does",
            rotation.spec.validator
        );
        return Ok(Err(waiting(
            rotation,
            "ValidatorNotFound",
            message,
            ctx.settings.step.poll * 6,
        )));
    };
    if rotation.phase() == RotationPhase::Pending {
        let all = api.list(&ListParams::default()).await?.items;
        if let Some(other) = blocking_rotation(rotation, &all) {
            let message = format!(
                "waiting for ValidatorKeyRotation {} of the same validator to finish: at most one runs at a time",
                other.name_any()
            );
            return Ok(Err(waiting(
                rotation,
                "WaitingForOtherRotation",
                message,
                ctx.settings.step.poll,
            )));
        }
    }
    Ok(Ok(validator))
}

fn waiting(
    rotation: &ValidatorKeyRotation,
    reason: &str,
    message: String,
    after: Duration,
) -> Outcome {
    let mut status = rotation.status.clone().unwrap_or_default();
    status.phase.get_or_insert(RotationPhase::Pending);
    status.reason = Some(reason.to_string());
    status.message = Some(message);
    Outcome {
        status,
        next: Next::After(after),
        event: None,
    }
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
            let backup =
                last_success_time(validator.status.as_ref().and_then(|s| s.backup.as_ref()));
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

/// Every `schedule_period`, requests the rotations that are due.
async fn schedule_loop(ctx: Arc<Ctx>) {
    loop {
        if ctx.is_leading()
            && let Err(e) = schedule_once(&ctx.client, ctx.settings.namespace.as_deref()).await
        {
            tracing::warn!(error = %e, "could not check rotation schedules");
        }
        tokio::time::sleep(ctx.settings.schedule_period).await;
    }
}

/// Creates every ValidatorKeyRotation that `spec.kms.rotation.every` makes due now; returns
/// their names. Safe to run from several replicas at once: names are deterministic.
///
/// Validators are listed a page at a time: one LIST of every typed Validator (with its
/// `managedFields` and status) was the operator's peak of memory at 1,000 validators, about
/// 23 MiB (docs/performance.md, "Memory").
pub async fn schedule_once(
    client: &Client,
    namespace: Option<&str>,
) -> Result<Vec<String>, kube::Error> {
    let validators: Api<Validator> = namespaced_or_all(client, namespace);
    let mut created = Vec::new();
    let mut params = ListParams::default().limit(crate::controller::LIST_PAGE);
    loop {
        let page = validators.list(&params).await?;
        for validator in &page.items {
            if let Some(name) = schedule_validator(client, validator).await? {
                created.push(name);
            }
        }
        match page.metadata.continue_.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(created),
        }
    }
}

/// The rotation `validator`'s schedule makes due now, if any, created.
async fn schedule_validator(
    client: &Client,
    validator: &Validator,
) -> Result<Option<String>, kube::Error> {
    let Some(settings) = validator
        .spec
        .kms
        .as_ref()
        .and_then(|k| k.rotation.as_ref())
    else {
        return Ok(None);
    };
    let Some(every) = settings.every.as_deref() else {
        return Ok(None);
    };
    let every = match parse_every(every) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(validator = %validator.name_any(), error = %e, "spec.kms.rotation.every is unusable; no rotation is scheduled");
            return Ok(None);
        }
    };
    request_if_due(
        client,
        validator,
        every,
        settings.pause_for_backup.unwrap_or(false),
    )
    .await
}

async fn request_if_due(
    client: &Client,
    validator: &Validator,
    every: Duration,
    pause_for_backup: bool,
) -> Result<Option<String>, kube::Error> {
    let (Some(namespace), Some(created)) = (
        validator.namespace(),
        validator.metadata.creation_timestamp.as_ref(),
    ) else {
        return Ok(None);
    };
    let name = validator.name_any();
    let api: Api<ValidatorKeyRotation> = Api::namespaced(client.clone(), &namespace);
    let existing: Vec<Existing> = api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|r| r.spec.validator == name)
        .map(|r| Existing {
            name: r.name_any(),
            created: r
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(created.0),
            phase: r.phase(),
        })
        .collect();
    let Some(due) = due_rotation(
        &name,
        created.0,
        every,
        &existing,
        k8s_openapi::jiff::Timestamp::now(),
    ) else {
        return Ok(None);
    };
    let mut rotation = ValidatorKeyRotation::new(
        &due.name,
        ValidatorKeyRotationSpec {
            validator: name.clone(),
            pause_for_backup,
            ..ValidatorKeyRotationSpec::default()
        },
    );
    rotation.metadata.namespace = Some(namespace);
    rotation.metadata.labels = Some([(ROTATION_VALIDATOR_LABEL.to_string(), name.clone())].into());
    rotation.metadata.owner_references = validator.controller_owner_ref(&()).map(|o| vec![o]);
    match api.create(&PostParams::default(), &rotation).await {
        Ok(_) => {
            tracing::info!(validator = %name, rotation = %due.name, "scheduled key rotation requested");
            Ok(Some(due.name))
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => Err(e),
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

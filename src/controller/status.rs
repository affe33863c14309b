//! Writing status (only when it changed) and the Events that go with real changes.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::backup_status::{condition as backup_condition, next_status, run_of};
use super::conditions::RESTORED;
use super::conditions::{
    self, BackupObservation, IDENTITY_BACKED_UP, KMS_CONFIGURED, KmsOutcome, MINIMUM_RELEASE_MET,
    Observation, RELEASE_KNOWN, desired_status,
};
use super::context::Context;
use super::error::{Error, Result};
use super::events;
use super::monitoring;
use super::report::ApplyReport;
use super::restore_status;
use super::rollout;
use crate::api::{KeyRotationScheduleStatus, Validator, ValidatorStatus};
use crate::field_manager::FIELD_MANAGER;
use crate::render::{INSTANCE, backup_name, participant_name, validator_app_name};
use k8s_openapi::jiff::Timestamp;

/// Computes the status from the cache and writes it if it differs; publishes Events for changes.
pub(crate) async fn update(
    validator: &Validator,
    ctx: &Context,
    outcome: &KmsOutcome,
    report: &ApplyReport,
    key_rotation: Option<&KeyRotationScheduleStatus>,
) -> Result<()> {
    let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
    let name = validator.name_any();
    let participant = deployment(ctx, &namespace, &participant_name(&name));
    let app = deployment(ctx, &namespace, &validator_app_name(&name));
    let previous = validator.status.as_ref();
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let backup = backup_observation(validator, ctx, &namespace, &name, now.0)?;
    let restore = restore_status::observe_in(validator, ctx, app.as_ref(), now.0)?;
    ctx.metrics.set_backup_success(
        &format!("{namespace}/{name}"),
        backup.as_ref().and_then(|b| b.status.last_success_time()),
    );
    let version = &validator.spec.version;
    let minimum_release = ctx
        .config
        .minimum_release
        .as_ref()
        .and_then(|m| m.standing(version, now.0))
        .map(|s| (s.met, s.reason, s.message));
    ctx.metrics.set_below_minimum(
        &format!("{namespace}/{name}"),
        minimum_release.as_ref().is_some_and(|m| !m.0),
    );
    let obs = Observation {
        generation: validator.metadata.generation,
        outcome,
        participant: participant.as_ref(),
        validator_app: app.as_ref(),
        validator_name: &name,
        backup,
        release_known: conditions::release_known(version),
        minimum_release,
        restore,
    };
    let mut status = desired_status(&obs, previous, &now);
    status.key_rotation = key_rotation.cloned();
    rollout::set_condition(
        &mut status,
        previous,
        report.rollout.as_ref(),
        obs.generation,
        &now,
    );
    monitoring::set_condition(
        &mut status,
        previous,
        report.monitoring.as_ref(),
        validator.spec.service_monitor().is_some(),
        obs.generation,
        &now,
    );
    ctx.metrics.set_mode(
        &format!("{namespace}/{name}"),
        status.kms.as_ref().map(|k| k.summary.as_str()),
    );
    let conditions: Vec<(&str, bool, &str)> = status
        .conditions
        .iter()
        .map(|c| (c.type_.as_str(), c.status == "True", c.reason.as_str()))
        .collect();
    ctx.metrics
        .set_conditions(&format!("{namespace}/{name}"), &conditions);
    publish_changes(validator, ctx, previous, &status, report).await;
    if previous == Some(&status) {
        return Ok(());
    }
    write(validator, ctx, &namespace, &status).await
}

/// The identity backups as the finished runs' pods report them, when the spec asks for backups.
fn backup_observation(
    validator: &Validator,
    ctx: &Context,
    namespace: &str,
    name: &str,
    now: Timestamp,
) -> Result<Option<BackupObservation>> {
    let Some(spec) = validator.spec.identity_backup() else {
        return Ok(None);
    };
    let mut runs = Vec::new();
    // Job pods are named after their CronJob, `<name>-identity-backup-…`: only those are decoded
    // (the compact cache keeps no labels), and the label then says whose backup it is, so a
    // validator whose name merely starts the same is not mistaken for this one.
    let prefix = format!("{}-", backup_name(name));
    for cached in ctx.stores.backup_pods.state() {
        if cached.namespace().as_deref() != Some(namespace)
            || !cached.name_any().starts_with(&prefix)
        {
            continue;
        }
        let pod = cached.decode().map_err(|source| Error::Decode {
            what: format!("backup Pod {namespace}/{}", cached.name_any()),
            source: source.into(),
        })?;
        if pod.labels().get(INSTANCE).map(String::as_str) == Some(name) {
            runs.extend(run_of(&pod));
        }
    }
    let previous = validator.status.as_ref().and_then(|s| s.backup.as_ref());
    let status = next_status(previous, &runs);
    let since = validator
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    let condition = backup_condition(spec, &status, since, now);
    Ok(Some(BackupObservation { status, condition }))
}

/// A Deployment as the cache has it (the cache keeps the answers to this reconcile's applies).
fn deployment(ctx: &Context, namespace: &str, name: &str) -> Option<Deployment> {
    ctx.stores
        .deployments
        .get(namespace, name)
        .and_then(|kept| kept.deployment())
}

async fn write(
    validator: &Validator,
    ctx: &Context,
    namespace: &str,
    status: &ValidatorStatus,
) -> Result<()> {
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let api: Api<Validator> = Api::namespaced(ctx.client.clone(), namespace);
    let mut body = json!({ "status": status });
    // A merge patch keeps what it does not name: a schedule that was removed is nulled.
    let had_schedule = validator
        .status
        .as_ref()
        .is_some_and(|s| s.key_rotation.is_some());
    if had_schedule && status.key_rotation.is_none() {
        body["status"]["keyRotation"] = serde_json::Value::Null;
    }
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    let sending = ctx.echoes.sending(validator);
    let answer = api
        .patch_status(&validator.name_any(), &params, &Patch::Merge(&body))
        .await
        .map_err(Error::api(
            "writing the status of",
            format!(
                "Validator {}/{}",
                validator.namespace().unwrap_or_default(),
                validator.name_any()
            ),
        ))?;
    sending.answered(&answer);
    Ok(())
}

/// Events: the KMS condition changing, children created (provisioned) or corrected (drift).
async fn publish_changes(
    validator: &Validator,
    ctx: &Context,
    previous: Option<&ValidatorStatus>,
    status: &ValidatorStatus,
    report: &ApplyReport,
) {
    let before = conditions::find(previous, KMS_CONFIGURED);
    let after = conditions::find(Some(status), KMS_CONFIGURED);
    if let Some(after) = after {
        let changed = before.is_none_or(|b| b.status != after.status || b.reason != after.reason);
        if changed && after.status != "True" {
            events::publish(ctx, validator, true, &after.reason, after.message.clone()).await;
        } else if changed && before.is_some() {
            events::publish(
                ctx,
                validator,
                false,
                "KmsModeChanged",
                after.message.clone(),
            )
            .await;
        }
    }
    publish_backup_change(validator, ctx, previous, status).await;
    publish_release_changes(validator, ctx, previous, status).await;
    publish_restore_change(validator, ctx, previous, status).await;
    if !report.created.is_empty() {
        let note = format!("created {}", report.created.join(", "));
        events::publish(ctx, validator, false, "Provisioned", note).await;
    }
    if !report.updated.is_empty() {
        let spec_unchanged =
            previous.and_then(|p| p.observed_generation) == validator.metadata.generation;
        let (reason, note) = if spec_unchanged {
            (
                "DriftCorrected",
                format!(
                    "restored {}: it had been changed outside the operator",
                    report.updated.join(", ")
                ),
            )
        } else {
            (
                "Updated",
                format!("updated {} to the new spec", report.updated.join(", ")),
            )
        };
        events::publish(ctx, validator, false, reason, note).await;
    }
    if !report.deleted.is_empty() {
        let note = format!("deleted {}, no longer wanted", report.deleted.join(", "));
        events::publish(ctx, validator, false, "Pruned", note).await;
    }
}

/// A Warning when backups stop being verified (a failed or missed run), a Normal Event when they
/// are again; nothing while a new validator waits for its first slot.
async fn publish_backup_change(
    validator: &Validator,
    ctx: &Context,
    previous: Option<&ValidatorStatus>,
    status: &ValidatorStatus,
) {
    let before = conditions::find(previous, IDENTITY_BACKED_UP);
    let Some(after) = conditions::find(Some(status), IDENTITY_BACKED_UP) else {
        return;
    };
    let changed = before.is_none_or(|b| b.status != after.status || b.reason != after.reason);
    if !changed || after.reason == "NoBackupYet" {
        return;
    }
    let warning = after.status != "True";
    if warning || before.is_some_and(|b| b.status != "True") {
        let reason = if warning {
            after.reason.as_str()
        } else {
            "IdentityBackedUp"
        };
        events::publish(ctx, validator, warning, reason, after.message.clone()).await;
    }
}

/// One Warning when a newer patch is run with older facts (again if the version changes while it
/// is), and when a validator falls below the network's minimum release or the date passes with it
/// still below; a Normal Event when it meets the minimum again.
async fn publish_release_changes(
    validator: &Validator,
    ctx: &Context,
    previous: Option<&ValidatorStatus>,
    status: &ValidatorStatus,
) {
    for type_ in [RELEASE_KNOWN, MINIMUM_RELEASE_MET] {
        let before = conditions::find(previous, type_);
        let Some(after) = conditions::find(Some(status), type_) else {
            continue;
        };
        let changed = before.is_none_or(|b| {
            b.status != after.status
                || b.reason != after.reason
                || (type_ == RELEASE_KNOWN && b.message != after.message)
        });
        if !changed {
            continue;
        }
        let warning = after.status != "True";
        if warning || before.is_some_and(|b| b.status != "True") {
            events::publish(
                ctx,
                validator,
                warning,
                &after.reason,
                after.message.clone(),
            )
            .await;
        }
    }
}

/// An Event for each stage of a restore: a Warning for a refusal, a Normal one for progress.
async fn publish_restore_change(
    validator: &Validator,
    ctx: &Context,
    previous: Option<&ValidatorStatus>,
    status: &ValidatorStatus,
) {
    let before = conditions::find(previous, RESTORED);
    let Some(after) = conditions::find(Some(status), RESTORED) else {
        return;
    };
    if before.is_some_and(|b| b.status == after.status && b.reason == after.reason) {
        return;
    }
    let progress = matches!(
        after.reason.as_str(),
        "Fetching" | "Verified" | "Importing" | "Completed"
    );
    let reason = if progress {
        format!("Restore{}", after.reason)
    } else {
        after.reason.clone()
    };
    events::publish(ctx, validator, !progress, &reason, after.message.clone()).await;
}

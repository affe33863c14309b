//! One reconcile, as steps: decide → capture → preflight → build → apply → prune → status.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::cache::Cached;
use super::capture::capture;
use super::children;
use super::conditions::KmsOutcome;
use super::context::Context;
use super::error::{Error, Result, Step};
use super::preflight::{check_service_account, external_service_account};
use super::report::ApplyReport;
use super::restore_status;
use super::rollout;
use super::rotation_schedule;
use super::status;
use crate::api::Validator;
use crate::decision::{DecisionSource, KmsDecision, SOURCE_ANNOTATION, resolve};
use crate::render::{Site, render_in, validate};

/// How often a converged validator is looked at again, to catch what no watch reports.
pub(crate) const RESYNC: Duration = Duration::from_secs(300);
/// How soon a validator blocked by a missing or unannotated ServiceAccount is checked again.
pub(crate) const PREFLIGHT_RETRY: Duration = Duration::from_secs(30);
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Entry point for the controller runtime.
pub(crate) async fn reconcile(cached: Arc<Cached<Validator>>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = match cached.decode() {
        Ok(validator) => reconcile_validator(&validator, &ctx).await,
        Err(source) => Err(Error::Decode {
            what: format!("Validator {}", ObjectRef::from(cached.as_ref())),
            source: source.into(),
        }),
    };
    ctx.metrics.reconciled(started.elapsed());
    let key = ObjectRef::from(cached.as_ref());
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    ctx.forget_if_deleted(&key);
    result
}

/// Exponential backoff per validator, capped; one failing validator never delays the others.
pub(crate) fn error_policy(
    validator: Arc<Cached<Validator>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let reason = error.reason();
    ctx.metrics.failed(&reason);
    let key = ObjectRef::from(validator.as_ref());
    let attempts = ctx.failed(&key);
    ctx.forget_if_deleted(&key);
    let delay = backoff(attempts);
    tracing::warn!(validator = %validator.name_any(), %error, reason, attempts, ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// 1 s, 2 s, 4 s, … up to 5 minutes.
pub(crate) fn backoff(attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_CAP)
}

async fn reconcile_validator(validator: &Validator, ctx: &Context) -> Result<Action> {
    if !ctx.is_leading() {
        return Ok(Action::await_change());
    }
    ctx.stores.wait_until_ready().await;
    if validator.metadata.deletion_timestamp.is_some() {
        // Children go with it through their owner references.
        let key = format!(
            "{}/{}",
            validator.namespace().unwrap_or_default(),
            validator.name_any()
        );
        ctx.metrics.forget_validator(&key);
        return Ok(Action::await_change());
    }
    // A spec the operator cannot render (an unsupported release, a reserved env name) is refused
    // before anything is written, the capture included; existing children stay as they are.
    if let Err(e) = validate(&validator.spec) {
        return refuse(validator, ctx, blocked(e.reason(), e.to_string())).await;
    }
    let decision = match decide(validator, ctx) {
        Ok(decision) => decision,
        Err(blocked) => return refuse(validator, ctx, *blocked).await,
    };
    let validator = match validator.spec.kms {
        Some(_) => validator.clone(),
        None => capture(validator, &decision, ctx)
            .await
            .map_err(|e| e.during(Step::Capture))?,
    };
    if let Err(blocked) = preflight(&validator, &decision, ctx)
        .await
        .map_err(|e| e.during(Step::Preflight))?
    {
        // Someone is expected to create or annotate the ServiceAccount: look again soon.
        refuse(&validator, ctx, blocked).await?;
        return Ok(Action::requeue(PREFLIGHT_RETRY));
    }
    let operator_namespace = ctx.config.operator_namespace.as_deref();
    let site = Site {
        operator_namespace,
        operator_image: ctx.config.operator_image.as_deref(),
    };
    // The restore's progress (cleared, completed) decides what the validator app's pod gets; the
    // status written below records the same progress (its conditions still show the change).
    let validator = restore_status::for_render(&validator, ctx)
        .map_err(|e| e.during(Step::Restore))?
        .unwrap_or(validator);
    let mut rendered = match render_in(&validator, &decision, &site) {
        Ok(rendered) => rendered,
        Err(e) => return refuse(&validator, ctx, blocked(e.reason(), e.to_string())).await,
    };
    let plan = rollout::plan(&validator, &mut rendered, ctx)
        .await
        .map_err(|e| e.during(Step::Plan))?;
    let mut report = ApplyReport::default();
    children::apply(&rendered, &plan, ctx, &mut report)
        .await
        .map_err(|e| e.during(Step::Apply))?;
    children::prune(&validator, &rendered, ctx, &mut report)
        .await
        .map_err(|e| e.during(Step::Prune))?;
    rollout::finish(&validator, plan, ctx, &mut report)
        .await
        .map_err(|e| e.during(Step::Rollout))?;
    let scheduled = rotation_schedule::schedule(&validator, ctx)
        .await
        .map_err(|e| e.during(Step::Schedule))?;
    status::update(
        &validator,
        ctx,
        &KmsOutcome::Configured(Box::new(decision)),
        &report,
        scheduled.status.as_ref(),
    )
    .await
    .map_err(|e| e.during(Step::Status))?;
    let again = [rollout::recheck(&report), scheduled.wake_in, Some(RESYNC)];
    Ok(Action::requeue(
        again.into_iter().flatten().min().unwrap_or(RESYNC),
    ))
}

fn blocked(reason: &str, message: String) -> KmsOutcome {
    KmsOutcome::Blocked {
        reason: reason.to_string(),
        message,
    }
}

/// The decision, with its source as recorded on the Validator.
fn decide(
    validator: &Validator,
    ctx: &Context,
) -> std::result::Result<KmsDecision, Box<KmsOutcome>> {
    let mut decision = resolve(&validator.spec, &ctx.config.kms_default)
        .map_err(|e| Box::new(blocked(e.reason(), e.to_string())))?;
    let recorded_from_env = validator
        .annotations()
        .get(SOURCE_ANNOTATION)
        .is_some_and(|s| s == DecisionSource::Environment.as_str());
    if recorded_from_env {
        decision.source = DecisionSource::Environment;
    }
    Ok(decision)
}

/// Checks an externally managed KMS ServiceAccount (a read, never a write).
async fn preflight(
    validator: &Validator,
    decision: &KmsDecision,
    ctx: &Context,
) -> Result<std::result::Result<(), KmsOutcome>> {
    let name = validator.name_any();
    let Some(account) = external_service_account(decision, &name) else {
        return Ok(Ok(()));
    };
    let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &namespace);
    let found = api.get_opt(&account).await?;
    Ok(
        check_service_account(decision, &account, &namespace, found.as_ref())
            .map_err(|f| blocked(f.reason, f.message)),
    )
}

/// Not provisioned (or not changed): status and one Event say why; existing workloads stay.
async fn refuse(validator: &Validator, ctx: &Context, outcome: KmsOutcome) -> Result<Action> {
    tracing::info!(validator = %validator.name_any(), ?outcome, "validator not provisioned");
    let report = ApplyReport {
        rollout: rollout::settle_refused(validator, ctx)
            .await
            .map_err(|e| e.during(Step::Rollout))?,
        ..ApplyReport::default()
    };
    // The schedule waits while the validator is refused; its status stays as it was.
    let key_rotation = validator
        .status
        .as_ref()
        .and_then(|s| s.key_rotation.as_ref());
    status::update(validator, ctx, &outcome, &report, key_rotation)
        .await
        .map_err(|e| e.during(Step::Status))?;
    Ok(Action::requeue(RESYNC))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), Duration::from_secs(300));
    }
}

//! Scheduled key rotations, as part of a Validator's reconcile: the schedule is read from the
//! Validator's `status.keyRotation` and the rotation cache (never a LIST), a due rotation is
//! requested with one create, and the reconcile is requeued for the next due time. Finished
//! rotations are trimmed to a short history, which the schedule does not depend on.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::error::{Error, Result};
use crate::api::{
    KeyRotationScheduleStatus, ROTATION_VALIDATOR_LABEL, Validator, ValidatorKeyRotation,
    ValidatorKeyRotationSpec,
};
use crate::field_manager::FIELD_MANAGER;
use crate::rotation::duration::parse_every;
use crate::rotation::schedule::{Existing, beyond_history, plan, requested};

/// Finished ValidatorKeyRotations kept per validator; older finished ones are deleted (their
/// outcome stays in the Events and in `status.keyRotation`).
pub(crate) const ROTATION_HISTORY: usize = 5;

/// How soon to look again when a scheduled rotation's name is taken but the cache does not show
/// it yet (its watch event normally wakes the validator first).
const NAME_TAKEN_RETRY: Duration = Duration::from_secs(30);

/// What the schedule decided for one validator.
#[derive(Debug, Default)]
pub(crate) struct Scheduled {
    /// `status.keyRotation`; None without a schedule.
    pub status: Option<KeyRotationScheduleStatus>,
    /// When to reconcile again for the schedule's sake.
    pub wake_in: Option<Duration>,
}

/// Trims the validator's finished rotations, then requests the rotation its schedule makes due.
pub(crate) async fn schedule(validator: &Validator, ctx: &Context) -> Result<Scheduled> {
    let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
    let name = validator.name_any();
    ctx.rotations.wait_until_ready().await;
    let existing: Vec<Existing> = ctx
        .rotations
        .of(&namespace, &name)
        .iter()
        .map(|r| existing(r))
        .collect();
    trim_history(ctx, &namespace, &existing).await?;
    let Some(every) = every(validator) else {
        return Ok(Scheduled::default());
    };
    let Some(created) = validator.metadata.creation_timestamp.as_ref() else {
        return Ok(Scheduled::default());
    };
    let recorded = validator
        .status
        .as_ref()
        .and_then(|s| s.key_rotation.as_ref());
    let now = Timestamp::now();
    let plan = plan(&name, created.0, every, recorded, &existing, now);
    let Some(due) = plan.create else {
        return Ok(Scheduled {
            status: Some(plan.status),
            wake_in: plan.wake_at.map(|at| until(now, at)),
        });
    };
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let pause_for_backup = validator
        .spec
        .kms
        .as_ref()
        .and_then(|k| k.rotation.as_ref())
        .and_then(|r| r.pause_for_backup)
        .unwrap_or(false);
    let mut rotation = ValidatorKeyRotation::new(
        &due.name,
        ValidatorKeyRotationSpec {
            validator: name.clone(),
            pause_for_backup,
            ..ValidatorKeyRotationSpec::default()
        },
    );
    rotation.metadata.namespace = Some(namespace.clone());
    rotation.metadata.labels = Some([(ROTATION_VALIDATOR_LABEL.to_string(), name.clone())].into());
    rotation.metadata.owner_references = validator.controller_owner_ref(&()).map(|o| vec![o]);
    let api: Api<ValidatorKeyRotation> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api.create(&params, &rotation).await {
        Ok(created) => {
            let at = created
                .metadata
                .creation_timestamp
                .as_ref()
                .map_or(now, |t| t.0);
            tracing::info!(validator = %name, rotation = %due.name, "scheduled key rotation requested");
            Ok(Scheduled {
                status: Some(requested(&due.name, at, every)),
                wake_in: None,
            })
        }
        // Requested already (another replica, or before a restart): the cache shows it soon and
        // its watch event wakes this validator.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Scheduled {
            status: Some(plan.status),
            wake_in: Some(NAME_TAKEN_RETRY),
        }),
        Err(e) => Err(e.into()),
    }
}

/// `spec.kms.rotation.every`, when set and usable.
fn every(validator: &Validator) -> Option<Duration> {
    let every = validator
        .spec
        .kms
        .as_ref()?
        .rotation
        .as_ref()?
        .every
        .as_deref()?;
    match parse_every(every) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(validator = %validator.name_any(), error = %e, "spec.kms.rotation.every is unusable; no rotation is scheduled");
            None
        }
    }
}

fn existing(rotation: &ValidatorKeyRotation) -> Existing {
    Existing {
        name: rotation.name_any(),
        created: rotation
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Timestamp::UNIX_EPOCH, |t| t.0),
        phase: rotation.phase(),
        completed: rotation
            .status
            .as_ref()
            .and_then(|s| s.completed_at.as_ref())
            .map(|t| t.0),
    }
}

/// Deletes the finished rotations beyond [`ROTATION_HISTORY`], each only if it is still the
/// object the cache showed (a uid precondition).
async fn trim_history(ctx: &Context, namespace: &str, existing: &[Existing]) -> Result<()> {
    let doomed = beyond_history(existing, ROTATION_HISTORY);
    if doomed.is_empty() {
        return Ok(());
    }
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let api: Api<ValidatorKeyRotation> = Api::namespaced(ctx.client.clone(), namespace);
    for name in doomed {
        let uid = ctx
            .rotations
            .get(namespace, name)
            .and_then(|r| r.meta().uid.clone());
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid,
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => {
                tracing::info!(rotation = %name, namespace, "finished key rotation deleted: beyond the history kept")
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// From `now` until `at`, rounded up to the next whole second so the wake-up is not early.
fn until(now: Timestamp, at: Timestamp) -> Duration {
    let left = at.duration_since(now);
    let millis = u64::try_from(left.as_millis()).unwrap_or(0);
    Duration::from_millis(millis.div_ceil(1000) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ups_are_never_early() {
        let now: Timestamp = "2025-01-01T00:00:00.250Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let at: Timestamp = "2025-01-01T00:01:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        assert_eq!(until(now, at), Duration::from_secs(60));
        assert_eq!(until(at, now), Duration::ZERO);
    }
}

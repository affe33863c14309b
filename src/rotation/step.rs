//! One step of a rotation, without Kubernetes: observe the participant, plan, then either record
//! a new phase or progress in status (before acting on it), or make the one Admin API call the
//! plan asks for. A crash between any two steps loses nothing: the next step starts again from
//! what the participant and the status show.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::admin::{AdminError, ParticipantAdmin};
use super::plan::{Action, Observed, Plan, Request, plan};
use crate::api::{OkmProposal, RotationPhase, ValidatorKeyRotation, ValidatorKeyRotationStatus};

/// Condition: whether the last Admin API call reached the participant.
pub(crate) const PARTICIPANT_REACHABLE: &str = "ParticipantReachable";
/// Condition: whether a backup was confirmed (rotations that pause for one).
pub(crate) const BACKUP_CONFIRMED: &str = "BackupConfirmed";
/// How long synchronizers may take to show a change when `spec.synchronizerTimeout` is unset:
/// a connected synchronizer takes seconds, so minutes mean one is stuck.
pub(crate) const DEFAULT_SYNCHRONIZER_TIMEOUT: Duration = Duration::from_secs(600);

/// Pacing and patience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepSettings {
    /// How often to look again while synchronizers catch up.
    pub poll: Duration,
    /// Failed calls in a row before the rotation fails.
    pub max_failures: u32,
    /// First retry delay; doubles with each failure.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Default for StepSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            max_failures: 8,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(300),
        }
    }
}

impl StepSettings {
    /// Delay before retry number `failures` (1-based): base, 2×base, 4×base, … capped.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_cap)
    }
}

/// When to take the next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// At once: the status changed or a call succeeded.
    Now,
    After(Duration),
    /// Only when the request changes (a backup confirmation).
    AwaitChange,
    /// Finished.
    Done,
}

/// An Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: ValidatorKeyRotationStatus,
    pub next: Next,
    pub event: Option<Note>,
}

/// The UTC timestamp new key names end with: the request's creation time, so that every retry and
/// every replica derives the same names.
pub fn stamp(rotation: &ValidatorKeyRotation) -> String {
    match &rotation.metadata.creation_timestamp {
        Some(t) => t.0.strftime("%Y%m%dT%H%M%SZ").to_string(),
        None => "00000000T000000Z".to_string(),
    }
}

/// Reads everything the plan needs: identity, vault, mappings and connected synchronizers.
pub(crate) async fn observe<A: ParticipantAdmin>(admin: &mut A) -> Result<Observed, AdminError> {
    let uid = admin.unique_identifier().await?;
    let keys = admin.list_keys().await?;
    let okms = admin.list_okms(&uid).await?;
    let connected = admin.connected_synchronizers().await?;
    Ok(Observed {
        uid,
        keys,
        okms,
        connected,
    })
}

/// Takes one step of a rotation that is not finished.
pub async fn advance<A: ParticipantAdmin>(
    rotation: &ValidatorKeyRotation,
    admin: &mut A,
    now: &Time,
    settings: &StepSettings,
) -> Outcome {
    advance_with_backups(rotation, admin, now, settings, None).await
}

/// [`advance`], knowing when the validator's newest verified identity backup finished: a rotation
/// paused for a backup goes on by itself once one finished after the new keys became effective
/// (that dump holds them).
pub async fn advance_with_backups<A: ParticipantAdmin>(
    rotation: &ValidatorKeyRotation,
    admin: &mut A,
    now: &Time,
    settings: &StepSettings,
    verified_backup_at: Option<Timestamp>,
) -> Outcome {
    let status = rotation.status.clone().unwrap_or_default();
    if rotation.phase().is_terminal() {
        return Outcome {
            status,
            next: Next::Done,
            event: None,
        };
    }
    let obs = match observe(admin).await {
        Ok(obs) => obs,
        Err(e) => return failed_call(rotation, &e, now, settings),
    };
    let stamp = stamp(rotation);
    let request = Request {
        keys: &rotation.spec.keys,
        kms_keys: &rotation.spec.kms_keys,
        pause_for_backup: rotation.spec.pause_for_backup,
        backup_confirmed: rotation.backup_confirmed()
            || backed_up_after_keys(&status, verified_backup_at),
        stamp: &stamp,
    };
    let plan = plan(&request, &status, &obs);
    let mut next = status.clone();
    next.participant = Some(obs.uid.clone());
    set_condition(
        &mut next,
        reachable(true, "Reached", "the Admin API answered"),
        now,
    );
    if rotation.spec.pause_for_backup {
        let confirmed = request.backup_confirmed;
        let (reason, message) = if rotation.backup_confirmed() {
            ("Confirmed", "the backup of the new keys was confirmed")
        } else if confirmed {
            (
                "BackedUp",
                "a verified identity backup finished after the new keys became effective",
            )
        } else {
            (
                "NotConfirmed",
                "set spec.backupConfirmed: true once the new keys are backed up",
            )
        };
        set_condition(
            &mut next,
            condition(BACKUP_CONFIRMED, confirmed, reason, message),
            now,
        );
    }
    act(rotation, admin, plan, next, now, settings).await
}

/// Whether a rotation is paused for a backup that nothing has confirmed yet: neither the request
/// (field or annotation) nor a verified backup that finished after the new keys became
/// effective. Such a rotation has nothing to do until the request or the Validator's
/// `status.backup` changes, and the controller is woken by those changes.
pub fn still_awaiting_backup(
    rotation: &ValidatorKeyRotation,
    verified_backup_at: Option<Timestamp>,
) -> bool {
    let backed_up = rotation
        .status
        .as_ref()
        .is_some_and(|s| backed_up_after_keys(s, verified_backup_at));
    rotation.phase() == RotationPhase::AwaitingBackup && !rotation.backup_confirmed() && !backed_up
}

/// Whether a verified backup finished after the new keys became effective.
fn backed_up_after_keys(
    status: &ValidatorKeyRotationStatus,
    verified_backup_at: Option<Timestamp>,
) -> bool {
    match (&status.keys_effective_at, verified_backup_at) {
        (Some(effective), Some(backup)) => backup > effective.0,
        _ => false,
    }
}

async fn act<A: ParticipantAdmin>(
    rotation: &ValidatorKeyRotation,
    admin: &mut A,
    plan: Plan,
    mut next: ValidatorKeyRotationStatus,
    now: &Time,
    settings: &StepSettings,
) -> Outcome {
    let before = rotation.phase();
    if !matches!(plan.action, Action::WaitForSynchronizers { .. }) {
        next.synchronizers_waiting_since = None;
    }
    match plan.action {
        Action::Fail { reason, message } => {
            next.keys = plan.keys;
            finish(before, next, RotationPhase::Failed, reason, message, now)
        }
        Action::Succeed => {
            next.keys = plan.keys;
            let message = format!(
                "rotated {} key(s); the old keys are retired, never deleted",
                next.keys.len()
            );
            finish(
                before,
                next,
                RotationPhase::Succeeded,
                "Rotated",
                message,
                now,
            )
        }
        // Record a new phase or progress before acting on it.
        _ if plan.phase != before || plan.keys != next.keys => {
            enter(&mut next, before, plan.phase, now);
            next.keys = plan.keys;
            next.reason = None;
            next.message = Some(describe(plan.phase).to_string());
            let event = (plan.phase != before).then(|| Note {
                warning: false,
                reason: plan.phase.as_str().to_string(),
                message: describe(plan.phase).to_string(),
            });
            Outcome {
                status: next,
                next: Next::Now,
                event,
            }
        }
        Action::Create { index, key } => match admin.create_key(&key).await {
            Ok(_) => {
                let what = plan
                    .keys
                    .get(index)
                    .map(|k| k.old_fingerprint.clone())
                    .unwrap_or_default();
                progressed(next, format!("created {} to replace {what}", key.name))
            }
            Err(e) => failed_call(rotation, &e, now, settings),
        },
        Action::Propose { change, okm } => match admin.propose_okm(&okm).await {
            Ok(()) => {
                next.proposals.push(OkmProposal {
                    change: change.to_string(),
                    serial: okm.serial,
                });
                progressed(
                    next,
                    format!(
                        "proposed {change} as OwnerToKeyMapping serial {}",
                        okm.serial
                    ),
                )
            }
            Err(e) => failed_call(rotation, &e, now, settings),
        },
        Action::WaitForProposal { serial } => {
            let message = format!("waiting for the authorized store to show serial {serial}");
            waiting(next, message, Next::After(settings.poll))
        }
        Action::WaitForSynchronizers { stores } => {
            wait_for_synchronizers(rotation, next, &stores, now, settings)
        }
        Action::AwaitBackup => {
            let message = "new keys are effective and the old keys still valid: back up the participant's keys, then set spec.backupConfirmed: true (or annotate canton-operator.dev/backup-confirmed=true); with spec.backup.identities on the Validator, the next verified backup confirms it";
            // Nothing to poll: a confirmation on the request or a verified backup on the
            // Validator's status wakes the controller (see `still_awaiting_backup`).
            waiting(next, message.to_string(), Next::AwaitChange)
        }
    }
}

/// Waits for the connected synchronizers until `spec.synchronizerTimeout` after the wait began
/// (a time kept in status, so the deadline holds across restarts), then fails naming them.
fn wait_for_synchronizers(
    rotation: &ValidatorKeyRotation,
    mut next: ValidatorKeyRotationStatus,
    stores: &[String],
    now: &Time,
    settings: &StepSettings,
) -> Outcome {
    let before = rotation.phase();
    let since = next
        .synchronizers_waiting_since
        .get_or_insert_with(|| now.clone())
        .0;
    let timeout = match synchronizer_timeout(rotation) {
        Ok(timeout) => timeout,
        Err(e) => {
            let message = format!("spec.synchronizerTimeout: {e}");
            return finish(
                before,
                next,
                RotationPhase::Failed,
                "SynchronizerTimeoutInvalid",
                message,
                now,
            );
        }
    };
    let waited = Duration::from_millis(
        u64::try_from(now.0.as_millisecond() - since.as_millisecond()).unwrap_or(0),
    );
    let stores = stores.join(", ");
    let Some(left) = timeout.checked_sub(waited).filter(|d| !d.is_zero()) else {
        let message = format!(
            "{stores} did not show the change within {}s (spec.synchronizerTimeout); {}",
            timeout.as_secs(),
            lagging_consequence(before)
        );
        return finish(
            before,
            next,
            RotationPhase::Failed,
            "SynchronizersLagging",
            message,
            now,
        );
    };
    // The same message on every poll, so waiting writes no status.
    let message = match since.checked_add(timeout) {
        Ok(deadline) => {
            format!("waiting until {stores} show(s) the change (gives up at {deadline})")
        }
        Err(_) => format!("waiting until {stores} show(s) the change"),
    };
    waiting(next, message, Next::After(settings.poll.min(left)))
}

/// `spec.synchronizerTimeout`, or the default.
fn synchronizer_timeout(
    rotation: &ValidatorKeyRotation,
) -> Result<Duration, super::duration::DurationError> {
    match &rotation.spec.synchronizer_timeout {
        Some(text) => super::duration::parse_timeout(text),
        None => Ok(DEFAULT_SYNCHRONIZER_TIMEOUT),
    }
}

/// Where a rotation that gave up on its synchronizers leaves the participant's keys.
fn lagging_consequence(phase: RotationPhase) -> &'static str {
    if phase == RotationPhase::RemovingOldKeys {
        "the old keys are already removed from the participant's OwnerToKeyMapping and those synchronizers will apply it when they catch up. Check those synchronizers' connection"
    } else {
        "old and new keys both stay valid and the old keys are not removed. Check those synchronizers' connection; to finish, create a new ValidatorKeyRotation naming the old keys in spec.keys (with a longer spec.synchronizerTimeout if they are only slow)"
    }
}

fn describe(phase: RotationPhase) -> &'static str {
    match phase {
        RotationPhase::Pending => "waiting to start",
        RotationPhase::CreatingKeys => "creating the new keys",
        RotationPhase::AddingKeys => "adding the new keys to the OwnerToKeyMapping",
        RotationPhase::AwaitingBackup => {
            "new keys effective; waiting for the backup to be confirmed"
        }
        RotationPhase::RemovingOldKeys => "removing the old keys from the OwnerToKeyMapping",
        RotationPhase::Succeeded => "rotated",
        RotationPhase::Failed => "failed",
    }
}

/// Sets a new phase and the timestamps that go with it.
fn enter(
    status: &mut ValidatorKeyRotationStatus,
    before: RotationPhase,
    phase: RotationPhase,
    now: &Time,
) {
    status.phase = Some(phase);
    if phase != before {
        // Each phase waits for its own change.
        status.synchronizers_waiting_since = None;
    }
    if before == RotationPhase::Pending && status.started_at.is_none() {
        status.started_at = Some(now.clone());
    }
    let effective = matches!(
        phase,
        RotationPhase::AwaitingBackup | RotationPhase::RemovingOldKeys
    );
    if effective && status.keys_effective_at.is_none() {
        status.keys_effective_at = Some(now.clone());
    }
}

fn finish(
    before: RotationPhase,
    mut status: ValidatorKeyRotationStatus,
    phase: RotationPhase,
    reason: &str,
    message: String,
    now: &Time,
) -> Outcome {
    enter(&mut status, before, phase, now);
    status.reason = Some(reason.to_string());
    status.message = Some(message.clone());
    status.completed_at = Some(now.clone());
    status.consecutive_failures = None;
    let event = Note {
        warning: phase == RotationPhase::Failed,
        reason: if phase == RotationPhase::Failed {
            reason.to_string()
        } else {
            phase.as_str().to_string()
        },
        message,
    };
    Outcome {
        status,
        next: Next::Done,
        event: Some(event),
    }
}

fn progressed(mut status: ValidatorKeyRotationStatus, message: String) -> Outcome {
    status.consecutive_failures = None;
    status.reason = None;
    status.message = Some(message);
    Outcome {
        status,
        next: Next::Now,
        event: None,
    }
}

fn waiting(mut status: ValidatorKeyRotationStatus, message: String, next: Next) -> Outcome {
    status.consecutive_failures = None;
    status.reason = None;
    status.message = Some(message);
    Outcome {
        status,
        next,
        event: None,
    }
}

/// A failed call: retried with backoff, and the rotation fails once the limit is reached. Both
/// leave the participant's keys as they are: at worst old and new keys are both valid.
pub(crate) fn failed_call(
    rotation: &ValidatorKeyRotation,
    error: &AdminError,
    now: &Time,
    settings: &StepSettings,
) -> Outcome {
    let mut status = rotation.status.clone().unwrap_or_default();
    let before = rotation.phase();
    let failures = status.consecutive_failures.unwrap_or(0).saturating_add(1);
    let reachable_cond = if error.is_unreachable() {
        reachable(false, "Unreachable", &error.to_string())
    } else {
        reachable(true, "Reached", "the Admin API answered")
    };
    set_condition(&mut status, reachable_cond, now);
    if failures >= settings.max_failures {
        let message = format!("gave up after {failures} failed attempts in a row: {error}");
        return finish(
            before,
            status,
            RotationPhase::Failed,
            error.reason(),
            message,
            now,
        );
    }
    if status.phase.is_none() {
        status.phase = Some(RotationPhase::Pending);
    }
    status.consecutive_failures = Some(failures);
    status.reason = Some(error.reason().to_string());
    let delay = settings.backoff(failures);
    status.message = Some(format!(
        "attempt {failures} of {} failed, retrying in {}s: {error}",
        settings.max_failures,
        delay.as_secs()
    ));
    Outcome {
        status,
        next: Next::After(delay),
        event: None,
    }
}

fn reachable(ok: bool, reason: &str, message: &str) -> Condition {
    condition(PARTICIPANT_REACHABLE, ok, reason, message)
}

fn condition(type_: &str, ok: bool, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: None,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    }
}

/// Puts a condition in place, keeping its transition time while its status is unchanged.
pub(crate) fn set_condition(status: &mut ValidatorKeyRotationStatus, mut c: Condition, now: &Time) {
    match status.conditions.iter_mut().find(|o| o.type_ == c.type_) {
        Some(old) => {
            c.last_transition_time = if old.status == c.status {
                old.last_transition_time.clone()
            } else {
                now.clone()
            };
            *old = c;
        }
        None => {
            c.last_transition_time = now.clone();
            status.conditions.push(c);
        }
    }
}

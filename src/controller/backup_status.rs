//! `status.backup` and the `IdentityBackedUp` condition, as a pure function of the backup runs the
//! operator saw (each Job pod's one-line result in its termination message), the schedule and the
//! clock.
//!
//! A failed run turns the condition False at once; a run that never came turns it False once the
//! slot it was due in plus the Job's deadline has passed: within one schedule period either way.

use std::str::FromStr;

use croner::Cron;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{Timestamp, tz::TimeZone};

use crate::api::{BackupAttempt, BackupStatus, BackupSuccess, IdentityBackup};
use crate::backup::{Outcome, RunResult};

/// `Verified` or `Failed`, as the status writes it.
fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Verified => "Verified",
        Outcome::Failed => "Failed",
    }
}

/// The container of the backup Job whose termination message holds the result.
const CONTAINER: &str = "backup";
/// How long after its slot a run may still be finishing (the Job's deadline, 30 minutes, plus
/// time to be scheduled).
const GRACE_SECONDS: i64 = 35 * 60;

/// One finished run.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Run {
    pub finished_at: Timestamp,
    pub outcome: Outcome,
    /// The result's reason, or `JobFailed` when the container left none.
    pub reason: String,
    pub message: String,
    pub object: Option<String>,
    pub size_bytes: Option<u64>,
    pub participant_id: Option<String>,
}

impl Run {
    fn from_result(finished_at: Timestamp, result: RunResult) -> Self {
        Self {
            finished_at,
            outcome: result.outcome,
            reason: result.reason.as_str().to_string(),
            message: result.message,
            object: result.object,
            size_bytes: result.size_bytes,
            participant_id: result.participant_id,
        }
    }
}

/// The finished run of a backup pod, if it has finished: its result, or a failure saying why
/// there is none (killed, out of memory, deadline).
pub(crate) fn run_of(pod: &Pod) -> Option<Run> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let status = statuses.iter().find(|s| s.name == CONTAINER)?;
    let terminated = status.state.as_ref()?.terminated.as_ref()?;
    let finished_at = terminated.finished_at.as_ref().map(|t| t.0)?;
    let parsed = terminated
        .message
        .as_deref()
        .and_then(|m| RunResult::parse(m).ok());
    Some(match parsed {
        Some(result) => Run::from_result(finished_at, result),
        None => Run {
            finished_at,
            outcome: Outcome::Failed,
            reason: "JobFailed".to_string(),
            message: format!(
                "the backup container ended ({}, exit code {}) without a result",
                terminated.reason.as_deref().unwrap_or("no reason"),
                terminated.exit_code
            ),
            object: None,
            size_bytes: None,
            participant_id: None,
        },
    })
}

/// The status after `runs`, keeping what `previous` knew of older runs (the Job history is short).
pub(crate) fn next_status(previous: Option<&BackupStatus>, runs: &[Run]) -> BackupStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let mut runs: Vec<&Run> = runs.iter().collect();
    runs.sort_by_key(|r| r.finished_at);
    for run in runs {
        if newer(
            run.finished_at,
            status.last_attempt.as_ref().map(|a| &a.finished_at),
        ) {
            status.last_attempt = Some(BackupAttempt {
                finished_at: run.finished_at.to_string(),
                outcome: outcome_word(run.outcome).to_string(),
                reason: run.reason.clone(),
                message: run.message.clone(),
            });
        }
        let verified = run.outcome == Outcome::Verified;
        if verified
            && newer(
                run.finished_at,
                status.last_success.as_ref().map(|s| &s.finished_at),
            )
        {
            status.last_success = Some(BackupSuccess {
                finished_at: run.finished_at.to_string(),
                object: run.object.clone().unwrap_or_default(),
                size_bytes: run
                    .size_bytes
                    .and_then(|s| i64::try_from(s).ok())
                    .unwrap_or(0),
                participant_id: run.participant_id.clone(),
            });
        }
    }
    status
}

fn newer(at: Timestamp, than: Option<&String>) -> bool {
    match than.and_then(|t| Timestamp::from_str(t).ok()) {
        Some(known) => at > known,
        None => true,
    }
}

/// `IdentityBackedUp`: status, reason and message.
pub(crate) fn condition(
    spec: &IdentityBackup,
    status: &BackupStatus,
    since: Timestamp,
    now: Timestamp,
) -> (bool, String, String) {
    if spec.suspend.unwrap_or(false) {
        return (
            false,
            "Suspended".into(),
            "backups are suspended (spec.backup.identities.suspend)".into(),
        );
    }
    let success = status.last_success_time();
    if let Some(attempt) = &status.last_attempt
        && attempt.outcome != outcome_word(Outcome::Verified)
        && Timestamp::from_str(&attempt.finished_at).ok() > success
    {
        return (
            false,
            attempt.reason.clone(),
            format!(
                "the backup run at {} failed: {}",
                attempt.finished_at, attempt.message
            ),
        );
    }
    let reference = success.unwrap_or(since);
    if let Some(due) = overdue(&spec.schedule, reference, now) {
        let last = success.map_or("none yet".to_string(), |s| s.to_string());
        return (
            false,
            "BackupMissed".into(),
            format!(
                "no verified backup since {reference}: a run was due at {due} (newest verified: {last}); look at the CronJob's Jobs"
            ),
        );
    }
    match &status.last_success {
        Some(s) => (
            true,
            "Verified".into(),
            format!(
                "newest verified dump {} ({} bytes) at {}",
                s.object, s.size_bytes, s.finished_at
            ),
        ),
        None => (
            false,
            "NoBackupYet".into(),
            format!("waiting for the first scheduled run ({})", spec.schedule),
        ),
    }
}

/// The slot a run was due in after `reference`, if it and its grace time have passed by `now`.
fn overdue(schedule: &str, reference: Timestamp, now: Timestamp) -> Option<Timestamp> {
    let cron = Cron::from_str(schedule).ok()?;
    let start = reference.to_zoned(TimeZone::UTC);
    let due = cron.find_next_occurrence(&start, false).ok()?.timestamp();
    let deadline = due
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(GRACE_SECONDS))
        .ok()?;
    (now > deadline).then_some(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BackupDestination, KmsServiceAccount, SecretDestination};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn run(time: &str, outcome: Outcome, reason: &str) -> Run {
        Run {
            finished_at: at(time),
            outcome,
            reason: reason.into(),
            message: format!("{reason} happened"),
            object: (outcome == Outcome::Verified).then(|| format!("dump-{time}")),
            size_bytes: Some(1234),
            participant_id: None,
        }
    }

    fn spec(schedule: &str) -> IdentityBackup {
        IdentityBackup {
            schedule: schedule.into(),
            destination: BackupDestination {
                secret: Some(SecretDestination {}),
                ..BackupDestination::default()
            },
            keep: None,
            service_account: KmsServiceAccount {
                name: Some("backup".into()),
                ..KmsServiceAccount::default()
            },
            suspend: None,
            pod: None,
        }
    }

    #[test]
    fn the_newest_run_is_the_attempt_and_the_newest_verified_the_success() {
        let runs = [
            run("2026-11-30T06:00:00Z", Outcome::Verified, "Verified"),
            run("2026-11-30T12:00:00Z", Outcome::Failed, "WrongParticipant"),
        ];
        let status = next_status(None, &runs);
        assert_eq!(
            status.last_attempt.as_ref().unwrap().reason,
            "WrongParticipant"
        );
        let success = status.last_success.as_ref().unwrap();
        assert_eq!(success.object, "dump-2026-11-30T06:00:00Z");
        // An older run seen later (a Job pod listed late) changes nothing.
        let again = next_status(
            Some(&status),
            &[run("2026-11-29T06:00:00Z", Outcome::Verified, "Verified")],
        );
        assert_eq!(again, status);
    }

    #[test]
    fn a_failed_run_turns_the_condition_false_with_its_reason() {
        let status = next_status(
            None,
            &[
                run("2026-11-30T06:00:00Z", Outcome::Verified, "Verified"),
                run("2026-11-30T12:00:00Z", Outcome::Failed, "MissingKeys"),
            ],
        );
        let (ok, reason, message) = condition(
            &spec("0 */6 * * *"),
            &status,
            at("2026-11-01T00:00:00Z"),
            at("2026-11-30T12:01:00Z"),
        );
        assert!(!ok);
        assert_eq!(reason, "MissingKeys");
        assert!(message.contains("MissingKeys happened"), "{message}");
    }

    #[test]
    fn a_missed_run_is_seen_within_one_period() {
        let status = next_status(
            None,
            &[run("2026-11-30T06:00:10Z", Outcome::Verified, "Verified")],
        );
        let s = spec("0 */6 * * *");
        let since = at("2026-11-01T00:00:00Z");
        // The 12:00 run may still be running until 12:35.
        assert!(condition(&s, &status, since, at("2026-11-30T12:30:00Z")).0);
        let (ok, reason, message) = condition(&s, &status, since, at("2026-11-30T12:36:00Z"));
        assert!(!ok);
        assert_eq!(reason, "BackupMissed");
        assert!(message.contains("2026-11-30T12:00:00Z"), "{message}");
    }

    #[test]
    fn before_the_first_slot_it_waits_and_after_it_the_first_run_is_missed() {
        let s = spec("0 3 * * *");
        let status = BackupStatus::default();
        let created = at("2026-11-30T01:00:00Z");
        assert_eq!(
            condition(&s, &status, created, at("2026-11-30T02:00:00Z")).1,
            "NoBackupYet"
        );
        assert_eq!(
            condition(&s, &status, created, at("2026-11-30T03:40:00Z")).1,
            "BackupMissed"
        );
    }
}

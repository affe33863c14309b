//! Scheduled rotations and the one-at-a-time rule, as pure functions.
//!
//! A scheduled rotation's name is derived from when it became due, so two replicas, or one that
//! crashed and restarted, compute the same name: the second create is refused by the API server.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::{KeyRotationScheduleStatus, RotationPhase, ValidatorKeyRotation};

/// What the scheduler knows of one existing rotation of a validator (from the cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    pub name: String,
    pub created: Timestamp,
    pub phase: RotationPhase,
    /// When it finished (`status.completedAt`), if it did.
    pub completed: Option<Timestamp>,
}

/// A rotation to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    pub name: String,
    pub due_at: Timestamp,
}

/// What one validator's schedule asks for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The rotation to request now, if one is due and none is unfinished.
    pub create: Option<Due>,
    /// The schedule as it stands before that request (see [`requested`]).
    pub status: KeyRotationScheduleStatus,
    /// When to look again: the next due time. None while a rotation is unfinished (its end
    /// wakes the validator) or when one is to be created now.
    pub wake_at: Option<Timestamp>,
}

/// The schedule of `validator`, every `every`, from what its status recorded and the rotations
/// still in the cache. The period counts from the newest rotation requested, by the schedule
/// or by hand: the recorded one, or a newer one the cache shows (a rotation created by hand, or
/// one requested just before a crash that kept its status from being written); from the
/// validator's creation when there is none. A rotation is due `every` after it, unless one is
/// unfinished. Rotations deleted from the history change nothing: the status keeps the time.
pub(crate) fn plan(
    validator: &str,
    validator_created: Timestamp,
    every: Duration,
    recorded: Option<&KeyRotationScheduleStatus>,
    existing: &[Existing],
    now: Timestamp,
) -> Plan {
    let recorded_last = recorded.and_then(|r| r.last_schedule_time.as_ref().map(|t| t.0));
    let newest = existing
        .iter()
        .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    let (last, last_name) = match (recorded_last, newest) {
        (Some(at), Some(e)) if e.created > at => (Some(e.created), Some(e.name.clone())),
        (Some(at), _) => (
            Some(at),
            recorded.and_then(|r| r.last_scheduled_rotation.clone()),
        ),
        (None, Some(e)) => (Some(e.created), Some(e.name.clone())),
        (None, None) => (None, None),
    };
    let anchor = last.unwrap_or(validator_created).max(validator_created);
    let next = after(anchor, every);
    let status = KeyRotationScheduleStatus {
        last_schedule_time: last.map(Time),
        last_scheduled_rotation: last_name,
        next_schedule_time: next.map(Time),
    };
    let unfinished = existing.iter().any(|e| !e.phase.is_terminal());
    match next {
        Some(due_at) if !unfinished && now >= due_at => Plan {
            create: Some(Due {
                name: scheduled_name(validator, due_at),
                due_at,
            }),
            status,
            wake_at: None,
        },
        Some(due_at) if !unfinished => Plan {
            create: None,
            status,
            wake_at: Some(due_at),
        },
        _ => Plan {
            create: None,
            status,
            wake_at: None,
        },
    }
}

/// The schedule once rotation `name` was requested at `created` (the API server's time).
pub(crate) fn requested(
    name: &str,
    created: Timestamp,
    every: Duration,
) -> KeyRotationScheduleStatus {
    KeyRotationScheduleStatus {
        last_schedule_time: Some(Time(created)),
        last_scheduled_rotation: Some(name.to_string()),
        next_schedule_time: after(created, every).map(Time),
    }
}

/// The rotations to delete so that at most `keep` finished ones remain: the oldest finished
/// first (by completion, else creation, then name). An unfinished rotation is never deleted.
pub(crate) fn beyond_history(existing: &[Existing], keep: usize) -> Vec<&str> {
    let mut finished: Vec<_> = existing
        .iter()
        .filter(|e| e.phase.is_terminal())
        .map(|e| (e.completed.unwrap_or(e.created), e.name.as_str()))
        .collect();
    finished.sort();
    let excess = finished.len().saturating_sub(keep);
    finished
        .into_iter()
        .take(excess)
        .map(|(_, name)| name)
        .collect()
}

fn after(t: Timestamp, every: Duration) -> Option<Timestamp> {
    let every = SignedDuration::try_from(every).ok()?;
    t.checked_add(every).ok()
}

/// `<validator>-rotation-<due time, UTC, to the second>`.
pub(crate) fn scheduled_name(validator: &str, due_at: Timestamp) -> String {
    format!("{validator}-rotation-{}", due_at.strftime("%Y%m%d%H%M%S"))
}

/// The rotation `me` must wait for: another rotation of the same validator that is running, or
/// that is pending and was requested first (ties broken by name). At most one runs at a time.
pub(crate) fn blocking_rotation<'a>(
    me: &ValidatorKeyRotation,
    all: &'a [ValidatorKeyRotation],
) -> Option<&'a ValidatorKeyRotation> {
    let my_key = order_key(me);
    all.iter().find(|other| {
        other.metadata.name != me.metadata.name
            && other.spec.validator == me.spec.validator
            && other.metadata.namespace == me.metadata.namespace
            && (other.phase().is_running()
                || (other.phase() == RotationPhase::Pending && order_key(other) < my_key))
    })
}

fn order_key(r: &ValidatorKeyRotation) -> (Option<Timestamp>, Option<String>) {
    (
        r.metadata.creation_timestamp.as_ref().map(|t| t.0),
        r.metadata.name.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ValidatorKeyRotationSpec, ValidatorKeyRotationStatus};

    const DAY: Duration = Duration::from_secs(86_400);

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn existing(name: &str, created: &str, phase: RotationPhase) -> Existing {
        Existing {
            name: name.into(),
            created: ts(created),
            phase,
            completed: None,
        }
    }

    fn recorded(last: &str, name: &str) -> KeyRotationScheduleStatus {
        KeyRotationScheduleStatus {
            last_schedule_time: Some(Time(ts(last))),
            last_scheduled_rotation: Some(name.into()),
            next_schedule_time: None,
        }
    }

    #[test]
    fn due_one_period_after_creation_then_after_each_rotation() {
        let created = ts("2025-01-01T00:00:00Z");
        let early = plan(
            "v",
            created,
            90 * DAY,
            None,
            &[],
            ts("2025-03-01T00:00:00Z"),
        );
        assert_eq!(early.create, None);
        assert_eq!(early.wake_at, Some(ts("2025-04-01T00:00:00Z")));
        assert_eq!(early.status.last_schedule_time, None);
        assert_eq!(
            early.status.next_schedule_time,
            Some(Time(ts("2025-04-01T00:00:00Z")))
        );
        let due = plan(
            "v",
            created,
            90 * DAY,
            None,
            &[],
            ts("2025-04-02T00:00:00Z"),
        );
        assert_eq!(
            due.create,
            Some(Due {
                name: "v-rotation-20250401000000".into(),
                due_at: ts("2025-04-01T00:00:00Z")
            })
        );
        assert_eq!(due.wake_at, None);
        // Requested a day late: the period counts from the request.
        let after = requested(
            "v-rotation-20250401000000",
            ts("2025-04-02T00:00:05Z"),
            90 * DAY,
        );
        assert_eq!(
            after.next_schedule_time,
            Some(Time(ts("2025-07-01T00:00:05Z")))
        );
        let done = [existing(
            "v-rotation-20250401000000",
            "2025-04-02T00:00:05Z",
            RotationPhase::Succeeded,
        )];
        let quiet = plan(
            "v",
            created,
            90 * DAY,
            Some(&after),
            &done,
            ts("2025-05-01T00:00:00Z"),
        );
        assert_eq!(quiet.create, None);
        assert_eq!(quiet.status, after);
        let next = plan(
            "v",
            created,
            90 * DAY,
            Some(&after),
            &done,
            ts("2025-07-02T00:00:00Z"),
        );
        assert_eq!(
            next.create.map(|d| d.name),
            Some("v-rotation-20250701000005".into())
        );
    }

    #[test]
    fn the_status_not_the_history_holds_the_schedule() {
        let created = ts("2025-01-01T00:00:00Z");
        let last = recorded("2025-06-01T00:00:00Z", "v-rotation-20250601000000");
        // Every rotation object deleted: nothing is due before the recorded time + period.
        let p = plan(
            "v",
            created,
            30 * DAY,
            Some(&last),
            &[],
            ts("2025-06-20T00:00:00Z"),
        );
        assert_eq!(p.create, None);
        assert_eq!(p.wake_at, Some(ts("2025-07-01T00:00:00Z")));
        assert_eq!(
            p.status.last_scheduled_rotation.as_deref(),
            Some("v-rotation-20250601000000")
        );
        // An older rotation left in the cache does not move it back.
        let old = [existing(
            "v-rotation-20250301000000",
            "2025-03-01T00:00:00Z",
            RotationPhase::Succeeded,
        )];
        let p = plan(
            "v",
            created,
            30 * DAY,
            Some(&last),
            &old,
            ts("2025-06-20T00:00:00Z"),
        );
        assert_eq!(
            p.status.last_schedule_time,
            Some(Time(ts("2025-06-01T00:00:00Z")))
        );
        assert_eq!(p.create, None);
    }

    #[test]
    fn a_newer_rotation_in_the_cache_restarts_the_period() {
        let created = ts("2025-01-01T00:00:00Z");
        let last = recorded("2025-06-01T00:00:00Z", "v-rotation-20250601000000");
        // One by hand, or one requested just before a crash lost its status write.
        let newer = [existing(
            "manual",
            "2025-06-10T00:00:00Z",
            RotationPhase::Succeeded,
        )];
        let p = plan(
            "v",
            created,
            30 * DAY,
            Some(&last),
            &newer,
            ts("2025-07-05T00:00:00Z"),
        );
        assert_eq!(p.create, None);
        assert_eq!(p.status.last_scheduled_rotation.as_deref(), Some("manual"));
        assert_eq!(p.wake_at, Some(ts("2025-07-10T00:00:00Z")));
    }

    #[test]
    fn one_missed_while_the_operator_was_down_is_requested_once() {
        let created = ts("2025-01-01T00:00:00Z");
        let last = recorded("2025-01-01T00:00:00Z", "v-rotation-20250101000000");
        // Down for three periods: one rotation, named after the first missed due time.
        let p = plan(
            "v",
            created,
            DAY,
            Some(&last),
            &[],
            ts("2025-01-04T12:00:00Z"),
        );
        assert_eq!(
            p.create.map(|d| d.name),
            Some("v-rotation-20250102000000".into())
        );
    }

    #[test]
    fn never_while_one_is_unfinished() {
        let created = ts("2025-01-01T00:00:00Z");
        for phase in [
            RotationPhase::Pending,
            RotationPhase::AddingKeys,
            RotationPhase::AwaitingBackup,
        ] {
            let running = [existing("manual", "2025-01-02T00:00:00Z", phase)];
            let p = plan(
                "v",
                created,
                DAY,
                None,
                &running,
                ts("2026-01-01T00:00:00Z"),
            );
            assert_eq!(p.create, None);
            // Its end wakes the validator; no timer meanwhile.
            assert_eq!(p.wake_at, None);
            assert_eq!(
                p.status.next_schedule_time,
                Some(Time(ts("2025-01-03T00:00:00Z")))
            );
        }
        let failed = [existing(
            "manual",
            "2025-01-02T00:00:00Z",
            RotationPhase::Failed,
        )];
        assert!(
            plan("v", created, DAY, None, &failed, ts("2026-01-01T00:00:00Z"))
                .create
                .is_some()
        );
    }

    #[test]
    fn same_inputs_same_name() {
        let created = ts("2025-01-01T00:00:00Z");
        let a = plan("v", created, DAY, None, &[], ts("2025-01-05T00:00:00Z"));
        let b = plan("v", created, DAY, None, &[], ts("2025-01-05T07:00:00Z"));
        assert_eq!(a.create, b.create);
    }

    #[test]
    fn history_drops_the_oldest_finished_and_never_an_unfinished_one() {
        let mut all = vec![
            existing("a", "2025-01-01T00:00:00Z", RotationPhase::Succeeded),
            existing("b", "2025-02-01T00:00:00Z", RotationPhase::Failed),
            existing("c", "2025-03-01T00:00:00Z", RotationPhase::Succeeded),
            existing("d", "2024-12-01T00:00:00Z", RotationPhase::AddingKeys),
            existing("e", "2024-11-01T00:00:00Z", RotationPhase::Pending),
        ];
        // `a` finished last although requested first.
        all[0].completed = Some(ts("2025-03-15T00:00:00Z"));
        assert_eq!(beyond_history(&all, 3), Vec::<&str>::new());
        assert_eq!(beyond_history(&all, 2), vec!["b"]);
        assert_eq!(beyond_history(&all, 1), vec!["b", "c"]);
        assert_eq!(beyond_history(&all, 0), vec!["b", "c", "a"]);
    }

    fn rotation(
        name: &str,
        validator: &str,
        created: &str,
        phase: RotationPhase,
    ) -> ValidatorKeyRotation {
        let mut r = ValidatorKeyRotation::new(
            name,
            ValidatorKeyRotationSpec {
                validator: validator.into(),
                ..Default::default()
            },
        );
        r.metadata.namespace = Some("ns".into());
        r.metadata.creation_timestamp = Some(Time(ts(created)));
        r.status = Some(ValidatorKeyRotationStatus {
            phase: Some(phase),
            ..Default::default()
        });
        r
    }

    #[test]
    fn one_rotation_per_validator_at_a_time() {
        let me = rotation("b", "v", "2025-01-02T00:00:00Z", RotationPhase::Pending);
        let older_pending = rotation("a", "v", "2025-01-01T00:00:00Z", RotationPhase::Pending);
        let newer_pending = rotation("c", "v", "2025-01-03T00:00:00Z", RotationPhase::Pending);
        let running = rotation("d", "v", "2025-01-03T00:00:00Z", RotationPhase::AddingKeys);
        let other_validator = rotation("e", "w", "2024-01-01T00:00:00Z", RotationPhase::AddingKeys);
        let done = rotation("f", "v", "2024-01-01T00:00:00Z", RotationPhase::Succeeded);
        let name = |all: &[ValidatorKeyRotation]| {
            blocking_rotation(&me, all).and_then(|r| r.metadata.name.clone())
        };
        assert_eq!(name(&[me.clone(), older_pending.clone()]), Some("a".into()));
        assert_eq!(name(&[me.clone(), newer_pending.clone()]), None);
        assert_eq!(name(&[me.clone(), running]), Some("d".into()));
        assert_eq!(name(&[me.clone(), other_validator, done]), None);
        // The older pending one is not blocked by the newer one: exactly one starts.
        assert!(blocking_rotation(&older_pending, &[me.clone(), older_pending.clone()]).is_none());
    }
}

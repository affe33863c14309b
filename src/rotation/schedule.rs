//! Scheduled rotations and the one-at-a-time rule, as pure functions.
//!
//! A scheduled rotation's name is derived from when it became due, so two replicas, or one that
//! crashed and restarted, compute the same name: the second create is refused by the API server.

use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::{RotationPhase, ValidatorKeyRotation};

/// What the scheduler knows of one existing rotation of a validator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Existing {
    pub name: String,
    pub created: Timestamp,
    pub phase: RotationPhase,
}

/// A rotation to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Due {
    pub name: String,
    pub due_at: Timestamp,
}

/// The rotation due for `validator`, if any: none while one is unfinished; otherwise one `every`
/// after the latest rotation was requested (or the validator was created).
pub(crate) fn due_rotation(
    validator: &str,
    validator_created: Timestamp,
    every: Duration,
    existing: &[Existing],
    now: Timestamp,
) -> Option<Due> {
    if existing.iter().any(|e| !e.phase.is_terminal()) {
        return None;
    }
    let last = existing
        .iter()
        .map(|e| e.created)
        .max()
        .unwrap_or(validator_created)
        .max(validator_created);
    let every = SignedDuration::try_from(every).ok()?;
    let due_at = last.checked_add(every).ok()?;
    if now < due_at {
        return None;
    }
    Some(Due {
        name: scheduled_name(validator, due_at),
        due_at,
    })
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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const DAY: Duration = Duration::from_secs(86_400);

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn existing(name: &str, created: &str, phase: RotationPhase) -> Existing {
        Existing {
            name: name.into(),
            created: ts(created),
            phase,
        }
    }

    #[test]
    fn due_one_period_after_creation_then_after_each_rotation() {
        let created = ts("2025-01-01T00:00:00Z");
        assert_eq!(
            due_rotation("v", created, 90 * DAY, &[], ts("2025-03-01T00:00:00Z")),
            None
        );
        let due = due_rotation("v", created, 90 * DAY, &[], ts("2025-04-02T00:00:00Z"));
        assert_eq!(
            due,
            Some(Due {
                name: "v-rotation-20250401000000".into(),
                due_at: ts("2025-04-01T00:00:00Z")
            })
        );
        let done = [existing(
            "v-rotation-20250401000000",
            "2025-04-02T00:00:05Z",
            RotationPhase::Succeeded,
        )];
        assert_eq!(
            due_rotation("v", created, 90 * DAY, &done, ts("2025-05-01T00:00:00Z")),
            None
        );
        let next = due_rotation("v", created, 90 * DAY, &done, ts("2025-07-02T00:00:00Z"));
        assert_eq!(
            next.map(|d| d.name),
            Some("v-rotation-20250701000005".into())
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
            assert_eq!(
                due_rotation("v", created, DAY, &running, ts("2026-01-01T00:00:00Z")),
                None
            );
        }
        let failed = [existing(
            "manual",
            "2025-01-02T00:00:00Z",
            RotationPhase::Failed,
        )];
        assert!(due_rotation("v", created, DAY, &failed, ts("2026-01-01T00:00:00Z")).is_some());
    }

    #[test]
    fn same_inputs_same_name() {
        let created = ts("2025-01-01T00:00:00Z");
        let a = due_rotation("v", created, DAY, &[], ts("2025-01-05T00:00:00Z"));
        let b = due_rotation("v", created, DAY, &[], ts("2025-01-05T07:00:00Z"));
        assert_eq!(a, b);
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

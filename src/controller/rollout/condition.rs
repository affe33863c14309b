//! The `WorkloadsCurrent` condition: whether the workloads are what this operator release
//! renders, or an operator-caused change waits for a slot or is rolling out. It is not part of
//! `Ready`: a pending update leaves running workloads as they are.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::super::conditions;
use crate::api::ValidatorStatus;

pub(crate) const WORKLOADS_CURRENT: &str = "WorkloadsCurrent";
pub(crate) const CURRENT: &str = "Current";
pub(crate) const ROLLOUT_PENDING: &str = "RolloutPending";
pub(crate) const ROLLING: &str = "Rolling";

/// Where a validator's workloads stand against this operator release's render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workloads {
    /// As rendered (changes made to the Validator and drift are applied at once).
    Current,
    /// These Deployments wait for a slot; `rolling` validators hold one, `limit` may.
    Pending {
        deployments: Vec<String>,
        rolling: usize,
        limit: Option<usize>,
    },
    /// An operator-caused change to these Deployments is rolling out and holds a slot.
    Rolling { deployments: Vec<String> },
}

impl Workloads {
    /// The condition's status, reason and message.
    pub(crate) fn describe(&self) -> (bool, &'static str, String) {
        match self {
            Workloads::Current => (
                true,
                CURRENT,
                "the workloads are as this operator release renders them".to_string(),
            ),
            Workloads::Pending {
                deployments,
                rolling,
                limit,
            } => {
                let limit = limit.map_or_else(|| "no limit".to_string(), |l| l.to_string());
                (
                    false,
                    ROLLOUT_PENDING,
                    format!(
                        "this operator release renders {} differently: waiting for a rollout slot ({rolling} validators rolling, at most {limit} at once, --max-concurrent-rollouts); the running workloads are unchanged",
                        deployments.join(", ")
                    ),
                )
            }
            Workloads::Rolling { deployments } => (
                false,
                ROLLING,
                format!(
                    "rolling out this operator release's changes to {}: the slot is held until they are available",
                    deployments.join(", ")
                ),
            ),
        }
    }
}

/// Adds the condition to `status`: from `workloads` when this reconcile knows it, else as before
/// (a refused Validator keeps what it had, but is no longer shown rolling once it is not).
pub(crate) fn set(
    status: &mut ValidatorStatus,
    previous: Option<&ValidatorStatus>,
    workloads: Option<&Workloads>,
    generation: Option<i64>,
    now: &Time,
) {
    let before = previous.map_or(&[][..], |p| p.conditions.as_slice());
    let old = before.iter().find(|c| c.type_ == WORKLOADS_CURRENT);
    let condition = match workloads {
        Some(workloads) => {
            let (ok, reason, message) = workloads.describe();
            let fresh = conditions::condition(WORKLOADS_CURRENT, ok, reason, message, generation);
            conditions::keep_transition_time(fresh, before, now)
        }
        None => match old {
            Some(o) if o.reason != ROLLING => o.clone(),
            _ => return,
        },
    };
    status.conditions.retain(|c| c.type_ != WORKLOADS_CURRENT);
    status.conditions.push(condition);
}

/// The reason of the previous condition, if any.
pub(crate) fn previous_reason(previous: Option<&ValidatorStatus>) -> Option<&str> {
    previous?
        .conditions
        .iter()
        .find(|c| c.type_ == WORKLOADS_CURRENT)
        .map(|c| c.reason.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn the_transition_time_moves_only_with_the_status() {
        let pending = Workloads::Pending {
            deployments: vec!["Deployment/a-participant".into()],
            rolling: 1,
            limit: Some(1),
        };
        let mut first = ValidatorStatus::default();
        set(&mut first, None, Some(&pending), Some(2), &at(10));
        let c = &first.conditions[0];
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", ROLLOUT_PENDING)
        );
        assert!(
            c.message.contains("1 validators rolling, at most 1"),
            "{}",
            c.message
        );

        let rolling = Workloads::Rolling {
            deployments: vec!["Deployment/a-participant".into()],
        };
        let mut second = ValidatorStatus::default();
        set(&mut second, Some(&first), Some(&rolling), Some(2), &at(20));
        assert_eq!(second.conditions[0].last_transition_time, at(10));
        assert_eq!(second.conditions[0].reason, ROLLING);

        let mut third = ValidatorStatus::default();
        set(
            &mut third,
            Some(&second),
            Some(&Workloads::Current),
            Some(2),
            &at(30),
        );
        assert_eq!(third.conditions[0].status, "True");
        assert_eq!(third.conditions[0].last_transition_time, at(30));
    }

    #[test]
    fn unknown_keeps_what_was_there_but_not_a_rollout() {
        let mut pending = ValidatorStatus::default();
        let waiting = Workloads::Pending {
            deployments: vec![],
            rolling: 1,
            limit: None,
        };
        set(&mut pending, None, Some(&waiting), None, &at(1));
        let mut kept = ValidatorStatus::default();
        set(&mut kept, Some(&pending), None, None, &at(2));
        assert_eq!(kept.conditions, pending.conditions);

        let mut rolling = ValidatorStatus::default();
        let r = Workloads::Rolling {
            deployments: vec![],
        };
        set(&mut rolling, None, Some(&r), None, &at(1));
        let mut dropped = ValidatorStatus::default();
        set(&mut dropped, Some(&rolling), None, None, &at(2));
        assert!(dropped.conditions.is_empty());
        assert_eq!(previous_reason(Some(&rolling)), Some(ROLLING));
    }
}

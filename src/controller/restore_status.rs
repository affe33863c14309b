//! `status.restore` and the `Restored` condition, as a pure function of the restore's spec, what
//! the status recorded before, the validator app's pods (their restore init containers' one-line
//! results) and whether the app came up.
//!
//! Stages: `Fetching` → `Verified` (the dump verified; the operator checks its fingerprint) →
//! `Importing` (cleared: `status.restore.startedAt` is set and the pod gets the dump) →
//! `Completed` (the validator app became available on the imported identity:
//! `status.restore.completedAt`, and the dump is no longer rendered). Any refusal stops the pod
//! before the validator app starts and is the condition's reason.

use std::str::FromStr;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::conditions::{READY, RestoreObservation, is_available};
use super::context::Context;
use super::error::{Error, Result};
use crate::api::{RestoreSpec, RestoreStatus, Validator};
use crate::backup::dump::ParticipantId;
use crate::render::{INSTANCE, validator_app_name};
use crate::restore::{RestoreReason, RestoreResult};

/// The init container that checks the participant's database.
pub(crate) const DATABASE_CHECK_CONTAINER: &str = "restore-database-check";
/// The init container that fetches and verifies the dump.
pub(crate) const FETCH_CONTAINER: &str = "restore-fetch";

/// One restore init container's last result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StepResult {
    pub finished_at: Timestamp,
    pub result: RestoreResult,
}

/// The newest result of the restore init containers of `pods` (the validator app's pods): the
/// current attempt's when it ended, else the previous one's (a container retrying after a
/// refusal keeps showing why).
pub(crate) fn latest_result(pods: &[Pod]) -> Option<StepResult> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.status.as_ref()?.init_container_statuses.as_ref())
        .flatten()
        .filter(|s| s.name == DATABASE_CHECK_CONTAINER || s.name == FETCH_CONTAINER)
        .filter_map(step_result)
        .max_by_key(|r| r.finished_at)
}

fn step_result(status: &ContainerStatus) -> Option<StepResult> {
    let terminated = status
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .or_else(|| status.last_state.as_ref()?.terminated.as_ref())?;
    let finished_at = terminated.finished_at.as_ref()?.0;
    let result = match terminated.message.as_deref().map(RestoreResult::parse) {
        Some(Ok(result)) => result,
        _ => RestoreResult::new(
            if status.name == DATABASE_CHECK_CONTAINER {
                RestoreReason::DatabaseNotEmpty
            } else {
                RestoreReason::FetchFailed
            },
            format!(
                "init container {} ended ({}, exit code {}) without a result",
                status.name,
                terminated.reason.as_deref().unwrap_or("no reason"),
                terminated.exit_code
            ),
        ),
    };
    Some(StepResult {
        finished_at,
        result,
    })
}

/// The namespace fingerprint of a participant id.
pub(crate) fn fingerprint_of(participant_id: &str) -> Option<String> {
    ParticipantId::parse(participant_id).map(|p| p.fingerprint)
}

/// The restore as the caches show it: the validator app's pods, the app Deployment `app`, and
/// the other Validators (and their backup runs) for a live participant with the same fingerprint.
pub(crate) fn observe_in(
    validator: &Validator,
    ctx: &Context,
    app: Option<&Deployment>,
    now: Timestamp,
) -> Result<Option<RestoreObservation>> {
    let recorded = validator.status.as_ref().and_then(|s| s.restore.as_ref());
    if validator.spec.restore.is_none() && recorded.is_none() {
        return Ok(None);
    }
    let namespace = validator.namespace().unwrap_or_default();
    let name = validator.name_any();
    let prefix = format!("{}-", validator_app_name(&name));
    let mut pods = Vec::new();
    for cached in ctx.stores.backup_pods.state() {
        if cached.namespace().as_deref() != Some(namespace.as_str())
            || !cached.name_any().starts_with(&prefix)
        {
            continue;
        }
        let pod = cached.decode().map_err(|source| Error::Decode {
            what: format!("validator app Pod {namespace}/{}", cached.name_any()),
            source: source.into(),
        })?;
        if pod.labels().get(INSTANCE) == Some(&name) {
            pods.push(pod);
        }
    }
    let in_use = |fingerprint: &str| live_with_fingerprint(ctx, &namespace, &name, fingerprint);
    let inputs = Inputs {
        step: latest_result(&pods),
        app_available_since: app
            .filter(|d| is_available(d))
            .map(|d| available_since(d, now)),
        in_use: &in_use,
        now,
    };
    Ok(observe(validator, &inputs))
}

/// The Validator as the render should see it when a restore advanced since its status was
/// written (cleared or completed in this reconcile); `None` when nothing changed.
pub(crate) fn for_render(validator: &Validator, ctx: &Context) -> Result<Option<Validator>> {
    let namespace = validator.namespace().unwrap_or_default();
    let app = ctx
        .stores
        .deployments
        .get(&namespace, &validator_app_name(&validator.name_any()))
        .and_then(|kept| kept.deployment());
    let Some(observed) = observe_in(validator, ctx, app.as_ref(), Timestamp::now())? else {
        return Ok(None);
    };
    let recorded = validator.status.as_ref().and_then(|s| s.restore.as_ref());
    if recorded == Some(&observed.status) {
        return Ok(None);
    }
    let mut advanced = validator.clone();
    advanced.status.get_or_insert_with(Default::default).restore = Some(observed.status);
    Ok(Some(advanced))
}

/// When the Deployment became available (its `Available` condition), else `now`.
fn available_since(deployment: &Deployment, now: Timestamp) -> Timestamp {
    deployment
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| {
            c.iter()
                .find(|c| c.type_ == "Available" && c.status == "True")
        })
        .and_then(|c| c.last_transition_time.as_ref())
        .map_or(now, |t| t.0)
}

/// Another Validator the operator manages that is Ready with `fingerprint`: from its
/// `status.restore`, or the participant id of its newest verified backup.
fn live_with_fingerprint(
    ctx: &Context,
    namespace: &str,
    name: &str,
    fingerprint: &str,
) -> Option<String> {
    ctx.validators.state().iter().find_map(|cached| {
        let other_ns = cached.namespace().unwrap_or_default();
        if other_ns == namespace && cached.name_any() == name {
            return None;
        }
        let other = cached.decode().ok()?;
        let status = other.status.as_ref()?;
        let ready = status
            .conditions
            .iter()
            .any(|c| c.type_ == READY && c.status == "True");
        let restored = status.restore.as_ref().and_then(|r| r.fingerprint.clone());
        let backed_up = status
            .backup
            .as_ref()
            .and_then(|b| b.last_success.as_ref())
            .and_then(|s| s.participant_id.as_deref())
            .and_then(fingerprint_of);
        let same =
            restored.as_deref() == Some(fingerprint) || backed_up.as_deref() == Some(fingerprint);
        (ready && same).then(|| format!("{other_ns}/{}", other.name_any()))
    })
}

/// What else the observation needs.
pub(crate) struct Inputs<'a> {
    /// The restore init containers' newest result.
    pub step: Option<StepResult>,
    /// The validator app is available, and since when.
    pub app_available_since: Option<Timestamp>,
    /// Another Ready Validator with this fingerprint: its `namespace/name`.
    pub in_use: &'a dyn Fn(&str) -> Option<String>,
    pub now: Timestamp,
}

/// The restore's status and condition; `None` without a restore (or its record).
pub(crate) fn observe(validator: &Validator, inputs: &Inputs) -> Option<RestoreObservation> {
    let previous = validator.status.as_ref().and_then(|s| s.restore.clone());
    let Some(spec) = &validator.spec.restore else {
        // The spec may go once the import completed; the record stays.
        return previous
            .filter(RestoreStatus::completed)
            .map(|status| RestoreObservation {
                condition: completed(&status),
                status,
            });
    };
    let mut status = previous.unwrap_or_default();
    if status.completed() {
        return Some(RestoreObservation {
            condition: completed(&status),
            status,
        });
    }
    let condition = if status.started() {
        importing(&mut status, spec, inputs)
    } else {
        before_import(&mut status, spec, inputs)
    };
    Some(RestoreObservation { status, condition })
}

fn completed(status: &RestoreStatus) -> (bool, String, String) {
    (
        true,
        "Completed".into(),
        format!(
            "imported {} ({}) at {}; the validator app no longer gets the dump, so restarts do not import again",
            status.object.as_deref().unwrap_or("the dump"),
            status.participant_id.as_deref().unwrap_or("?"),
            status.completed_at.as_deref().unwrap_or("?"),
        ),
    )
}

fn failed(step: &StepResult) -> (bool, String, String) {
    (
        false,
        step.result.reason.as_str().to_string(),
        format!(
            "{} (at {}); nothing was imported",
            step.result.message, step.finished_at
        ),
    )
}

fn importing(
    status: &mut RestoreStatus,
    spec: &RestoreSpec,
    inputs: &Inputs,
) -> (bool, String, String) {
    if let Some(since) = inputs.app_available_since {
        status.completed_at = Some(since.max(started_at(status)).to_string());
        return completed(status);
    }
    if let Some(step) = &inputs.step
        && !step.result.reason.passed()
    {
        return failed(step);
    }
    (
        false,
        "Importing".into(),
        format!(
            "the validator app imports {} as PAR::{}::{} into the new participant{}",
            status.object.as_deref().unwrap_or("the dump"),
            spec.new_participant_identifier,
            status.fingerprint.as_deref().unwrap_or("?"),
            if spec.migrate_validator_party {
                ", then migrates the validator party from Scan"
            } else {
                ""
            }
        ),
    )
}

fn started_at(status: &RestoreStatus) -> Timestamp {
    status
        .started_at
        .as_deref()
        .and_then(|t| Timestamp::from_str(t).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn before_import(
    status: &mut RestoreStatus,
    spec: &RestoreSpec,
    inputs: &Inputs,
) -> (bool, String, String) {
    let Some(step) = &inputs.step else {
        return (
            false,
            "Fetching".into(),
            format!(
                "checking the participant database and fetching the dump ({})",
                spec.object.as_deref().map_or_else(
                    || format!(
                        "the newest verified of {}",
                        spec.latest.as_ref().map_or("?", |l| l.validator.as_str())
                    ),
                    str::to_string
                )
            ),
        );
    };
    // `Fetched` comes only from a pod the operator cleared: a clearance whose status write was lost.
    if !matches!(
        step.result.reason,
        RestoreReason::Verified | RestoreReason::Fetched
    ) {
        if step.result.reason.passed() {
            return (
                false,
                "Fetching".into(),
                format!("{}; fetching the dump", step.result.message),
            );
        }
        return failed(step);
    }
    let fingerprint = step.result.fingerprint.clone().unwrap_or_default();
    if let Some(other) = (inputs.in_use)(&fingerprint) {
        return (
            false,
            "FingerprintInUse".into(),
            format!(
                "Validator {other} is Ready with namespace fingerprint {fingerprint}, the dump's: two live participants with one identity are a split brain. Stop it (delete its Validator, or restore in a namespace that cannot reach its synchronizer) first; nothing was imported"
            ),
        );
    }
    status.object = step.result.object.clone();
    status.participant_id = step.result.participant_id.clone();
    status.fingerprint = Some(fingerprint);
    status.started_at = Some(step.finished_at.to_string());
    importing(
        status,
        spec,
        &Inputs {
            step: None,
            app_available_since: None,
            in_use: inputs.in_use,
            now: inputs.now,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BackupDestination, KmsServiceAccount, S3Destination, ValidatorStatus};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn validator(status: Option<RestoreStatus>) -> Validator {
        let mut v: Validator = serde_json::from_value(serde_json::json!({
            "apiVersion": "canton-operator.dev/v1alpha1", "kind": "Validator",
            "metadata": {"name": "v", "namespace": "ns"},
            "spec": {"version": "0.7.4",
                "participant": {"postgres": {"host": "pg", "passwordSecretRef": {"name": "s", "key": "k"}},
                    "auth": {"jwksUrl": "j", "audience": "a"}},
                "validatorApp": {"scanAddress": "s", "partyHint": "p", "participantIdentifier": "new",
                    "auth": {"audience": "a", "jwksUrl": "j"},
                    "postgres": {"host": "pg", "passwordSecretRef": {"name": "s", "key": "k"}}}}
        }))
        .unwrap();
        v.spec.restore = Some(RestoreSpec {
            source: BackupDestination {
                s3: Some(S3Destination {
                    bucket: "b".into(),
                    region: "eu-west-1".into(),
                    ..S3Destination::default()
                }),
                ..BackupDestination::default()
            },
            object: Some("o".into()),
            latest: None,
            participant_identifier: "old".into(),
            new_participant_identifier: "new".into(),
            migrate_validator_party: true,
            service_account: KmsServiceAccount {
                name: Some("sa".into()),
                ..KmsServiceAccount::default()
            },
        });
        v.status = Some(ValidatorStatus {
            restore: status,
            ..ValidatorStatus::default()
        });
        v
    }

    fn step(reason: RestoreReason) -> StepResult {
        let mut result = RestoreResult::new(reason, format!("{reason:?} happened"));
        result.object = Some("o".into());
        result.participant_id = Some("PAR::old::1220ab".into());
        result.fingerprint = Some("1220ab".into());
        StepResult {
            finished_at: at("2026-01-01T00:00:00Z"),
            result,
        }
    }

    fn inputs<'a>(
        step: Option<StepResult>,
        in_use: &'a dyn Fn(&str) -> Option<String>,
    ) -> Inputs<'a> {
        Inputs {
            step,
            app_available_since: None,
            in_use,
            now: at("2026-01-01T00:01:00Z"),
        }
    }

    #[test]
    fn a_verified_dump_is_cleared_unless_its_fingerprint_is_live() {
        let free = |_: &str| None;
        let o = observe(
            &validator(None),
            &inputs(Some(step(RestoreReason::Verified)), &free),
        )
        .unwrap();
        assert_eq!(o.condition.1, "Importing");
        assert_eq!(o.status.fingerprint.as_deref(), Some("1220ab"));
        assert!(o.status.started());
        let live = |f: &str| (f == "1220ab").then(|| "prod/acme".to_string());
        let o = observe(
            &validator(None),
            &inputs(Some(step(RestoreReason::Verified)), &live),
        )
        .unwrap();
        assert_eq!(o.condition.1, "FingerprintInUse");
        assert!(o.condition.2.contains("prod/acme"));
        assert!(!o.status.started());
    }

    #[test]
    fn refusals_are_the_reason_and_nothing_starts() {
        let free = |_: &str| None;
        for reason in [
            RestoreReason::DatabaseNotEmpty,
            RestoreReason::KmsMismatch,
            RestoreReason::DumpNotFound,
        ] {
            let o = observe(&validator(None), &inputs(Some(step(reason)), &free)).unwrap();
            assert_eq!(
                (o.condition.0, o.condition.1.as_str()),
                (false, reason.as_str())
            );
            assert!(!o.status.started());
        }
        let o = observe(&validator(None), &inputs(None, &free)).unwrap();
        assert_eq!(o.condition.1, "Fetching");
    }

    #[test]
    fn an_available_app_completes_the_import_and_then_it_stays_completed() {
        let free = |_: &str| None;
        let started = RestoreStatus {
            object: Some("o".into()),
            participant_id: Some("PAR::old::1220ab".into()),
            fingerprint: Some("1220ab".into()),
            started_at: Some("2026-01-01T00:00:00Z".into()),
            completed_at: None,
        };
        let mut i = inputs(Some(step(RestoreReason::Fetched)), &free);
        let o = observe(&validator(Some(started.clone())), &i).unwrap();
        assert_eq!(o.condition.1, "Importing");
        i.app_available_since = Some(at("2026-01-01T00:05:00Z"));
        let o = observe(&validator(Some(started)), &i).unwrap();
        assert_eq!(o.condition.1, "Completed");
        assert_eq!(
            o.status.completed_at.as_deref(),
            Some("2026-01-01T00:05:00Z")
        );
        // Later: the pod restarted, a failing step shows up, the spec is removed: still completed.
        let done = o.status;
        let o = observe(
            &validator(Some(done.clone())),
            &inputs(Some(step(RestoreReason::DatabaseNotEmpty)), &free),
        )
        .unwrap();
        assert_eq!(o.condition.1, "Completed");
        let mut v = validator(Some(done));
        v.spec.restore = None;
        assert_eq!(
            observe(&v, &inputs(None, &free)).unwrap().condition.1,
            "Completed"
        );
    }
}

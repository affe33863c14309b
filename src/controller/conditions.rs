//! Status as a pure function of what was decided and observed.
//!
//! `lastTransitionTime` is carried over whenever a condition's status is unchanged, so a steady
//! validator produces an identical status and no write.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{BackupStatus, KmsStatus, RestoreStatus, ValidatorStatus};
use crate::decision::KmsDecision;
use crate::kms::KmsMode;

pub(crate) const READY: &str = "Ready";
/// The restore's condition (`spec.restore`).
pub(crate) const RESTORED: &str = "Restored";
pub(crate) const KMS_CONFIGURED: &str = "KmsConfigured";
pub(crate) const PARTICIPANT_READY: &str = "ParticipantReady";
pub(crate) const VALIDATOR_APP_READY: &str = "ValidatorAppReady";
/// What a restore adds up to (`restore_status` observes it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RestoreObservation {
    pub status: RestoreStatus,
    /// `Restored`: status, reason, message.
    pub condition: (bool, String, String),
}

/// Present when identity backups are configured; not part of `Ready` (a validator without a
/// fresh backup still runs), watched on its own.
pub(crate) const IDENTITY_BACKED_UP: &str = "IdentityBackedUp";
/// Present only when `spec.version` is a patch newer than the operator's release table, rendered
/// with its line's newest facts (`False`, `NewerPatch`); not part of `Ready`: the validator runs.
pub(crate) const RELEASE_KNOWN: &str = "ReleaseKnown";
/// Its reason.
pub(crate) const NEWER_PATCH: &str = "NewerPatch";
pub(crate) use crate::minimum_release::MINIMUM_RELEASE_MET;

/// A condition that is not part of `Ready`: status, reason, message.
pub(crate) type SideCondition = (bool, &'static str, String);

/// `ReleaseKnown=False` for a patch newer than the table, naming the release the facts come from.
pub(crate) fn release_known(version: &str) -> Option<SideCondition> {
    let resolved = crate::release::resolve(version).ok()?;
    resolved.newer_patch.then(|| {
        let facts = resolved.release.version;
        (
            false,
            NEWER_PATCH,
            format!(
                "{version} is newer than the releases this operator knows: its workloads are rendered with the facts of {facts}, the newest known release of its line; upgrade the operator for {version}'s own (docs/releases.md)"
            ),
        )
    })
}

/// What one reconcile concluded about the KMS decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KmsOutcome {
    /// Decided and provisioned.
    Configured(Box<KmsDecision>),
    /// Not provisioned (or not changed) for this reason.
    Blocked { reason: String, message: String },
}

/// The inputs of a status.
pub(crate) struct Observation<'a> {
    pub generation: Option<i64>,
    pub outcome: &'a KmsOutcome,
    pub participant: Option<&'a Deployment>,
    pub validator_app: Option<&'a Deployment>,
    pub validator_name: &'a str,
    /// The identity backups, when the spec asks for them.
    pub backup: Option<BackupObservation>,
    /// `ReleaseKnown`, when `spec.version` is a newer patch than the table knows.
    pub release_known: Option<SideCondition>,
    /// `MinimumReleaseMet`, when the operator is given a minimum release.
    pub minimum_release: Option<SideCondition>,
    /// The restore from an identity dump, when the spec asks for one (or one completed).
    pub restore: Option<RestoreObservation>,
}

/// What the backup runs add up to (see `backup_status`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BackupObservation {
    pub status: BackupStatus,
    /// `IdentityBackedUp`: status, reason, message.
    pub condition: (bool, String, String),
}

/// The status the validator should have, given the previous one (for transition times).
pub(crate) fn desired_status(
    obs: &Observation,
    previous: Option<&ValidatorStatus>,
    now: &Time,
) -> ValidatorStatus {
    let kms = kms_condition(obs);
    let participant = workload_condition(
        PARTICIPANT_READY,
        "participant",
        obs.participant,
        obs.generation,
    );
    let app = workload_condition(
        VALIDATOR_APP_READY,
        "validator app",
        obs.validator_app,
        obs.generation,
    );
    let ready = ready_condition(&[&kms, &participant, &app], obs.generation);
    let old = previous
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let backup = obs.backup.as_ref().map(|b| {
        let (ok, reason, message) = &b.condition;
        condition(
            IDENTITY_BACKED_UP,
            *ok,
            reason,
            message.clone(),
            obs.generation,
        )
    });
    let restore = obs.restore.as_ref().map(|r| {
        let (ok, reason, message) = &r.condition;
        condition(RESTORED, *ok, reason, message.clone(), obs.generation)
    });
    let side = [&obs.release_known, &obs.minimum_release]
        .into_iter()
        .zip([RELEASE_KNOWN, MINIMUM_RELEASE_MET])
        .filter_map(|(parts, type_)| {
            let (ok, reason, message) = parts.as_ref()?;
            Some(condition(
                type_,
                *ok,
                reason,
                message.clone(),
                obs.generation,
            ))
        });
    let conditions = [ready, kms, participant, app]
        .into_iter()
        .chain(backup)
        .chain(side)
        .chain(restore)
        .map(|c| keep_transition_time(c, old, now))
        .collect();
    ValidatorStatus {
        observed_generation: obs.generation,
        conditions,
        kms: kms_status(obs).or_else(|| previous.and_then(|p| p.kms.clone())),
        backup: obs.backup.as_ref().map(|b| b.status.clone()),
        restore: obs
            .restore
            .as_ref()
            .map(|r| r.status.clone())
            .or_else(|| previous.and_then(|p| p.restore.clone())),
        key_rotation: previous.and_then(|p| p.key_rotation.clone()),
    }
}

pub(crate) fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    }
}

fn kms_condition(obs: &Observation) -> Condition {
    match obs.outcome {
        KmsOutcome::Blocked { reason, message } => condition(
            KMS_CONFIGURED,
            false,
            reason,
            message.clone(),
            obs.generation,
        ),
        KmsOutcome::Configured(decision) => {
            let (reason, message) = describe_decision(decision, obs.validator_name);
            condition(KMS_CONFIGURED, true, reason, message, obs.generation)
        }
    }
}

/// The reason and message of a configured decision.
pub(crate) fn describe_decision(decision: &KmsDecision, validator: &str) -> (&'static str, String) {
    let source = decision.source.as_str();
    let Some(provider) = decision.provider() else {
        return (
            "KeysOnNode",
            format!(
                "KMS is off: the participant keeps its keys on the node (decision from {source})"
            ),
        );
    };
    let account = decision
        .participant_service_account(validator)
        .unwrap_or_default();
    let reason = match decision.kms.mode {
        KmsMode::External => "ExternalKeys",
        KmsMode::Envelope => "EnvelopeKeys",
    };
    let mode = match decision.kms.mode {
        KmsMode::External => "external key mode: keys live in the KMS",
        KmsMode::Envelope => {
            "envelope mode: keys stay in the database, wrapped by a KMS key (Splice documents only external keys)"
        }
    };
    let message = format!(
        "{} KMS, {}, {mode}; participant runs as ServiceAccount {account} (decision from {source})",
        provider.type_name(),
        provider.location(),
    );
    (reason, message)
}

fn workload_condition(
    type_: &str,
    what: &str,
    deployment: Option<&Deployment>,
    generation: Option<i64>,
) -> Condition {
    let Some(deployment) = deployment else {
        return condition(
            type_,
            false,
            "NotCreated",
            format!("the {what} Deployment does not exist yet"),
            generation,
        );
    };
    if is_available(deployment) {
        condition(
            type_,
            true,
            "Available",
            format!("the {what} is available"),
            generation,
        )
    } else {
        condition(
            type_,
            false,
            "Progressing",
            format!("waiting for the {what} to become available"),
            generation,
        )
    }
}

/// Available and rolled out: the Deployment controller has seen the current spec.
pub(crate) fn is_available(deployment: &Deployment) -> bool {
    let Some(status) = &deployment.status else {
        return false;
    };
    let generation = deployment.metadata.generation.unwrap_or(0);
    let seen = status.observed_generation.unwrap_or(0) >= generation;
    let wanted = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    seen && status.available_replicas.unwrap_or(0) >= wanted
        && status.updated_replicas.unwrap_or(0) >= wanted
}

fn ready_condition(parts: &[&Condition], generation: Option<i64>) -> Condition {
    match parts.iter().find(|c| c.status != "True") {
        None => condition(
            READY,
            true,
            "Ready",
            "the validator is provisioned and available".into(),
            generation,
        ),
        Some(blocking) => condition(
            READY,
            false,
            &blocking.reason,
            blocking.message.clone(),
            generation,
        ),
    }
}

pub(crate) fn keep_transition_time(mut c: Condition, old: &[Condition], now: &Time) -> Condition {
    c.last_transition_time = match old.iter().find(|o| o.type_ == c.type_) {
        Some(o) if o.status == c.status => o.last_transition_time.clone(),
        _ => now.clone(),
    };
    c
}

fn kms_status(obs: &Observation) -> Option<KmsStatus> {
    let KmsOutcome::Configured(decision) = obs.outcome else {
        return None;
    };
    Some(KmsStatus {
        summary: decision.summary(),
        location: decision.provider().map(|p| p.location()),
        service_account_name: decision.participant_service_account(obs.validator_name),
        source: Some(decision.source.as_str().to_string()),
    })
}

/// The condition of a type, if present.
pub(crate) fn find<'a>(status: Option<&'a ValidatorStatus>, type_: &str) -> Option<&'a Condition> {
    status.and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
}

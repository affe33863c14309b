//! What a spec must satisfy before anything is written for it: a supported release, features that
//! release has, and no `additionalEnv` name the operator sets itself. Pure; the controller runs it
//! before capture, so a refused Validator is never written to.
//!
//! The CRD's CEL rules say most of this at admission already; this step also covers Validators
//! read from files (`render -f`) and rules that depend on the release table.

use super::RenderError;
use crate::api::{
    AdditionalEnvVar, OPERATOR_KEY_PREFIX, OPERATOR_POD_LABELS, OPERATOR_VOLUMES,
    PARTICIPANT_CONTAINERS, PARTICIPANT_OPERATOR_ENV, PodSettings, VALIDATOR_APP_CONTAINERS,
    VALIDATOR_APP_OPERATOR_ENV, ValidatorSpec,
};
use crate::release::{Resolved, resolve};
use k8s_openapi::api::core::v1::{Container, Volume, VolumeMount};

/// The smallest top-up interval: the validator app's automation polls every 30 seconds and
/// refuses a shorter interval at start.
const MIN_TOPUP_SECONDS: u64 = 30;

/// The release facts `spec.version` renders with, if the spec can be rendered for it.
pub fn validate(spec: &ValidatorSpec) -> Result<Resolved, RenderError> {
    let resolved = resolve(&spec.version)?;
    let release = resolved.release;
    let signing_keys = spec.kms.as_ref().is_some_and(|k| k.session_signing_keys());
    if signing_keys && !release.session_signing_keys {
        return Err(RenderError::SessionSigningKeysUnsupported {
            version: spec.version.clone(),
        });
    }
    reserved(
        "spec.participant.additionalEnv",
        &spec.participant.additional_env,
        PARTICIPANT_OPERATOR_ENV,
    )?;
    reserved(
        "spec.validatorApp.additionalEnv",
        &spec.validator_app.additional_env,
        VALIDATOR_APP_OPERATOR_ENV,
    )?;
    for (field, vars) in [
        (
            "spec.participant.additionalEnv",
            &spec.participant.additional_env,
        ),
        (
            "spec.validatorApp.additionalEnv",
            &spec.validator_app.additional_env,
        ),
    ] {
        removed_keys(field, vars, release.removed_config_keys, &spec.version)?;
    }
    topup_interval(spec)?;
    sweeps(spec)?;
    pods(spec)?;
    extras(
        "spec.participant",
        &spec.participant.extra_volumes,
        &spec.participant.extra_volume_mounts,
        &spec.participant.extra_init_containers,
        PARTICIPANT_CONTAINERS,
    )?;
    extras(
        "spec.validatorApp",
        &spec.validator_app.extra_volumes,
        &spec.validator_app.extra_volume_mounts,
        &spec.validator_app.extra_init_containers,
        VALIDATOR_APP_CONTAINERS,
    )?;
    image_registry(spec)?;
    Ok(resolved)
}

/// A literal `additionalEnv` value naming a key the release removed. Matched on the key's last
/// segment, so `validator_backend { enable-… = true }` is caught as well as the dotted path.
fn removed_keys(
    field: &str,
    vars: &[AdditionalEnvVar],
    removed: &[&str],
    version: &str,
) -> Result<(), RenderError> {
    for (i, var) in vars.iter().enumerate() {
        let Some(value) = &var.value else { continue };
        let hit = removed
            .iter()
            .find(|key| value.contains(key.rsplit('.').next().unwrap_or(key)));
        if let Some(key) = hit {
            return Err(RenderError::RemovedConfigKey {
                field: format!("{field}[{i}].value"),
                key: (*key).to_string(),
                version: version.to_string(),
            });
        }
    }
    Ok(())
}

/// Every place pod settings are given, with its field path.
fn pod_settings(spec: &ValidatorSpec) -> [(&'static str, Option<&PodSettings>); 5] {
    [
        ("spec.pods", spec.pods.as_ref()),
        ("spec.participant.pod", spec.participant.pod.as_ref()),
        ("spec.validatorApp.pod", spec.validator_app.pod.as_ref()),
        (
            "spec.webUis.pod",
            spec.web_uis.as_ref().and_then(|w| w.pod.as_ref()),
        ),
        (
            "spec.backup.identities.pod",
            spec.identity_backup().and_then(|b| b.pod.as_ref()),
        ),
    ]
}

/// No label or annotation the operator sets or reads itself.
fn pods(spec: &ValidatorSpec) -> Result<(), RenderError> {
    for (field, settings) in pod_settings(spec) {
        let Some(settings) = settings else { continue };
        if let Some(key) = settings.labels.keys().find(|k| {
            OPERATOR_POD_LABELS.contains(&k.as_str()) || k.starts_with(OPERATOR_KEY_PREFIX)
        }) {
            return Err(RenderError::InvalidField {
                field: format!("{field}.labels"),
                message: format!(
                    "`{key}` is a label the operator sets itself ({}, and keys starting with {OPERATOR_KEY_PREFIX})",
                    OPERATOR_POD_LABELS.join(", ")
                ),
            });
        }
        if let Some(key) = settings
            .annotations
            .keys()
            .find(|k| k.starts_with(OPERATOR_KEY_PREFIX))
        {
            return Err(RenderError::InvalidField {
                field: format!("{field}.annotations"),
                message: format!(
                    "`{key}`: annotations starting with {OPERATOR_KEY_PREFIX} are the operator's own"
                ),
            });
        }
    }
    Ok(())
}

/// Extra volumes and init containers with names of their own, and mounts of those volumes.
fn extras(
    field: &str,
    volumes: &[Volume],
    mounts: &[VolumeMount],
    init_containers: &[Container],
    operator_containers: &[&str],
) -> Result<(), RenderError> {
    let invalid = |field: String, message: String| RenderError::InvalidField { field, message };
    let mut names = std::collections::BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        if OPERATOR_VOLUMES.contains(&volume.name.as_str()) {
            return Err(invalid(
                format!("{field}.extraVolumes[{i}].name"),
                format!("`{}` is the operator's own volume name", volume.name),
            ));
        }
        if !names.insert(volume.name.as_str()) {
            return Err(invalid(
                format!("{field}.extraVolumes[{i}].name"),
                format!("`{}` is listed twice", volume.name),
            ));
        }
    }
    for (i, mount) in mounts.iter().enumerate() {
        if !names.contains(mount.name.as_str()) {
            return Err(invalid(
                format!("{field}.extraVolumeMounts[{i}].name"),
                format!("`{}` is not a volume in {field}.extraVolumes", mount.name),
            ));
        }
    }
    let mut containers = std::collections::BTreeSet::new();
    for (i, container) in init_containers.iter().enumerate() {
        if operator_containers.contains(&container.name.as_str()) {
            return Err(invalid(
                format!("{field}.extraInitContainers[{i}].name"),
                format!(
                    "`{}` is the operator's own container name ({})",
                    container.name,
                    operator_containers.join(", ")
                ),
            ));
        }
        if !containers.insert(container.name.as_str()) {
            return Err(invalid(
                format!("{field}.extraInitContainers[{i}].name"),
                format!("`{}` is listed twice", container.name),
            ));
        }
    }
    Ok(())
}

/// A registry and path, without a scheme or a tag: what goes before `/<name>:<tag>`.
fn image_registry(spec: &ValidatorSpec) -> Result<(), RenderError> {
    let Some(registry) = &spec.image_registry else {
        return Ok(());
    };
    let ok = !registry.is_empty()
        && !registry.contains("://")
        && !registry.ends_with('/')
        && !registry.contains('@')
        && registry.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(RenderError::InvalidField {
            field: "spec.imageRegistry".to_string(),
            message: format!(
                "`{registry}` must be a registry host and optional path, such as mirror.example.com/canton (no scheme, tag or trailing /)"
            ),
        })
    }
}

fn reserved(field: &str, vars: &[AdditionalEnvVar], names: &[&str]) -> Result<(), RenderError> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, var) in vars.iter().enumerate() {
        if names.contains(&var.name.as_str()) {
            return Err(RenderError::ReservedEnvName {
                field: format!("{field}[{i}].name"),
                name: var.name.clone(),
            });
        }
        if !seen.insert(var.name.as_str()) {
            return Err(RenderError::InvalidField {
                field: format!("{field}[{i}].name"),
                message: format!("`{}` is listed twice", var.name),
            });
        }
    }
    Ok(())
}

fn topup_interval(spec: &ValidatorSpec) -> Result<(), RenderError> {
    let Some(interval) = spec
        .validator_app
        .topup
        .as_ref()
        .and_then(|t| t.min_topup_interval.as_deref())
    else {
        return Ok(());
    };
    match seconds(interval) {
        Some(s) if s >= MIN_TOPUP_SECONDS => Ok(()),
        _ => Err(RenderError::InvalidField {
            field: "spec.validatorApp.topup.minTopupInterval".to_string(),
            message: format!(
                "`{interval}` must be a number with s, m or h and at least {MIN_TOPUP_SECONDS}s (the app's polling interval)"
            ),
        }),
    }
}

/// `90s`, `1m`, `2h` in seconds.
fn seconds(text: &str) -> Option<u64> {
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => return None,
    };
    let number: u64 = text.get(..text.len() - 1)?.parse().ok()?;
    number.checked_mul(unit)
}

fn sweeps(spec: &ValidatorSpec) -> Result<(), RenderError> {
    let Some(wallet) = &spec.validator_app.wallet else {
        return Ok(());
    };
    for (i, sweep) in wallet.sweeps.iter().enumerate() {
        let ok = sweep.min_balance_usd.is_finite()
            && sweep.max_balance_usd.is_finite()
            && 0.0 <= sweep.min_balance_usd
            && sweep.min_balance_usd < sweep.max_balance_usd;
        if !ok {
            return Err(RenderError::InvalidField {
                field: format!("spec.validatorApp.wallet.sweeps[{i}]"),
                message: "needs 0 <= minBalanceUsd < maxBalanceUsd".to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_the_app_reads_them() {
        assert_eq!(seconds("30s"), Some(30));
        assert_eq!(seconds("1m"), Some(60));
        assert_eq!(seconds("2h"), Some(7200));
        assert_eq!(seconds("m"), None);
        assert_eq!(seconds("1d"), None);
    }
}

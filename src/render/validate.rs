//! What a spec must satisfy before anything is written for it: a supported release, features that
//! release has, and no `additionalEnv` name the operator sets itself. Pure; the controller runs it
//! before capture, so a refused Validator is never written to.
//!
//! The CRD's CEL rules say most of this at admission already; this step also covers Validators
//! read from files (`render -f`) and rules that depend on the release table.

use super::RenderError;
use crate::api::{
    AdditionalEnvVar, PARTICIPANT_OPERATOR_ENV, VALIDATOR_APP_OPERATOR_ENV, ValidatorSpec,
};
use crate::release::{Resolved, resolve};

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

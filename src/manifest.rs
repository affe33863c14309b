//! Offline outputs: the CRD YAML and the objects a Validator renders to, as a YAML stream.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde::Serialize;

use crate::api::Validator;
use crate::config::OperatorConfig;
use crate::decision::{DecisionError, resolve};
use crate::render::{RenderError, Rendered, render_with};

/// Why an offline render failed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the file is not a Validator: {0}")]
    Decode(String),
    #[error("the Validator would be refused by the API server: {0}")]
    Rejected(String),
    #[error("no KMS decision can be made: {0}")]
    Decision(#[from] DecisionError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Iam(#[from] crate::iam::IamError),
    #[error("could not write YAML: {0}")]
    Encode(String),
}

/// The CustomResourceDefinitions this operator serves.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Validator::crd(), crate::api::ValidatorKeyRotation::crd()]
}

/// The CustomResourceDefinitions as one YAML stream (`---` between documents).
pub fn crd_yaml() -> Result<String, ManifestError> {
    let docs = crds()
        .iter()
        .map(|crd| serde_saphyr::to_string(crd).map_err(|e| ManifestError::Encode(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

/// Reads a Validator from YAML; a missing namespace means `default`, as with kubectl.
pub fn decode_validator(text: &str) -> Result<Validator, ManifestError> {
    let mut validator: Validator =
        serde_saphyr::from_str(text).map_err(|e| ManifestError::Decode(e.to_string()))?;
    if validator.metadata.namespace.is_none() {
        validator.metadata.namespace = Some("default".to_string());
    }
    crate::api::cel::check_rules(&validator).map_err(|e| ManifestError::Rejected(e.to_string()))?;
    Ok(validator)
}

/// The cloud permissions a Validator's participant needs, as pretty JSON.
pub fn iam_policy_json(
    text: &str,
    config: &OperatorConfig,
    facts: &crate::iam::ClusterFacts,
) -> Result<String, ManifestError> {
    let validator = decode_validator(text)?;
    let decision = resolve(&validator.spec, &config.kms_default)?;
    let name = kube::ResourceExt::name_any(&validator);
    let namespace = validator.metadata.namespace.clone().unwrap_or_default();
    let account = decision
        .participant_service_account(&name)
        .unwrap_or_default();
    let policy = crate::iam::policy(&decision, &namespace, &account, facts)?;
    serde_json::to_string_pretty(&policy).map_err(|e| ManifestError::Encode(e.to_string()))
}

/// What the operator would apply for this Validator if it were provisioned now.
pub fn render_yaml(text: &str, config: &OperatorConfig) -> Result<String, ManifestError> {
    let validator = decode_validator(text)?;
    let decision = resolve(&validator.spec, &config.kms_default)?;
    let rendered = render_with(&validator, &decision, config.operator_namespace.as_deref())?;
    rendered_yaml(&rendered)
}

/// The rendered objects as one YAML stream, in apply order (the order of [`Rendered::to_json`]),
/// written by `serde_saphyr` straight from the typed objects. (A writer of our own saved
/// ~150 µs here, in a command that takes milliseconds: not worth a second YAML writer.)
pub fn rendered_yaml(rendered: &Rendered) -> Result<String, ManifestError> {
    let mut out = String::with_capacity(16 * 1024);
    if let Some(sa) = &rendered.service_account {
        push_document(&mut out, sa)?;
    }
    push_document(&mut out, &rendered.participant)?;
    push_document(&mut out, &rendered.participant_service)?;
    push_document(&mut out, &rendered.validator_app)?;
    push_document(&mut out, &rendered.validator_app_service)?;
    push_document(&mut out, &rendered.network_policy)?;
    Ok(out)
}

fn push_document<T: Serialize>(out: &mut String, object: &T) -> Result<(), ManifestError> {
    out.push_str("---\n");
    let doc = serde_saphyr::to_string(object).map_err(|e| ManifestError::Encode(e.to_string()))?;
    out.push_str(&doc);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// One document as `render` writes it, read back.
    fn round_trip(value: &Value) {
        let mut out = String::new();
        push_document(&mut out, value).unwrap();
        let back: Vec<Value> = serde_saphyr::from_multiple(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(back, [value.clone()], "\n{out}");
    }

    fn seed_config() -> OperatorConfig {
        OperatorConfig::from_lookup(|name| -> Option<OsString> {
            match name {
                crate::config::ENABLED_VAR => Some("true".into()),
                crate::config::VALUE_VAR => {
                    Some(r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#.into())
                }
                crate::config::SERVICE_ACCOUNT_VAR => Some("canton-kms".into()),
                _ => None,
            }
        })
    }

    #[test]
    fn the_stream_is_to_json() {
        let example = include_str!("../examples/validator.yaml");
        for config in [OperatorConfig::from_lookup(|_| None), seed_config()] {
            let validator = decode_validator(example).unwrap();
            let decision = resolve(&validator.spec, &config.kms_default).unwrap();
            let rendered = crate::render::render(&validator, &decision).unwrap();
            let stream = rendered_yaml(&rendered).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&stream).unwrap();
            assert_eq!(docs, rendered.to_json().unwrap(), "\n{stream}");
        }
    }

    #[test]
    fn hostile_text_stays_a_string() {
        for s in [
            "", "yes", "No", "ON", "off", "y", "~", "NULL", "0.4.15", "5432", "1e3", "0x1F", "1:20",
            ".inf", "-", "- a", "a: b", "#x", " x", "x ", "<<", "*a", "&a", "!x", "%x", "@x",
            "[a]", "{a}", "'a'", "\"a\"", "---", "...", "a\nb\n", "\nlead", " indented\nx",
            "tab\tand\rcr\nz", "a\u{0}b\u{7f}\u{85}\u{2028}\u{2029}\u{feff}", "é ü 日本 🦀",
            "x\n---\nkind: Secret", "${HOME} } { \"",
        ] {
            round_trip(&json!({ "k": s, s: [s] }));
        }
    }

    #[test]
    fn numbers_are_exact() {
        round_trip(&json!({ "a": [0, -1, 5432, i64::MIN, i64::MAX, u64::MAX] }));
        for f in [1.5, 1e20, -2.5e-7, 0.1, 1e15, -0.0, 123456789.125] {
            round_trip(&json!({ "f": f }));
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips(key in "\\PC{0,12}", value in any::<String>(), lines in "[ -~\n]{0,40}") {
            round_trip(&json!({ key.clone(): value, "l": lines, "s": [key] }));
        }
    }
}

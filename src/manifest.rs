//! Offline outputs: the CRD YAML and the objects a Validator renders to, as a YAML stream.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde::Serialize;

use crate::api::Validator;
use crate::config::OperatorConfig;
use crate::decision::{DecisionError, resolve};
use crate::render::{RenderError, Rendered, render_with};

mod yaml;

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

/// The rendered objects as one YAML stream, in apply order (the order of [`Rendered::to_json`]).
///
/// Performance (docs/performance.md): the objects are written straight from their types by
/// [`yaml::to_string`], ~5x faster than `to_json` + `serde_saphyr`; a document that writer
/// declines (see its module) goes through `to_json` + `serde_saphyr` as before.
pub fn rendered_yaml(rendered: &Rendered) -> Result<String, ManifestError> {
    let mut out = Vec::with_capacity(16 * 1024);
    for sa in [&rendered.service_account, &rendered.backup_service_account]
        .into_iter()
        .flatten()
    {
        push_document(&mut out, sa)?;
    }
    push_document(&mut out, &rendered.participant)?;
    push_document(&mut out, &rendered.participant_service)?;
    push_document(&mut out, &rendered.validator_app)?;
    push_document(&mut out, &rendered.validator_app_service)?;
    for (deployment, service) in &rendered.web_uis {
        push_document(&mut out, deployment)?;
        push_document(&mut out, service)?;
    }
    push_document(&mut out, &rendered.network_policy)?;
    if let Some(cron_job) = &rendered.identity_backup {
        push_document(&mut out, cron_job)?;
    }
    String::from_utf8(out).map_err(|e| ManifestError::Encode(e.to_string()))
}

fn push_document<T: Serialize>(out: &mut Vec<u8>, object: &T) -> Result<(), ManifestError> {
    out.extend_from_slice(b"---\n");
    if !yaml::write_document(out, object) {
        let encode = |e: &dyn std::fmt::Display| ManifestError::Encode(e.to_string());
        let value = serde_json::to_value(object).map_err(|e| encode(&e))?;
        let doc = serde_saphyr::to_string(&value).map_err(|e| encode(&e))?;
        out.extend_from_slice(doc.as_bytes());
    }
    Ok(())
}

//! Recording the environment's decision into the Validator, before any workload exists, so later
//! changes of the operator's environment never touch this validator.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::error::{Error, Result};
use super::events;
use crate::api::Validator;
use crate::decision::{KmsDecision, SOURCE_ANNOTATION};
use crate::field_manager::FIELD_MANAGER;

/// The server-side apply body that records `decision` (only the fields this operator owns).
pub(crate) fn capture_patch(
    validator: &Validator,
    decision: &KmsDecision,
) -> Result<serde_json::Value> {
    let kms = serde_json::to_value(&decision.kms).map_err(|source| Error::Encode {
        what: "spec.kms",
        source,
    })?;
    let mut spec = json!({ "kms": kms });
    if validator.spec.service_account_name.is_none()
        && let Some(sa) = &decision.service_account_name
    {
        spec["serviceAccountName"] = json!(sa);
    }
    Ok(json!({
        "apiVersion": Validator::api_version(&()),
        "kind": Validator::kind(&()),
        "metadata": {
            "name": validator.name_any(),
            "annotations": { SOURCE_ANNOTATION: decision.source.as_str() },
        },
        "spec": spec,
    }))
}

/// Writes the decision and returns the Validator as the server now has it.
pub(crate) async fn capture(
    validator: &Validator,
    decision: &KmsDecision,
    ctx: &Context,
) -> Result<Validator> {
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<Validator> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = capture_patch(validator, decision)?;
    let sending = ctx.echoes.sending(validator);
    let updated = api
        .patch(
            &validator.name_any(),
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(Error::api(
            "recording spec.kms in",
            format!("Validator {namespace}/{}", validator.name_any()),
        ))?;
    sending.answered(&updated);
    let note = format!(
        "recorded spec.kms from the operator's environment: {}{}",
        decision.summary(),
        decision
            .service_account_name
            .as_ref()
            .map(|sa| format!(", ServiceAccount {sa}"))
            .unwrap_or_default()
    );
    events::publish(ctx, &updated, false, "KmsDecisionRecorded", note).await;
    Ok(updated)
}

//! Checks of things outside the Validator that must be right before the participant starts.

use k8s_openapi::api::core::v1::ServiceAccount;

use crate::decision::KmsDecision;
use crate::kms::KmsProvider;

/// IRSA's role annotation.
pub(crate) const AWS_ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// Workload Identity's annotation.
pub(crate) const GCP_SA_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

/// A failed preflight: the condition reason and a message saying what to create or fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreflightFailure {
    pub reason: &'static str,
    pub message: String,
}

/// The ServiceAccount the operator must check: an existing one the participant uses for a KMS.
pub(crate) fn external_service_account(decision: &KmsDecision, validator: &str) -> Option<String> {
    if decision.provider().is_none() || decision.kms.creates_service_account() {
        return None;
    }
    decision.participant_service_account(validator)
}

/// Checks an externally managed ServiceAccount (`found` is what the API returned).
pub(crate) fn check_service_account(
    decision: &KmsDecision,
    name: &str,
    namespace: &str,
    found: Option<&ServiceAccount>,
) -> Result<(), PreflightFailure> {
    let Some(sa) = found else {
        return Err(PreflightFailure {
            reason: "ServiceAccountNotFound",
            message: format!(
                "ServiceAccount {namespace}/{name} does not exist: create it{}",
                annotation_hint(decision)
                    .map(|(k, what)| format!(" with annotation {k}: <{what}>"))
                    .unwrap_or_default()
            ),
        });
    };
    let Some((key, what)) = annotation_hint(decision) else {
        return Ok(());
    };
    let has = sa
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .is_some_and(|v| !v.trim().is_empty());
    if has {
        Ok(())
    } else {
        Err(PreflightFailure {
            reason: "ServiceAccountNotAnnotated",
            message: format!(
                "ServiceAccount {namespace}/{name} lacks annotation {key}: annotate it with the {what} that may use the KMS key"
            ),
        })
    }
}

fn annotation_hint(decision: &KmsDecision) -> Option<(&'static str, &'static str)> {
    match decision.provider()? {
        KmsProvider::Aws(_) => Some((AWS_ROLE_ANNOTATION, "IAM role ARN")),
        KmsProvider::Gcp(_) => Some((GCP_SA_ANNOTATION, "Google service account email")),
        KmsProvider::Driver(_) => None,
    }
}

//! Checks of things outside the Validator that must be right before the participant starts.
//!
//! Of a cloud identity the operator sees only the ServiceAccount: whether it exists and what it
//! is annotated with. The role's trust policy, an EKS Pod Identity association and IAM bindings
//! live in the cloud and are not visible from the cluster (docs/kms.md, "Cloud identities").

use k8s_openapi::api::core::v1::ServiceAccount;

use crate::api::CloudIdentity;
use crate::decision::KmsDecision;

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

/// Checks an externally managed ServiceAccount (`found` is what the API returned): it exists,
/// carries the annotation its mechanism needs, and none that would switch the cluster to the
/// other mechanism of the same cloud.
pub(crate) fn check_service_account(
    decision: &KmsDecision,
    name: &str,
    namespace: &str,
    found: Option<&ServiceAccount>,
) -> Result<(), PreflightFailure> {
    let identity = decision.cloud_identity();
    let required = identity.and_then(CloudIdentity::required_annotation);
    let Some(sa) = found else {
        return Err(PreflightFailure {
            reason: "ServiceAccountNotFound",
            message: format!(
                "ServiceAccount {namespace}/{name} does not exist: create it{}",
                match (required, identity) {
                    (Some((k, what)), _) => format!(" with annotation {k}: <{what}>"),
                    (None, Some(CloudIdentity::EksPodIdentity)) =>
                        " (no annotation: its EKS Pod Identity association is made in AWS)"
                            .to_string(),
                    (None, Some(CloudIdentity::GkeWorkloadIdentityFederation)) =>
                        " (no annotation: the IAM bindings name it directly)".to_string(),
                    _ => String::new(),
                }
            ),
        });
    };
    let annotation = |key: &str| {
        sa.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .filter(|v| !v.trim().is_empty())
    };
    if let Some((key, what)) = required
        && annotation(key).is_none()
    {
        return Err(PreflightFailure {
            reason: "ServiceAccountNotAnnotated",
            message: format!(
                "ServiceAccount {namespace}/{name} lacks annotation {key}: annotate it with the {what} that may use the KMS key{}",
                alternative(identity)
            ),
        });
    }
    if let Some(identity) = identity
        && let Some(key) = identity.conflicting_annotation()
        && let Some(value) = annotation(key)
    {
        return Err(PreflightFailure {
            reason: "ServiceAccountAnnotationConflict",
            message: format!(
                "ServiceAccount {namespace}/{name} is annotated {key}: {value}, so the cluster would use {} instead of the chosen {}: remove the annotation, or choose cloudIdentity {}",
                other(identity).as_str(),
                identity.as_str(),
                other(identity).as_str(),
            ),
        });
    }
    Ok(())
}

/// The other mechanism of the same cloud.
fn other(identity: CloudIdentity) -> CloudIdentity {
    match identity {
        CloudIdentity::Irsa => CloudIdentity::EksPodIdentity,
        CloudIdentity::EksPodIdentity => CloudIdentity::Irsa,
        CloudIdentity::GkeWorkloadIdentity => CloudIdentity::GkeWorkloadIdentityFederation,
        CloudIdentity::GkeWorkloadIdentityFederation => CloudIdentity::GkeWorkloadIdentity,
    }
}

/// Where the annotation is not what the cluster uses: the mechanism to choose instead.
fn alternative(identity: Option<CloudIdentity>) -> String {
    match identity {
        Some(i) if i.required_annotation().is_some() => format!(
            ", or set spec.kms.serviceAccount.cloudIdentity: {} if the cluster grants it that way (nothing to annotate)",
            other(i).as_str()
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::{AWS_ROLE_ANNOTATION, GCP_SA_ANNOTATION, KmsServiceAccount, KmsSpec};
    use crate::decision::DecisionSource;
    use crate::kms::{AwsKms, GcpKms, KmsProvider};

    fn decision(provider: KmsProvider, identity: Option<CloudIdentity>) -> KmsDecision {
        let mut kms = KmsSpec::external(provider);
        kms.service_account = Some(KmsServiceAccount {
            name: Some("canton-kms".into()),
            cloud_identity: identity,
            ..KmsServiceAccount::default()
        });
        KmsDecision {
            kms,
            service_account_name: None,
            source: DecisionSource::Spec,
        }
    }

    fn aws() -> KmsProvider {
        KmsProvider::Aws(AwsKms {
            region: "eu-west-1".into(),
            ..AwsKms::default()
        })
    }

    fn gcp() -> KmsProvider {
        KmsProvider::Gcp(GcpKms {
            location_id: "europe-west1".into(),
            project_id: "acme".into(),
            key_ring_id: "ring".into(),
            ..GcpKms::default()
        })
    }

    fn sa(annotations: &[(&str, &str)]) -> ServiceAccount {
        let mut sa = ServiceAccount::default();
        sa.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        );
        sa
    }

    fn check(d: &KmsDecision, found: Option<&ServiceAccount>) -> Result<(), &'static str> {
        check_service_account(d, "canton-kms", "validators", found).map_err(|f| f.reason)
    }

    #[test]
    fn annotation_based_mechanisms_need_their_annotation() {
        let role = (AWS_ROLE_ANNOTATION, "arn:aws:iam::123456789012:role/kms");
        let gsa = (GCP_SA_ANNOTATION, "kms@acme.iam.gserviceaccount.com");
        for d in [
            decision(aws(), None),
            decision(aws(), Some(CloudIdentity::Irsa)),
        ] {
            assert_eq!(check(&d, Some(&sa(&[]))), Err("ServiceAccountNotAnnotated"));
            assert_eq!(check(&d, Some(&sa(&[role]))), Ok(()));
        }
        let d = decision(gcp(), None);
        assert_eq!(check(&d, Some(&sa(&[]))), Err("ServiceAccountNotAnnotated"));
        assert_eq!(check(&d, Some(&sa(&[gsa]))), Ok(()));
        let message = check_service_account(&d, "canton-kms", "validators", Some(&sa(&[])))
            .unwrap_err()
            .message;
        assert!(
            message.contains("gkeWorkloadIdentityFederation"),
            "{message}"
        );
    }

    #[test]
    fn pod_identity_and_federation_need_no_annotation_and_refuse_the_other_one() {
        let role = (AWS_ROLE_ANNOTATION, "arn:aws:iam::123456789012:role/kms");
        let gsa = (GCP_SA_ANNOTATION, "kms@acme.iam.gserviceaccount.com");
        let pod = decision(aws(), Some(CloudIdentity::EksPodIdentity));
        assert_eq!(check(&pod, Some(&sa(&[]))), Ok(()));
        assert_eq!(
            check(&pod, Some(&sa(&[role]))),
            Err("ServiceAccountAnnotationConflict")
        );
        let wif = decision(gcp(), Some(CloudIdentity::GkeWorkloadIdentityFederation));
        assert_eq!(check(&wif, Some(&sa(&[]))), Ok(()));
        assert_eq!(
            check(&wif, Some(&sa(&[gsa]))),
            Err("ServiceAccountAnnotationConflict")
        );
        // It must still exist.
        let missing = check_service_account(&pod, "canton-kms", "validators", None).unwrap_err();
        assert_eq!(missing.reason, "ServiceAccountNotFound");
        assert!(
            missing.message.contains("Pod Identity association"),
            "{}",
            missing.message
        );
    }
}

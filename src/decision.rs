//! Which key-storage decision applies to a validator: its own `spec.kms`, or the operator's
//! environment default at the moment it is provisioned.

use crate::api::{CloudIdentity, KmsSpec, ValidatorSpec};
use crate::config::{ConfigError, KmsDefault};
use crate::kms::{FieldError, KmsProvider, validate_provider};
use crate::names::is_dns1123_subdomain;

/// Annotation that records where a captured decision came from.
pub(crate) const SOURCE_ANNOTATION: &str = "canton-operator.dev/kms-decision-source";

/// Where a decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionSource {
    /// The Validator already carried `spec.kms`.
    Spec,
    /// The operator's environment default, to be recorded into the Validator.
    Environment,
}

impl DecisionSource {
    /// The word used in status and annotations.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Spec => "spec",
            DecisionSource::Environment => "environment",
        }
    }
}

/// A complete key-storage decision for one validator.
#[derive(Debug, Clone, PartialEq)]
pub struct KmsDecision {
    /// The decision in the form recorded in `spec.kms`.
    pub kms: KmsSpec,
    /// `spec.serviceAccountName` as recorded (the seed's field).
    pub service_account_name: Option<String>,
    /// Where it came from.
    pub source: DecisionSource,
}

/// Why no decision can be made; the validator is not provisioned while it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("the operator's KMS default is unusable: {}", join(.0))]
    Environment(Vec<ConfigError>),
    #[error("spec.kms is invalid: {}", join(.0))]
    InvalidSpec(Vec<FieldError>),
    #[error(
        "spec.kms.enabled is true but no ServiceAccount is given: set spec.serviceAccountName, spec.kms.serviceAccount.name, or spec.kms.serviceAccount.create with a cloud identity"
    )]
    ServiceAccountMissing,
}

impl DecisionError {
    /// The condition reason a refused validator shows.
    pub fn reason(&self) -> &'static str {
        match self {
            DecisionError::Environment(errors) => errors
                .first()
                .map_or("KmsConfigInvalid", ConfigError::reason),
            DecisionError::InvalidSpec(_) => "KmsSpecInvalid",
            DecisionError::ServiceAccountMissing => "KmsServiceAccountMissing",
        }
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Resolves the decision: `spec.kms` wins; without it, the environment default as of now.
pub fn resolve(spec: &ValidatorSpec, default: &KmsDefault) -> Result<KmsDecision, DecisionError> {
    match &spec.kms {
        Some(kms) => from_spec(spec, kms),
        None => from_environment(spec, default),
    }
}

fn from_spec(spec: &ValidatorSpec, kms: &KmsSpec) -> Result<KmsDecision, DecisionError> {
    let errors = validate_kms_spec(spec, kms);
    if !errors.is_empty() {
        return Err(DecisionError::InvalidSpec(errors));
    }
    let decision = KmsDecision {
        kms: kms.clone(),
        service_account_name: spec.service_account_name.clone(),
        source: DecisionSource::Spec,
    };
    if kms.enabled && decision.participant_service_account("validator").is_none() {
        return Err(DecisionError::ServiceAccountMissing);
    }
    Ok(decision)
}

fn from_environment(
    spec: &ValidatorSpec,
    default: &KmsDefault,
) -> Result<KmsDecision, DecisionError> {
    match default {
        KmsDefault::Disabled => Ok(KmsDecision {
            kms: KmsSpec::disabled(),
            service_account_name: spec.service_account_name.clone(),
            source: DecisionSource::Environment,
        }),
        KmsDefault::Enabled {
            provider,
            service_account,
        } => Ok(KmsDecision {
            kms: KmsSpec::external(provider.clone()),
            service_account_name: Some(service_account.clone()),
            source: DecisionSource::Environment,
        }),
        KmsDefault::Invalid(errors) => Err(DecisionError::Environment(errors.clone())),
    }
}

/// Pure checks of a user-written `spec.kms` that CEL cannot express well (formats, names).
pub(crate) fn validate_kms_spec(spec: &ValidatorSpec, kms: &KmsSpec) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let providers = [kms.aws.is_some(), kms.gcp.is_some(), kms.driver.is_some()];
    let count = providers.iter().filter(|p| **p).count();
    if kms.enabled && count != 1 {
        errors.push(FieldError::new(
            "spec.kms",
            "enabled: true needs exactly one of aws, gcp or driver",
        ));
    }
    if let Some(provider) = kms.provider() {
        errors.extend(validate_provider(&provider, "spec.kms"));
    }
    if let Some(name) = &spec.service_account_name {
        check_name(name, "spec.serviceAccountName", &mut errors);
    }
    if let Some(sa) = &kms.service_account {
        if let Some(name) = &sa.name {
            check_name(name, "spec.kms.serviceAccount.name", &mut errors);
            if spec
                .service_account_name
                .as_ref()
                .is_some_and(|n| n != name)
            {
                errors.push(FieldError::new(
                    "spec.kms.serviceAccount.name",
                    "differs from spec.serviceAccountName; set one of them, or both to the same name",
                ));
            }
        }
        check_identity(
            sa.aws_role_arn.as_deref(),
            sa.gcp_service_account.as_deref(),
            &mut errors,
        );
    }
    errors
}

fn check_name(name: &str, field: &str, errors: &mut Vec<FieldError>) {
    if !is_dns1123_subdomain(name) {
        errors.push(FieldError::new(
            field,
            format!("`{name}` is not a valid Kubernetes name"),
        ));
    }
}

fn check_identity(role_arn: Option<&str>, gcp_sa: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(arn) = role_arn
        && !is_iam_role_arn(arn)
    {
        errors.push(FieldError::new(
            "spec.kms.serviceAccount.awsRoleArn",
            format!(
                "`{arn}` is not an IAM role ARN such as arn:aws:iam::123456789012:role/canton-kms"
            ),
        ));
    }
    if let Some(email) = gcp_sa
        && !is_gcp_service_account(email)
    {
        errors.push(FieldError::new(
                "spec.kms.serviceAccount.gcpServiceAccount",
                format!("`{email}` is not a Google service account email such as canton-kms@my-project.iam.gserviceaccount.com"),
            ));
    }
}

/// `arn:<partition>:iam::<12-digit account>:role/<path/name>`.
pub(crate) fn is_iam_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let name_ok = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
    *prefix == "arn"
        && matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && resource
            .strip_prefix("role/")
            .is_some_and(|r| !r.is_empty() && r.chars().all(name_ok))
}

/// `<name>@<project>.iam.gserviceaccount.com` (or another `gserviceaccount.com` domain).
pub(crate) fn is_gcp_service_account(email: &str) -> bool {
    let Some((name, domain)) = email.split_once('@') else {
        return false;
    };
    let name_ok = (6..=30).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let domain_ok = domain.ends_with(".gserviceaccount.com")
        && domain
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    name_ok && domain_ok
}

impl KmsDecision {
    /// The KMS provider, when keys go to a KMS.
    pub fn provider(&self) -> Option<KmsProvider> {
        self.kms.provider()
    }

    /// The ServiceAccount the participant pod runs as, for a validator named `validator`.
    /// How the participant's ServiceAccount becomes a cloud identity: the spec's choice, else the
    /// annotation-based mechanism of the provider; `None` for a KMS driver without a choice.
    pub(crate) fn cloud_identity(&self) -> Option<CloudIdentity> {
        let chosen = self
            .kms
            .service_account
            .as_ref()
            .and_then(|sa| sa.cloud_identity);
        chosen.or(match self.provider()? {
            KmsProvider::Aws(_) => Some(CloudIdentity::Irsa),
            KmsProvider::Gcp(_) => Some(CloudIdentity::GkeWorkloadIdentity),
            KmsProvider::Driver(_) => None,
        })
    }

    pub(crate) fn participant_service_account(&self, validator: &str) -> Option<String> {
        if self.kms.creates_service_account() {
            return Some(created_service_account_name(validator));
        }
        let from_kms = self
            .kms
            .service_account
            .as_ref()
            .and_then(|sa| sa.name.clone());
        from_kms.or_else(|| self.service_account_name.clone())
    }

    /// `off`, or `<provider>/<mode>`, for printer columns.
    pub fn summary(&self) -> String {
        match self.provider() {
            Some(p) => format!("{}/{}", p.type_name(), self.kms.mode.as_str()),
            None => "off".to_string(),
        }
    }
}

/// Name of the ServiceAccount the operator creates for a validator's participant.
pub(crate) fn created_service_account_name(validator: &str) -> String {
    format!("{validator}-participant")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns() {
        assert!(is_iam_role_arn("arn:aws:iam::123456789012:role/canton-kms"));
        assert!(is_iam_role_arn(
            "arn:aws-us-gov:iam::123456789012:role/path/x"
        ));
        for bad in [
            "",
            "arn:aws:iam::12345:role/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(!is_iam_role_arn(bad), "{bad}");
        }
    }

    #[test]
    fn gcp_emails() {
        assert!(is_gcp_service_account(
            "canton-kms@my-project.iam.gserviceaccount.com"
        ));
        assert!(!is_gcp_service_account("canton@gmail.com"));
        assert!(!is_gcp_service_account("no-at-sign"));
    }
}

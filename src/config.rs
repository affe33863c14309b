//! The operator's environment: the seed's three variables, read once at start.

use std::ffi::OsString;

use crate::kms::{FieldError, KmsProvider, KmsValueError, parse_kms_value, validate_provider};
use crate::names::is_dns1123_subdomain;

/// `true` turns KMS on for validators provisioned from now on.
pub const ENABLED_VAR: &str = "CANTON_TOPOLOGY_KMS_ENABLED";
/// Canton's `crypto.kms` block as HOCON, such as `{ type = "aws", region = "eu-west-1" }`.
pub const VALUE_VAR: &str = "CANTON_TOPOLOGY_KMS_VALUE";
/// The externally managed ServiceAccount the participant runs as.
pub const SERVICE_ACCOUNT_VAR: &str = "CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT";

/// The KMS decision the operator records for validators provisioned without `spec.kms`.
#[derive(Debug, Clone, PartialEq)]
pub enum KmsDefault {
    /// Keys stay on the node.
    Disabled,
    /// Keys go to this KMS, reached as this ServiceAccount.
    Enabled {
        provider: KmsProvider,
        service_account: String,
    },
    /// The environment is wrong; validators that need the default are refused until it is fixed.
    Invalid(Vec<ConfigError>),
}

/// Everything wrong with the environment, each naming its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{ENABLED_VAR} is `{0}`; set it to true or false")]
    InvalidEnabled(String),
    #[error("{0} is not valid UTF-8")]
    NotUnicode(&'static str),
    #[error(
        "{ENABLED_VAR} is true but {SERVICE_ACCOUNT_VAR} is missing or empty: set it to the name of the ServiceAccount (annotated for IRSA) the participant runs as"
    )]
    MissingServiceAccount,
    #[error(
        "{SERVICE_ACCOUNT_VAR} is `{0}`, which is not a valid Kubernetes name (lowercase letters, digits, `-` and `.`)"
    )]
    InvalidServiceAccount(String),
    #[error(
        "{ENABLED_VAR} is true but {VALUE_VAR} is missing or empty: set it to the KMS block, such as {{ type = \"aws\", region = \"eu-west-1\", audit-logging = true }}"
    )]
    MissingValue,
    #[error("{VALUE_VAR} {0}")]
    InvalidValue(KmsValueError),
    #[error("{VALUE_VAR}: {0}")]
    InvalidField(FieldError),
}

impl ConfigError {
    /// The condition reason a refused validator shows.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            ConfigError::MissingServiceAccount => "KmsServiceAccountMissing",
            ConfigError::MissingValue => "KmsValueMissing",
            _ => "KmsConfigInvalid",
        }
    }
}

/// The operator's own image, for the Jobs it runs with it.
pub(crate) const OPERATOR_IMAGE_VAR: &str = "CANTON_OPERATOR_IMAGE";

/// The operator's configuration from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorConfig {
    /// The KMS default for newly provisioned validators.
    pub kms_default: KmsDefault,
    /// The operator's own namespace (`POD_NAMESPACE`), admitted to participants' Admin API.
    pub operator_namespace: Option<String>,
    /// The operator's own image (`CANTON_OPERATOR_IMAGE`, set by the chart), which the identity
    /// backup CronJobs run; unset: the published image of this release.
    pub operator_image: Option<String>,
    /// The release the network requires of its validators (`run --minimum-release`), if given.
    pub minimum_release: Option<crate::minimum_release::MinimumRelease>,
}

impl OperatorConfig {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads through `lookup`, so tests can give any environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        Self {
            kms_default: kms_default(&lookup),
            operator_namespace: read(&lookup, "POD_NAMESPACE").ok().flatten(),
            operator_image: read(&lookup, OPERATOR_IMAGE_VAR).ok().flatten(),
            minimum_release: None,
        }
    }

    /// The errors, if the environment is unusable.
    pub fn errors(&self) -> &[ConfigError] {
        match &self.kms_default {
            KmsDefault::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

fn kms_default(lookup: &impl Fn(&str) -> Option<OsString>) -> KmsDefault {
    let mut errors = Vec::new();
    let enabled = match read(lookup, ENABLED_VAR) {
        Ok(v) => parse_enabled(v.as_deref()),
        Err(e) => Err(e),
    };
    let enabled = match enabled {
        Ok(enabled) => enabled,
        Err(e) => return KmsDefault::Invalid(vec![e]),
    };
    if !enabled {
        return KmsDefault::Disabled;
    }
    let service_account = service_account(lookup).map_err(|e| errors.push(e)).ok();
    let provider = provider(lookup).map_err(|e| errors.extend(e)).ok();
    match (provider, service_account) {
        (Some(provider), Some(service_account)) if errors.is_empty() => KmsDefault::Enabled {
            provider,
            service_account,
        },
        _ => KmsDefault::Invalid(errors),
    }
}

/// A variable's value; unset and empty (after trimming) both read as absent.
fn read(
    lookup: &impl Fn(&str) -> Option<OsString>,
    name: &'static str,
) -> Result<Option<String>, ConfigError> {
    match lookup(name) {
        None => Ok(None),
        Some(raw) => {
            let text = raw
                .into_string()
                .map_err(|_| ConfigError::NotUnicode(name))?;
            let trimmed = text.trim();
            Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
        }
    }
}

fn parse_enabled(value: Option<&str>) -> Result<bool, ConfigError> {
    match value {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ConfigError::InvalidEnabled(v.to_string())),
    }
}

fn service_account(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<String, ConfigError> {
    let name = read(lookup, SERVICE_ACCOUNT_VAR)?.ok_or(ConfigError::MissingServiceAccount)?;
    if is_dns1123_subdomain(&name) {
        Ok(name)
    } else {
        Err(ConfigError::InvalidServiceAccount(name))
    }
}

fn provider(lookup: &impl Fn(&str) -> Option<OsString>) -> Result<KmsProvider, Vec<ConfigError>> {
    let text = read(lookup, VALUE_VAR)
        .map_err(|e| vec![e])?
        .ok_or_else(|| vec![ConfigError::MissingValue])?;
    let provider = parse_kms_value(&text).map_err(|e| vec![ConfigError::InvalidValue(e)])?;
    let field_errors = validate_provider(&provider, "kms");
    if field_errors.is_empty() {
        Ok(provider)
    } else {
        Err(field_errors
            .into_iter()
            .map(ConfigError::InvalidField)
            .collect())
    }
}

impl OperatorConfig {
    /// The effective configuration in a few lines, for `check-config` and the start-up log.
    pub fn summary(&self) -> String {
        match &self.kms_default {
            KmsDefault::Disabled => {
                "kms: disabled (new validators keep their keys on the node)".to_string()
            }
            KmsDefault::Enabled {
                provider,
                service_account,
            } => format!(
                "kms: enabled\nprovider: {}\nlocation: {}\nmode: external\nserviceAccount: {service_account}\nblock: {}",
                provider.type_name(),
                provider.location(),
                crate::hocon::render(&crate::kms::kms_block(provider)),
            ),
            KmsDefault::Invalid(errors) => format!(
                "kms: invalid ({} error(s)); validators that need the default are not provisioned",
                errors.len()
            ),
        }
    }
}

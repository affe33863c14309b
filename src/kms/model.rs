//! Typed KMS settings, one struct per Canton KMS `type`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// AWS KMS, reached through IRSA (an IAM role bound to the participant's ServiceAccount).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsKms {
    /// AWS region holding the keys, for example `eu-west-1` (Canton `region`).
    pub region: String,
    /// Create multi-region keys (Canton `multi-region-key`). Fixed once keys exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region_key: Option<bool>,
    /// Log every KMS call of the participant (Canton `audit-logging`); recommended in production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_logging: Option<bool>,
    /// Alternative KMS endpoint URL, e.g. a VPC endpoint (Canton `endpoint-override`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_override: Option<String>,
    /// Skip TLS verification of the endpoint; only for test endpoints (Canton `disable-ssl-verification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_ssl_verification: Option<bool>,
    /// Tags put on keys Canton creates (Canton `custom-tags`, Canton 3.5.8 or later). Keys are kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_tags: Option<BTreeMap<String, String>>,
}

/// Google Cloud KMS, reached through Workload Identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpKms {
    /// Location of the key ring, for example `europe-west1` (Canton `location-id`).
    pub location_id: String,
    /// Google Cloud project of the key ring (Canton `project-id`).
    pub project_id: String,
    /// Key ring that holds the participant's keys (Canton `key-ring-id`).
    pub key_ring_id: String,
    /// Log every KMS call of the participant (Canton `audit-logging`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_logging: Option<bool>,
    /// Alternative Cloud KMS endpoint (Canton `endpoint-override`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_override: Option<String>,
}

/// A KMS reached through a Canton KMS driver plug-in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverKms {
    /// The driver's name as it registers itself with Canton (Canton `name`).
    pub name: String,
    /// Free-form driver configuration, passed to the driver as given (Canton `config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
    /// How often Canton checks the driver's health, as a duration such as `10s` (Canton `health-check-period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_period: Option<String>,
    /// Where the driver's jar comes from: an image whose jar is copied onto the participant's classpath.
    /// Not part of Canton's configuration; used only to build the participant pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jar: Option<DriverJar>,
}

/// An image that carries a KMS driver jar, and where the participant image loads jars from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriverJar {
    /// Image holding the jar; it must have `cp`.
    pub image: String,
    /// Absolute path of the `.jar` inside that image.
    pub path: String,
    /// A directory on the participant image's classpath; the jar is mounted there (as one file, so the
    /// directory's other files stay visible).
    pub classpath_dir: String,
}

/// The schema of an object whose keys are not known in advance.
fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// How the participant stores its private keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KmsMode {
    /// Keys are created and used inside the KMS (`crypto.provider = kms`). Must be chosen before the
    /// participant first starts and can never be changed. The mode Splice documents.
    #[default]
    External,
    /// Keys stay in the participant's database, encrypted by a KMS wrapper key
    /// (`crypto.private-key-store.encryption.type = kms`). Can be switched on for a running
    /// participant with a restart. Canton supports it; Splice documents only external keys.
    Envelope,
}

impl KmsMode {
    /// The word shown in status and printer columns.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KmsMode::External => "external",
            KmsMode::Envelope => "envelope",
        }
    }
}

/// Envelope-mode settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeSettings {
    /// KMS key id of the wrapper key (Canton `wrapper-key-id`); when absent Canton creates one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapper_key_id: Option<String>,
    /// Decrypt the stored keys back to plain storage on the next restart (Canton `reverted`).
    /// Canton's documented way out of envelope mode; the KMS block stays so the keys can be read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverted: bool,
}

/// One KMS provider with its settings.
#[derive(Clone, Debug, PartialEq)]
pub enum KmsProvider {
    /// AWS KMS.
    Aws(AwsKms),
    /// Google Cloud KMS.
    Gcp(GcpKms),
    /// A KMS driver plug-in.
    Driver(DriverKms),
}

impl KmsProvider {
    /// Canton's `type` for this provider.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            KmsProvider::Aws(_) => "aws",
            KmsProvider::Gcp(_) => "gcp",
            KmsProvider::Driver(_) => "driver",
        }
    }

    /// Where the keys are, in a few words, for status messages.
    pub(crate) fn location(&self) -> String {
        match self {
            KmsProvider::Aws(a) => format!("region {}", a.region),
            KmsProvider::Gcp(g) => format!(
                "projects/{}/locations/{}/keyRings/{}",
                g.project_id, g.location_id, g.key_ring_id
            ),
            KmsProvider::Driver(d) => format!("driver {}", d.name),
        }
    }
}

//! The participant's `crypto` configuration, emitted from the typed model.

use super::model::{AwsKms, DriverKms, EnvelopeSettings, GcpKms, KmsMode, KmsProvider};
use crate::hocon::{self, Key, ObjectBuilder, Value};

/// The seed's variable for external-key mode; its value is exactly two lines.
pub const KMS_ENV_VAR: &str = "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS";
/// Envelope mode gets a variable of its own so the seed's variable keeps its exact meaning.
pub const KMS_ENVELOPE_ENV_VAR: &str = "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS_ENVELOPE";

const CRYPTO: [&str; 4] = ["canton", "participants", "participant", "crypto"];

/// The `crypto.kms` object: `type` first, then the provider's fields in Canton's documented order.
pub fn kms_block(provider: &KmsProvider) -> Value {
    match provider {
        KmsProvider::Aws(aws) => aws_block(aws),
        KmsProvider::Gcp(gcp) => gcp_block(gcp),
        KmsProvider::Driver(driver) => driver_block(driver),
    }
}

/// The participant environment variable (name, value) that puts its keys where the model says.
pub fn participant_env(
    provider: &KmsProvider,
    mode: KmsMode,
    envelope: Option<&EnvelopeSettings>,
) -> (&'static str, String) {
    let kms = hocon::assignment(&path(&["kms"]), &kms_block(provider));
    match mode {
        KmsMode::External => {
            let provider_line = hocon::assignment(&path(&["provider"]), &Value::Token("kms"));
            (KMS_ENV_VAR, format!("{provider_line}\n{kms}"))
        }
        KmsMode::Envelope => {
            let encryption = encryption_block(envelope);
            let line = hocon::assignment(&path(&["private-key-store", "encryption"]), &encryption);
            (KMS_ENVELOPE_ENV_VAR, format!("{kms}\n{line}"))
        }
    }
}

/// The variable the Splice docs' KMS examples set for session signing keys.
pub const SESSION_SIGNING_KEYS_ENV_VAR: &str = "ADDITIONAL_CONFIG_SESSION_SIGNING_KEYS";

/// `ADDITIONAL_CONFIG_SESSION_SIGNING_KEYS` and its one line, as the Splice docs' KMS examples.
pub fn session_signing_keys_env() -> (&'static str, String) {
    let line = hocon::assignment(
        &path(&["session-signing-keys", "enabled"]),
        &Value::Bool(true),
    );
    (SESSION_SIGNING_KEYS_ENV_VAR, line)
}

fn path(tail: &[&'static str]) -> Vec<&'static str> {
    CRYPTO.iter().chain(tail).copied().collect()
}

fn encryption_block(envelope: Option<&EnvelopeSettings>) -> Value {
    let wrapper = envelope
        .and_then(|e| e.wrapper_key_id.clone())
        .map(Value::Str);
    let reverted = envelope.filter(|e| e.reverted).map(|_| Value::Bool(true));
    ObjectBuilder::new()
        .field("type", Value::Token("kms"))
        .opt("wrapper-key-id", wrapper)
        .opt("reverted", reverted)
        .build()
}

fn aws_block(aws: &AwsKms) -> Value {
    let tags = aws.custom_tags.as_ref().map(|tags| {
        Value::Object(
            tags.iter()
                .map(|(k, v)| (Key::Quoted(k.clone()), Value::str(v.clone())))
                .collect(),
        )
    });
    ObjectBuilder::new()
        .field("type", Value::str("aws"))
        .field("region", Value::str(aws.region.clone()))
        .opt("multi-region-key", aws.multi_region_key.map(Value::Bool))
        .opt("audit-logging", aws.audit_logging.map(Value::Bool))
        .opt(
            "endpoint-override",
            aws.endpoint_override.clone().map(Value::Str),
        )
        .opt(
            "disable-ssl-verification",
            aws.disable_ssl_verification.map(Value::Bool),
        )
        .opt("custom-tags", tags)
        .build()
}

fn gcp_block(gcp: &GcpKms) -> Value {
    ObjectBuilder::new()
        .field("type", Value::str("gcp"))
        .field("location-id", Value::str(gcp.location_id.clone()))
        .field("project-id", Value::str(gcp.project_id.clone()))
        .field("key-ring-id", Value::str(gcp.key_ring_id.clone()))
        .opt("audit-logging", gcp.audit_logging.map(Value::Bool))
        .opt(
            "endpoint-override",
            gcp.endpoint_override.clone().map(Value::Str),
        )
        .build()
}

fn driver_block(driver: &DriverKms) -> Value {
    let config = driver.config.as_ref().map(json_object);
    ObjectBuilder::new()
        .field("type", Value::str("driver"))
        .field("name", Value::str(driver.name.clone()))
        .opt("config", config)
        .opt(
            "health-check-period",
            driver.health_check_period.clone().map(Value::Str),
        )
        .build()
}

fn json_object(map: &serde_json::Map<String, serde_json::Value>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (Key::Quoted(k.clone()), json_value(v)))
            .collect(),
    )
}

/// Free-form driver configuration, as HOCON (JSON `null` is HOCON's `null`).
fn json_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Token("null"),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.clone()),
        serde_json::Value::String(s) => Value::str(s.clone()),
        serde_json::Value::Array(items) => Value::List(items.iter().map(json_value).collect()),
        serde_json::Value::Object(map) => json_object(map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> KmsProvider {
        KmsProvider::Aws(AwsKms {
            region: "eu-west-1".into(),
            audit_logging: Some(true),
            ..Default::default()
        })
    }

    #[test]
    fn external_mode_is_the_seed_text() {
        let (name, value) = participant_env(&seed(), KmsMode::External, None);
        assert_eq!(name, "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS");
        assert_eq!(
            value,
            "canton.participants.participant.crypto.provider = kms\n\
             canton.participants.participant.crypto.kms = { type = \"aws\", region = \"eu-west-1\", audit-logging = true }"
        );
    }

    #[test]
    fn envelope_mode_has_its_own_variable() {
        let env = EnvelopeSettings {
            wrapper_key_id: Some("alias/canton".into()),
            reverted: false,
        };
        let (name, value) = participant_env(&seed(), KmsMode::Envelope, Some(&env));
        assert_eq!(name, KMS_ENVELOPE_ENV_VAR);
        assert!(!value.contains("provider = kms"));
        assert!(value.ends_with(
            "crypto.private-key-store.encryption = { type = kms, wrapper-key-id = \"alias/canton\" }"
        ));
    }
}

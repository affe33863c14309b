//! Canton's key-storage model: which KMS a participant uses and how its keys are stored.
//!
//! The same typed model is read from the operator's `CANTON_TOPOLOGY_KMS_VALUE` (HOCON, Canton's
//! kebab-case keys) and from a Validator's `spec.kms` (YAML, camelCase), and is the only source of
//! the participant's `crypto` configuration.

mod emit;
mod error;
mod fields;
mod model;
mod parse;
mod validate;

pub use emit::{
    KMS_ENV_VAR, KMS_ENVELOPE_ENV_VAR, SESSION_SIGNING_KEYS_ENV_VAR, kms_block, participant_env,
    session_signing_keys_env,
};
pub use error::{KmsValueError, MAX_VALUE_BYTES};
pub use model::{AwsKms, DriverJar, DriverKms, EnvelopeSettings, GcpKms, KmsMode, KmsProvider};
pub use parse::parse_kms_value;
pub(crate) use validate::{FieldError, validate_provider};

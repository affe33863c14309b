//! The `Validator` custom resource (group `canton-operator.dev`, version `v1alpha1`).

pub mod cel;
mod kms_spec;
mod rotation;
mod status;
mod validator;

pub use kms_spec::{KmsServiceAccount, KmsSpec};
pub use rotation::{
    AdminApiTls, BACKUP_CONFIRMED_ANNOTATION, KeyProgress, KeyRotationSettings, MAX_KEYS,
    OkmProposal, PreCreatedKmsKey, ROTATION_VALIDATOR_LABEL, RotationPhase, ValidatorKeyRotation,
    ValidatorKeyRotationSpec, ValidatorKeyRotationStatus,
};
pub use status::{KmsStatus, ValidatorStatus};
pub use validator::{
    LedgerApiAuth, ParticipantSpec, PostgresSpec, SecretKeyRef, Validator, ValidatorAppAuth,
    ValidatorAppSpec, ValidatorSpec,
};

/// API group of every resource this operator serves.
pub const GROUP: &str = "canton-operator.dev";

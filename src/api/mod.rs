//! The `Validator` custom resource (group `canton-operator.dev`, version `v1alpha1`).

mod backup;
pub mod cel;
mod kms_spec;
mod rotation;
mod status;
mod validator;
mod validator_app;

pub use backup::{
    BackupAttempt, BackupDestination, BackupSpec, BackupStatus, BackupSuccess, GcsDestination,
    IdentityBackup, S3Destination, SecretDestination,
};
pub use kms_spec::{KmsServiceAccount, KmsSpec, SessionSigningKeys};
pub use rotation::{
    AdminApiTls, BACKUP_CONFIRMED_ANNOTATION, KeyProgress, KeyRotationSettings, MAX_KEYS,
    OkmProposal, PreCreatedKmsKey, ROTATION_VALIDATOR_LABEL, RotationPhase, ValidatorKeyRotation,
    ValidatorKeyRotationSpec, ValidatorKeyRotationStatus,
};
pub use status::{KeyRotationScheduleStatus, KmsStatus, ValidatorStatus};
pub use validator::{
    AdditionalEnvVar, DatabaseInit, LedgerApiAuth, LogLevel, PARTICIPANT_OPERATOR_ENV,
    ParticipantSpec, PostgresSpec, SecretKeyRef, VALIDATOR_APP_OPERATOR_ENV, Validator,
    ValidatorAppAuth, ValidatorAppSpec, ValidatorSpec,
};
pub use validator_app::{
    AutoAcceptTransfers, InstanceNames, PruningSchedule, ScanClient, ScanClientType,
    SynchronizerConnection, TopupSettings, WalletSettings, WalletSweep, WebUi, WebUisSpec,
};

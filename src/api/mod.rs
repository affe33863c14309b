//! The `Validator` custom resource (group `canton-operator.dev`, version `v1alpha1`).

mod backup;
pub mod cel;
mod cloud_identity;
mod defaults;
pub mod field_validation;
mod kms_spec;
mod monitoring;
mod pods;
mod restore;
mod rotation;
mod status;
mod validator;
mod validator_app;

pub use backup::{
    BackupAttempt, BackupDestination, BackupSpec, BackupStatus, BackupSuccess, GcsDestination,
    IdentityBackup, S3Destination, SecretDestination,
};
pub use cloud_identity::{AWS_ROLE_ANNOTATION, CloudIdentity, GCP_SA_ANNOTATION};
pub use kms_spec::{KmsServiceAccount, KmsSpec, SessionSigningKeys};
pub use monitoring::{MonitoringSpec, ServiceMonitorSettings};
pub use pods::{
    ImagePullPolicy, KUBERNETES_TYPED_FIELDS, OPERATOR_KEY_PREFIX, OPERATOR_POD_LABELS,
    OPERATOR_VOLUMES, PARTICIPANT_CONTAINERS, PodSettings, VALIDATOR_APP_CONTAINERS,
};
pub use restore::{LatestDump, RestoreSpec, RestoreStatus};
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

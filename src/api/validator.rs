//! The `Validator` resource: one Canton participant plus the Splice validator app.

use k8s_openapi::api::core::v1::{Container, ResourceRequirements, Volume, VolumeMount};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::BackupSpec;
use super::defaults::yes;
use super::kms_spec::KmsSpec;
use super::monitoring::MonitoringSpec;
use super::pods::{
    OPERATOR_VOLUMES_RULE, PARTICIPANT_CONTAINERS_RULE, PodSettings, VALIDATOR_APP_CONTAINERS_RULE,
    kubernetes_type,
};
use super::restore::RestoreSpec;
use super::status::ValidatorStatus;
use super::validator_app::{
    PruningSchedule, ScanClient, SynchronizerConnection, TopupSettings, WalletSettings, WebUisSpec,
};

/// A release number as the downgrade rule compares it: three dot-separated numbers of at most six
/// digits, so that `major * 10^12 + minor * 10^6 + patch` fits CEL's int.
macro_rules! release_number {
    () => {
        "'^[0-9]{1,6}[.][0-9]{1,6}[.][0-9]{1,6}$'"
    };
}

/// `major * 10^12 + minor * 10^6 + patch` of a release number (CEL, `$v` a string expression).
macro_rules! release_ordinal {
    ($v:literal) => {
        concat!(
            "(int(",
            $v,
            ".split('.')[0]) * 1000000000000 + int(",
            $v,
            ".split('.')[1]) * 1000000 + int(",
            $v,
            ".split('.')[2]))"
        )
    };
}

/// `spec.version` only moves forward, compared number by number (0.7.9 < 0.7.10), with base CEL
/// and the strings library only: `semver()` is usable in CRD rules from Kubernetes 1.34 on, above
/// the chart's floor (tests/cel_versions.rs). Once a release number, the version stays one, so a
/// detour through a non-number cannot open a downgrade.
const VERSION_FORWARD_RULE: &str = concat!(
    "!oldSelf.version.matches(",
    release_number!(),
    ") || (self.version.matches(",
    release_number!(),
    ") && ",
    release_ordinal!("self.version"),
    " >= ",
    release_ordinal!("oldSelf.version"),
    ")"
);

/// A list of env var names the operator sets, and the CEL rule refusing them in `additionalEnv`.
macro_rules! reserved_env {
    ($list:ident, $rule:ident, [$first:literal $(, $rest:literal)* $(,)?]) => {
        /// Env var names the operator sets on this workload; `additionalEnv` may not use them.
        pub const $list: &[&str] = &[$first $(, $rest)*];
        const $rule: &str = concat!(
            "self.all(e, !(e.name in ['", $first, "'" $(, ", '", $rest, "'")*, "]))"
        );
    };
}

reserved_env!(
    PARTICIPANT_OPERATOR_ENV,
    PARTICIPANT_RESERVED_RULE,
    [
        "JAVA_TOOL_OPTIONS",
        "CANTON_PARTICIPANT_POSTGRES_SERVER",
        "CANTON_PARTICIPANT_POSTGRES_PORT",
        "CANTON_PARTICIPANT_POSTGRES_SCHEMA",
        "CANTON_PARTICIPANT_POSTGRES_DB",
        "CANTON_PARTICIPANT_POSTGRES_USER",
        "CANTON_PARTICIPANT_POSTGRES_PASSWORD",
        "CANTON_PARTICIPANT_ADMIN_USER_NAME",
        "AUTH_JWKS_URL",
        "AUTH_TARGET_AUDIENCE",
        "LOG_LEVEL_CANTON",
        "LOG_LEVEL_API_REQUEST",
        "LOG_LEVEL_STDOUT",
        "LOG_IMMEDIATE_FLUSH",
        "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS",
        "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS_ENVELOPE",
        "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_PROVIDER_KMS",
        "ADDITIONAL_CONFIG_SESSION_SIGNING_KEYS",
    ]
);

reserved_env!(
    VALIDATOR_APP_OPERATOR_ENV,
    VALIDATOR_APP_RESERVED_RULE,
    [
        "JAVA_TOOL_OPTIONS",
        "SPLICE_APP_VALIDATOR_PARTICIPANT_ADDRESS",
        "SPLICE_APP_VALIDATOR_SCAN_ADDRESS",
        "SPLICE_APP_VALIDATOR_PARTY_HINT",
        "SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER",
        "SPLICE_APP_CONTACT_POINT",
        "SPLICE_APP_VALIDATOR_AUTH_AUDIENCE",
        "SPLICE_APP_VALIDATOR_AUTH_JWKS_URL",
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_USER_NAME",
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_AUDIENCE",
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_URL",
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_ID",
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE",
        "SPLICE_APP_POSTGRES_PASSWORD",
        "SPLICE_APP_VALIDATOR_SV_SPONSOR_ADDRESS",
        "SPLICE_APP_VALIDATOR_ONBOARDING_SECRET",
        "SPLICE_APP_DEVNET",
        "FAIL_ON_APP_VERSION_MISMATCH",
        "LOG_LEVEL_CANTON",
        "LOG_LEVEL_API_REQUEST",
        "LOG_LEVEL_STDOUT",
        "LOG_IMMEDIATE_FLUSH",
        "ADDITIONAL_CONFIG_PERSISTENCE",
        "ADDITIONAL_CONFIG_BFT_SCAN",
        "ADDITIONAL_CONFIG_NO_ONBOARDING",
        "ADDITIONAL_CONFIG_SYNCHRONIZER_URL",
        "ADDITIONAL_CONFIG_SYNCHRONIZER_TRUSTED",
        "ADDITIONAL_CONFIG_TOPUPS",
        "ADDITIONAL_CONFIG_ENABLE_WALLET",
        "ADDITIONAL_CONFIG_WALLET_USERS",
        "ADDITIONAL_CONFIG_WALLET_SWEEP",
        "ADDITIONAL_CONFIG_AUTO_ACCEPT_TRANSFERS",
        "ADDITIONAL_CONFIG_PARTICIPANT_PRUNING",
        "ADDITIONAL_CONFIG_PARTICIPANT_BOOTSTRAPPING_DUMP",
        "ADDITIONAL_CONFIG_MIGRATE_VALIDATOR_PARTY",
    ]
);

/// Desired state of a Canton Network validator.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "canton-operator.dev",
    version = "v1alpha1",
    kind = "Validator",
    plural = "validators",
    shortname = "cval",
    namespaced,
    status = "ValidatorStatus",
    cel,
    validation = Rule::new("!has(oldSelf.status) || !has(oldSelf.status.restore) || !has(oldSelf.status.restore.startedAt) || (has(self.spec.restore) && has(oldSelf.spec.restore) && self.spec.restore == oldSelf.spec.restore) || (!has(self.spec.restore) && has(oldSelf.status.restore.completedAt))")
        .message("spec.restore cannot change once its import has started (status.restore.startedAt); it may be removed once the import has completed (status.restore.completedAt)"),
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"KMS","type":"string","jsonPath":".status.kms.summary"}"#,
    printcolumn = r#"{"name":"Restore","type":"string","jsonPath":".status.conditions[?(@.type==\"Restored\")].reason"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(oldSelf.kms) || has(self.kms)")
        .message("spec.kms cannot be removed once recorded: it says where the participant's keys live"),
    validation = Rule::new(VERSION_FORWARD_RULE)
        .message("spec.version cannot go down, and once a release number such as 0.7.4 it stays one: Splice does not support downgrades. Restore the previous release, or create a new validator"),
    validation = Rule::new("!has(self.kms) || !has(self.kms.sessionSigningKeys) || !self.kms.sessionSigningKeys.enabled || (self.kms.enabled && self.kms.mode == 'external')")
        .message("kms.sessionSigningKeys works only with KMS in external mode (enabled: true, mode: external)"),
    validation = Rule::new("!has(self.restore) || (has(self.validatorApp.participantIdentifier) && self.validatorApp.participantIdentifier == self.restore.newParticipantIdentifier)")
        .message("spec.validatorApp.participantIdentifier must equal spec.restore.newParticipantIdentifier: the restored participant is PAR::<new identifier>::<the dump's fingerprint>, and its identity backups expect that identifier"),
)]
pub struct ValidatorSpec {
    /// Splice release the validator runs, such as `0.7.4`: the default image tag of every workload.
    /// Supported: 0.7.0 to 0.8.1, and later patches of 0.7 and 0.8 (run with their line's newest
    /// facts, `ReleaseKnown=False`; `docs/releases.md`). Changing it rolls the workloads to the new
    /// release; going down is refused (Splice does not support downgrades).
    #[schemars(length(min = 1, max = 64))]
    pub version: String,
    /// ServiceAccount the participant pod runs as. Recorded by the operator from
    /// `CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT` when it provisions a validator with KMS.
    /// The validator app never uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub service_account_name: Option<String>,
    /// Where the participant's keys live. Absent: the operator records its environment default
    /// here when it first provisions the validator. Present: this is the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsSpec>,
    /// The Canton participant.
    pub participant: ParticipantSpec,
    /// The Splice validator app.
    pub validator_app: ValidatorAppSpec,
    /// The wallet and ANS web UIs the validator chart deploys beside the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_uis: Option<WebUisSpec>,
    /// Init containers that create each app's database, as the Splice charts run them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_init: Option<DatabaseInit>,
    /// Scheduled, verified backups of the participant's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSpec>,
    /// Scheduling and metadata every pod of the validator gets (participant, validator app,
    /// web UIs, identity backup Job). Each workload's `pod` (`participant.pod`,
    /// `validatorApp.pod`, `webUis.pod`, `backup.identities.pod`) overrides it: `nodeSelector`,
    /// `annotations` and `labels` are merged key by key, the workload's value winning; any other
    /// field the workload sets replaces the shared one whole (`tolerations: []` clears them).
    /// `affinity`, `tolerations`, `topologySpreadConstraints` and `imagePullSecrets` are the pod
    /// spec's own types (`kubectl explain pod.spec.affinity` describes their fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodSettings>,
    /// Registry and path that replace everything before the image name in every image the
    /// operator picks by default — participant, validator app, web UIs, database init, the
    /// identity backup Job (the operator's own image) — keeping names and tags: with
    /// `mirror.example.com/canton`, the participant runs
    /// `mirror.example.com/canton/canton-participant:<version>`. An image written out in full
    /// (a workload's `image`, `databaseInit.image`, a KMS driver's image, your init containers)
    /// is used as written: a per-image override wins over the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        regex(
            pattern = r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$"
        )
    )]
    pub image_registry: Option<String>,
    /// How Prometheus finds the validator's metrics (a ServiceMonitor, opt-in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSpec>,
    /// Restore the participant's identity from a verified identity dump (into a new, empty
    /// participant database). See docs/backup.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreSpec>,
}

impl ValidatorSpec {
    /// The identity backup settings, when backups are asked for.
    pub fn identity_backup(&self) -> Option<&super::backup::IdentityBackup> {
        self.backup.as_ref()?.identities.as_ref()
    }

    /// The ServiceMonitor settings, when one is asked for.
    pub fn service_monitor(&self) -> Option<&super::monitoring::ServiceMonitorSettings> {
        self.monitoring.as_ref()?.service_monitor()
    }
}

/// The Canton participant node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantSpec {
    /// Full image reference; default
    /// `ghcr.io/digital-asset/decentralized-canton-sync/docker/canton-participant:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The participant's Postgres database.
    pub postgres: PostgresSpec,
    /// Ledger API authentication.
    pub auth: LedgerApiAuth,
    /// Compute resources of the participant container; replace the chart's defaults (requests
    /// cpu 2, memory 16Gi; limit memory 32Gi) as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// JVM options appended to the chart's defaults (`JAVA_TOOL_OPTIONS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub additional_jvm_options: Option<String>,
    /// `LOG_LEVEL_CANTON` (default `INFO`, as the participant chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    /// More environment variables, for what this resource does not cover (the charts'
    /// `additionalEnvVars`). Names the operator sets itself are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new(PARTICIPANT_RESERVED_RULE).message("spec.participant.additionalEnv: a name the operator sets itself cannot be overridden (JAVA_TOOL_OPTIONS, CANTON_PARTICIPANT_*, AUTH_*, LOG_*, and the KMS and session-signing-key ADDITIONAL_CONFIG_* variables); use the typed field instead"))]
    pub additional_env: Vec<AdditionalEnvVar>,
    /// Scheduling and metadata of the participant pod, over `spec.pods` (maps merged key by key,
    /// other fields replaced whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSettings>,
    /// More volumes in the participant pod, such as a Secret with a KMS driver's files, a CA bundle
    /// or a Vault agent's shared volume (the charts' `extraVolumes`). The operator's volume
    /// names (`kms-driver`) are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(OPERATOR_VOLUMES_RULE).message("spec.participant.extraVolumes: kms-driver is the operator's own volume name"))]
    #[schemars(transform = kubernetes_type)]
    pub extra_volumes: Vec<Volume>,
    /// More mounts in the participant container (the charts' `extraVolumeMounts`), of volumes in
    /// `extraVolumes`; the operator's own mounts stay where they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(transform = kubernetes_type)]
    pub extra_volume_mounts: Vec<VolumeMount>,
    /// Init containers run after the operator's own (the charts' `extraInitContainers`). The
    /// operator's container names (participant, pg-init and kms-driver) are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new(PARTICIPANT_CONTAINERS_RULE).message("spec.participant.extraInitContainers: participant, pg-init and kms-driver are the operator's own container names"))]
    #[schemars(transform = kubernetes_type)]
    pub extra_init_containers: Vec<Container>,
}

/// A Postgres connection; the password always comes from a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostgresSpec {
    /// Host name of the Postgres server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port of the Postgres server (default 5432).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Database name (participant default `cantonnet_participant`, validator app default
    /// `cantonnet_validator`). The participant's name is fixed once it has started: a new name is a
    /// new, empty database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Schema (participant default `participant`, validator app default `validator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// User name (default `cnadmin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Secret key holding the password.
    pub password_secret_ref: SecretKeyRef,
}

/// The init containers that create the databases (`create database` as the user below, connected
/// to an existing admin database), as the Splice charts' `pg-init` containers do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseInit {
    /// `false` for managed Postgres where someone else creates the databases.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Image with `psql` and `bash` (default `postgres:17`; the charts' `postgres:14` reached end
    /// of life on 2026-11-12). psql 17 works with servers from 9.2 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// Database the init containers connect to (default `cantonnet`, as the charts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub admin_database: Option<String>,
    /// Refuse to create the participant's database when another database named `participant%`
    /// exists (default `true`, as the chart): a second participant database on one server is
    /// usually a mistaken name that would start a new, empty participant.
    #[serde(default = "yes")]
    pub participant_conflict_check: bool,
}

impl Default for DatabaseInit {
    fn default() -> Self {
        Self {
            enabled: true,
            image: None,
            admin_database: None,
            participant_conflict_check: true,
        }
    }
}

/// `LOG_LEVEL_CANTON`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The value the images' entrypoints read.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

/// An extra environment variable: a value, or a key of a Secret or ConfigMap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("(has(self.value) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) + (has(self.configMapKeyRef) ? 1 : 0) <= 1")
        .message("set at most one of value, secretKeyRef and configMapKeyRef"),
)]
pub struct AdditionalEnvVar {
    /// Variable name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A Secret key to read the value from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// A ConfigMap key to read the value from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<SecretKeyRef>,
}

/// A key in a Secret of the validator's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// How the participant's Ledger API checks tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LedgerApiAuth {
    /// JWKS URL of the identity provider.
    pub jwks_url: String,
    /// Audience the tokens must carry.
    pub audience: String,
    /// Secret key with the ledger API admin user name (default Secret
    /// `splice-app-validator-ledger-api-auth`, key `ledger-api-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_user_secret_ref: Option<SecretKeyRef>,
}

/// The Splice validator app.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.onboardingSecretRef) || has(self.sponsorSvAddress)")
        .message("onboardingSecretRef needs sponsorSvAddress: the secret is redeemed at the sponsoring super validator"),
)]
pub struct ValidatorAppSpec {
    /// Full image reference; default
    /// `ghcr.io/digital-asset/decentralized-canton-sync/docker/validator-app:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// URL of a Scan app of the network (`SPLICE_APP_VALIDATOR_SCAN_ADDRESS`); the default seed of
    /// the scan client.
    pub scan_address: String,
    /// How the app reads from Scan (default `bft` with `scanAddress` as the one seed URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_client: Option<ScanClient>,
    /// How the participant connects to the global synchronizer (default `bft`: sequencers as
    /// Scan lists them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronizer: Option<SynchronizerConnection>,
    /// URL of the sponsoring super validator. Absent: the validator is already onboarded
    /// (`onboarding = null`). Present without `onboardingSecretRef`: DevNet self-onboarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor_sv_address: Option<String>,
    /// Secret key with the onboarding secret from the sponsor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding_secret_ref: Option<SecretKeyRef>,
    /// Hint for the validator's party id, such as `acme-validator-1`.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub party_hint: String,
    /// Node identifier of the participant (`SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER`; default:
    /// the Validator's name). Fixed once the participant is initialised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub participant_identifier: Option<String>,
    /// Contact point shown to the network, such as an email address (`SPLICE_APP_CONTACT_POINT`;
    /// default empty, as the chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub contact_point: Option<String>,
    /// Ignored: the synchronizer migration id was removed from the validator app in Splice 0.6.7
    /// (it resolves it at start-up). Kept so existing Validators stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_id: Option<i64>,
    /// Users who get a wallet on this validator (`validator-wallet-users`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub wallet_users: Vec<String>,
    /// The wallet: on or off, sweeps and auto-accepted transfers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WalletSettings>,
    /// Traffic top-ups (default on: 20000 bytes/s target throughput, at most every `1m`, the
    /// docs' figures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topup: Option<TopupSettings>,
    /// Scheduled pruning of the participant by the validator app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_pruning: Option<PruningSchedule>,
    /// How the app authenticates.
    pub auth: ValidatorAppAuth,
    /// The validator app's Postgres database.
    pub postgres: PostgresSpec,
    /// Compute resources of the validator app container; replace the chart's defaults (requests
    /// cpu 1, memory 4Gi; limit memory 8Gi) as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// JVM options appended to the chart's defaults (`JAVA_TOOL_OPTIONS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub additional_jvm_options: Option<String>,
    /// `LOG_LEVEL_CANTON` (default `DEBUG`, as the validator chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
    /// More environment variables, for what this resource does not cover (the charts'
    /// `additionalEnvVars`). Names the operator sets itself are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new(VALIDATOR_APP_RESERVED_RULE).message("spec.validatorApp.additionalEnv: a name the operator sets itself cannot be overridden (JAVA_TOOL_OPTIONS, SPLICE_APP_*, LOG_*, and the ADDITIONAL_CONFIG_* variables it writes); use the typed field instead"))]
    pub additional_env: Vec<AdditionalEnvVar>,
    /// Scheduling and metadata of the validator-app pod, over `spec.pods` (maps merged key by key,
    /// other fields replaced whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodSettings>,
    /// More volumes in the validator-app pod, such as a Secret with a KMS driver's files, a CA bundle
    /// or a Vault agent's shared volume (the charts' `extraVolumes`). The operator's volume
    /// names (`kms-driver`) are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new(OPERATOR_VOLUMES_RULE).message("spec.validatorApp.extraVolumes: kms-driver is the operator's own volume name"))]
    #[schemars(transform = kubernetes_type)]
    pub extra_volumes: Vec<Volume>,
    /// More mounts in the validator-app container (the charts' `extraVolumeMounts`), of volumes in
    /// `extraVolumes`; the operator's own mounts stay where they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[schemars(transform = kubernetes_type)]
    pub extra_volume_mounts: Vec<VolumeMount>,
    /// Init containers run after the operator's own (the charts' `extraInitContainers`). The
    /// operator's container names (validator-app and validator-app-pg-init) are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new(VALIDATOR_APP_CONTAINERS_RULE).message("spec.validatorApp.extraInitContainers: validator-app and validator-app-pg-init are the operator's own container names"))]
    #[schemars(transform = kubernetes_type)]
    pub extra_init_containers: Vec<Container>,
}

/// The validator app's authentication settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorAppAuth {
    /// Audience of tokens for the app's API.
    pub audience: String,
    /// JWKS URL of the identity provider.
    pub jwks_url: String,
    /// Secret with the Ledger API client credentials (keys `ledger-api-user`, `audience`, `url`,
    /// `client-id`, `client-secret`, and optionally `scope`); default
    /// `splice-app-validator-ledger-api-auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_api_auth_secret: Option<String>,
}

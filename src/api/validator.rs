//! The `Validator` resource: one Canton participant plus the Splice validator app.

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::kms_spec::KmsSpec;
use super::status::ValidatorStatus;

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
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"KMS","type":"string","jsonPath":".status.kms.summary"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.version"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(oldSelf.kms) || has(self.kms)")
    .message("spec.kms cannot be removed once recorded: it says where the participant's keys live"))]
pub struct ValidatorSpec {
    /// Splice release the validator runs, such as `0.4.15`; the default image tag of both workloads.
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
}

/// The Canton participant node.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Compute resources of the participant container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
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
    /// Database name (participant default `cantonnet_participant`, validator app default `cantonnet_validator`).
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorAppSpec {
    /// Full image reference; default
    /// `ghcr.io/digital-asset/decentralized-canton-sync/docker/validator-app:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// URL of a Scan app of the network.
    pub scan_address: String,
    /// URL of the sponsoring super validator.
    pub sponsor_sv_address: String,
    /// Secret key with the onboarding secret from the sponsor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onboarding_secret_ref: Option<SecretKeyRef>,
    /// Hint for the validator's party id, such as `acme-validator-1`.
    pub party_hint: String,
    /// Participant identifier (default: the Validator's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_identifier: Option<String>,
    /// Synchronizer migration id (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_id: Option<i64>,
    /// Users who get a wallet on this validator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallet_users: Vec<String>,
    /// How the app authenticates.
    pub auth: ValidatorAppAuth,
    /// The validator app's Postgres database.
    pub postgres: PostgresSpec,
    /// Compute resources of the validator app container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
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
    /// `client-id`, `client-secret`, `scope`); default `splice-app-validator-ledger-api-auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_api_auth_secret: Option<String>,
}

//! The Splice validator app: Deployment and Service `<name>-validator-app`, as the 0.7 validator
//! chart runs it. It never runs as the participant's KMS ServiceAccount: only the participant
//! needs KMS rights.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, HTTPGetAction, Probe, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::database::{self, App};
use super::participant::participant_name;
use super::pod::{self, Pod, env, env_from_ref, env_secret, env_secret_optional, port};
use crate::api::{
    ScanClientType, SynchronizerConnection, TopupSettings, ValidatorAppSpec, WalletSettings,
};
use crate::hocon::{self, Key, ObjectBuilder, Value};
use crate::release::ProbeTiming;

/// `app.kubernetes.io/component` of the validator app.
pub const VALIDATOR_APP_COMPONENT: &str = "validator-app";
const HTTP_PORT: i32 = 5003;
const METRICS_PORT: i32 = 10013;
/// The Secret with the ledger API client credentials when the spec names none (the charts').
const DEFAULT_AUTH_SECRET: &str = "splice-app-validator-ledger-api-auth";
const BACKEND: [&str; 3] = ["canton", "validator-apps", "validator_backend"];
const POSTGRES_PASSWORD_VAR: &str = "SPLICE_APP_POSTGRES_PASSWORD";
/// The validator app's database when the spec names none (the chart's default).
pub(crate) const DEFAULT_DATABASE: &str = "cantonnet_validator";
/// Top-up defaults of the Splice docs' values.
const TOPUP_THROUGHPUT: i64 = 20_000;
const TOPUP_INTERVAL: &str = "1m";

/// Name of a validator's app Deployment and Service.
pub fn validator_app_name(validator: &str) -> String {
    format!("{validator}-validator-app")
}

pub(super) fn deployment(ctx: &Context) -> Deployment {
    let spec = &ctx.validator.spec;
    let app = &spec.validator_app;
    let workload = &ctx.release.workloads.validator_app;
    let container = Container {
        name: "validator-app".to_string(),
        image: Some(ctx.image(app.image.as_ref(), "validator-app")),
        env: Some(env_vars(ctx)),
        // The chart declares only the HTTP port; metrics (10013) is reached through the Service.
        ports: Some(vec![port("val-http", HTTP_PORT)]),
        liveness_probe: Some(http_probe("/api/validator/livez", workload.liveness)),
        readiness_probe: Some(http_probe("/api/validator/readyz", workload.readiness)),
        resources: Some(pod::resources(app.resources.as_ref(), workload.resources)),
        security_context: Some(pod::container_security(ctx.release.workloads.uid)),
        ..Container::default()
    };
    let init = database::init_container(
        spec.database_init.as_ref(),
        &app.postgres,
        &database_name(app),
        App::ValidatorApp,
        ctx.release,
        ctx.registry,
    );
    // Deliberately no ServiceAccount: the app keeps the namespace default, never the KMS identity.
    pod::deployment(
        ctx,
        validator_app_name(ctx.name),
        VALIDATOR_APP_COMPONENT,
        Pod {
            containers: vec![container],
            init_containers: init.into_iter().collect(),
            security: pod::pod_security(Some(ctx.release.workloads.uid)),
            service_account: None,
        },
    )
}

pub(super) fn service(ctx: &Context) -> Service {
    pod::service(
        ctx,
        validator_app_name(ctx.name),
        VALIDATOR_APP_COMPONENT,
        &[
            ("val-http", HTTP_PORT, IntOrString::Int(HTTP_PORT)),
            ("metrics", METRICS_PORT, IntOrString::Int(METRICS_PORT)),
        ],
    )
}

fn database_name(app: &ValidatorAppSpec) -> String {
    app.postgres
        .database
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string())
}

/// The container's environment, in the chart's order.
fn env_vars(ctx: &Context) -> Vec<EnvVar> {
    let app = &ctx.validator.spec.validator_app;
    let workload = &ctx.release.workloads.validator_app;
    let mut vars = vec![
        pod::java_tool_options(workload.jvm_options, app.additional_jvm_options.as_ref()),
        env(
            "SPLICE_APP_VALIDATOR_PARTICIPANT_ADDRESS",
            participant_name(ctx.name),
        ),
    ];
    vars.extend(onboarding(app));
    vars.push(env(
        "SPLICE_APP_VALIDATOR_SCAN_ADDRESS",
        app.scan_address.clone(),
    ));
    vars.push(env(
        "SPLICE_APP_VALIDATOR_PARTY_HINT",
        app.party_hint.clone(),
    ));
    vars.push(env("ADDITIONAL_CONFIG_BFT_SCAN", scan_client(app)));
    vars.extend(synchronizer(app.synchronizer.as_ref()));
    vars.extend(topup(app.topup.as_ref()));
    vars.push(env("ADDITIONAL_CONFIG_PERSISTENCE", persistence(app)));
    vars.push(env_from_ref(
        POSTGRES_PASSWORD_VAR,
        &app.postgres.password_secret_ref,
    ));
    vars.extend(wallet(app));
    if let Some(schedule) = &app.participant_pruning {
        let value = ObjectBuilder::new()
            .field("cron", Value::str(schedule.cron.clone()))
            .field("max-duration", Value::str(schedule.max_duration.clone()))
            .field("retention", Value::str(schedule.retention.clone()))
            .build();
        vars.push(env(
            "ADDITIONAL_CONFIG_PARTICIPANT_PRUNING",
            backend(&["participant-pruning-schedule"], &value),
        ));
    }
    vars.push(env("FAIL_ON_APP_VERSION_MISMATCH", "true"));
    vars.extend(app.additional_env.iter().map(pod::additional));
    let level = app.log_level.map_or(workload.log_level, |l| l.as_str());
    vars.extend(pod::log_env(level));
    vars.push(env(
        "SPLICE_APP_CONTACT_POINT",
        app.contact_point.clone().unwrap_or_default(),
    ));
    vars.push(env(
        "SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER",
        app.participant_identifier
            .clone()
            .unwrap_or_else(|| ctx.name.to_string()),
    ));
    vars.extend(auth(app));
    vars
}

/// Sponsor and secret; sponsor alone (DevNet self-onboarding through the image's
/// `pre-bootstrap.sh`); or none (`onboarding = null`: the validator is onboarded already).
fn onboarding(app: &ValidatorAppSpec) -> Vec<EnvVar> {
    let Some(sponsor) = &app.sponsor_sv_address else {
        return vec![env(
            "ADDITIONAL_CONFIG_NO_ONBOARDING",
            backend(&["onboarding"], &Value::Null),
        )];
    };
    let mut vars = vec![env(
        "SPLICE_APP_VALIDATOR_SV_SPONSOR_ADDRESS",
        sponsor.clone(),
    )];
    match &app.onboarding_secret_ref {
        Some(secret) => vars.push(env_from_ref(
            "SPLICE_APP_VALIDATOR_ONBOARDING_SECRET",
            secret,
        )),
        None => vars.push(env("SPLICE_APP_DEVNET", "1")),
    }
    vars
}

/// `scan-client`: the spec's, or `bft` seeded with the scan address (the chart's default).
fn scan_client(app: &ValidatorAppSpec) -> String {
    let client = app.scan_client.as_ref();
    let type_ = client.map_or(ScanClientType::Bft, |c| c.type_);
    let seeds = client
        .map(|c| c.seed_urls.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec![app.scan_address.clone()]);
    let value = match (type_, client) {
        (ScanClientType::TrustSingle, Some(c)) => ObjectBuilder::new()
            .field("type", Value::str(type_.as_str()))
            .field("url", Value::str(c.url.clone().unwrap_or_default()))
            .build(),
        (ScanClientType::BftCustom, Some(c)) => ObjectBuilder::new()
            .field("type", Value::str(type_.as_str()))
            .field("seed-urls", strings(&seeds))
            .field("sv-names", strings(&c.sv_names))
            .field("threshold", Value::Int(i64::from(c.threshold.unwrap_or(1))))
            .build(),
        _ => ObjectBuilder::new()
            .field("type", Value::str(ScanClientType::Bft.as_str()))
            .field("seed-urls", strings(&seeds))
            .build(),
    };
    backend(&["scan-client"], &value)
}

/// The synchronizer connection: nothing for `bft` (sequencers from Scan).
fn synchronizer(connection: Option<&SynchronizerConnection>) -> Option<EnvVar> {
    let connection = connection?;
    match connection.connection_type {
        ScanClientType::Bft => None,
        ScanClientType::TrustSingle => Some(env(
            "ADDITIONAL_CONFIG_SYNCHRONIZER_URL",
            backend(
                &["domains", "global", "url"],
                &Value::str(connection.url.clone().unwrap_or_default()),
            ),
        )),
        ScanClientType::BftCustom => {
            let trusted = ObjectBuilder::new()
                .field("sv-names", strings(&connection.sv_names))
                .field(
                    "threshold",
                    Value::Int(i64::from(connection.threshold.unwrap_or(1))),
                )
                .build();
            Some(env(
                "ADDITIONAL_CONFIG_SYNCHRONIZER_TRUSTED",
                backend(
                    &["domains", "global", "trusted-synchronizer-config"],
                    &trusted,
                ),
            ))
        }
    }
}

/// Traffic top-ups, on by default with the docs' figures.
fn topup(settings: Option<&TopupSettings>) -> Option<EnvVar> {
    let defaults = TopupSettings::default();
    let settings = settings.unwrap_or(&defaults);
    if !settings.enabled {
        return None;
    }
    let buy = ObjectBuilder::new()
        .field(
            "target-throughput",
            Value::Int(settings.target_throughput.unwrap_or(TOPUP_THROUGHPUT)),
        )
        .field(
            "min-topup-interval",
            Value::str(
                settings
                    .min_topup_interval
                    .clone()
                    .unwrap_or_else(|| TOPUP_INTERVAL.to_string()),
            ),
        )
        .build();
    let mut lines = vec![backend(&["domains", "global", "buy-extra-traffic"], &buy)];
    if let Some(reserved) = settings.reserved_traffic {
        lines.push(backend(
            &["domains", "global", "reserved-traffic"],
            &Value::Int(reserved),
        ));
    }
    Some(env("ADDITIONAL_CONFIG_TOPUPS", lines.join("\n")))
}

/// The storage properties the chart sets; the rest comes from the image's `_storage`.
fn persistence(app: &ValidatorAppSpec) -> String {
    let pg = &app.postgres;
    let properties = ObjectBuilder::new()
        .field("databaseName", Value::str(database_name(app)))
        .field(
            "currentSchema",
            Value::str(pg.schema.clone().unwrap_or_else(|| "validator".into())),
        )
        .field("serverName", Value::str(pg.host.clone()))
        .field("portNumber", Value::Int(i64::from(pg.port.unwrap_or(5432))))
        .field(
            "user",
            Value::str(pg.user.clone().unwrap_or_else(|| "cnadmin".into())),
        )
        .field("password", Value::EnvSubstitution(POSTGRES_PASSWORD_VAR))
        .build();
    backend(&["storage", "config", "properties"], &properties)
}

/// Wallet on/off, its users, sweeps and auto-accepted transfers.
fn wallet(app: &ValidatorAppSpec) -> Vec<EnvVar> {
    let defaults = WalletSettings::default();
    let wallet = app.wallet.as_ref().unwrap_or(&defaults);
    let mut vars = vec![env(
        "ADDITIONAL_CONFIG_ENABLE_WALLET",
        backend(&["enable-wallet"], &Value::Bool(wallet.enabled)),
    )];
    if !app.wallet_users.is_empty() {
        vars.push(env(
            "ADDITIONAL_CONFIG_WALLET_USERS",
            backend(&["validator-wallet-users"], &strings(&app.wallet_users)),
        ));
    }
    if !wallet.sweeps.is_empty() {
        let sweeps = wallet
            .sweeps
            .iter()
            .map(|s| {
                let sweep = ObjectBuilder::new()
                    .field("max-balance-usd", number(s.max_balance_usd))
                    .field("min-balance-usd", number(s.min_balance_usd))
                    .field("receiver", Value::str(s.to_party.clone()))
                    .opt(
                        "use-transfer-preapproval",
                        s.use_transfer_preapproval.map(Value::Bool),
                    )
                    .build();
                (Key::Quoted(s.from_party.clone()), sweep)
            })
            .collect();
        vars.push(env(
            "ADDITIONAL_CONFIG_WALLET_SWEEP",
            backend(&["wallet-sweep"], &Value::Object(sweeps)),
        ));
    }
    if !wallet.auto_accept_transfers.is_empty() {
        let accepts = wallet
            .auto_accept_transfers
            .iter()
            .map(|a| {
                let from = ObjectBuilder::new()
                    .field("from-parties", strings(&a.from_parties))
                    .build();
                (Key::Quoted(a.party.clone()), from)
            })
            .collect();
        vars.push(env(
            "ADDITIONAL_CONFIG_AUTO_ACCEPT_TRANSFERS",
            backend(&["auto-accept-transfers"], &Value::Object(accepts)),
        ));
    }
    vars
}

/// The app's own API auth and its ledger API client credentials, from the usual Secret.
fn auth(app: &ValidatorAppSpec) -> Vec<EnvVar> {
    let mut vars = vec![
        env(
            "SPLICE_APP_VALIDATOR_AUTH_AUDIENCE",
            app.auth.audience.clone(),
        ),
        env(
            "SPLICE_APP_VALIDATOR_AUTH_JWKS_URL",
            app.auth.jwks_url.clone(),
        ),
        env_secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_USER_NAME",
            auth_secret(app),
            "ledger-api-user",
        ),
    ];
    vars.extend(ledger_api_credentials(app));
    vars
}

fn auth_secret(app: &ValidatorAppSpec) -> &str {
    app.auth
        .ledger_api_auth_secret
        .as_deref()
        .unwrap_or(DEFAULT_AUTH_SECRET)
}

/// The ledger API client credentials (OAuth2 client-credentials grant) from the usual Secret: the
/// app's, and the identity backup Job's.
pub(super) fn ledger_api_credentials(app: &ValidatorAppSpec) -> Vec<EnvVar> {
    let secret = auth_secret(app);
    vec![
        env_secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_AUDIENCE",
            secret,
            "audience",
        ),
        env_secret("SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_URL", secret, "url"),
        env_secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_ID",
            secret,
            "client-id",
        ),
        env_secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
            secret,
            "client-secret",
        ),
        // Optional, as the chart has it: many identity providers need no scope.
        env_secret_optional(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE",
            secret,
            "scope",
        ),
    ]
}

fn backend(tail: &[&'static str], value: &Value) -> String {
    let path: Vec<&'static str> = BACKEND.iter().chain(tail).copied().collect();
    hocon::assignment(&path, value)
}

fn strings(items: &[String]) -> Value {
    Value::List(items.iter().cloned().map(Value::Str).collect())
}

/// A USD amount; the schema only admits finite numbers, a non-finite one would be written as 0.
fn number(amount: f64) -> Value {
    serde_json::Number::from_f64(amount).map_or(Value::Int(0), Value::Number)
}

fn http_probe(path: &str, timing: ProbeTiming) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(HTTP_PORT),
            ..HTTPGetAction::default()
        }),
        ..pod::probe(timing)
    }
}

//! The Splice validator app: Deployment and Service `<name>-validator-app`. It never runs as the
//! participant's KMS ServiceAccount: only the participant needs KMS rights.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, HTTPGetAction, Probe, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::participant::participant_name;
use super::pod::{self, env, env_from_ref, env_secret, port};
use super::{Context, image};
use crate::hocon::{self, ObjectBuilder, Value};

/// `app.kubernetes.io/component` of the validator app.
pub const VALIDATOR_APP_COMPONENT: &str = "validator-app";
const PORTS: [(&str, i32); 2] = [("val-http", 5003), ("metrics", 10013)];
const DEFAULT_AUTH_SECRET: &str = "splice-app-validator-ledger-api-auth";
const BACKEND: [&str; 3] = ["canton", "validator-apps", "validator_backend"];
const POSTGRES_PASSWORD_VAR: &str = "SPLICE_APP_POSTGRES_PASSWORD";
const ONBOARDING_SECRET_VAR: &str = "SPLICE_APP_VALIDATOR_ONBOARDING_SECRET";

/// Name of a validator's app Deployment and Service.
pub fn validator_app_name(validator: &str) -> String {
    format!("{validator}-validator-app")
}

pub(super) fn deployment(ctx: &Context) -> Deployment {
    let spec = &ctx.validator.spec;
    let container = Container {
        name: "validator-app".to_string(),
        image: Some(image(
            spec.validator_app.image.as_ref(),
            "validator-app",
            &spec.version,
        )),
        env: Some(env_vars(ctx)),
        ports: Some(PORTS.iter().map(|(n, p)| port(n, *p)).collect()),
        liveness_probe: Some(http_probe("/api/validator/livez", 60, 60)),
        readiness_probe: Some(http_probe("/api/validator/readyz", 5, 5)),
        resources: spec.validator_app.resources.clone(),
        security_context: Some(pod::container_security()),
        ..Container::default()
    };
    // Deliberately no ServiceAccount: the app keeps the namespace default, never the KMS identity.
    pod::deployment(
        ctx,
        validator_app_name(ctx.name),
        VALIDATOR_APP_COMPONENT,
        container,
        None,
    )
}

pub(super) fn service(ctx: &Context) -> Service {
    pod::service(
        ctx,
        validator_app_name(ctx.name),
        VALIDATOR_APP_COMPONENT,
        &PORTS,
    )
}

fn env_vars(ctx: &Context) -> Vec<EnvVar> {
    let app = &ctx.validator.spec.validator_app;
    let secret = app
        .auth
        .ledger_api_auth_secret
        .as_deref()
        .unwrap_or(DEFAULT_AUTH_SECRET);
    let identifier = app
        .participant_identifier
        .clone()
        .unwrap_or_else(|| ctx.name.to_string());
    let mut vars = vec![
        env("JAVA_TOOL_OPTIONS", pod::JAVA_TOOL_OPTIONS),
        env(
            "SPLICE_APP_VALIDATOR_PARTICIPANT_ADDRESS",
            participant_name(ctx.name),
        ),
        env(
            "SPLICE_APP_VALIDATOR_SCAN_ADDRESS",
            app.scan_address.clone(),
        ),
        env("SPLICE_APP_VALIDATOR_PARTY_HINT", app.party_hint.clone()),
        env("SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER", identifier),
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
            secret,
            "ledger-api-user",
        ),
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
        env_secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE",
            secret,
            "scope",
        ),
        env_from_ref(POSTGRES_PASSWORD_VAR, &app.postgres.password_secret_ref),
    ];
    if let Some(r) = &app.onboarding_secret_ref {
        vars.push(env_from_ref(ONBOARDING_SECRET_VAR, r));
    }
    vars.extend(config_blocks(ctx));
    vars
}

/// The app's `ADDITIONAL_CONFIG_*` HOCON blocks, as the Splice chart sets them.
fn config_blocks(ctx: &Context) -> Vec<EnvVar> {
    let app = &ctx.validator.spec.validator_app;
    let mut vars = vec![
        env(
            "ADDITIONAL_CONFIG_PERSISTENCE",
            backend(&["storage"], &storage(ctx)),
        ),
        env(
            "ADDITIONAL_CONFIG_MIGRATION_ID",
            backend(
                &["domain-migration-id"],
                &Value::Int(app.migration_id.unwrap_or(0)),
            ),
        ),
        env(
            "ADDITIONAL_CONFIG_ONBOARDING",
            backend(&["onboarding"], &onboarding(ctx)),
        ),
    ];
    if !app.wallet_users.is_empty() {
        let users = Value::List(app.wallet_users.iter().cloned().map(Value::Str).collect());
        vars.push(env(
            "ADDITIONAL_CONFIG_WALLET_USERS",
            backend(&["validator-wallet-users"], &users),
        ));
    }
    vars
}

fn backend(tail: &[&'static str], value: &Value) -> String {
    let path: Vec<&'static str> = BACKEND.iter().chain(tail).copied().collect();
    hocon::assignment(&path, value)
}

fn storage(ctx: &Context) -> Value {
    let pg = &ctx.validator.spec.validator_app.postgres;
    let properties = ObjectBuilder::new()
        .field("serverName", Value::str(pg.host.clone()))
        .field("portNumber", Value::Int(i64::from(pg.port.unwrap_or(5432))))
        .field(
            "databaseName",
            Value::str(
                pg.database
                    .clone()
                    .unwrap_or_else(|| "cantonnet_validator".into()),
            ),
        )
        .field(
            "currentSchema",
            Value::str(pg.schema.clone().unwrap_or_else(|| "validator".into())),
        )
        .field(
            "user",
            Value::str(pg.user.clone().unwrap_or_else(|| "cnadmin".into())),
        )
        .field("password", Value::EnvSubstitution(POSTGRES_PASSWORD_VAR))
        .build();
    let config = ObjectBuilder::new()
        .field(
            "dataSourceClass",
            Value::str("org.postgresql.ds.PGSimpleDataSource"),
        )
        .field("properties", properties)
        .build();
    ObjectBuilder::new()
        .field("type", Value::Token("postgres"))
        .field("config", config)
        .build()
}

fn onboarding(ctx: &Context) -> Value {
    let app = &ctx.validator.spec.validator_app;
    let admin_api = ObjectBuilder::new()
        .field("url", Value::str(app.sponsor_sv_address.clone()))
        .build();
    let sv_client = ObjectBuilder::new().field("admin-api", admin_api).build();
    let secret = app
        .onboarding_secret_ref
        .as_ref()
        .map(|_| Value::EnvSubstitution(ONBOARDING_SECRET_VAR));
    ObjectBuilder::new()
        .field("sv-client", sv_client)
        .opt("secret", secret)
        .build()
}

fn http_probe(path: &str, initial_delay: i32, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::Int(5003),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

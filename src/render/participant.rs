//! The Canton participant: Deployment and Service `<name>-participant`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, GRPCAction, Probe, Service, Volume, VolumeMount,
};

use super::pod::{self, env, env_from_ref, env_secret, port};
use super::{Context, image};
use crate::kms::{DriverJar, DriverKms, KmsProvider, participant_env};

/// `app.kubernetes.io/component` of the participant.
pub const PARTICIPANT_COMPONENT: &str = "participant";
/// The ports of the Splice participant chart.
const PORTS: [(&str, i32); 4] = [
    ("lg-adm-api", 5002),
    ("lg-api", 5001),
    ("json-api", 7575),
    ("metrics", 10013),
];
/// gRPC health port; not a declared container port in the Splice chart.
const HEALTH_PORT: i32 = 5061;
const DEFAULT_ADMIN_SECRET: &str = "splice-app-validator-ledger-api-auth";

/// Name of a validator's participant Deployment and Service.
pub fn participant_name(validator: &str) -> String {
    format!("{validator}-participant")
}

pub(super) fn deployment(ctx: &Context) -> Deployment {
    let spec = &ctx.validator.spec;
    let container = Container {
        name: "participant".to_string(),
        image: Some(image(
            spec.participant.image.as_ref(),
            "canton-participant",
            &spec.version,
        )),
        env: Some(env_vars(ctx)),
        ports: Some(PORTS.iter().map(|(n, p)| port(n, *p)).collect()),
        liveness_probe: Some(grpc_probe(Some("liveness"), 600)),
        readiness_probe: Some(grpc_probe(None, 5)),
        resources: spec.participant.resources.clone(),
        security_context: Some(pod::container_security()),
        ..Container::default()
    };
    let service_account = ctx.decision.participant_service_account(ctx.name);
    let mut deployment = pod::deployment(
        ctx,
        participant_name(ctx.name),
        PARTICIPANT_COMPONENT,
        container,
        service_account,
    );
    if let Some(KmsProvider::Driver(DriverKms { jar: Some(jar), .. })) = ctx.decision.provider() {
        add_driver_jar(&mut deployment, &jar);
    }
    deployment
}

/// Copies the driver jar from its image into a shared volume, and mounts it onto the classpath.
fn add_driver_jar(deployment: &mut Deployment, jar: &DriverJar) {
    const VOLUME: &str = "kms-driver";
    const STAGING: &str = "/kms-driver";
    let file = jar
        .path
        .rsplit('/')
        .next()
        .unwrap_or("driver.jar")
        .to_string();
    let Some(pod) = deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
    else {
        return;
    };
    pod.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: VOLUME.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    });
    let staging = VolumeMount {
        name: VOLUME.to_string(),
        mount_path: STAGING.to_string(),
        ..VolumeMount::default()
    };
    pod.init_containers
        .get_or_insert_with(Vec::new)
        .push(Container {
            name: "kms-driver".to_string(),
            image: Some(jar.image.clone()),
            command: Some(vec![
                "cp".to_string(),
                jar.path.clone(),
                format!("{STAGING}/{file}"),
            ]),
            volume_mounts: Some(vec![staging]),
            security_context: Some(pod::container_security()),
            ..Container::default()
        });
    if let Some(participant) = pod.containers.first_mut() {
        participant
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name: VOLUME.to_string(),
                mount_path: format!("{}/{file}", jar.classpath_dir.trim_end_matches('/')),
                sub_path: Some(file),
                read_only: Some(true),
                ..VolumeMount::default()
            });
    }
}

pub(super) fn service(ctx: &Context) -> Service {
    pod::service(
        ctx,
        participant_name(ctx.name),
        PARTICIPANT_COMPONENT,
        &PORTS,
    )
}

fn env_vars(ctx: &Context) -> Vec<EnvVar> {
    let p = &ctx.validator.spec.participant;
    let pg = &p.postgres;
    let mut vars = vec![
        env("JAVA_TOOL_OPTIONS", pod::JAVA_TOOL_OPTIONS),
        env("CANTON_PARTICIPANT_POSTGRES_SERVER", pg.host.clone()),
        env(
            "CANTON_PARTICIPANT_POSTGRES_PORT",
            pg.port.unwrap_or(5432).to_string(),
        ),
        env(
            "CANTON_PARTICIPANT_POSTGRES_SCHEMA",
            pg.schema.clone().unwrap_or_else(|| "participant".into()),
        ),
        env(
            "CANTON_PARTICIPANT_POSTGRES_DB",
            pg.database
                .clone()
                .unwrap_or_else(|| "cantonnet_participant".into()),
        ),
        env(
            "CANTON_PARTICIPANT_POSTGRES_USER",
            pg.user.clone().unwrap_or_else(|| "cnadmin".into()),
        ),
        env_from_ref(
            "CANTON_PARTICIPANT_POSTGRES_PASSWORD",
            &pg.password_secret_ref,
        ),
        match &p.auth.admin_user_secret_ref {
            Some(r) => env_from_ref("CANTON_PARTICIPANT_ADMIN_USER_NAME", r),
            None => env_secret(
                "CANTON_PARTICIPANT_ADMIN_USER_NAME",
                DEFAULT_ADMIN_SECRET,
                "ledger-api-user",
            ),
        },
        env("AUTH_JWKS_URL", p.auth.jwks_url.clone()),
        env("AUTH_TARGET_AUDIENCE", p.auth.audience.clone()),
    ];
    if let Some(provider) = ctx.decision.provider() {
        let kms = &ctx.decision.kms;
        let (name, value) = participant_env(&provider, kms.mode, kms.envelope.as_ref());
        vars.push(env(name, value));
    }
    vars
}

fn grpc_probe(service: Option<&str>, initial_delay: i32) -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port: HEALTH_PORT,
            service: service.map(str::to_string),
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(10),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

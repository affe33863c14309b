//! The Canton participant: Deployment and Service `<name>-participant`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, GRPCAction, Probe, Service, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::database::{self, App};
use super::pod::{self, Pod, env, env_from_ref, env_secret, port};
use crate::kms::{DriverJar, DriverKms, KmsProvider, participant_env, session_signing_keys_env};
use crate::release::ProbeTiming;

/// `app.kubernetes.io/component` of the participant.
pub const PARTICIPANT_COMPONENT: &str = "participant";
/// The container ports of the Splice participant chart.
const PORTS: [(&str, i32); 4] = [
    ("lg-adm-api", 5002),
    ("lg-api", 5001),
    ("json-api", 7575),
    ("metrics-api", 10013),
];
/// The Service ports of the chart (it names the metrics port `metrics` there).
const SERVICE_PORTS: [(&str, i32); 4] = [
    ("lg-adm-api", 5002),
    ("lg-api", 5001),
    ("metrics", 10013),
    ("json-api", 7575),
];
/// gRPC health port; not a declared container port in the Splice chart.
const HEALTH_PORT: i32 = 5061;
const DEFAULT_ADMIN_SECRET: &str = "splice-app-validator-ledger-api-auth";
/// The participant database when the spec names none; what this operator has always used, so
/// existing participants keep their database.
pub(crate) const DEFAULT_DATABASE: &str = "cantonnet_participant";

/// Name of a validator's participant Deployment and Service.
pub fn participant_name(validator: &str) -> String {
    format!("{validator}-participant")
}

pub(super) fn deployment(ctx: &Context) -> Deployment {
    let spec = &ctx.validator.spec;
    let workload = &ctx.release.workloads.participant;
    let container = Container {
        name: "participant".to_string(),
        image: Some(ctx.image(spec.participant.image.as_ref(), "canton-participant")),
        env: Some(env_vars(ctx)),
        ports: Some(PORTS.iter().map(|(n, p)| port(n, *p)).collect()),
        liveness_probe: Some(grpc_probe(Some("liveness"), workload.liveness)),
        readiness_probe: Some(grpc_probe(None, workload.readiness)),
        resources: Some(pod::resources(
            spec.participant.resources.as_ref(),
            workload.resources,
        )),
        security_context: Some(pod::container_security(ctx.release.workloads.uid)),
        ..Container::default()
    };
    let init = database::init_container(
        spec.database_init.as_ref(),
        &spec.participant.postgres,
        &database_name(ctx),
        App::Participant,
        ctx.release,
        ctx.registry,
    );
    let mut deployment = pod::deployment(
        ctx,
        participant_name(ctx.name),
        PARTICIPANT_COMPONENT,
        Pod {
            containers: vec![container],
            init_containers: init.into_iter().collect(),
            security: pod::pod_security(Some(ctx.release.workloads.uid)),
            service_account: ctx.decision.participant_service_account(ctx.name),
        },
    );
    if let Some(KmsProvider::Driver(DriverKms { jar: Some(jar), .. })) = ctx.decision.provider() {
        add_driver_jar(&mut deployment, &jar, ctx.release.workloads.uid);
    }
    deployment
}

pub(super) fn database_name(ctx: &Context) -> String {
    ctx.validator
        .spec
        .participant
        .postgres
        .database
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string())
}

/// Copies the driver jar from its image into a shared volume, and mounts it onto the classpath.
fn add_driver_jar(deployment: &mut Deployment, jar: &DriverJar, uid: i64) {
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
            security_context: Some(pod::container_security(uid)),
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
    let ports: Vec<_> = SERVICE_PORTS
        .iter()
        .map(|(n, p)| (*n, *p, IntOrString::Int(*p)))
        .collect();
    pod::service(
        ctx,
        participant_name(ctx.name),
        PARTICIPANT_COMPONENT,
        &ports,
    )
}

/// The container's environment, in the chart's order.
fn env_vars(ctx: &Context) -> Vec<EnvVar> {
    let p = &ctx.validator.spec.participant;
    let pg = &p.postgres;
    let workload = &ctx.release.workloads.participant;
    let mut vars = vec![
        pod::java_tool_options(workload.jvm_options, p.additional_jvm_options.as_ref()),
        env("CANTON_PARTICIPANT_POSTGRES_SERVER", pg.host.clone()),
        env(
            "CANTON_PARTICIPANT_POSTGRES_PORT",
            pg.port.unwrap_or(5432).to_string(),
        ),
        env(
            "CANTON_PARTICIPANT_POSTGRES_SCHEMA",
            pg.schema.clone().unwrap_or_else(|| "participant".into()),
        ),
        env_from_ref(
            "CANTON_PARTICIPANT_POSTGRES_PASSWORD",
            &pg.password_secret_ref,
        ),
        env("CANTON_PARTICIPANT_POSTGRES_DB", database_name(ctx)),
        // The chart leaves the user to the image default (`cnadmin`); the spec may name another.
        env(
            "CANTON_PARTICIPANT_POSTGRES_USER",
            pg.user.clone().unwrap_or_else(|| "cnadmin".into()),
        ),
    ];
    if let Some(provider) = ctx.decision.provider() {
        let kms = &ctx.decision.kms;
        let (name, value) = participant_env(&provider, kms.mode, kms.envelope.as_ref());
        vars.push(env(name, value));
        if kms.session_signing_keys() {
            let (name, value) = session_signing_keys_env();
            vars.push(env(name, value));
        }
    }
    vars.push(match &p.auth.admin_user_secret_ref {
        Some(r) => env_from_ref("CANTON_PARTICIPANT_ADMIN_USER_NAME", r),
        None => env_secret(
            "CANTON_PARTICIPANT_ADMIN_USER_NAME",
            DEFAULT_ADMIN_SECRET,
            "ledger-api-user",
        ),
    });
    vars.push(env("AUTH_JWKS_URL", p.auth.jwks_url.clone()));
    vars.push(env("AUTH_TARGET_AUDIENCE", p.auth.audience.clone()));
    vars.extend(p.additional_env.iter().map(pod::additional));
    let level = p.log_level.map_or(workload.log_level, |l| l.as_str());
    vars.extend(pod::log_env(level));
    vars
}

fn grpc_probe(service: Option<&str>, timing: ProbeTiming) -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port: HEALTH_PORT,
            service: service.map(str::to_string),
        }),
        ..pod::probe(timing)
    }
}

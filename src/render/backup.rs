//! The identity backup: CronJob `<name>-identity-backup`, running `canton-operator backup
//! identities` with the operator's own image, and, when asked for, its ServiceAccount.
//!
//! The Job reads the ledger API client credentials the validator app uses from the usual Secret
//! (as the app does, through `secretKeyRef`): the operator itself never reads Secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PodSpec, PodTemplateSpec, ResourceRequirements, SecurityContext,
    ServiceAccount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::pod::{container_security, pod_security};
use super::validator_app::{ledger_api_credentials, validator_app_name};
use super::{Context, labels};
use crate::api::{BackupDestination, IdentityBackup};

/// `app.kubernetes.io/component` of the backup CronJob, its Jobs and their pods.
pub const BACKUP_COMPONENT: &str = "identity-backup";
/// Verified dumps kept when the spec says nothing.
pub const DEFAULT_KEEP: i32 = 14;
/// The operator image's non-root user (distroless `nonroot`).
const OPERATOR_UID: i64 = 65532;

/// Name of a validator's backup CronJob (and of the ServiceAccount the operator creates for it).
pub fn backup_name(validator: &str) -> String {
    format!("{validator}-{BACKUP_COMPONENT}")
}

/// The operator's image when the environment names none: the release this binary is.
pub fn default_operator_image() -> String {
    format!(
        "ghcr.io/canton-operator/canton-operator:{}",
        env!("CARGO_PKG_VERSION")
    )
}

fn settings<'a>(ctx: &'a Context) -> Option<&'a IdentityBackup> {
    ctx.validator.spec.identity_backup()
}

/// The CronJob, when the spec asks for identity backups.
pub(super) fn cron_job(ctx: &Context, operator_image: &str) -> Option<CronJob> {
    let backup = settings(ctx)?;
    let name = backup_name(ctx.name);
    let template_meta = ObjectMeta {
        labels: Some(labels::labels(ctx.name, BACKUP_COMPONENT, ctx.version)),
        ..ObjectMeta::default()
    };
    let pod = PodSpec {
        containers: vec![container(ctx, backup, operator_image)],
        restart_policy: Some("Never".to_string()),
        service_account_name: Some(service_account_name(ctx, backup)),
        // Only the in-cluster destination talks to the Kubernetes API.
        automount_service_account_token: Some(backup.destination.secret.is_some()),
        security_context: Some(pod_security(None)),
        ..PodSpec::default()
    };
    Some(CronJob {
        metadata: ctx.meta(name, BACKUP_COMPONENT),
        spec: Some(CronJobSpec {
            schedule: backup.schedule.clone(),
            time_zone: Some("Etc/UTC".to_string()),
            concurrency_policy: Some("Forbid".to_string()),
            suspend: Some(backup.suspend.unwrap_or(false)),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: Some(template_meta.clone()),
                spec: Some(JobSpec {
                    // One attempt per schedule slot: a failed run is reported, not hidden by retries.
                    backoff_limit: Some(0),
                    active_deadline_seconds: Some(1800),
                    template: PodTemplateSpec {
                        metadata: Some(template_meta),
                        spec: Some(pod),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        status: None,
    })
}

/// The ServiceAccount the Job runs as: the spec's, or the one the operator creates.
fn service_account_name(ctx: &Context, backup: &IdentityBackup) -> String {
    backup
        .service_account
        .name
        .clone()
        .unwrap_or_else(|| backup_name(ctx.name))
}

/// The Job's ServiceAccount, when the operator is asked to create it.
pub(super) fn service_account(ctx: &Context) -> Option<ServiceAccount> {
    let identity = &settings(ctx)?.service_account;
    if !identity.create.unwrap_or(false) {
        return None;
    }
    let annotations = identity.annotations();
    let mut meta = ctx.meta(backup_name(ctx.name), BACKUP_COMPONENT);
    meta.annotations = Some(annotations);
    Some(ServiceAccount {
        metadata: meta,
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })
}

fn container(ctx: &Context, backup: &IdentityBackup, image: &str) -> Container {
    let app = &ctx.validator.spec.validator_app;
    let identifier = app
        .participant_identifier
        .clone()
        .unwrap_or_else(|| ctx.name.to_string());
    let mut args = vec![
        "backup".to_string(),
        "identities".to_string(),
        "--validator".to_string(),
        ctx.name.to_string(),
        "--namespace".to_string(),
        ctx.namespace.clone(),
        "--participant-identifier".to_string(),
        identifier,
        "--validator-app-url".to_string(),
        format!("http://{}:5003", validator_app_name(ctx.name)),
        "--keep".to_string(),
        backup.keep.unwrap_or(DEFAULT_KEEP).to_string(),
    ];
    // A restored validator keeps the dump's namespace: its backups must too, from the first one.
    let restored = ctx
        .validator
        .status
        .as_ref()
        .and_then(|s| s.restore.as_ref())
        .filter(|r| r.started())
        .and_then(|r| r.fingerprint.clone());
    if let Some(fingerprint) = restored {
        args.extend(["--participant-fingerprint".to_string(), fingerprint]);
    }
    args.extend(destination_args(&backup.destination));
    Container {
        name: "backup".to_string(),
        image: Some(image.to_string()),
        args: Some(args),
        env: Some(credentials(ctx)),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".to_string())),
                ("memory".to_string(), Quantity("32Mi".to_string())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_string(),
                Quantity("256Mi".to_string()),
            )])),
            ..ResourceRequirements::default()
        }),
        // The operator's image writes nothing but the termination message.
        security_context: Some(SecurityContext {
            read_only_root_filesystem: Some(true),
            ..container_security(OPERATOR_UID)
        }),
        // The run's one-line JSON result, which the operator reads into status.backup.
        termination_message_path: Some("/dev/termination-log".to_string()),
        termination_message_policy: Some("File".to_string()),
        ..Container::default()
    }
}

/// `--destination` and its settings, as the backup command reads them.
pub(super) fn destination_args(destination: &BackupDestination) -> Vec<String> {
    let mut args = vec!["--destination".to_string(), destination_url(destination)];
    if let Some(s3) = &destination.s3 {
        args.extend(["--region".to_string(), s3.region.clone()]);
        if let Some(endpoint) = &s3.endpoint {
            args.extend(["--endpoint".to_string(), endpoint.clone()]);
        }
    }
    args
}

/// The destination as the backup command names it: `s3://bucket/prefix`, `gcs://…` or `secret`.
pub fn destination_url(destination: &BackupDestination) -> String {
    let with_prefix = |scheme: &str, bucket: &str, prefix: &Option<String>| match prefix
        .as_deref()
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(p) => format!("{scheme}://{bucket}/{p}"),
        None => format!("{scheme}://{bucket}"),
    };
    if let Some(s3) = &destination.s3 {
        with_prefix("s3", &s3.bucket, &s3.prefix)
    } else if let Some(gcs) = &destination.gcs {
        with_prefix("gcs", &gcs.bucket, &gcs.prefix)
    } else {
        "secret".to_string()
    }
}

/// The ledger API client credentials, from the Secret the validator app reads them from.
fn credentials(ctx: &Context) -> Vec<EnvVar> {
    ledger_api_credentials(&ctx.validator.spec.validator_app)
}

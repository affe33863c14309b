//! The restore from an identity dump (`spec.restore`), added to the validator app's pod until the
//! import has completed (`status.restore.completedAt`):
//!
//! - `restore-database-check` (the database init image, with the participant's own database
//!   credentials) refuses a participant database that already holds a node other than the one
//!   this restore imports;
//! - `restore-fetch` (the operator's image, as the backup CronJob) runs `canton-operator restore
//!   fetch`: fetch, verify, check against `spec.kms`; until the operator has cleared the dump's
//!   fingerprint (`status.restore.startedAt`) it stops there, after it writes the dump to a
//!   memory-backed `emptyDir`;
//! - the validator app reads it through `participant-bootstrapping-dump` and, unless turned off,
//!   migrates the validator party from Scan (`migrate-validator-party`), as the 0.7.4 chart's
//!   `participantIdentitiesDumpImport` and `migrateValidatorParty` do.
//!
//! The pod runs as the restore's ServiceAccount meanwhile (the identity allowed to read the
//! dump); the operator itself never reads the dump or a Secret.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, ResourceRequirements, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::Context;
use super::backup::destination_args;
use super::participant;
use super::pod::{container_security, env, env_from_ref};
use crate::api::{RestoreSpec, ScanClientType, ValidatorAppSpec};
use crate::hocon::{self, ObjectBuilder, Value};
use crate::restore::KmsTarget;

/// The dump's folder in the validator app's container (the chart's mount point).
pub const DUMP_DIR: &str = "/participant-bootstrapping-dump";
/// The dump file the validator app reads (the chart's Secret key `content`).
pub const DUMP_FILE: &str = "/participant-bootstrapping-dump/content";
/// The variables the restore adds to the validator app.
pub(crate) const DUMP_CONFIG_VAR: &str = "ADDITIONAL_CONFIG_PARTICIPANT_BOOTSTRAPPING_DUMP";
pub(crate) const MIGRATE_PARTY_VAR: &str = "ADDITIONAL_CONFIG_MIGRATE_VALIDATOR_PARTY";
const VOLUME: &str = "participant-bootstrapping-dump";
/// A dump is tens of kilobytes; this bounds the memory the `emptyDir` may take.
const VOLUME_LIMIT: &str = "64Mi";
const BACKEND: [&str; 3] = ["canton", "validator-apps", "validator_backend"];

/// Canton's node identity and key tables (in the participant's schema): a node is there once one
/// of them has a row. The script tells the result in the one-line JSON `restore fetch` writes.
const DATABASE_CHECK: &str = r#"set -eu
say() { printf '{"reason":"%s","message":"%s"}' "$1" "$2" > "${TERMINATION_LOG:-/dev/termination-log}"; echo "$1: $2"; }
until out=$(psql -c 'select 1' 2>&1); do
  case "$out" in
    *"does not exist"*) say DatabaseEmpty "the participant database $PGDATABASE does not exist yet: nothing to overwrite"; exit 0 ;;
  esac
  echo "waiting for postgres at $PGHOST:$PGPORT (database $PGDATABASE, user $PGUSER)"
  sleep 2
done
q() { echo "$1" | psql -v schema="$SCHEMA" -v ON_ERROR_STOP=1 -tA | tr -cd 'A-Za-z0-9:_.,=-'; }
has() { [ "$(q "select to_regclass(quote_ident(:'schema') || '.$1') is not null")" = t ]; }
nodes=""
if has common_node_id; then
  nodes=$(q "select coalesce(string_agg(identifier || '::' || namespace, ','), '') from common_node_id")
fi
keys=0
for table in common_crypto_private_keys common_kms_metadata_store; do
  if has "$table"; then keys=$((keys + $(q "select count(*) from $table"))); fi
done
if [ -n "$nodes" ]; then
  case "$nodes" in
    "$NEW_IDENTIFIER::"*)
      case "$nodes" in *,*) ;; *) say DatabaseEmpty "the participant database holds the restored node $nodes only: already imported"; exit 0 ;; esac ;;
  esac
  say DatabaseNotEmpty "the participant database $PGDATABASE (schema $SCHEMA) already holds node(s) $nodes: a restore into a database that holds a node forks its identity. Give spec.participant.postgres a new, empty database"
  exit 1
fi
if [ "$keys" != 0 ]; then
  say DatabaseNotEmpty "the participant database $PGDATABASE (schema $SCHEMA) holds $keys key(s) but no node id (an import that stopped half-way, or another node's keys): give spec.participant.postgres a new, empty database"
  exit 1
fi
say DatabaseEmpty "the participant database $PGDATABASE holds no node"
"#;

/// Whether the validator app gets the dump now: asked for and not yet imported.
pub(super) fn active<'a>(ctx: &'a Context) -> Option<&'a RestoreSpec> {
    let done = ctx
        .validator
        .status
        .as_ref()
        .and_then(|s| s.restore.as_ref())
        .is_some_and(|r| r.completed());
    ctx.validator.spec.restore.as_ref().filter(|_| !done)
}

/// Adds the restore to the validator app's Deployment.
pub(super) fn add_to_validator_app(
    ctx: &Context,
    deployment: &mut Deployment,
    operator_image: &str,
) {
    let Some(restore) = active(ctx) else {
        return;
    };
    let Some(pod) = deployment
        .spec
        .as_mut()
        .and_then(|s| s.template.spec.as_mut())
    else {
        return;
    };
    let mut init = vec![database_check(ctx), fetch(ctx, restore, operator_image)];
    init.extend(pod.init_containers.take().unwrap_or_default());
    pod.init_containers = Some(init);
    pod.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: VOLUME.to_string(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".to_string()),
            size_limit: Some(Quantity(VOLUME_LIMIT.to_string())),
        }),
        ..Volume::default()
    });
    if let Some(app) = pod.containers.first_mut() {
        app.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(mount(true));
        app.env
            .get_or_insert_with(Vec::new)
            .extend(config_vars(&ctx.validator.spec.validator_app, restore));
    }
    pod.service_account_name = restore.service_account.name.clone();
    // Only the secret source talks to the Kubernetes API.
    pod.automount_service_account_token = Some(restore.source.secret.is_some());
}

fn mount(read_only: bool) -> VolumeMount {
    VolumeMount {
        name: VOLUME.to_string(),
        mount_path: DUMP_DIR.to_string(),
        read_only: Some(read_only),
        ..VolumeMount::default()
    }
}

/// The validator app's configuration of the import, in typed HOCON.
fn config_vars(app: &ValidatorAppSpec, restore: &RestoreSpec) -> Vec<EnvVar> {
    let dump = ObjectBuilder::new()
        .field("type", Value::str("file"))
        .field("file", Value::str(DUMP_FILE))
        .field(
            "new-participant-identifier",
            Value::str(restore.new_participant_identifier.clone()),
        )
        .build();
    let mut vars = vec![env(
        DUMP_CONFIG_VAR,
        backend(&["participant-bootstrapping-dump"], &dump),
    )];
    if restore.migrate_validator_party {
        vars.push(env(
            MIGRATE_PARTY_VAR,
            backend(
                &["migrate-validator-party", "scan", "admin-api", "url"],
                &Value::str(scan_url(app)),
            ),
        ));
    }
    vars
}

/// The Scan the party is migrated from, as the chart picks it: the `trust-single` URL, else the
/// first seed URL (which defaults to `scanAddress`).
fn scan_url(app: &ValidatorAppSpec) -> String {
    let client = app.scan_client.as_ref();
    match client {
        Some(c) if c.type_ == ScanClientType::TrustSingle => {
            c.url.clone().unwrap_or_else(|| app.scan_address.clone())
        }
        Some(c) => c
            .seed_urls
            .first()
            .cloned()
            .unwrap_or_else(|| app.scan_address.clone()),
        None => app.scan_address.clone(),
    }
}

fn backend(tail: &[&'static str], value: &Value) -> String {
    let path: Vec<&'static str> = BACKEND.iter().chain(tail).copied().collect();
    hocon::assignment(&path, value)
}

fn database_check(ctx: &Context) -> Container {
    let spec = &ctx.validator.spec;
    let pg = &spec.participant.postgres;
    let image = spec
        .database_init
        .as_ref()
        .and_then(|d| d.image.clone())
        .unwrap_or_else(|| ctx.release.workloads.database_init_image.to_string());
    Container {
        name: "restore-database-check".to_string(),
        image: Some(image),
        command: Some(vec![
            "bash".to_string(),
            "-c".to_string(),
            DATABASE_CHECK.to_string(),
        ]),
        env: Some(vec![
            env("PGHOST", pg.host.clone()),
            env("PGPORT", pg.port.unwrap_or(5432).to_string()),
            env("PGUSER", pg.user.as_deref().unwrap_or("cnadmin")),
            env("PGDATABASE", participant::database_name(ctx)),
            env_from_ref("PGPASSWORD", &pg.password_secret_ref),
            env("PGOPTIONS", format!("-c search_path={}", schema(ctx))),
            env("SCHEMA", schema(ctx)),
            env(
                "NEW_IDENTIFIER",
                spec.restore
                    .as_ref()
                    .map(|r| r.new_participant_identifier.clone())
                    .unwrap_or_default(),
            ),
        ]),
        security_context: Some(container_security(ctx.release.workloads.uid)),
        termination_message_policy: Some("File".to_string()),
        ..Container::default()
    }
}

fn schema(ctx: &Context) -> String {
    ctx.validator
        .spec
        .participant
        .postgres
        .schema
        .clone()
        .unwrap_or_else(|| "participant".into())
}

fn fetch(ctx: &Context, restore: &RestoreSpec, image: &str) -> Container {
    let mut args = vec!["restore".to_string(), "fetch".to_string()];
    args.extend(destination_args(&restore.source));
    match (&restore.object, &restore.latest) {
        (Some(object), _) => args.extend(["--object".to_string(), object.clone()]),
        (None, Some(latest)) => args.extend([
            "--latest".to_string(),
            "--validator".to_string(),
            latest.validator.clone(),
            "--namespace".to_string(),
            latest
                .namespace
                .clone()
                .unwrap_or_else(|| ctx.namespace.clone()),
        ]),
        (None, None) => {}
    }
    args.extend([
        "--participant-identifier".to_string(),
        restore.participant_identifier.clone(),
        "--new-participant-identifier".to_string(),
        restore.new_participant_identifier.clone(),
        "--kms".to_string(),
        KmsTarget::of(ctx.validator.spec.kms.as_ref()).to_arg(),
        "--output".to_string(),
        DUMP_FILE.to_string(),
    ]);
    let cleared = ctx
        .validator
        .status
        .as_ref()
        .and_then(|s| s.restore.as_ref())
        .filter(|r| r.started());
    if let Some(cleared) = cleared {
        args.extend([
            "--cleared-object".to_string(),
            cleared.object.clone().unwrap_or_default(),
            "--cleared-fingerprint".to_string(),
            cleared.fingerprint.clone().unwrap_or_default(),
        ]);
    }
    Container {
        name: "restore-fetch".to_string(),
        image: Some(image.to_string()),
        args: Some(args),
        volume_mounts: Some(vec![mount(false)]),
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
        // The validator app's user: the dump it writes is then the app's own, mode 0400.
        security_context: Some(container_security(ctx.release.workloads.uid)),
        termination_message_policy: Some("File".to_string()),
        ..Container::default()
    }
}

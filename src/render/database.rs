//! Init containers that create an app's Postgres database before the app starts, as the Splice
//! charts' `pg-init` containers do.
//!
//! Every value reaches the script through the environment and every SQL identifier or literal
//! through a psql variable (`:"db"`, `:'db'`), so no spec text is ever spliced into shell or SQL.

use k8s_openapi::api::core::v1::Container;

use super::pod::{container_security, env, env_from_ref};
use crate::api::{DatabaseInit, PostgresSpec};
use crate::release::Release;

/// Waits for the server, then creates `$DATABASE_NAME` unless it exists. With
/// `$CONFLICT_CHECK = true` it refuses when another `participant%` database exists: a second
/// participant database on one server is usually a mistyped name that would start a new, empty
/// participant with a new identity.
const SCRIPT: &str = r#"set -eu
until psql -c 'select 1' >/dev/null 2>&1; do
  echo "waiting for postgres at $PGHOST:$PGPORT (database $PGDATABASE, user $PGUSER)"
  sleep 2
done
exists=$(echo "select 1 from pg_database where datname = :'db'" | psql -v db="$DATABASE_NAME" -tA)
if [ "$exists" = 1 ]; then
  echo "database $DATABASE_NAME exists"
  exit 0
fi
if [ "$CONFLICT_CHECK" = true ]; then
  others=$(echo "select string_agg(datname, ', ') from pg_database where datname like 'participant%'" | psql -tA)
  if [ -n "$others" ]; then
    echo "refusing to create participant database $DATABASE_NAME: participant database(s) $others already exist on this server; set spec.participant.postgres.database to the existing one, or spec.databaseInit.participantConflictCheck: false" >&2
    exit 1
  fi
fi
until echo 'create database :"db"' | psql -v db="$DATABASE_NAME" -v ON_ERROR_STOP=1 2>/tmp/err; do
  if grep -q 'already exists' /tmp/err; then break; fi
  cat /tmp/err >&2
  sleep 2
done
echo "database $DATABASE_NAME ready"
"#;

/// Which app a database belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum App {
    Participant,
    ValidatorApp,
}

/// The init container for `postgres`, or none when database creation is off.
pub(crate) fn init_container(
    init: Option<&DatabaseInit>,
    postgres: &PostgresSpec,
    database: &str,
    app: App,
    release: &Release,
    registry: Option<&str>,
) -> Option<Container> {
    let defaults = DatabaseInit::default();
    let init = init.unwrap_or(&defaults);
    if !init.enabled {
        return None;
    }
    let conflict_check = app == App::Participant && init.participant_conflict_check;
    let name = match app {
        App::Participant => "pg-init",
        App::ValidatorApp => "validator-app-pg-init",
    };
    Some(Container {
        name: name.to_string(),
        image: Some(init.image.clone().unwrap_or_else(|| {
            super::placement::relocate(release.workloads.database_init_image, registry)
        })),
        command: Some(vec![
            "bash".to_string(),
            "-c".to_string(),
            SCRIPT.to_string(),
        ]),
        env: Some(vec![
            env("PGHOST", postgres.host.clone()),
            env("PGPORT", postgres.port.unwrap_or(5432).to_string()),
            env("PGUSER", postgres.user.as_deref().unwrap_or("cnadmin")),
            env(
                "PGDATABASE",
                init.admin_database.as_deref().unwrap_or("cantonnet"),
            ),
            env_from_ref("PGPASSWORD", &postgres.password_secret_ref),
            env("DATABASE_NAME", database),
            env("CONFLICT_CHECK", conflict_check.to_string()),
        ]),
        security_context: Some(container_security(release.workloads.uid)),
        ..Container::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_takes_no_spec_text() {
        assert!(!SCRIPT.contains("${"));
        assert!(SCRIPT.contains(":\"db\"") && SCRIPT.contains(":'db'"));
    }
}

//! The database init containers' script, run as rendered against a real PostgreSQL server on
//! loopback: it creates each app's database once, refuses a second `participant%` database, and
//! takes hostile names literally. Needs PostgreSQL's server binaries (Debian `postgresql`, which
//! `scripts/test` installs); without them the test fails saying so.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use canton_operator::api::Validator;
use canton_operator::render::render;
use common::{EXAMPLE, decision, pod_spec, validator};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use serde_json::json;

const PASSWORD: &str = "s3cret 'quoted\"";
const HOW_TO: &str = "PostgreSQL's server binaries are needed: run `scripts/test`, which installs \
     Debian's `postgresql`, or set PG_BIN to the folder holding initdb and pg_ctl";

/// A throw-away PostgreSQL cluster on a free loopback port, stopped on drop.
struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Server {
    fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if is_root() {
            // initdb and postgres refuse to run as root: hand the folder to the postgres user.
            chown_postgres(dir.path());
        }
        let initdb = bin.join("initdb");
        let initdb = initdb.to_str().unwrap();
        let (data_s, pw_s) = (data.to_str().unwrap(), pwfile.to_str().unwrap());
        run_as_server_user(&[
            initdb,
            "-D",
            data_s,
            "-U",
            "cnadmin",
            "--pwfile",
            pw_s,
            "-A",
            "scram-sha-256",
        ]);
        let options = format!(
            "-k {} -p {port} -c listen_addresses=127.0.0.1",
            dir.path().display()
        );
        let log = dir.path().join("log");
        run_as_server_user(&[
            bin.join("pg_ctl").to_str().unwrap(),
            "-D",
            data_s,
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
            "-w",
            "start",
        ]);
        let server = Server { dir, bin, port };
        server.sql("create database cantonnet");
        server
    }

    fn sql(&self, statement: &str) -> String {
        self.sql_in("postgres", statement)
    }

    fn sql_in(&self, database: &str, statement: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "cnadmin",
            ])
            .args(["-d", database, "-tA", "-c", statement])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "{statement}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    fn databases(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .sql("select datname from pg_database where not datistemplate")
            .lines()
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// Runs an init container's command with its environment, the Secret read as [`PASSWORD`] and
    /// the host pointed at this server.
    fn run(&self, container: &Container) -> Output {
        self.run_with(container, &[])
    }

    /// [`Server::run`] with more variables (such as where the termination message goes).
    fn run_with(&self, container: &Container, extra: &[(&str, &str)]) -> Output {
        let command = container.command.clone().unwrap();
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..]).env_clear();
        cmd.env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()));
        for var in container.env.iter().flatten() {
            let value = match (&var.value, &var.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(_)) => PASSWORD.to_string(),
                (None, None) => String::new(),
            };
            cmd.env(&var.name, value);
        }
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string());
        cmd.envs(extra.iter().copied());
        cmd.output().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = Command::new(if is_root() { "runuser" } else { "env" })
            .args(if is_root() {
                vec!["-u", "postgres", "--"]
            } else {
                vec![]
            })
            .args([
                pg_ctl.to_str().unwrap(),
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "stop",
            ])
            .output();
    }
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap_or_else(|e| panic!("/usr/lib/postgresql: {e}; {HOW_TO}"))
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no initdb found; {HOW_TO}"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

fn chown_postgres(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success(), "chown to postgres failed; {HOW_TO}");
}

fn run_as_server_user(args: &[&str]) {
    let out = if is_root() {
        Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .output()
    } else {
        Command::new(args[0]).args(&args[1..]).output()
    }
    .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The example with a JSON merge patch on its spec, rendered with KMS off.
fn render_patched(patch: serde_json::Value) -> (Deployment, Deployment) {
    let mut object = serde_json::to_value(validator(EXAMPLE)).unwrap();
    json_patch::merge(&mut object["spec"], &patch);
    let v: Validator = serde_json::from_value(object).unwrap();
    let r = render(&v, &decision(EXAMPLE, &[])).unwrap();
    (r.participant, r.validator_app)
}

fn init(deployment: &Deployment) -> Container {
    pod_spec(deployment).init_containers.as_ref().unwrap()[0].clone()
}

#[test]
fn the_init_containers_create_each_database_once_and_refuse_a_second_participant() {
    let server = Server::start();
    let (participant, app) = render_patched(json!({}));

    let out = server.run(&init(&participant));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = server.run(&init(&app));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        server.databases(),
        [
            "cantonnet",
            "cantonnet_participant",
            "cantonnet_validator",
            "postgres"
        ]
    );
    // Again: both exist, nothing changes.
    for d in [&participant, &app] {
        let out = server.run(&init(d));
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("exists"),
            "{}",
            text(&out.stdout)
        );
    }

    // A participant database named like the docs' `participant_<migration id>` exists; a new name
    // would start a second participant: refused, nothing created.
    server.sql("create database participant_0");
    let (renamed, _) =
        render_patched(json!({"participant": {"postgres": {"database": "participant_1"}}}));
    let out = server.run(&init(&renamed));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("participant database(s) participant_0 already exist"),
        "{}",
        text(&out.stderr)
    );
    assert!(!server.databases().contains(&"participant_1".to_string()));
    // The existing one is fine, and the check can be turned off.
    let (existing, _) =
        render_patched(json!({"participant": {"postgres": {"database": "participant_0"}}}));
    assert!(server.run(&init(&existing)).status.success());
    let (unchecked, _) = render_patched(json!({
        "participant": {"postgres": {"database": "participant_1"}},
        "databaseInit": {"participantConflictCheck": false},
    }));
    let out = server.run(&init(&unchecked));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(server.databases().contains(&"participant_1".to_string()));
}

#[test]
fn names_reach_sql_only_as_quoted_identifiers() {
    let server = Server::start();
    let hostile = "x\"; drop database cantonnet; --";
    let (_, app) = render_patched(json!({"validatorApp": {"postgres": {"database": hostile}}}));
    let out = server.run(&init(&app));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let names = server.databases();
    assert!(names.contains(&hostile.to_string()), "{names:?}");
    assert!(names.contains(&"cantonnet".to_string()), "{names:?}");
}

/// The restore's database check, run as rendered (with the participant's own credentials) against
/// the real server: a database that does not exist yet, or exists with no node, passes; one that
/// holds another node, or keys without a node id, is refused with `DatabaseNotEmpty` in the
/// termination message; one that holds only the node this restore imported passes (a restart
/// after the import).
#[test]
fn the_restore_refuses_a_participant_database_that_holds_a_node() {
    let server = Server::start();
    let v = validator("examples/validator-restore.yaml");
    let rendered = render(&v, &decision("examples/validator-restore.yaml", &[])).unwrap();
    let check = pod_spec(&rendered.validator_app)
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == "restore-database-check")
        .expect("the restore's database check")
        .clone();
    let database = v.spec.participant.postgres.database.clone().unwrap();
    let log = server.dir.path().join("termination-log");
    let log_path = log.to_str().unwrap().to_string();
    let run = || {
        let _ = std::fs::remove_file(&log);
        let out = server.run_with(&check, &[("TERMINATION_LOG", &log_path)]);
        let message = std::fs::read_to_string(&log).unwrap_or_default();
        let result = canton_operator::restore::RestoreResult::parse(&message)
            .unwrap_or_else(|e| panic!("{e}: {message:?} {}", text(&out.stderr)));
        (out.status.success(), result)
    };
    let reason = |r: &canton_operator::restore::RestoreResult| r.reason.as_str().to_string();

    let (ok, r) = run();
    assert!(ok && reason(&r) == "DatabaseEmpty", "{r:?}");
    assert!(r.message.contains("does not exist"), "{r:?}");

    server.sql(&format!("create database {database}"));
    server.sql_in(&database, "create schema participant");
    let (ok, r) = run();
    assert!(ok && reason(&r) == "DatabaseEmpty", "no tables yet: {r:?}");

    // As Canton's migrations leave it before the validator app initialises the node.
    server.sql_in(
        &database,
        "create table participant.common_node_id (identifier varchar not null, namespace varchar not null); \
         create table participant.common_crypto_private_keys (key_id varchar primary key)",
    );
    let (ok, r) = run();
    assert!(ok && reason(&r) == "DatabaseEmpty", "empty tables: {r:?}");

    server.sql_in(
        &database,
        "insert into participant.common_crypto_private_keys values ('k1')",
    );
    let (ok, r) = run();
    assert!(
        !ok && reason(&r) == "DatabaseNotEmpty",
        "keys, no node: {r:?}"
    );
    assert!(r.message.contains("1 key(s)"), "{r:?}");

    server.sql_in(
        &database,
        "insert into participant.common_node_id values ('other-node', '1220ffff')",
    );
    let (ok, r) = run();
    assert!(!ok && reason(&r) == "DatabaseNotEmpty", "{r:?}");
    assert!(r.message.contains("other-node::1220ffff"), "{r:?}");

    server.sql_in(
        &database,
        "update participant.common_node_id set identifier = 'acme-participant-r1'",
    );
    let (ok, r) = run();
    assert!(
        ok && reason(&r) == "DatabaseEmpty",
        "the restored node itself: {r:?}"
    );
    assert!(r.message.contains("already imported"), "{r:?}");
}

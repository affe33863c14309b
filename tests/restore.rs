//! Restoring a validator from its identity backup, end to end: a dump written by the real
//! `backup identities` run into moto's S3; a Validator with `spec.restore` reconciled by the real
//! controller against the fake API server; the validator app pod's `restore-fetch` init container
//! run for real, as rendered, against moto (first verify and wait for clearance, then write the
//! cleared dump with mode 0400); the validator app's configuration resolved by the start-up
//! harness with the dump mounted; completion, after which the dump is no longer given to the app.
//! Then each refusal `restore fetch` makes, with its reason.

mod backup_support;
mod common;
mod harness;
mod support;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use backup_support::*;
use canton_operator::restore::RestoreResult;
use common::startup::{Image, check_container};
use harness::{NS as HNS, *};
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;

const NEW_ID: &str = "acme-participant-r1";
const RESTORED: &str = "acme-restored";

/// Runs `restore fetch` with `args` against moto; its exit code and result file.
fn restore_fetch(moto: &Moto, args: &[String], output: &Path) -> (i32, RestoreResult) {
    let dir = tempfile::tempdir().expect("tempdir");
    let result_file = dir.path().join("termination-log");
    let mut args = args.to_vec();
    // The container's paths, pointed at the test's folder.
    for a in args.iter_mut() {
        if a == canton_operator::render::DUMP_FILE {
            *a = output.display().to_string();
        }
    }
    let out = cargo_bin_cmd!("canton-operator")
        .env_clear()
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .args(&args)
        .arg("--result-file")
        .arg(&result_file)
        .output()
        .expect("runs");
    let line = std::fs::read_to_string(&result_file).expect("the result file is written");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), line);
    let result = RestoreResult::parse(&line).expect("a RestoreResult");
    (out.status.code().expect("exit code"), result)
}

/// `backup identities` as the CronJob runs it, against moto and the fake validator app.
async fn backup_run(moto: &Moto, bucket: &str, dump: &Value) {
    let (app, served) = fake_validator_app().await;
    served.serve(bytes(dump));
    let endpoint = moto.endpoint.clone();
    let dest = format!("s3://{bucket}/canton");
    let out = tokio::task::spawn_blocking(move || {
        backup_identities_command(app)
            .args(["--destination", &dest])
            .args(["--region", REGION, "--endpoint", &endpoint])
            .args(["--validator-app-url", &format!("http://{app}")])
            .args([
                "--participant-identifier",
                IDENTIFIER,
                "--validator",
                VALIDATOR,
            ])
            .args(["-n", NAMESPACE, "--result-file", "/dev/null"])
            .output()
            .expect("runs")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The example Validator restoring the newest verified dump of `acme` from moto.
fn restoring_validator(moto: &Moto, bucket: &str) -> canton_operator::api::Validator {
    let mut v = validator(RESTORED);
    v.spec.validator_app.participant_identifier = Some(NEW_ID.into());
    v.spec.restore = Some(
        serde_json::from_value(json!({
            "source": {"s3": {"bucket": bucket, "prefix": "canton", "region": REGION, "endpoint": moto.endpoint}},
            "latest": {"validator": VALIDATOR, "namespace": NAMESPACE},
            "participantIdentifier": IDENTIFIER,
            "newParticipantIdentifier": NEW_ID,
            "serviceAccount": {"name": "acme-restore"},
        }))
        .expect("restore spec"),
    );
    v
}

fn app_deployment(server: &FakeApiServer) -> Value {
    deployment(server, &format!("{RESTORED}-validator-app")).expect("validator app Deployment")
}

fn init_container(d: &Value, name: &str) -> Option<Value> {
    d.pointer("/spec/template/spec/initContainers")?
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

fn fetch_args(d: &Value) -> Vec<String> {
    let c = init_container(d, "restore-fetch").expect("restore-fetch init container");
    serde_json::from_value(c["args"].clone()).expect("args")
}

/// A validator app pod as the ReplicaSet and kubelet leave it: its restore init containers ended
/// with these results (`(name, exit code, message)`).
fn app_pod(server: &FakeApiServer, n: u32, ended: &[(&str, i32, String)]) {
    let d = app_deployment(server);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{RESTORED}-validator-app-5d8f7c-{n}"),
            "namespace": HNS,
            "labels": d["spec"]["template"]["metadata"]["labels"],
        },
        "spec": d["spec"]["template"]["spec"],
    });
    server.insert(&pod).expect("pod inserted");
    let statuses: Vec<Value> = ended
        .iter()
        .map(|(name, code, message)| {
            json!({"name": name, "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": code, "reason": if *code == 0 {"Completed"} else {"Error"},
                    "finishedAt": "2099-01-01T00:00:00Z", "message": message}}})
        })
        .collect();
    server
        .set_status(
            "v1",
            "pods",
            Some(HNS),
            &format!("{RESTORED}-validator-app-5d8f7c-{n}"),
            json!({"phase": "Pending", "initContainerStatuses": statuses}),
        )
        .expect("pod status");
}

fn restored(server: &FakeApiServer) -> Option<Value> {
    condition(server, RESTORED, "Restored")
}

fn env_names(d: &Value) -> Vec<String> {
    d.pointer("/spec/template/spec/containers/0/env")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const DATABASE_EMPTY: &str =
    r#"{"reason":"DatabaseEmpty","message":"the participant database holds no node"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_is_restored_from_its_verified_backup() {
    let moto = Moto::start();
    moto.create_bucket("restore").await;
    let original = dump(IDENTIFIER, 0x10, 5);
    backup_run(&moto, "restore", &original).await;
    let fp = fingerprint(0x10);

    let server = server();
    let mut v = restoring_validator(&moto, "restore");
    v.spec.backup = Some(
        serde_json::from_value(json!({"identities": {
            "schedule": "0 */6 * * *",
            "destination": {"s3": {"bucket": "restore", "prefix": "canton", "region": REGION}},
            "serviceAccount": {"name": "acme-restore"}}}))
        .unwrap(),
    );
    server.insert(&v).unwrap();
    let _op = start(
        &server,
        config_from(&[(
            "CANTON_OPERATOR_IMAGE",
            "registry.example/canton-operator:dev",
        )]),
    );
    within(60, async {
        eventually("Restored=Fetching", || {
            restored(&server).is_some_and(|c| c["reason"] == "Fetching")
        })
        .await;
    })
    .await;
    let d = app_deployment(&server);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        pod["serviceAccountName"], "acme-restore",
        "the fetch runs as the restore's identity"
    );
    assert_eq!(
        init_container(&d, "restore-fetch").unwrap()["image"],
        "registry.example/canton-operator:dev"
    );
    assert_eq!(
        init_container(&d, "restore-fetch").unwrap()["securityContext"]["runAsUser"],
        1001
    );
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "participant-bootstrapping-dump")
        .unwrap();
    assert_eq!(volume["emptyDir"]["medium"], "Memory");

    // Phase one: the container fetches and verifies, writes nothing, and waits for clearance.
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("content");
    let args = fetch_args(&d);
    assert!(
        !args.iter().any(|a| a == "--cleared-fingerprint"),
        "{args:?}"
    );
    let (code, first) = restore_fetch(&moto, &args, &output);
    assert_eq!((code, first.reason.as_str()), (3, "Verified"), "{first:?}");
    assert_eq!(first.fingerprint.as_deref(), Some(fp.as_str()));
    assert!(!output.exists(), "nothing is written before clearance");

    app_pod(
        &server,
        1,
        &[
            ("restore-database-check", 0, DATABASE_EMPTY.into()),
            ("restore-fetch", 3, first.to_line()),
        ],
    );
    within(60, async {
        eventually("Restored=Importing", || {
            restored(&server).is_some_and(|c| c["reason"] == "Importing")
        })
        .await;
        eventually("the cleared fetch", || {
            fetch_args(&app_deployment(&server))
                .iter()
                .any(|a| a == "--cleared-fingerprint")
        })
        .await;
    })
    .await;
    let status = validator_obj(&server, RESTORED).unwrap()["status"]["restore"].clone();
    assert_eq!(status["fingerprint"], json!(fp));
    assert_eq!(
        status["participantId"],
        json!(format!("PAR::{IDENTIFIER}::{fp}"))
    );
    assert_eq!(status["object"], json!(first.object.clone().unwrap()));
    assert!(status["startedAt"].is_string(), "{status}");
    assert!(!events(&server, "RestoreImporting").is_empty());
    // Its identity backups expect the new identifier and the dump's fingerprint.
    within(60, async {
        eventually("backups expect the restored fingerprint", || {
            get(
                &server,
                "batch/v1",
                "cronjobs",
                &format!("{RESTORED}-identity-backup"),
            )
            .and_then(|c| {
                c.pointer("/spec/jobTemplate/spec/template/spec/containers/0/args")
                    .cloned()
            })
            .is_some_and(|a| {
                let a: Vec<String> = serde_json::from_value(a).unwrap();
                a.windows(2)
                    .any(|w| w == ["--participant-fingerprint", fp.as_str()])
                    && a.windows(2)
                        .any(|w| w == ["--participant-identifier", NEW_ID])
            })
        })
        .await;
    })
    .await;

    // Phase two: the cleared dump is written, readable only by its owner (the app's user).
    let d = app_deployment(&server);
    let (code, second) = restore_fetch(&moto, &fetch_args(&d), &output);
    assert_eq!((code, second.reason.as_str()), (0, "Fetched"), "{second:?}");
    let meta = std::fs::metadata(&output).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o400);
    assert_eq!(meta.uid(), unsafe_uid(), "owned by the container's user");
    assert_eq!(
        std::fs::read(&output).unwrap(),
        bytes(&original),
        "the dump as backed up"
    );

    // The app's configuration resolves with the restore keys and the file's folder mounted.
    let app = d.pointer("/spec/template/spec/containers/0").unwrap();
    assert_eq!(
        check_container(Image::ValidatorApp, app),
        Vec::<String>::new()
    );
    assert!(
        env_names(&d)
            .iter()
            .any(|n| n == "ADDITIONAL_CONFIG_PARTICIPANT_BOOTSTRAPPING_DUMP")
    );

    // The app comes up on the imported identity: completed, and the dump is no longer rendered.
    make_available(&server, &format!("{RESTORED}-participant"));
    make_available(&server, &format!("{RESTORED}-validator-app"));
    within(60, async {
        eventually("Restored=Completed", || {
            restored(&server).is_some_and(|c| c["reason"] == "Completed" && c["status"] == "True")
        })
        .await;
        eventually("no dump config", || {
            init_container(&app_deployment(&server), "restore-fetch").is_none()
        })
        .await;
    })
    .await;
    let d = app_deployment(&server);
    assert!(
        !env_names(&d)
            .iter()
            .any(|n| n.contains("BOOTSTRAPPING_DUMP") || n.contains("MIGRATE_VALIDATOR_PARTY"))
    );
    assert!(d["spec"]["template"]["spec"]["serviceAccountName"].is_null());
    assert!(
        validator_obj(&server, RESTORED).unwrap()["status"]["restore"]["completedAt"].is_string()
    );

    // A restart after completion (even one whose stale init result failed) imports nothing again.
    app_pod(
        &server,
        2,
        &[(
            "restore-database-check",
            1,
            r#"{"reason":"DatabaseNotEmpty","message":"stale"}"#.into(),
        )],
    );
    settle(&server, std::time::Duration::from_millis(500)).await;
    assert_eq!(restored(&server).unwrap()["reason"], "Completed");
    assert!(init_container(&app_deployment(&server), "restore-fetch").is_none());
}

fn unsafe_uid() -> u32 {
    std::fs::metadata(std::env::temp_dir()).map(|_| ()).ok();
    let out = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_validator_with_the_dumps_fingerprint_stops_the_restore() {
    let moto = Moto::start();
    moto.create_bucket("live").await;
    let server = server();
    // The original is live: Ready, and its newest verified backup names its participant id.
    let mut live = validator(VALIDATOR);
    live.spec.backup = Some(
        serde_json::from_value(json!({"identities": {
        "schedule": "0 */6 * * *",
        "destination": {"s3": {"bucket": "live", "region": REGION}},
        "serviceAccount": {"name": "backup"}}}))
        .unwrap(),
    );
    server.insert(&live).unwrap();
    server.insert(&restoring_validator(&moto, "live")).unwrap();
    let _op = start(&server, config(false));
    within(60, async {
        eventually("both reconciled", || {
            deployment(&server, &format!("{RESTORED}-validator-app")).is_some()
                && deployment(&server, &format!("{VALIDATOR}-validator-app")).is_some()
        })
        .await;
    })
    .await;
    let pid = format!("PAR::{IDENTIFIER}::{}", fingerprint(0x10));
    let backup_pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{VALIDATOR}-identity-backup-1"), "namespace": HNS, "labels": {
            "app.kubernetes.io/managed-by": "canton-operator", "app.kubernetes.io/name": "canton-validator",
            "app.kubernetes.io/instance": VALIDATOR, "app.kubernetes.io/component": "identity-backup"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "backup", "image": "op"}]}});
    server.insert(&backup_pod).unwrap();
    let line = json!({"outcome": "Verified", "reason": "Verified", "message": "ok", "object": "o",
        "sizeBytes": 1, "participantId": pid, "pruned": 0, "finishedAt": "2099-01-01T00:00:00Z"})
    .to_string();
    server.set_status("v1", "pods", Some(HNS), &format!("{VALIDATOR}-identity-backup-1"), json!({"phase": "Succeeded",
        "containerStatuses": [{"name": "backup", "image": "op", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": "2099-01-01T00:00:00Z", "message": line}}}]})).unwrap();
    make_available(&server, &format!("{VALIDATOR}-participant"));
    make_available(&server, &format!("{VALIDATOR}-validator-app"));
    within(60, async {
        eventually("the original is Ready with its participant id", || {
            let v = validator_obj(&server, VALIDATOR).unwrap();
            condition(&server, VALIDATOR, "Ready").is_some_and(|c| c["status"] == "True")
                && v["status"]["backup"]["lastSuccess"]["participantId"] == json!(pid)
        })
        .await;
    })
    .await;

    let mut verified =
        RestoreResult::parse(r#"{"reason":"Verified","message":"verified"}"#).unwrap();
    verified.object = Some("canton/validators/acme/identities-20990101T000000Z.json".into());
    verified.participant_id = Some(pid.clone());
    verified.fingerprint = Some(fingerprint(0x10));
    app_pod(
        &server,
        1,
        &[
            ("restore-database-check", 0, DATABASE_EMPTY.into()),
            ("restore-fetch", 3, verified.to_line()),
        ],
    );
    within(60, async {
        eventually("Restored=FingerprintInUse", || {
            restored(&server).is_some_and(|c| c["reason"] == "FingerprintInUse")
        })
        .await;
    })
    .await;
    let c = restored(&server).unwrap();
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{HNS}/{VALIDATOR}")),
        "{c}"
    );
    assert!(
        validator_obj(&server, RESTORED).unwrap()["status"]["restore"]["startedAt"].is_null(),
        "not cleared"
    );
    assert!(
        !fetch_args(&app_deployment(&server))
            .iter()
            .any(|a| a == "--cleared-fingerprint")
    );
    assert!(
        !events(&server, "FingerprintInUse").is_empty(),
        "a Warning Event names it"
    );
}

/// `restore fetch` with the settings of a Validator restoring from `bucket`.
fn args(moto: &Moto, bucket: &str, which: &[&str], new_id: &str, kms: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "restore",
        "fetch",
        "--destination",
        &format!("s3://{bucket}/canton"),
        "--region",
        REGION,
        "--endpoint",
        &moto.endpoint,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(which.iter().map(|s| s.to_string()));
    a.extend(
        [
            "--participant-identifier",
            IDENTIFIER,
            "--new-participant-identifier",
            new_id,
            "--kms",
            kms,
            "--output",
            canton_operator::render::DUMP_FILE,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_names_its_cause_and_writes_nothing() {
    let moto = Moto::start();
    moto.create_bucket("refusals").await;
    let s3 = moto.bucket("refusals");
    let folder = format!("canton/{NAMESPACE}/{VALIDATOR}");
    let private = format!("{folder}/identities-20260101T000000Z.json");
    let kms = format!("{folder}/identities-20260102T000000Z.json");
    let broken = format!("{folder}/identities-20260103T000000Z.json");
    put(&s3, &private, bytes(&dump(IDENTIFIER, 0x10, 4))).await;
    put(&s3, &kms, bytes(&kms_dump(IDENTIFIER, 0x20))).await;
    let mut cut = bytes(&dump(IDENTIFIER, 0x10, 4));
    cut.truncate(cut.len() / 2);
    put(&s3, &broken, cut).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("content");
    let object = |name: &str| vec!["--object".to_string(), name.to_string()];
    let cases: Vec<(Vec<String>, &str, &str, &str)> = vec![
        (object(&kms), NEW_ID, "off", "KmsMismatch"),
        (object(&kms), NEW_ID, "envelope", "KmsMismatch"),
        (object(&kms), NEW_ID, "aws/us-east-1", "KmsMismatch"),
        (object(&kms), NEW_ID, "gcp/p/l/r", "KmsMismatch"),
        (
            object(&private),
            NEW_ID,
            "aws/eu-west-1",
            "PrivateKeysIntoExternalKms",
        ),
        (
            object(&format!("{folder}/identities-20250101T000000Z.json")),
            NEW_ID,
            "off",
            "DumpNotFound",
        ),
        (object(&broken), NEW_ID, "off", "Truncated"),
        (object(&private), IDENTIFIER, "off", "IdentifierReused"),
        (
            vec![
                "--latest".into(),
                "--validator".into(),
                "nobody".into(),
                "-n".into(),
                NAMESPACE.into(),
            ],
            NEW_ID,
            "off",
            "DumpNotFound",
        ),
    ];
    for (which, new_id, target, want) in cases {
        let which: Vec<&str> = which.iter().map(String::as_str).collect();
        let (code, r) = restore_fetch(
            &moto,
            &args(&moto, "refusals", &which, new_id, target),
            &out,
        );
        assert_eq!(
            (code, r.reason.as_str()),
            (1, want),
            "{which:?} --kms {target}: {r:?}"
        );
        assert!(!r.message.is_empty());
        assert!(!out.exists(), "{want}: nothing written");
    }
    // The KMS dump fits a Validator with its keys' region; the newest verified one skips the broken.
    let (code, r) = restore_fetch(
        &moto,
        &args(
            &moto,
            "refusals",
            &["--object", &kms],
            NEW_ID,
            "aws/eu-west-1",
        ),
        &out,
    );
    assert_eq!((code, r.reason.as_str()), (3, "Verified"), "{r:?}");
    let (code, r) = restore_fetch(
        &moto,
        &args(
            &moto,
            "refusals",
            &["--latest", "--validator", VALIDATOR, "-n", NAMESPACE],
            NEW_ID,
            "aws/eu-west-1",
        ),
        &out,
    );
    assert_eq!(
        (code, r.object.as_deref()),
        (3, Some(kms.as_str())),
        "{r:?}"
    );
    // A cleared fetch whose dump changed at the source since is refused.
    let mut cleared = args(
        &moto,
        "refusals",
        &["--object", &kms],
        NEW_ID,
        "aws/eu-west-1",
    );
    cleared.extend([
        "--cleared-object".into(),
        kms.clone(),
        "--cleared-fingerprint".into(),
        fingerprint(0x30),
    ]);
    let (code, r) = restore_fetch(&moto, &cleared, &out);
    assert_eq!((code, r.reason.as_str()), (1, "DumpChanged"), "{r:?}");
    assert!(!out.exists());
}

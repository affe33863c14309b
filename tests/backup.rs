//! `backup identities`, `list`, `fetch` and `verify` end to end: the real binary against a real
//! S3 API (moto_server on 127.0.0.1) and a fake token endpoint and validator app serving dumps of
//! Splice's shape. Bad dumps end as failed runs with their reason and never replace or prune a
//! good backup.

mod backup_support;

use std::net::SocketAddr;

use assert_cmd::cargo::cargo_bin_cmd;
use backup_support::*;
use canton_operator::backup::{Outcome, Reason, RunResult};
use serde_json::Value;

/// The folder of the test validator's dumps under `prefix`.
fn folder(prefix: &str) -> String {
    format!("{prefix}/{NAMESPACE}/{VALIDATOR}")
}

fn seed_name(prefix: &str, day: u32) -> String {
    format!("{}/identities-202501{day:02}T000000Z.json", folder(prefix))
}

/// Runs `backup identities` and returns its parsed result file, stdout line and exit success.
async fn run_backup(endpoint: &str, bucket: &str, app: SocketAddr, keep: u32) -> (RunResult, bool) {
    run_backup_from(endpoint, bucket, app, &format!("http://{app}"), keep).await
}

/// Like `run_backup`, with the dump fetched from `app_url` (the token still from `app`).
async fn run_backup_from(
    endpoint: &str,
    bucket: &str,
    app: SocketAddr,
    app_url: &str,
    keep: u32,
) -> (RunResult, bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let result_file = dir.path().join("termination-log");
    let mut cmd = backup_identities_command(app);
    cmd.args(["--destination", &format!("s3://{bucket}/canton")])
        .args(["--region", REGION, "--endpoint", endpoint])
        .args(["--validator-app-url", app_url])
        .args([
            "--participant-identifier",
            IDENTIFIER,
            "--validator",
            VALIDATOR,
            "-n",
            NAMESPACE,
        ])
        .args(["--keep", &keep.to_string()])
        .arg("--result-file")
        .arg(&result_file);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let written = std::fs::read_to_string(&result_file).expect("the result file is written");
    assert_eq!(
        stdout, written,
        "stdout and the result file carry the same line"
    );
    assert!(written.len() < 4096 && !written.contains('\n'));
    let result = canton_operator::backup::parse(&written).expect("a RunResult");
    (result, out.status.success())
}

async fn seeded(moto: &Moto, bucket: &str) -> object_store::aws::AmazonS3 {
    moto.create_bucket(bucket).await;
    let s3 = moto.bucket(bucket);
    for (day, items) in [(1, 3), (2, 4), (3, 5)] {
        put(
            &s3,
            &seed_name("canton", day),
            bytes(&dump(IDENTIFIER, 0x10, items)),
        )
        .await;
    }
    s3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_dump_is_uploaded_verified_and_retention_keeps_n() {
    let moto = Moto::start();
    let s3 = seeded(&moto, "good").await;
    let (app, served) = fake_validator_app().await;
    let good = bytes(&dump(IDENTIFIER, 0x10, 6));
    served.serve(good.clone());

    let (result, ok) = run_backup(&moto.endpoint, "good", app, 2).await;

    assert!(ok, "{result:?}");
    assert_eq!(
        (result.outcome, result.reason),
        (Outcome::Verified, Reason::Verified),
        "{}",
        result.message
    );
    let object = result.object.clone().expect("object name");
    assert!(
        object.starts_with(&format!("{}/identities-", folder("canton"))),
        "{object}"
    );
    assert_eq!(result.size_bytes, Some(good.len() as u64));
    assert_eq!(
        result.participant_id.as_deref(),
        Some(format!("PAR::{IDENTIFIER}::{}", fingerprint(0x10)).as_str())
    );
    assert_eq!(result.pruned, 2);
    chrono::DateTime::parse_from_rfc3339(&result.finished_at).expect("RFC 3339");
    assert_eq!(read(&s3, &object).await, good);
    assert_eq!(
        names(&s3, &folder("canton")).await,
        vec![seed_name("canton", 3), object]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_dumps_fail_with_their_reason_and_touch_nothing() {
    let moto = Moto::start();
    let s3 = seeded(&moto, "bad").await;
    let before = names(&s3, &folder("canton")).await;
    let (app, served) = fake_validator_app().await;

    let good = dump(IDENTIFIER, 0x10, 6);
    let text = serde_json::to_string(&good).expect("json");
    let mut missing_enc = good.clone();
    missing_enc["keys"].as_array_mut().expect("keys").pop();
    let mut no_namespace = good.clone();
    no_namespace["keys"].as_array_mut().expect("keys").remove(0);
    let mut empty_key = good.clone();
    empty_key["keys"][1]["keyPair"] = Value::String(String::new());
    let mut cut_snapshot = good.clone();
    let mut snap = snapshot(6);
    snap.truncate(snap.len() - 5);
    cut_snapshot["authorizedStoreSnapshot"] = Value::String(base64_encode(&snap));
    let cases: Vec<(&str, Vec<u8>, Reason)> = vec![
        ("empty body", Vec::new(), Reason::EmptyDump),
        (
            "no keys, no snapshot",
            br#"{"id":"PAR::acme-participant::1220aa","keys":[],"authorizedStoreSnapshot":""}"#
                .to_vec(),
            Reason::EmptyDump,
        ),
        (
            "cut-off JSON",
            text.as_bytes()[..text.len() / 2].to_vec(),
            Reason::Truncated,
        ),
        ("cut-off snapshot", bytes(&cut_snapshot), Reason::Truncated),
        (
            "another participant",
            bytes(&dump("other-participant", 0x10, 6)),
            Reason::WrongParticipant,
        ),
        (
            "same identifier, another namespace",
            bytes(&dump(IDENTIFIER, 0x40, 6)),
            Reason::WrongParticipant,
        ),
        (
            "no encryption key",
            bytes(&missing_enc),
            Reason::MissingKeys,
        ),
        (
            "no namespace key",
            bytes(&no_namespace),
            Reason::MissingKeys,
        ),
        ("an empty key", bytes(&empty_key), Reason::MissingKeys),
        (
            "older topology state",
            bytes(&dump(IDENTIFIER, 0x10, 4)),
            Reason::OlderThanLastGood,
        ),
        (
            "not a dump",
            br#"{"hello":"world"}"#.to_vec(),
            Reason::InvalidDump,
        ),
    ];
    for (what, body, reason) in cases {
        served.serve(body);
        let (result, ok) = run_backup(&moto.endpoint, "bad", app, 1).await;
        assert!(!ok, "{what}: exit 0 for {result:?}");
        assert_eq!(
            (result.outcome, result.reason),
            (Outcome::Failed, reason),
            "{what}: {}",
            result.message
        );
        assert_eq!(result.pruned, 0, "{what}");
        assert_eq!(
            names(&s3, &folder("canton")).await,
            before,
            "{what}: the bucket changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_refuses_writes_is_upload_failed_and_nothing_is_pruned() {
    let moto = Moto::start();
    let s3 = seeded(&moto, "locked").await;
    let before = names(&s3, &folder("canton")).await;
    let proxy = write_refusing_proxy(moto.endpoint.clone()).await;
    let (app, served) = fake_validator_app().await;
    served.serve(bytes(&dump(IDENTIFIER, 0x10, 6)));

    let (result, ok) = run_backup(&format!("http://{proxy}"), "locked", app, 1).await;

    assert!(!ok);
    assert_eq!(
        (result.outcome, result.reason),
        (Outcome::Failed, Reason::UploadFailed),
        "{}",
        result.message
    );
    assert_eq!(names(&s3, &folder("canton")).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_is_upload_failed() {
    let moto = Moto::start();
    let (app, served) = fake_validator_app().await;
    served.serve(bytes(&dump(IDENTIFIER, 0x10, 6)));
    let (result, ok) = run_backup(&moto.endpoint, "does-not-exist", app, 1).await;
    assert!(!ok);
    assert_eq!(result.reason, Reason::UploadFailed, "{}", result.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_validator_app_failures_have_their_reasons() {
    let moto = Moto::start();
    let s3 = seeded(&moto, "auth").await;
    let before = names(&s3, &folder("canton")).await;
    let (app, served) = fake_validator_app().await;
    served.serve(bytes(&dump(IDENTIFIER, 0x10, 6)));

    *served.token_status.lock().expect("lock") = axum::http::StatusCode::UNAUTHORIZED;
    let (result, _) = run_backup(&moto.endpoint, "auth", app, 1).await;
    assert_eq!(result.reason, Reason::TokenFailed, "{}", result.message);

    *served.token_status.lock().expect("lock") = axum::http::StatusCode::OK;
    *served.dump.lock().expect("lock") = (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        b"boom".to_vec(),
    );
    let (result, ok) = run_backup(&moto.endpoint, "auth", app, 1).await;
    assert!(!ok);
    assert_eq!(result.reason, Reason::FetchFailed, "{}", result.message);
    assert!(result.message.contains("500"), "{}", result.message);
    assert_eq!(names(&s3, &folder("canton")).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_shows_newest_first_with_verification_and_fetch_latest_skips_bad_ones() {
    let moto = Moto::start();
    let s3 = seeded(&moto, "listing").await;
    let newest_bad = seed_name("canton", 9);
    put(&s3, &newest_bad, b"{\"id\":".to_vec()).await;
    let endpoint = moto.endpoint.clone();
    let s3_args = move |cmd: &mut assert_cmd::Command| {
        cmd.env_clear()
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .args([
                "--destination",
                "s3://listing/canton",
                "--region",
                REGION,
                "--endpoint",
                &endpoint,
            ]);
    };

    let mut list = cargo_bin_cmd!("canton-operator");
    list.args([
        "backup",
        "list",
        "--validator",
        VALIDATOR,
        "-n",
        NAMESPACE,
        "-o",
        "json",
    ]);
    s3_args(&mut list);
    let out = list.assert().success().get_output().stdout.clone();
    let rows: Vec<Value> = serde_json::from_slice(&out).expect("json rows");
    let shown: Vec<(String, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["object"].as_str().expect("object").to_string(),
                r["verified"].as_bool().expect("verified"),
            )
        })
        .collect();
    let want = vec![
        (newest_bad.clone(), false),
        (seed_name("canton", 3), true),
        (seed_name("canton", 2), true),
        (seed_name("canton", 1), true),
    ];
    assert_eq!(shown, want);
    assert_eq!(rows[0]["reason"], "Truncated");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("restore.json");
    let mut fetch = cargo_bin_cmd!("canton-operator");
    fetch
        .args([
            "backup",
            "fetch",
            "--latest",
            "--validator",
            VALIDATOR,
            "-n",
            NAMESPACE,
            "-o",
        ])
        .arg(&file);
    s3_args(&mut fetch);
    fetch.assert().success();
    assert_eq!(
        std::fs::read(&file).expect("fetched"),
        read(&s3, &seed_name("canton", 3)).await
    );
}

/// A validator app that promises a longer body than it sends, then closes the connection.
async fn cut_off_validator_app(body: Vec<u8>) -> SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body[..body.len() / 2]).await;
            let _ = socket.shutdown().await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cut_off_mid_body_is_truncated_and_touches_nothing() {
    let moto = Moto::start();
    let s3 = seeded(&moto, "cut").await;
    let before = names(&s3, &folder("canton")).await;
    let (app, _served) = fake_validator_app().await;
    let cut = cut_off_validator_app(bytes(&dump(IDENTIFIER, 0x10, 6))).await;

    let (result, ok) =
        run_backup_from(&moto.endpoint, "cut", app, &format!("http://{cut}"), 1).await;

    assert!(!ok);
    assert_eq!(
        (result.outcome, result.reason),
        (Outcome::Failed, Reason::Truncated),
        "{}",
        result.message
    );
    assert!(
        result.message.contains("was cut off after"),
        "{}",
        result.message
    );
    assert_eq!(names(&s3, &folder("canton")).await, before);
}

#[test]
fn missing_credentials_are_an_invalid_config_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let result_file = dir.path().join("termination-log");
    cargo_bin_cmd!("canton-operator")
        .env_clear()
        .args([
            "backup",
            "identities",
            "--destination",
            "s3://b/p",
            "--region",
            REGION,
        ])
        .args([
            "--validator-app-url",
            "http://127.0.0.1:9",
            "--participant-identifier",
            IDENTIFIER,
        ])
        .args(["--validator", VALIDATOR, "-n", NAMESPACE, "--result-file"])
        .arg(&result_file)
        .assert()
        .failure()
        .code(1);
    let result =
        canton_operator::backup::parse(&std::fs::read_to_string(&result_file).expect("written"))
            .expect("a RunResult");
    assert_eq!(
        (result.outcome, result.reason),
        (Outcome::Failed, Reason::InvalidConfig)
    );
    assert!(
        result
            .message
            .contains("SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET"),
        "{}",
        result.message
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// --- offline verification ---------------------------------------------------------------------

fn verify_file(body: &[u8], identifier: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("dump.json");
    std::fs::write(&file, body).expect("write");
    cargo_bin_cmd!("canton-operator")
        .args(["backup", "verify"])
        .arg(&file)
        .args(["--participant-identifier", identifier])
        .assert()
}

#[test]
fn verify_accepts_key_pair_and_kms_dumps() {
    for d in [dump(IDENTIFIER, 0x10, 2), kms_dump(IDENTIFIER, 0x20)] {
        let out = verify_file(&bytes(&d), IDENTIFIER)
            .success()
            .get_output()
            .stdout
            .clone();
        assert!(String::from_utf8_lossy(&out).starts_with("Verified: PAR::acme-participant::"));
    }
}

#[test]
fn verify_refuses_with_the_reason() {
    let text = serde_json::to_string(&dump(IDENTIFIER, 0x10, 2)).expect("json");
    let mut no_enc = kms_dump(IDENTIFIER, 0x20);
    no_enc["keys"].as_array_mut().expect("keys").pop();
    let mut bad_type = kms_dump(IDENTIFIER, 0x20);
    bad_type["keys"][0]["type"] = Value::String("hmac".into());
    for (body, identifier, reason) in [
        (
            text.as_bytes()[..text.len() - 10].to_vec(),
            IDENTIFIER,
            "Truncated",
        ),
        (
            text.clone().into_bytes(),
            "someone-else",
            "WrongParticipant",
        ),
        (bytes(&no_enc), IDENTIFIER, "MissingKeys"),
        (bytes(&bad_type), IDENTIFIER, "MissingKeys"),
        (b"  \n".to_vec(), IDENTIFIER, "EmptyDump"),
    ] {
        let out = verify_file(&body, identifier)
            .failure()
            .code(1)
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8_lossy(&out).to_string();
        assert!(
            out.starts_with(&format!("{reason}: ")),
            "want {reason}, got {out}"
        );
    }
}

//! What the backup tests run against: a real S3 API (moto_server on loopback), a fake OAuth2
//! token endpoint and validator app serving dumps of Splice's `NodeIdentitiesDump` shape, and a
//! proxy that makes the bucket refuse writes. Each test binary uses part of it.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use prost::Message;
use serde_json::{Value, json};

pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";
pub const TOKEN: &str = "test-token-1";
pub const AUDIENCE: &str = "https://ledger_api.example.com";
pub const IDENTIFIER: &str = "acme-participant";
pub const NAMESPACE: &str = "validators";
pub const VALIDATOR: &str = "acme";

/// A free loopback port (bound then released).
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// moto_server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]', tests/requirements.txt)");
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// An object_store client of `bucket`, with explicit keys (the command uses the env chain).
    pub fn bucket(&self, bucket: &str) -> AmazonS3 {
        s3_client(&self.endpoint, bucket)
    }

    /// Creates `bucket` with the S3 API.
    pub async fn create_bucket(&self, bucket: &str) {
        let status = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("moto answers")
            .status();
        assert!(status.is_success(), "creating bucket {bucket}: {status}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn s3_client(endpoint: &str, bucket: &str) -> AmazonS3 {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region(REGION)
        .with_bucket_name(bucket)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .expect("S3 client")
}

/// The names under `folder`, sorted.
pub async fn names(s3: &AmazonS3, folder: &str) -> Vec<String> {
    use futures::TryStreamExt as _;
    let mut out: Vec<String> = s3
        .list(Some(&Path::from(folder)))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .expect("listing");
    out.sort();
    out
}

pub async fn put(s3: &AmazonS3, name: &str, bytes: Vec<u8>) {
    s3.put(&Path::from(name), bytes.into())
        .await
        .expect("seeding");
}

pub async fn read(s3: &AmazonS3, name: &str) -> Vec<u8> {
    s3.get(&Path::from(name))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body")
        .to_vec()
}

// --- dumps, as Splice and Canton write them ---------------------------------------------------

#[derive(Clone, PartialEq, Message)]
struct Versioned {
    #[prost(bytes = "vec", tag = "1")]
    data: Vec<u8>,
    #[prost(int32, tag = "2")]
    version: i32,
}

#[derive(Clone, PartialEq, Message)]
struct CryptoKeyPair {
    #[prost(message, optional, tag = "1")]
    signing_key_pair: Option<KeyPairMsg>,
    #[prost(message, optional, tag = "2")]
    encryption_key_pair: Option<KeyPairMsg>,
}

#[derive(Clone, PartialEq, Message)]
struct KeyPairMsg {
    #[prost(message, optional, tag = "2")]
    private_key: Option<PrivateKeyMsg>,
}

#[derive(Clone, PartialEq, Message)]
struct PrivateKeyMsg {
    #[prost(string, tag = "1")]
    id: String,
    #[prost(int32, tag = "2")]
    format: i32,
    #[prost(bytes = "vec", tag = "3")]
    private_key: Vec<u8>,
    #[prost(int32, repeated, tag = "5")]
    usage: Vec<i32>,
    #[prost(int32, tag = "6")]
    key_spec: i32,
}

/// A fingerprint-shaped id: `1220` and 64 hex digits.
pub fn fingerprint(seed: u8) -> String {
    format!("1220{}", format!("{seed:02x}").repeat(32))
}

/// base64 of a downloaded Canton key pair (versioned `CryptoKeyPair`).
pub fn key_pair(signing: bool, fingerprint: &str) -> String {
    let pair = Some(KeyPairMsg {
        private_key: Some(PrivateKeyMsg {
            id: fingerprint.into(),
            format: 5,
            private_key: vec![0x30, 0x2e, 0x02, 0x01, 0x00, 7, 7, 7],
            usage: if signing { vec![1] } else { vec![] },
            key_spec: 1,
        }),
    });
    let msg = if signing {
        CryptoKeyPair {
            signing_key_pair: pair,
            encryption_key_pair: None,
        }
    } else {
        CryptoKeyPair {
            signing_key_pair: None,
            encryption_key_pair: pair,
        }
    };
    STANDARD.encode(
        Versioned {
            data: msg.encode_to_vec(),
            version: 30,
        }
        .encode_to_vec(),
    )
}

/// A topology snapshot's bytes: `items` whole protobuf fields (a versioned message's shape).
pub fn snapshot(items: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..items {
        out.push(0x0a); // field 1, length-delimited
        out.push(20);
        out.extend(std::iter::repeat_n(i as u8, 20));
    }
    out
}

/// A participant's dump: namespace, signing and encryption key pairs, `items` topology items.
pub fn dump(identifier: &str, ns: u8, items: usize) -> Value {
    let ns_fp = fingerprint(ns);
    json!({
        "id": format!("PAR::{identifier}::{ns_fp}"),
        "keys": [
            { "keyPair": key_pair(true, &ns_fp), "name": format!("{identifier}-namespace") },
            { "keyPair": key_pair(true, &fingerprint(ns.wrapping_add(1))), "name": format!("{identifier}-signing") },
            { "keyPair": key_pair(false, &fingerprint(ns.wrapping_add(2))), "name": format!("{identifier}-encryption") },
        ],
        "authorizedStoreSnapshot": STANDARD.encode(snapshot(items)),
        "version": "0.4.0",
    })
}

/// A KMS participant's dump: references only.
pub fn kms_dump(identifier: &str, ns: u8) -> Value {
    json!({
        "id": format!("PAR::{identifier}::{}", fingerprint(ns)),
        "keys": [
            { "type": "signing", "keyId": "arn:aws:kms:eu-west-1:111122223333:key/ns", "name": "namespace" },
            { "type": "signing", "keyId": "arn:aws:kms:eu-west-1:111122223333:key/sig", "name": "signing" },
            { "type": "encryption", "keyId": "arn:aws:kms:eu-west-1:111122223333:key/enc", "name": "encryption" },
        ],
        "authorizedStoreSnapshot": STANDARD.encode(snapshot(3)),
        "version": "0.4.0",
    })
}

pub fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

// --- the fake token endpoint and validator app ------------------------------------------------

/// What the fake validator app serves, changeable between runs.
#[derive(Clone)]
pub struct Served {
    pub dump: Arc<Mutex<(StatusCode, Vec<u8>)>>,
    pub token_status: Arc<Mutex<StatusCode>>,
}

/// Serves `/token` (client-credentials) and the identities endpoint on loopback.
pub async fn fake_validator_app() -> (SocketAddr, Served) {
    let served = Served {
        dump: Arc::new(Mutex::new((StatusCode::OK, Vec::new()))),
        token_status: Arc::new(Mutex::new(StatusCode::OK)),
    };
    let app = Router::new()
        .route("/token", post(token))
        .route(
            "/api/validator/v0/admin/participant/identities",
            get(identities),
        )
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, served)
}

async fn token(State(s): State<Served>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
    let status = *s.token_status.lock().expect("lock");
    if status != StatusCode::OK {
        return (status, "{\"error\":\"invalid_client\"}").into_response();
    }
    if !(has("grant_type", "client_credentials")
        && has("audience", AUDIENCE)
        && has("client_id", "validator")
        && has("client_secret", "s3cret"))
    {
        return (StatusCode::BAD_REQUEST, "{\"error\":\"invalid_request\"}").into_response();
    }
    let body =
        json!({ "access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600 }).to_string();
    ([("content-type", "application/json")], body).into_response()
}

async fn identities(State(s): State<Served>, headers: HeaderMap) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let (status, body) = s.dump.lock().expect("lock").clone();
    (status, [("content-type", "application/json")], body).into_response()
}

impl Served {
    pub fn serve(&self, body: Vec<u8>) {
        *self.dump.lock().expect("lock") = (StatusCode::OK, body);
    }
}

// --- a bucket that refuses writes -----------------------------------------------------------

/// A proxy to moto that answers every PUT with S3's AccessDenied, as a bucket policy denying
/// `s3:PutObject` does, and forwards everything else.
pub async fn write_refusing_proxy(upstream: String) -> SocketAddr {
    let app = Router::new().fallback(forward).with_state(upstream);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn forward(State(upstream): State<String>, req: Request) -> Response {
    if req.method() == Method::PUT {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        return (
            StatusCode::FORBIDDEN,
            [("content-type", "application/xml")],
            body,
        )
            .into_response();
    }
    let url = format!(
        "{upstream}{}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).expect("method");
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in req.headers() {
        if k != "host" {
            headers.insert(k.clone(), v.clone());
        }
    }
    let body = axum::body::to_bytes(req.into_body(), usize::MAX)
        .await
        .expect("body");
    let resp = reqwest::Client::new()
        .request(method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("moto answers");
    let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
    let headers = resp.headers().clone();
    let body = resp.bytes().await.expect("body");
    let mut out = (status, body).into_response();
    for (k, v) in &headers {
        if k != "content-length" && k != "transfer-encoding" {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// `canton-operator backup identities` with the environment the backup CronJob gives it: moto's
/// credentials and the validator app's ledger API credentials (token endpoint at `app`). Callers
/// add the arguments.
pub fn backup_identities_command(app: SocketAddr) -> assert_cmd::Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("canton-operator");
    cmd.env_clear()
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_URL",
            format!("http://{app}/token"),
        )
        .env(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_ID",
            "validator",
        )
        .env(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
            "s3cret",
        )
        .env("SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_AUDIENCE", AUDIENCE)
        .args(["backup", "identities"]);
    cmd
}

//! What the scale run needs beside the fake API server: serving it over real HTTP (so the
//! operator can be a separate process with its own memory), reading a process's peak memory and
//! CPU time from /proc, scraping the operator's /metrics, and sorting the fake's request log.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::support::fake_api::{FakeApiServer, RecordedRequest};

/// Serves `server` on 127.0.0.1 (a free port) until the returned task is aborted. Request bodies
/// are read whole; response bodies are streamed, so watches stay open and deliver events live.
pub async fn serve_http(server: FakeApiServer) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let server = server.clone();
        async move { forward(server, req).await }
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

async fn forward(
    mut server: FakeApiServer,
    req: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => bytes::Bytes::new(),
    };
    let req = http::Request::from_parts(parts, kube::client::Body::from(bytes));
    let response = match tower::Service::call(&mut server, req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    axum::response::Response::from_parts(parts, axum::body::Body::new(body))
}

/// A kubeconfig that points at `addr` over plain HTTP, without credentials.
pub fn kubeconfig(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{addr}
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: default
current-context: fake
users:
- name: fake
  user: {{}}
"
    )
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Memory and CPU of a running process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    /// Peak resident set size (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Current resident set size (VmRSS), KiB.
    pub rss_kib: u64,
    /// Of the current RSS: file-backed pages (the binary's code and data), KiB.
    pub rss_file_kib: u64,
    /// User + system CPU time, seconds.
    pub cpu_secs: f64,
}

impl ProcStats {
    pub fn rss_file_mib(&self) -> f64 {
        self.rss_file_kib as f64 / 1024.0
    }

    pub fn peak_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }
}

/// Reads /proc/<pid>/status (VmHWM, VmRSS) and /proc/<pid>/stat (utime + stime).
pub fn proc_stats(pid: u32) -> Option<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime is field 14, stime field 15: indexes 11 and 12 counted from field 3.
    let cpu_ticks = ticks(11) + ticks(12);
    Some(ProcStats {
        peak_rss_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
        rss_file_kib: kib("RssFile:"),
        cpu_secs: cpu_ticks as f64 / clock_ticks_per_second(),
    })
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// The operator's /metrics text, or `None` while it does not answer.
pub async fn scrape(port: u16) -> Option<String> {
    let fetch = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await.ok()?;
        let (_, body) = text.split_once("\r\n\r\n")?;
        Some(body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .ok()
        .flatten()
}

/// One sample's value from the exposition text (the first line that starts with `name`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// What a request was, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Server-side apply of a Validator (recording the environment's decision).
    Capture,
    /// Server-side apply of a Deployment, Service, NetworkPolicy or ServiceAccount.
    ChildApply,
    /// Merge patch of a Validator's status.
    StatusPatch,
    /// An Event created (events.k8s.io or core).
    EventWrite,
    /// A DELETE.
    Delete,
    /// Any other write except the Lease's.
    OtherWrite,
    /// A GET of one object (not the Lease).
    Get,
    /// A LIST (GET of a collection, no watch).
    List,
    /// A WATCH.
    Watch,
    /// Any request on the leader Lease (GET and PUT every 2 s, POST once).
    Lease,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Capture,
        Kind::ChildApply,
        Kind::StatusPatch,
        Kind::EventWrite,
        Kind::Delete,
        Kind::OtherWrite,
        Kind::Get,
        Kind::List,
        Kind::Watch,
        Kind::Lease,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Capture => "capture applies",
            Kind::ChildApply => "child applies",
            Kind::StatusPatch => "status patches",
            Kind::EventWrite => "events",
            Kind::Delete => "deletes",
            Kind::OtherWrite => "other writes",
            Kind::Get => "GETs",
            Kind::List => "LISTs",
            Kind::Watch => "WATCHes",
            Kind::Lease => "Lease requests",
        }
    }

    /// A write that is neither the Lease's nor an Event.
    pub fn is_object_write(self) -> bool {
        matches!(
            self,
            Kind::Capture | Kind::ChildApply | Kind::StatusPatch | Kind::Delete | Kind::OtherWrite
        )
    }
}

const CHILD_PLURALS: [&str; 4] = [
    "deployments",
    "services",
    "networkpolicies",
    "serviceaccounts",
];

/// Sorts one recorded request.
pub fn classify(r: &RecordedRequest) -> Kind {
    let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    if segments.contains(&"leases") {
        return Kind::Lease;
    }
    // Path after /api/v1 or /apis/<group>/<version>, and after namespaces/<ns>.
    let rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or_default(),
        Some(&"apis") => segments.get(3..).unwrap_or_default(),
        _ => &[],
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        other => other,
    };
    let plural = rest.first().copied().unwrap_or("");
    match r.method {
        Method::GET if r.is_watch() => Kind::Watch,
        Method::GET if rest.len() <= 1 => Kind::List,
        Method::GET => Kind::Get,
        Method::PATCH if plural == "validators" && rest.get(2) == Some(&"status") => {
            Kind::StatusPatch
        }
        Method::PATCH if plural == "validators" && rest.len() == 2 => Kind::Capture,
        Method::PATCH if CHILD_PLURALS.contains(&plural) => Kind::ChildApply,
        Method::POST | Method::PATCH if plural == "events" => Kind::EventWrite,
        Method::DELETE => Kind::Delete,
        _ => Kind::OtherWrite,
    }
}

/// Requests by kind.
pub fn count(requests: &[RecordedRequest]) -> BTreeMap<Kind, usize> {
    let mut counts: BTreeMap<Kind, usize> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
    for r in requests {
        *counts.entry(classify(r)).or_default() += 1;
    }
    counts
}

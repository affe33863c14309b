//! Getting the dump: an OAuth2 client-credentials token, then the validator app's admin endpoint,
//! with the same credentials the validator app uses for its ledger API client.

use std::time::Duration;

use serde::Deserialize;

/// The validator app's identities endpoint, below `--validator-app-url`.
pub(crate) const IDENTITIES_PATH: &str = "/api/validator/v0/admin/participant/identities";
/// How long each request may take: a CronJob runs again, a hanging one reports nothing.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The client-credentials grant's settings (`SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_*`).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub audience: String,
    pub scope: Option<String>,
}

/// Why the dump could not be fetched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("token request to {url} failed: {source}")]
    TokenRequest {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("token endpoint {url} answered {status}: {body}")]
    TokenStatus {
        url: String,
        status: u16,
        body: String,
    },
    #[error("token endpoint {url} answered without an access_token: {why}")]
    TokenBody { url: String, why: String },
    #[error("dump request to {url} failed: {source}")]
    DumpRequest {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("validator app {url} answered {status}: {body}")]
    DumpStatus {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the dump from {url} was cut off after {got} bytes: {source}")]
    DumpBody {
        url: String,
        got: usize,
        #[source]
        source: reqwest::Error,
    },
}

impl FetchError {
    /// Whether the failure is the token's (else the validator app's).
    pub(crate) fn is_token(&self) -> bool {
        matches!(
            self,
            FetchError::TokenRequest { .. }
                | FetchError::TokenStatus { .. }
                | FetchError::TokenBody { .. }
        )
    }

    /// Whether the dump's body ended early.
    pub(crate) fn is_truncated(&self) -> bool {
        matches!(self, FetchError::DumpBody { source, .. } if !source.is_timeout())
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

/// An HTTP client with the run's timeouts.
pub(crate) fn client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(FetchError::Client)
}

/// A bearer token by the client-credentials grant (form POST with `audience` and `scope`).
pub(crate) async fn token(http: &reqwest::Client, c: &Credentials) -> Result<String, FetchError> {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("audience", c.audience.as_str()),
    ];
    if let Some(scope) = c.scope.as_deref().filter(|s| !s.is_empty()) {
        form.push(("scope", scope));
    }
    let url = c.token_url.clone();
    let resp =
        http.post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|source| FetchError::TokenRequest {
                url: url.clone(),
                source,
            })?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|source| FetchError::TokenRequest {
            url: url.clone(),
            source,
        })?;
    if !status.is_success() {
        return Err(FetchError::TokenStatus {
            url,
            status: status.as_u16(),
            body: snippet(&body),
        });
    }
    let parsed: TokenResponse = serde_json::from_str(&body).map_err(|e| FetchError::TokenBody {
        url: url.clone(),
        why: e.to_string(),
    })?;
    if parsed.access_token.is_empty() {
        return Err(FetchError::TokenBody {
            url,
            why: "access_token is empty".into(),
        });
    }
    Ok(parsed.access_token)
}

/// The dump's bytes, as served (not yet verified).
pub(crate) async fn dump(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
) -> Result<Vec<u8>, FetchError> {
    let url = format!("{}{IDENTITIES_PATH}", base_url.trim_end_matches('/'));
    let mut resp = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|source| FetchError::DumpRequest {
            url: url.clone(),
            source,
        })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(FetchError::DumpStatus {
            url,
            status: status.as_u16(),
            body: snippet(&body),
        });
    }
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return Ok(bytes),
            Err(source) => {
                return Err(FetchError::DumpBody {
                    url,
                    got: bytes.len(),
                    source,
                });
            }
        }
    }
}

/// The start of an error body: enough to act on, never a whole page (or a secret echoed back).
fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

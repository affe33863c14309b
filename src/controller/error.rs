//! Failures of one reconcile; each is retried with backoff.

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("could not encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("could not read the cached copy of {what}: {source}")]
    Decode {
        what: String,
        source: super::cached::CachedError,
    },
    #[error("the Validator has no namespace")]
    MissingNamespace,
    #[error("this replica lost leadership; the write was not sent")]
    NotLeader,
}

impl Error {
    /// A short label for metrics and logs.
    pub(crate) fn reason(&self) -> String {
        match self {
            Error::Kube(kube::Error::Api(status)) => format!("Api{}", status.code),
            Error::Kube(_) => "ApiUnreachable".to_string(),
            Error::Encode { .. } => "Encode".to_string(),
            Error::Decode { .. } => "Decode".to_string(),
            Error::MissingNamespace => "MissingNamespace".to_string(),
            Error::NotLeader => "NotLeader".to_string(),
        }
    }
}

/// Result of a reconcile step.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

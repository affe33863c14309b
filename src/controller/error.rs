//! Failures of one reconcile; each is retried with backoff. A failure says which step of the
//! reconcile it happened in and, for an API request, what it was doing to which object.

use std::fmt;

/// The steps of a reconcile (`reconcile.rs`), as a failure names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Capture,
    Preflight,
    Restore,
    Plan,
    Apply,
    Prune,
    Rollout,
    Schedule,
    Status,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Capture => "recording the KMS decision",
            Step::Preflight => "checking the KMS ServiceAccount",
            Step::Restore => "reading the restore's progress",
            Step::Plan => "planning the rollout",
            Step::Apply => "applying the children",
            Step::Prune => "deleting children no longer rendered",
            Step::Rollout => "finishing the rollout",
            Step::Schedule => "scheduling key rotations",
            Step::Status => "writing the status",
        })
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{step}: {source}")]
    Step {
        step: Step,
        #[source]
        source: Box<Error>,
    },
    #[error("{action} {object}: {source}")]
    Api {
        action: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },
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
        /// A `cache::CachedError` (boxed, so this leaf module imports no cache).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the Validator has no namespace")]
    MissingNamespace,
    #[error("this replica lost leadership; the write was not sent")]
    NotLeader,
}

impl Error {
    /// `kube::Error` → this error, naming what was done to which object (`"applying"`,
    /// `"Deployment validators/acme-participant"`).
    pub(crate) fn api(
        action: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(kube::Error) -> Self {
        let object = object.into();
        move |source| Error::Api {
            action,
            object,
            source,
        }
    }

    /// This error, as a failure of `step` (an error that already names its step keeps it).
    pub(crate) fn during(self, step: Step) -> Self {
        match self {
            Error::Step { .. } => self,
            other => Error::Step {
                step,
                source: Box::new(other),
            },
        }
    }

    /// The API server's answer, when the failure is one.
    pub(crate) fn api_status(&self) -> Option<&kube::core::Status> {
        match self {
            Error::Step { source, .. } => source.api_status(),
            Error::Api {
                source: kube::Error::Api(status),
                ..
            }
            | Error::Kube(kube::Error::Api(status)) => Some(status.as_ref()),
            _ => None,
        }
    }

    /// A short label for metrics and logs.
    pub(crate) fn reason(&self) -> String {
        match self {
            Error::Step { source, .. } => source.reason(),
            Error::Api { source, .. } | Error::Kube(source) => match source {
                kube::Error::Api(status) => format!("Api{}", status.code),
                _ => "ApiUnreachable".to_string(),
            },
            Error::Encode { .. } => "Encode".to_string(),
            Error::Decode { .. } => "Decode".to_string(),
            Error::MissingNamespace => "MissingNamespace".to_string(),
            Error::NotLeader => "NotLeader".to_string(),
        }
    }
}

/// Result of a reconcile step.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden() -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("deployments.apps is forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        )
    }

    #[test]
    fn a_failure_names_its_step_and_object_and_keeps_its_reason() {
        let error = Error::api("applying", "Deployment validators/acme-participant")(forbidden())
            .during(Step::Apply)
            .during(Step::Status);
        let text = error.to_string();
        assert!(
            text.starts_with(
                "applying the children: applying Deployment validators/acme-participant: "
            ),
            "{text}"
        );
        assert!(text.contains("deployments.apps is forbidden"), "{text}");
        assert_eq!(error.reason(), "Api403");
        assert_eq!(error.api_status().map(|s| s.code), Some(403));
    }
}

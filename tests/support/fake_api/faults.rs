//! Fault injection: make the next matching requests fail with a chosen
//! status before they touch any state.

use http::Method;

use super::errors::ApiError;

/// A planned failure. Matches requests by method (any if `None`) and by a
/// substring of the request URI (path and query, any if `None`), and fails
/// the next `times` of them with `status`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<Method>,
    pub path_contains: Option<String>,
    pub status: u16,
    pub times: usize,
}

impl Fault {
    /// Fails the next request (any method, any path) with `status`.
    pub fn new(status: u16) -> Self {
        Fault {
            method: None,
            path_contains: None,
            status,
            times: 1,
        }
    }

    /// Only requests with this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Only requests whose URI contains `fragment` (e.g. `/deployments/`,
    /// `watch=true`, `/status`).
    pub fn path(mut self, fragment: &str) -> Self {
        self.path_contains = Some(fragment.to_string());
        self
    }

    /// Fail this many matching requests (default 1).
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    fn matches(&self, method: &Method, uri: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| uri.contains(p))
    }
}

/// Consumes one use of the first matching fault and returns its error.
pub(crate) fn take(faults: &mut Vec<Fault>, method: &Method, uri: &str) -> Option<ApiError> {
    let idx = faults.iter().position(|f| f.matches(method, uri))?;
    let status = faults[idx].status;
    faults[idx].times -= 1;
    if faults[idx].times == 0 {
        faults.remove(idx);
    }
    Some(error_for(status))
}

/// The Status an apiserver (or something in front of it) sends for a code.
fn error_for(status: u16) -> ApiError {
    let (reason, message) = match status {
        400 => ("BadRequest", "injected fault: bad request"),
        401 => ("Unauthorized", "Unauthorized"),
        403 => ("Forbidden", "injected fault: forbidden"),
        404 => ("NotFound", "injected fault: not found"),
        409 => (
            "Conflict",
            "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
        ),
        410 => ("Expired", "injected fault: too old resource version"),
        422 => ("Invalid", "injected fault: invalid"),
        429 => (
            "TooManyRequests",
            "injected fault: too many requests, please try again later",
        ),
        500 => ("InternalError", "Internal error occurred: injected fault"),
        503 => (
            "ServiceUnavailable",
            "injected fault: the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "injected fault: the server was unable to return a response in the time allotted",
        ),
        _ => ("Unknown", "injected fault"),
    };
    let mut e = ApiError::new(status, reason, message);
    if status == 429 {
        e.details = Some(serde_json::json!({"retryAfterSeconds": 1}));
    }
    e
}

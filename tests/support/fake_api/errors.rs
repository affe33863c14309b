//! API errors rendered as `metav1.Status`, so kube surfaces them as
//! `kube::Error::Api` with the same code, reason and message as a real
//! apiserver.

use serde_json::{Value, json};

use super::registry::ResourceType;

/// One `details.causes` entry.
#[derive(Clone, Debug)]
pub(crate) struct Cause {
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) field: String,
}

/// A failed request.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.into(),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, rt: &ResourceType, name: &str) -> Self {
        self.details = Some(json!({"name": name, "group": rt.group, "kind": rt.plural}));
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub(crate) fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", rt.resource_label()),
        )
        .with_details(rt, name)
    }

    /// 404 for a URL that names no known resource.
    pub(crate) fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub(crate) fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", rt.resource_label()),
        )
        .with_details(rt, name)
    }

    /// The optimistic-concurrency 409.
    pub(crate) fn stale(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.resource_label()
            ),
        )
        .with_details(rt, name)
    }

    pub(crate) fn conflict(
        rt: &ResourceType,
        name: &str,
        message: String,
        causes: Vec<Cause>,
    ) -> Self {
        let mut e = Self::new(409, "Conflict", message).with_details(rt, name);
        set_causes(&mut e, causes);
        e
    }

    /// 422 with field causes; the message lists them like the apiserver.
    pub(crate) fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> Self {
        let rendered: Vec<String> = causes.iter().map(render_cause).collect();
        let list = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} {name:?} is invalid: {list}", rt.kind_label()),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.kind}));
        set_causes(&mut e, causes);
        e
    }

    pub(crate) fn forbidden(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} {name:?} is forbidden: {why}", rt.resource_label()),
        )
        .with_details(rt, name)
    }

    pub(crate) fn unsupported_media(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {content_type})"
            ),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
    }

    /// The watch/list 410 for a compacted resourceVersion.
    pub(crate) fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
        )
    }

    /// The error as a `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

fn set_causes(e: &mut ApiError, causes: Vec<Cause>) {
    let causes: Vec<Value> = causes
        .into_iter()
        .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
        .collect();
    let details = e.details.get_or_insert_with(|| json!({}));
    details["causes"] = Value::Array(causes);
}

/// `field: Reason phrase: detail`, as `field.Error.Error()` prints it.
fn render_cause(c: &Cause) -> String {
    if c.field.is_empty() {
        c.message.clone()
    } else {
        format!("{}: {}", c.field, c.message)
    }
}

/// The reason and phrase for a field error type.
pub(crate) fn field_error(field: &str, kind: FieldErrorKind, detail: &str) -> Cause {
    let (reason, phrase) = match kind {
        FieldErrorKind::Invalid => ("FieldValueInvalid", "Invalid value"),
        FieldErrorKind::Required => ("FieldValueRequired", "Required value"),
        FieldErrorKind::Forbidden => ("FieldValueForbidden", "Forbidden"),
        FieldErrorKind::NotSupported => ("FieldValueNotSupported", "Unsupported value"),
        FieldErrorKind::Duplicate => ("FieldValueDuplicate", "Duplicate value"),
        FieldErrorKind::TooLong => ("FieldValueTooLong", "Too long"),
        FieldErrorKind::TooMany => ("FieldValueTooMany", "Too many"),
    };
    let message = if detail.is_empty() {
        phrase.to_string()
    } else {
        format!("{phrase}: {detail}")
    };
    Cause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

/// `field.ErrorType`s that the fake produces.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FieldErrorKind {
    Invalid,
    Required,
    Forbidden,
    NotSupported,
    Duplicate,
    TooLong,
    TooMany,
}

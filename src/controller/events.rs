//! Kubernetes Events for real changes only: a failure to publish one is logged, never retried.

use super::context::Context;
use crate::api::Validator;
use crate::events::{Note, Severity};

/// Publishes one Event about a validator, if this replica leads.
pub(crate) async fn publish(
    ctx: &Context,
    validator: &Validator,
    warning: bool,
    reason: &str,
    note: String,
) {
    if !ctx.is_leading() {
        return;
    }
    let note = Note {
        severity: Severity::warning_if(warning),
        reason,
        action: "Reconcile",
        message: &note,
    };
    if let Err(e) = ctx.events.publish(validator, &note).await {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

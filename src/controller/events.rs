//! Kubernetes Events for real changes only: a failure to publish one is logged, never retried.

use kube::Resource;
use kube::runtime::events::{Event, EventType};

use super::context::Context;
use crate::api::Validator;

/// Publishes one Event about a validator, if this replica leads.
pub async fn publish(
    ctx: &Context,
    validator: &Validator,
    warning: bool,
    reason: &str,
    note: String,
) {
    if !ctx.is_leading() {
        return;
    }
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(note),
        action: "Reconcile".to_string(),
        secondary: None,
    };
    if let Err(e) = ctx
        .recorder
        .publish(&event, &validator.object_ref(&()))
        .await
    {
        tracing::warn!(error = %e, reason, "could not publish event");
    }
}

//! Kubernetes Events (`events.k8s.io/v1`), written directly.
//!
//! kube's `Recorder` keeps every Event it published for six minutes to count repeats as a series;
//! at 1,000 validators that cache was the largest single use of the operator's memory
//! (docs/performance.md). This operator publishes an Event only when something changed, so there
//! are no repeats to count, and the cache is not worth its memory.

use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, Resource};

/// The longest `note` the API server accepts (bytes).
pub(crate) const NOTE_LIMIT: usize = 1024;

/// Normal or Warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Normal,
    Warning,
}

impl Severity {
    /// `Warning` when `warning` is set, else `Normal`.
    pub(crate) fn warning_if(warning: bool) -> Self {
        if warning {
            Severity::Warning
        } else {
            Severity::Normal
        }
    }
}

/// What one Event says.
#[derive(Debug, Clone)]
pub struct Note<'a> {
    pub severity: Severity,
    /// A CamelCase reason, such as `Provisioned`.
    pub reason: &'a str,
    /// What the operator was doing, such as `Reconcile`.
    pub action: &'a str,
    /// The human-readable message; cut to [`NOTE_LIMIT`] bytes.
    pub message: &'a str,
}

/// Publishes Events as the operator (the reporting controller) from this replica (the instance).
#[derive(Clone)]
pub(crate) struct Publisher {
    client: Client,
    controller: String,
    instance: String,
}

impl Publisher {
    /// `instance` is the pod name when the downward API provides it, else the controller name.
    pub(crate) fn new(client: Client, controller: &str) -> Self {
        Self {
            client,
            controller: controller.to_string(),
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| controller.to_string()),
        }
    }

    /// Creates one Event about `regarding`, in its namespace.
    pub(crate) async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        regarding: &K,
        note: &Note<'_>,
    ) -> Result<(), kube::Error> {
        let event = build(
            regarding,
            note,
            &self.controller,
            &self.instance,
            Timestamp::now(),
        );
        let namespace = event.metadata.namespace.as_deref().unwrap_or("default");
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        api.create(&PostParams::default(), &event).await?;
        Ok(())
    }
}

/// Tells apart Events created in the same nanosecond by this process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The Event object: named after the object it is about, unique per process and time.
pub(crate) fn build<K: Resource<DynamicType = ()>>(
    regarding: &K,
    note: &Note<'_>,
    controller: &str,
    instance: &str,
    now: Timestamp,
) -> Event {
    let reference = regarding.object_ref(&());
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let name = format!(
        "{}.{:x}{:x}",
        reference.name.as_deref().unwrap_or(controller),
        now.as_nanosecond(),
        sequence
    );
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: reference.namespace.clone(),
            ..ObjectMeta::default()
        },
        action: Some(note.action.to_string()),
        reason: Some(note.reason.to_string()),
        note: Some(truncate(note.message, NOTE_LIMIT).to_string()),
        type_: Some(
            match note.severity {
                Severity::Normal => "Normal",
                Severity::Warning => "Warning",
            }
            .to_string(),
        ),
        event_time: Some(MicroTime(now)),
        regarding: Some(reference),
        reporting_controller: Some(controller.to_string()),
        reporting_instance: Some(instance.to_string()),
        ..Event::default()
    }
}

/// At most `limit` bytes, cut at a character boundary.
fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use super::*;

    fn object() -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some("v1".into()),
                namespace: Some("ns".into()),
                uid: Some("u-1".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    fn note(message: &str) -> Note<'_> {
        Note {
            severity: Severity::Warning,
            reason: "KmsRefused",
            action: "Reconcile",
            message,
        }
    }

    #[test]
    fn is_about_the_object_in_its_namespace() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let event = build(&object(), &note("why"), "canton-operator", "pod-0", now);
        assert_eq!(event.metadata.namespace.as_deref(), Some("ns"));
        assert!(event.metadata.name.as_deref().unwrap().starts_with("v1."));
        let regarding = event.regarding.unwrap();
        assert_eq!(regarding.kind.as_deref(), Some("ConfigMap"));
        assert_eq!(regarding.uid.as_deref(), Some("u-1"));
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.reason.as_deref(), Some("KmsRefused"));
        assert_eq!(event.note.as_deref(), Some("why"));
        assert_eq!(event.reporting_instance.as_deref(), Some("pod-0"));
        assert_eq!(event.event_time, Some(MicroTime(now)));
    }

    #[test]
    fn two_events_in_the_same_instant_have_different_names() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let a = build(&object(), &note("a"), "c", "i", now);
        let b = build(&object(), &note("a"), "c", "i", now);
        assert_ne!(a.metadata.name, b.metadata.name);
    }

    #[test]
    fn long_notes_are_cut_to_what_the_api_server_accepts() {
        let long = "é".repeat(NOTE_LIMIT);
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let event = build(&object(), &note(&long), "c", "i", now);
        let cut = event.note.unwrap();
        assert!(cut.len() <= NOTE_LIMIT && cut.len() >= NOTE_LIMIT - 1);
        assert!(long.starts_with(&cut));
    }
}

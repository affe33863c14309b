//! Recognising the watch events of the operator's own writes.
//!
//! Every write (the capture, each child, the status) comes back as a watch event that would start
//! another reconcile of the same Validator, which finds nothing to do (or, when it starts before
//! the caches have the writes, re-applies unchanged children and writes the same status again).
//! A write's answer carries the resourceVersion the server gave it; an event with that exact
//! resourceVersion is the echo of our write and needs no reconcile. Any other change — someone
//! editing the status, a child, the Validator — has another resourceVersion and still triggers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use kube::{Resource, ResourceExt};

/// Own writes remembered per object at most: a write whose event is lost (a re-list that skips
/// it) must not be kept for ever.
const PER_OBJECT: usize = 4;

/// An object, by kind, namespace and name.
type Key = (String, String, String);

/// resourceVersions the operator's writes were answered with, until their watch events arrive.
#[derive(Debug, Default)]
pub struct Echoes {
    pending: Mutex<HashMap<Key, VecDeque<String>>>,
}

impl Echoes {
    /// Notes the server's answer to one of our writes.
    pub fn wrote<K: Resource<DynamicType = ()>>(&self, answer: &K) {
        let Some(version) = answer.resource_version() else {
            return;
        };
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let versions = pending.entry(key(answer)).or_default();
        if versions.len() == PER_OBJECT {
            versions.pop_front();
        }
        versions.push_back(version);
    }

    /// Whether a watch event shows the object exactly as one of our writes left it. Our earlier
    /// writes of the object, whose events came before this one, are forgotten with it.
    pub fn is_echo<K: Resource<DynamicType = ()>>(&self, seen: &K) -> bool {
        let Some(version) = seen.meta().resource_version.as_deref() else {
            return false;
        };
        let Ok(mut pending) = self.pending.lock() else {
            return false;
        };
        let key = key(seen);
        let Some(versions) = pending.get_mut(&key) else {
            return false;
        };
        let Some(at) = versions.iter().position(|v| v == version) else {
            return false;
        };
        versions.drain(..=at);
        if versions.is_empty() {
            pending.remove(&key);
        }
        true
    }

    /// Writes whose events have not arrived yet (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .map(|p| p.values().map(VecDeque::len).sum())
            .unwrap_or(0)
    }
}

fn key<K: Resource<DynamicType = ()>>(obj: &K) -> Key {
    (
        K::kind(&()).into_owned(),
        obj.namespace().unwrap_or_default(),
        obj.name_any(),
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;
    use crate::controller::Cached;

    fn deployment(name: &str, version: &str) -> Deployment {
        Deployment {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                resource_version: Some(version.into()),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        }
    }

    #[test]
    fn only_the_versions_we_wrote_are_echoes() {
        let echoes = Echoes::default();
        echoes.wrote(&deployment("a", "10"));
        echoes.wrote(&deployment("a", "12"));
        assert!(
            !echoes.is_echo(&deployment("a", "11")),
            "someone else's write"
        );
        assert!(!echoes.is_echo(&deployment("b", "10")), "another object");
        // The cache holds the compact form of the same kind: it matches too.
        let cached = Cached::from_typed(&deployment("a", "10")).unwrap();
        assert!(echoes.is_echo(&cached));
        assert!(!echoes.is_echo(&deployment("a", "10")), "each echo once");
        assert!(echoes.is_echo(&deployment("a", "12")));
        assert_eq!(echoes.pending(), 0);
    }

    #[test]
    fn a_later_echo_forgets_the_earlier_writes() {
        let echoes = Echoes::default();
        for v in ["1", "2", "3"] {
            echoes.wrote(&deployment("a", v));
        }
        assert!(echoes.is_echo(&deployment("a", "3")));
        assert_eq!(echoes.pending(), 0);
        for v in 0..10 {
            echoes.wrote(&deployment("a", &v.to_string()));
        }
        assert_eq!(echoes.pending(), PER_OBJECT);
    }
}

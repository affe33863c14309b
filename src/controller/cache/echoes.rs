//! Recognising the watch events of the operator's own writes.
//!
//! Every write (the capture, each child, the status) comes back as a watch event that would start
//! another reconcile of the same Validator, which finds nothing to do (or, when it starts before
//! the caches have the writes, re-applies unchanged children and writes the same status again).
//! A write's answer carries the resourceVersion the server gave it; an event with that exact
//! resourceVersion is the echo of our write and needs no reconcile. Any other change — someone
//! editing the status, a child, the Validator — has another resourceVersion and still triggers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::{Resource, ResourceExt};
use tokio::sync::Notify;

/// Own writes remembered per object at most: a write whose event is lost (a re-list that skips
/// it) must not be kept for ever.
const PER_OBJECT: usize = 4;
/// How long a watch event waits for the answer to a write of its object still in flight. The
/// event of a write can arrive before the write's answer; it is held (and with it that watch)
/// until the answer says whether it was ours, but never longer than this.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

/// An object, by kind, namespace and name.
type Key = (String, String, String);

#[derive(Debug, Default)]
struct State {
    /// resourceVersions our writes were answered with, whose events have not arrived yet.
    pending: HashMap<Key, VecDeque<String>>,
    /// Writes sent and not answered yet.
    in_flight: HashMap<Key, usize>,
}

/// resourceVersions the operator's writes were answered with, until their watch events arrive.
#[derive(Debug, Default)]
pub(crate) struct Echoes {
    state: Mutex<State>,
    answered: Notify,
}

/// A write on its way; dropping it without [`Sending::answered`] (an error, a cancelled
/// reconcile) ends it with no echo to expect.
pub(crate) struct Sending {
    echoes: Arc<Echoes>,
    key: Key,
}

impl Sending {
    /// Notes the server's answer to the write.
    pub(crate) fn answered<K: Resource<DynamicType = ()>>(self, answer: &K) {
        self.echoes.wrote(answer);
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        if let Ok(mut state) = self.echoes.state.lock()
            && let Some(n) = state.in_flight.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.in_flight.remove(&self.key);
            }
        }
        self.echoes.answered.notify_waiters();
    }
}

impl Echoes {
    /// Marks a write of `object` as sent, before sending it.
    pub(crate) fn sending<K: Resource<DynamicType = ()>>(self: &Arc<Self>, object: &K) -> Sending {
        let key = key(object);
        if let Ok(mut state) = self.state.lock() {
            *state.in_flight.entry(key.clone()).or_insert(0) += 1;
        }
        Sending {
            echoes: self.clone(),
            key,
        }
    }

    /// Notes the server's answer to one of our writes.
    pub(crate) fn wrote<K: Resource<DynamicType = ()>>(&self, answer: &K) {
        let Some(version) = answer.resource_version() else {
            return;
        };
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let versions = state.pending.entry(key(answer)).or_default();
        if versions.len() == PER_OBJECT {
            versions.pop_front();
        }
        versions.push_back(version);
    }

    /// Whether a watch event shows the object exactly as one of our writes left it, once any
    /// write of it still in flight is answered. Our earlier writes of the object, whose events
    /// came before this one, are forgotten with it. (The future does not borrow `seen`.)
    pub(crate) fn is_echo<K: Resource<DynamicType = ()>>(
        &self,
        seen: &K,
    ) -> impl Future<Output = bool> + Send + '_ {
        let probe = seen
            .meta()
            .resource_version
            .clone()
            .map(|version| (key(seen), version));
        async move {
            let Some((key, version)) = probe else {
                return false;
            };
            let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
            loop {
                let answered = self.answered.notified();
                tokio::pin!(answered);
                answered.as_mut().enable();
                if let Some(echo) = self.check(&key, &version) {
                    return echo;
                }
                if tokio::time::timeout_at(deadline, answered).await.is_err() {
                    return false;
                }
            }
        }
    }

    /// `Some(echo)`, or `None` while a write of the object is in flight.
    fn check(&self, key: &Key, version: &str) -> Option<bool> {
        let Ok(mut state) = self.state.lock() else {
            return Some(false);
        };
        if state.in_flight.contains_key(key) {
            return None;
        }
        let Some(versions) = state.pending.get_mut(key) else {
            return Some(false);
        };
        let Some(at) = versions.iter().position(|v| v == version) else {
            return Some(false);
        };
        versions.drain(..=at);
        if versions.is_empty() {
            state.pending.remove(key);
        }
        Some(true)
    }

    /// Writes whose events have not arrived yet.
    #[cfg(test)]
    fn pending(&self) -> usize {
        self.state
            .lock()
            .map(|s| s.pending.values().map(VecDeque::len).sum())
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

    use super::super::Cached;
    use super::*;

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

    #[tokio::test]
    async fn only_the_versions_we_wrote_are_echoes() {
        let echoes = Echoes::default();
        echoes.wrote(&deployment("a", "10"));
        echoes.wrote(&deployment("a", "12"));
        assert!(
            !echoes.is_echo(&deployment("a", "11")).await,
            "someone else's write"
        );
        assert!(
            !echoes.is_echo(&deployment("b", "10")).await,
            "another object"
        );
        // The cache holds the compact form of the same kind: it matches too.
        let cached = Cached::from_typed(&deployment("a", "10")).unwrap();
        assert!(echoes.is_echo(&cached).await);
        assert!(
            !echoes.is_echo(&deployment("a", "10")).await,
            "each echo once"
        );
        assert!(echoes.is_echo(&deployment("a", "12")).await);
        assert_eq!(echoes.pending(), 0);
    }

    #[tokio::test]
    async fn a_later_echo_forgets_the_earlier_writes() {
        let echoes = Echoes::default();
        for v in ["1", "2", "3"] {
            echoes.wrote(&deployment("a", v));
        }
        assert!(echoes.is_echo(&deployment("a", "3")).await);
        assert_eq!(echoes.pending(), 0);
        for v in 0..10 {
            echoes.wrote(&deployment("a", &v.to_string()));
        }
        assert_eq!(echoes.pending(), PER_OBJECT);
    }

    /// The event of a write can arrive before its answer: it waits for the answer.
    #[tokio::test]
    async fn an_event_before_the_answer_waits_for_it() {
        let echoes = Arc::new(Echoes::default());
        let sending = echoes.sending(&deployment("a", ""));
        let waiting = {
            let echoes = echoes.clone();
            tokio::spawn(async move { echoes.is_echo(&deployment("a", "7")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "decided before the answer");
        sending.answered(&deployment("a", "7"));
        assert!(waiting.await.unwrap());

        // A write that fails (its guard dropped) releases the event as not ours.
        let sending = echoes.sending(&deployment("a", ""));
        let waiting = {
            let echoes = echoes.clone();
            tokio::spawn(async move { echoes.is_echo(&deployment("a", "8")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(sending);
        assert!(!waiting.await.unwrap());
    }
}

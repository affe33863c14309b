//! Rollout slots: how many validators may roll an operator-caused change at once.
//!
//! The holders are counted from the caches when a controller starts (Deployments labelled as
//! rolling, see `stamp::ROLLOUT`), then kept here: a slot granted is counted before the cache shows
//! its writes, so two reconciles can never both take the last slot. A restarted operator counts
//! again from the labels, which are written with the rollout itself.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::channel::mpsc;
use kube::runtime::reflector::ObjectRef;

use crate::api::Validator;
use crate::controller::cache::Cached;
use crate::metrics::Metrics;

/// A validator, as the controller names it.
pub type Key = ObjectRef<Cached<Validator>>;

/// What a validator with an operator-caused change may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// It got a slot just now.
    Started,
    /// It already holds one.
    Holding,
    /// Every slot is taken; `rolling` validators hold one. `newly` when it was not waiting before.
    Wait { rolling: usize, newly: bool },
}

#[derive(Debug, Default)]
struct Slots {
    seeded: bool,
    holders: HashSet<Key>,
    waiting: HashSet<Key>,
}

/// The slots of one controller run.
pub(crate) struct Rollouts {
    /// At most this many holders; `None` is no limit.
    limit: Option<usize>,
    slots: Mutex<Slots>,
    wake: mpsc::UnboundedSender<Key>,
    metrics: Arc<Metrics>,
}

impl Rollouts {
    /// Slots for `max` validators at once (0: no limit), and the stream of waiting validators to
    /// reconcile again when a slot frees.
    pub(crate) fn new(max: u32, metrics: Arc<Metrics>) -> (Self, mpsc::UnboundedReceiver<Key>) {
        let (wake, wakeups) = mpsc::unbounded();
        let limit = usize::try_from(max).ok().filter(|m| *m > 0);
        let rollouts = Self {
            limit,
            slots: Mutex::new(Slots::default()),
            wake,
            metrics,
        };
        (rollouts, wakeups)
    }

    /// The limit, `None` for none.
    pub(crate) fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Whether the holders were counted from the caches yet.
    pub(crate) fn is_seeded(&self) -> bool {
        self.lock().is_some_and(|s| s.seeded)
    }

    /// Counts the holders the caches show, once per run: the first count wins, and it is taken
    /// before this run writes any rollout label.
    pub(crate) fn seed(&self, holders: impl IntoIterator<Item = Key>) {
        self.update(|slots| {
            if !slots.seeded {
                slots.seeded = true;
                slots.holders.extend(holders);
            }
        });
    }

    /// Takes a slot for `key` if it holds none and one is free; otherwise it waits.
    pub(crate) fn acquire(&self, key: &Key) -> Grant {
        let limit = self.limit;
        self.update(|slots| {
            if slots.holders.contains(key) {
                slots.waiting.remove(key);
                return Grant::Holding;
            }
            if limit.is_none_or(|max| slots.holders.len() < max) {
                slots.waiting.remove(key);
                slots.holders.insert(key.clone());
                return Grant::Started;
            }
            Grant::Wait {
                rolling: slots.holders.len(),
                newly: slots.waiting.insert(key.clone()),
            }
        })
        .unwrap_or(Grant::Wait {
            rolling: 0,
            newly: false,
        })
    }

    /// Counts `key` as a holder: its Deployments say it is rolling.
    pub(crate) fn note_rolling(&self, key: &Key) {
        self.update(|slots| {
            slots.waiting.remove(key);
            slots.holders.insert(key.clone());
        });
    }

    /// Whether `key` holds a slot.
    pub(crate) fn holds(&self, key: &Key) -> bool {
        self.lock().is_some_and(|s| s.holders.contains(key))
    }

    /// `key` no longer waits (nothing of it is held back now).
    pub(crate) fn not_waiting(&self, key: &Key) {
        self.update(|slots| {
            slots.waiting.remove(key);
        });
    }

    /// Frees the slot of `key`, if it held one, and wakes every waiting validator.
    pub(crate) fn release(&self, key: &Key) {
        let woken = self
            .update(|slots| {
                if slots.holders.remove(key) {
                    slots.waiting.iter().cloned().collect()
                } else {
                    Vec::new()
                }
            })
            .unwrap_or_default();
        for waiting in woken {
            // The receiver is gone only when the controller stopped.
            let _ = self.wake.unbounded_send(waiting);
        }
    }

    /// A deleted validator: its slot frees and it waits no more.
    pub(crate) fn forget(&self, key: &Key) {
        self.not_waiting(key);
        self.release(key);
    }

    /// Every validator holding or waiting for a slot.
    pub(crate) fn known(&self) -> Vec<Key> {
        self.lock()
            .map(|s| s.holders.iter().chain(&s.waiting).cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> Option<MutexGuard<'_, Slots>> {
        self.slots.lock().ok()
    }

    /// Runs `f` on the slots and keeps the gauges in step.
    fn update<T>(&self, f: impl FnOnce(&mut Slots) -> T) -> Option<T> {
        let mut slots = self.lock()?;
        let out = f(&mut slots);
        self.metrics
            .set_rollouts(slots.waiting.len(), slots.holders.len());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn key(name: &str) -> Key {
        ObjectRef::new(name).within("ns")
    }

    #[tokio::test]
    async fn one_at_a_time_and_a_freed_slot_wakes_the_waiting() {
        let (rollouts, mut wakeups) = Rollouts::new(1, Arc::new(Metrics::new()));
        rollouts.seed([]);
        assert_eq!(rollouts.acquire(&key("a")), Grant::Started);
        assert_eq!(rollouts.acquire(&key("a")), Grant::Holding);
        assert_eq!(
            rollouts.acquire(&key("b")),
            Grant::Wait {
                rolling: 1,
                newly: true
            }
        );
        assert_eq!(
            rollouts.acquire(&key("b")),
            Grant::Wait {
                rolling: 1,
                newly: false
            }
        );
        rollouts.release(&key("a"));
        assert_eq!(wakeups.next().await, Some(key("b")));
        assert_eq!(rollouts.acquire(&key("b")), Grant::Started);
    }

    #[test]
    fn the_first_count_from_the_caches_wins() {
        let (rollouts, _wakeups) = Rollouts::new(1, Arc::new(Metrics::new()));
        assert!(!rollouts.is_seeded());
        rollouts.seed([key("a")]);
        rollouts.seed([]);
        assert!(rollouts.holds(&key("a")));
        assert!(matches!(rollouts.acquire(&key("b")), Grant::Wait { .. }));
        rollouts.forget(&key("a"));
        assert_eq!(rollouts.acquire(&key("b")), Grant::Started);
    }

    #[test]
    fn zero_is_no_limit() {
        let (rollouts, _wakeups) = Rollouts::new(0, Arc::new(Metrics::new()));
        for name in ["a", "b", "c"] {
            assert_eq!(rollouts.acquire(&key(name)), Grant::Started);
        }
        assert_eq!(rollouts.limit(), None);
    }
}

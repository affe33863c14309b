//! WATCH: newline-delimited `WatchEvent`s, replayed from the retained
//! history after the requested resourceVersion and then streamed live until
//! `timeoutSeconds`, the client hanging up, or a test control closing it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until};

use super::body::FakeBody;
use super::errors::ApiError;
use super::handler::{State, render};
use super::registry::{ResourceId, ResourceType};
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{Change, EventType};

/// How often an idle watch with `allowWatchBookmarks` gets a BOOKMARK (the
/// apiserver sends them about once a minute).
const BOOKMARK_PERIOD: Duration = Duration::from_secs(60);

/// The apiserver's default when the client sends no `timeoutSeconds`
/// (it picks a random 30–60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Broadcast to every open watch by test controls. Streams only react to
/// signals sent after they started (a new subscription has seen the current
/// value), so there is no need to reset the signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Run,
    /// Close streams cleanly (like a timeout or apiserver restart).
    Drop,
    /// Send a 410 Expired ERROR event, then close.
    Expire,
}

/// The test-control channels shared with watch tasks.
pub(crate) struct WatchHub {
    pub(crate) control: watch::Sender<(u64, Control)>,
    pub(crate) paused: watch::Sender<bool>,
}

impl WatchHub {
    pub(crate) fn new() -> Self {
        WatchHub {
            control: watch::channel((0, Control::Run)).0,
            paused: watch::channel(false).0,
        }
    }

    /// Signals all currently open watches.
    pub(crate) fn signal(&self, control: Control) {
        self.control.send_modify(|(epoch, c)| {
            *epoch += 1;
            *c = control;
        });
    }
}

/// A parsed watch request.
pub(crate) struct WatchRequest {
    pub(crate) rt: Arc<ResourceType>,
    pub(crate) version: String,
    pub(crate) namespace: Option<String>,
    pub(crate) label_selector: String,
    pub(crate) field_selector: String,
    pub(crate) resource_version: String,
    pub(crate) resource_version_match: String,
    pub(crate) timeout_seconds: Option<u64>,
    pub(crate) bookmarks: bool,
    pub(crate) send_initial_events: bool,
    pub(crate) metadata_only: bool,
}

/// What a stream delivers: resource, namespace, selectors and rendering.
struct Filter {
    rt: Arc<ResourceType>,
    resource: ResourceId,
    version: String,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    metadata_only: bool,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event a change produces for this watch, if any. Objects that stop
    /// matching the selectors become DELETED, ones that start become ADDED.
    fn classify<'c>(&self, change: &'c Change) -> Option<(EventType, &'c Value)> {
        if change.resource != self.resource
            || self
                .namespace
                .as_ref()
                .is_some_and(|ns| *ns != change.namespace)
        {
            return None;
        }
        let now = self.matches(&change.obj);
        let before = change.prev.as_ref().is_some_and(|p| self.matches(p));
        let event = match (change.event, before, now) {
            (EventType::Added, _, true) => EventType::Added,
            (EventType::Modified, true, true) => EventType::Modified,
            (EventType::Modified, false, true) => EventType::Added,
            (EventType::Modified, true, false) => EventType::Deleted,
            (EventType::Deleted, true, _) => EventType::Deleted,
            _ => return None,
        };
        Some((event, &change.obj))
    }

    fn line(&self, event: EventType, obj: &Value) -> Bytes {
        let object = if self.metadata_only {
            json!({
                "apiVersion": "meta.k8s.io/v1",
                "kind": "PartialObjectMetadata",
                "metadata": obj.get("metadata").cloned().unwrap_or(Value::Null),
            })
        } else {
            render(obj, &self.rt, &self.version)
        };
        encode_line(&json!({"type": event.as_str(), "object": object}))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({
            "apiVersion": self.rt.api_version(&self.version),
            "kind": self.rt.kind,
            "metadata": meta,
        });
        encode_line(&json!({"type": "BOOKMARK", "object": object}))
    }
}

fn encode_line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

fn error_line(e: &ApiError) -> Bytes {
    encode_line(&json!({"type": "ERROR", "object": e.to_status()}))
}

/// Everything a watch task needs.
struct Pump {
    state: Arc<Mutex<State>>,
    filter: Filter,
    cursor: u64,
    /// The stream ends after the initial events (a 410 was sent).
    finite: bool,
    tx: mpsc::Sender<Bytes>,
    deadline: Instant,
    bookmarks: bool,
    changes: watch::Receiver<u64>,
    control: watch::Receiver<(u64, Control)>,
    paused: watch::Receiver<bool>,
}

/// Validates the request, snapshots the initial events under the lock, and
/// spawns the task that streams the rest.
pub(crate) fn start(
    state: &Arc<Mutex<State>>,
    hub: &WatchHub,
    req: WatchRequest,
) -> Result<FakeBody, ApiError> {
    if req.send_initial_events && req.resource_version_match != "NotOlderThan" {
        return Err(ApiError::new(
            422,
            "Invalid",
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    let filter = Filter {
        resource: req.rt.id(),
        labels: LabelSelector::parse(&req.label_selector).map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(&req.field_selector, &req.rt.field_labels())
            .map_err(ApiError::bad_request)?,
        rt: req.rt,
        version: req.version,
        namespace: req.namespace,
        metadata_only: req.metadata_only,
    };
    let guard = state
        .lock()
        .map_err(|_| ApiError::new(500, "InternalError", "state lock poisoned"))?;
    let (initial, cursor) = initial_events(
        &guard,
        &filter,
        &req.resource_version,
        req.send_initial_events,
        req.bookmarks,
    )?;
    let changes = guard.changes.subscribe();
    drop(guard);
    let (tx, rx) = mpsc::channel(256);
    let timeout = req
        .timeout_seconds
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let pump = Pump {
        state: state.clone(),
        filter,
        cursor: cursor.unwrap_or(0),
        finite: cursor.is_none(),
        tx,
        deadline: Instant::now() + timeout,
        bookmarks: req.bookmarks,
        changes,
        control: hub.control.subscribe(),
        paused: hub.paused.subscribe(),
    };
    tokio::spawn(pump.run(initial));
    Ok(FakeBody::Stream(rx))
}

/// The events sent before live streaming, and the resourceVersion to
/// continue from. `None` cursor means the stream ends after `initial`.
fn initial_events(
    state: &State,
    filter: &Filter,
    rv: &str,
    send_initial: bool,
    bookmarks: bool,
) -> Result<(Vec<Bytes>, Option<u64>), ApiError> {
    let current = state.store.current_rv();
    if rv.is_empty() || rv == "0" || send_initial {
        let mut lines: Vec<Bytes> = state
            .store
            .list(&filter.resource, filter.namespace.as_deref())
            .filter(|(_, s)| filter.matches(&s.obj))
            .map(|(_, s)| filter.line(EventType::Added, &s.obj))
            .collect();
        if send_initial && bookmarks {
            lines.push(filter.bookmark(current, true));
        }
        return Ok((lines, Some(current)));
    }
    let requested: u64 = rv
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
    match state.store.changes_after(requested) {
        Ok(_) => Ok((vec![], Some(requested))),
        Err(gone) => Ok((
            vec![error_line(&ApiError::expired(gone.requested, gone.oldest))],
            None,
        )),
    }
}

impl Pump {
    async fn run(mut self, initial: Vec<Bytes>) {
        for line in initial {
            if self.tx.send(line).await.is_err() {
                return;
            }
        }
        if self.finite {
            return;
        }
        let mut ticker = interval_at(Instant::now() + BOOKMARK_PERIOD, BOOKMARK_PERIOD);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if !*self.paused.borrow_and_update() && !self.deliver().await {
                return;
            }
            tokio::select! {
                changed = self.changes.changed() => if changed.is_err() { return },
                _ = self.control.changed() => {
                    let (_, control) = *self.control.borrow_and_update();
                    if control == Control::Expire {
                        let rv = self.cursor;
                        let _ = self.tx.send(error_line(&ApiError::expired(rv, rv + 1))).await;
                    }
                    if control != Control::Run {
                        return;
                    }
                }
                _ = self.paused.changed() => {}
                _ = sleep_until(self.deadline) => return,
                _ = ticker.tick(), if self.bookmarks => {
                    let line = self.filter.bookmark(self.cursor, false);
                    if self.tx.send(line).await.is_err() {
                        return;
                    }
                }
                _ = self.tx.closed() => return,
            }
        }
    }

    /// Sends the changes since the cursor. `false` ends the stream (client
    /// gone, or the history it needs was compacted: 410).
    async fn deliver(&mut self) -> bool {
        let batch = {
            let Ok(state) = self.state.lock() else {
                return false;
            };
            match state.store.changes_after(self.cursor) {
                Ok(changes) => {
                    let lines: Vec<Bytes> = changes
                        .filter_map(|c| {
                            self.filter.classify(c).map(|(e, o)| self.filter.line(e, o))
                        })
                        .collect();
                    Ok((lines, state.store.current_rv()))
                }
                Err(gone) => Err(ApiError::expired(gone.requested, gone.oldest)),
            }
        };
        match batch {
            Ok((lines, rv)) => {
                for line in lines {
                    if self.tx.send(line).await.is_err() {
                        return false;
                    }
                }
                self.cursor = rv;
                true
            }
            Err(e) => {
                let _ = self.tx.send(error_line(&e)).await;
                false
            }
        }
    }
}

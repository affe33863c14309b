//! Operator-caused workload changes roll a bounded number of validators at a time.
//!
//! When a new operator release renders a validator's Deployments differently, applying that at
//! once would restart every participant of the fleet together (the Deployments use `Recreate`).
//! Each Deployment is stamped with the hash of its rendered spec and the Validator generation it
//! was rendered for (`stamp`); a spec difference is then told apart as drift (same hash: restored
//! at once), a change to the Validator (other generation: applied at once), or the operator's own
//! (same generation, other hash), which waits for one of `--max-concurrent-rollouts` slots
//! (`slots`). The slot is held, and its Deployments labelled, until they are available again.

pub(crate) mod condition;
pub(crate) mod slots;
pub(crate) mod stamp;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use serde_json::json;

use super::cache::{Current, Kept, current};
use super::conditions::is_available;
use super::context::Context;
use super::error::{Error, Result};
use super::events;
use super::report::ApplyReport;
use crate::api::Validator;
use crate::field_manager::FIELD_MANAGER;
use crate::render::{self, Rendered, Ui, participant_name, validator_app_name, web_ui_name};

pub(crate) use condition::{Workloads, set as set_condition};
use slots::{Grant, Key};
use stamp::Change;

/// How soon a validator waiting for a slot looks again when no freed slot woke it.
pub(crate) const WAIT_RECHECK: Duration = Duration::from_secs(30);

/// One rendered Deployment of the validator, as this reconcile found it.
struct Entry {
    what: String,
    name: String,
    change: Change,
    /// Labelled as part of a rollout holding a slot.
    marked: bool,
    /// What the cache has of it, read again only to see whether a rollout is done.
    cached: Option<Deployment>,
    /// Whether it says what the render says, as `current::current` answered (with the live
    /// object when it was read); the apply goes by it instead of asking again.
    found: Current,
}

impl Entry {
    /// Rolled out and available, as the cache shows it.
    fn available(&self) -> bool {
        self.cached.as_ref().is_some_and(is_available)
    }
}

/// What this reconcile does with the validator's Deployments.
pub(crate) struct Plan {
    key: Key,
    entries: Vec<Entry>,
    /// Deployments left as they are for now (waiting for a slot).
    held: Vec<String>,
    /// Operator-caused changes are applied now, under a slot.
    started: bool,
    pending: Option<Workloads>,
}

impl Plan {
    /// Whether the apply leaves Deployment `name` as it is: it waits for a slot, or it is the
    /// same as its render (found so here; the apply need not compare it again).
    pub(crate) fn leaves(&self, name: &str) -> bool {
        self.held.iter().any(|h| h == name)
            || self
                .entries
                .iter()
                .any(|e| e.name == name && e.change == Change::Unchanged)
    }

    /// Whether Deployment `name` says what its render says, as this plan found.
    pub(crate) fn found(&self, name: &str) -> Option<&Current> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| &e.found)
    }
}

/// Stamps the rendered Deployments, tells their changes apart, and takes or waits for a slot
/// when an operator-caused change is due. Publishes an Event when a validator starts waiting and
/// when it starts rolling.
pub(crate) async fn plan(
    validator: &Validator,
    rendered: &mut Rendered,
    ctx: &Context,
) -> Result<Plan> {
    seed(ctx);
    let key = key(validator)?;
    let generation = validator.metadata.generation.unwrap_or(0);
    let observed = validator
        .status
        .as_ref()
        .and_then(|s| s.observed_generation);
    let mut entries = Vec::new();
    for deployment in deployments_mut(rendered) {
        entries.push(inspect(deployment, generation, observed, ctx).await?);
    }
    if entries.iter().any(|e| e.marked) {
        ctx.rollouts.note_rolling(&key);
    }
    let gated: Vec<String> = entries
        .iter()
        .filter(|e| e.change == Change::Operator)
        .map(|e| e.name.clone())
        .collect();
    let mut plan = Plan {
        key,
        entries,
        held: Vec::new(),
        started: false,
        pending: None,
    };
    if gated.is_empty() {
        ctx.rollouts.not_waiting(&plan.key);
        return Ok(plan);
    }
    match ctx.rollouts.acquire(&plan.key) {
        grant @ (Grant::Started | Grant::Holding) => {
            for deployment in deployments_mut(rendered) {
                if gated
                    .iter()
                    .any(|g| Some(g) == deployment.metadata.name.as_ref())
                {
                    stamp::mark(deployment);
                }
            }
            plan.started = true;
            if grant == Grant::Started {
                let note = format!(
                    "rolling out this operator release's changes to {}; the rollout slot is held until they are available",
                    gated_names(&plan).join(", ")
                );
                events::publish(ctx, validator, false, "RollingOut", note).await;
            }
        }
        Grant::Wait { rolling, newly } => {
            let pending = Workloads::Pending {
                deployments: gated_names(&plan),
                rolling,
                limit: ctx.rollouts.limit(),
            };
            let before = condition::previous_reason(validator.status.as_ref());
            if newly && before != Some(condition::ROLLOUT_PENDING) {
                let (_, _, message) = pending.describe();
                events::publish(ctx, validator, false, "RolloutPending", message).await;
            }
            plan.held = gated;
            plan.pending = Some(pending);
        }
    }
    Ok(plan)
}

/// After the apply: keeps stamp-only and operator-caused writes out of the drift and update
/// Events, frees the slot of a finished rollout, and records where the workloads stand.
pub(crate) async fn finish(
    validator: &Validator,
    plan: Plan,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    let ours: Vec<&str> = plan
        .entries
        .iter()
        .filter(|e| matches!(e.change, Change::Restamp | Change::Operator))
        .map(|e| e.what.as_str())
        .collect();
    report.updated.retain(|w| !ours.contains(&w.as_str()));
    let rolling = plan.entries.iter().any(|e| e.marked) || ctx.rollouts.holds(&plan.key);
    let state = if let Some(pending) = plan.pending {
        pending
    } else if plan.started {
        Workloads::Rolling {
            deployments: rolling_names(&plan),
        }
    } else if !rolling {
        ctx.rollouts.release(&plan.key);
        Workloads::Current
    } else if done(&plan) {
        let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
        let marked = plan.entries.iter().filter(|e| e.marked).map(|e| &e.name);
        complete(ctx, &plan.key, &namespace, marked).await?;
        Workloads::Current
    } else {
        Workloads::Rolling {
            deployments: rolling_names(&plan),
        }
    };
    report.rollout = Some(state);
    Ok(())
}

/// Whether a rollout is done: nothing of it written now, every Deployment available.
fn done(plan: &Plan) -> bool {
    plan.entries
        .iter()
        .all(|e| !e.change.writes_spec() && e.available())
}

/// For a Validator refused before rendering: it waits for nothing, and a rollout it holds a slot
/// for is finished when its Deployments are available (a refused spec must not block the fleet).
pub(crate) async fn settle_refused(
    validator: &Validator,
    ctx: &Context,
) -> Result<Option<Workloads>> {
    seed(ctx);
    let key = key(validator)?;
    ctx.rollouts.not_waiting(&key);
    let namespace = key.namespace.clone().ok_or(Error::MissingNamespace)?;
    let name = validator.name_any();
    let names = [participant_name(&name), validator_app_name(&name)]
        .into_iter()
        .chain(Ui::ALL.iter().map(|ui| web_ui_name(&name, *ui)));
    let cached: Vec<(String, Kept)> = names
        .filter_map(|name| {
            let kept = ctx.stores.deployments.get(&namespace, &name)?;
            Some((name, kept))
        })
        .collect();
    let marked: Vec<String> = cached
        .iter()
        .filter(|(_, kept)| kept.rollout_marked)
        .map(|(name, _)| name.clone())
        .collect();
    if marked.is_empty() && !ctx.rollouts.holds(&key) {
        return Ok(None);
    }
    let available = cached
        .iter()
        .all(|(_, kept)| kept.deployment().as_ref().is_some_and(is_available));
    if available {
        complete(ctx, &key, &namespace, marked.iter()).await?;
        return Ok(None);
    }
    let deployments = marked.iter().map(|n| format!("Deployment/{n}")).collect();
    Ok(Some(Workloads::Rolling { deployments }))
}

/// When to look at the validator again: soon while it waits for a slot.
pub(crate) fn recheck(report: &ApplyReport) -> Option<Duration> {
    matches!(report.rollout, Some(Workloads::Pending { .. })).then_some(WAIT_RECHECK)
}

/// Removes the rollout label from the Deployments that carry it, then frees the slot.
async fn complete<'a>(
    ctx: &Context,
    key: &Key,
    namespace: &str,
    marked: impl Iterator<Item = &'a String>,
) -> Result<()> {
    for name in marked {
        unmark(ctx, namespace, name).await?;
    }
    ctx.rollouts.release(key);
    Ok(())
}

/// A label-only merge patch: no new generation, no restart.
async fn unmark(ctx: &Context, namespace: &str, name: &str) -> Result<()> {
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({ "metadata": { "labels": { stamp::ROLLOUT: null } } });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api.patch(name, &params, &Patch::Merge(&patch)).await {
        Ok(answer) => ctx.echoes.wrote(&answer),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// Stamps one rendered Deployment (keeping the rollout label the live one has), asks whether the
/// live one is current, and tells a difference apart.
async fn inspect(
    deployment: &mut Deployment,
    generation: i64,
    observed: Option<i64>,
    ctx: &Context,
) -> Result<Entry> {
    let encode = |source| Error::Encode {
        what: "a rendered Deployment",
        source,
    };
    stamp::stamp(deployment, generation).map_err(encode)?;
    let namespace = deployment.namespace().ok_or(Error::MissingNamespace)?;
    let name = deployment.name_any();
    let kept = ctx.stores.deployments.get(&namespace, &name);
    let marked = kept.as_ref().is_some_and(|k| k.rollout_marked);
    if marked {
        stamp::mark(deployment);
    }
    let desired = serde_json::to_value(&*deployment).map_err(encode)?;
    let found = current(&*deployment, &desired, &ctx.stores.deployments, &ctx.client).await?;
    let change = match &found {
        Current::Absent => Change::Create,
        Current::Yes => Change::Unchanged,
        Current::No(live) => stamp::classify(&desired, Some(&live.value), observed),
    };
    Ok(Entry {
        what: render::describe(&*deployment),
        change,
        name,
        marked,
        cached: kept.as_ref().and_then(Kept::deployment),
        found,
    })
}

/// Counts, once per controller run and before it writes any rollout label, the validators whose
/// Deployments the caches show rolling: a restarted operator holds the same slots.
fn seed(ctx: &Context) {
    if ctx.rollouts.is_seeded() {
        return;
    }
    let holders: Vec<Key> = ctx
        .stores
        .deployments
        .marked_instances()
        .into_iter()
        .map(|(namespace, instance)| ObjectRef::new(&instance).within(&namespace))
        .collect();
    if !holders.is_empty() {
        tracing::info!(
            rolling = holders.len(),
            "validators still rolling out an operator-caused change"
        );
    }
    ctx.rollouts.seed(holders);
}

fn key(validator: &Validator) -> Result<Key> {
    let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
    Ok(ObjectRef::new(&validator.name_any()).within(&namespace))
}

fn deployments_mut(rendered: &mut Rendered) -> impl Iterator<Item = &mut Deployment> {
    std::iter::once(&mut rendered.participant)
        .chain(std::iter::once(&mut rendered.validator_app))
        .chain(rendered.web_uis.iter_mut().map(|(d, _)| d))
}

fn gated_names(plan: &Plan) -> Vec<String> {
    plan.entries
        .iter()
        .filter(|e| e.change == Change::Operator)
        .map(|e| e.what.clone())
        .collect()
}

fn rolling_names(plan: &Plan) -> Vec<String> {
    plan.entries
        .iter()
        .filter(|e| e.marked || e.change == Change::Operator)
        .map(|e| e.what.clone())
        .collect()
}

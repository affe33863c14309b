//! The visible part of kube-controller-manager's Deployment controller, opt-in
//! (`FakeApiServer::run_deployment_controller`): after a Deployment's spec
//! changes it sets the `deployment.kubernetes.io/revision` annotation and a
//! rolling-out `status` (counts, `Available=False`, `Progressing=True`) in one
//! Update of manager `kube-controller-manager` through the status subresource,
//! as the real controller does. So objects carry what a 1.33 apiserver returns after
//! apply: both managers' `managedFields`, `status.conditions`, counts.
//! `make_deployment_available` finishes the rollout the same way. No
//! ReplicaSets or Pods exist.

use serde_json::{Value, json};

use super::handler::{State, WriteCtx};
use super::managed::Scope;
use super::registry::Builtin;
use super::store::now_rfc3339;

/// The manager name the real controller writes with.
pub(crate) const CONTROLLER_MANAGER: &str = "kube-controller-manager";
/// The annotation the controller numbers rollouts with.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// Whether `obj`, just written by `ctx`, is a Deployment whose current spec the controller
/// has not observed yet (its own writes never are).
pub(crate) fn needs_observing(ctx: &WriteCtx, obj: &Value) -> bool {
    ctx.rt.builtin == Some(Builtin::Deployment)
        && !ctx.dry_run
        && ctx.manager != CONTROLLER_MANAGER
        && obj.pointer("/metadata/generation") != obj.pointer("/status/observedGeneration")
}

/// The controller's reaction to a new spec: the next revision and a rolling-out status, in one
/// write through the status subresource (which may set a Deployment's annotations).
pub(crate) fn observe(state: &mut State, ctx: &WriteCtx, obj: &Value) {
    let mut current = obj.clone();
    let pointer = format!("/metadata/annotations/{}", REVISION.replace('/', "~1"));
    let revision = current
        .pointer(&pointer)
        .and_then(Value::as_str)
        .and_then(|r| r.parse::<u64>().ok())
        .map_or(1, |r| r + 1);
    current["metadata"]["annotations"][REVISION] = json!(revision.to_string());
    let status = rolling_out(&current);
    let _ = write_status(state, ctx, current, status);
}

/// The status of a Deployment whose pods are all available at its current generation.
pub(crate) fn available(deployment: &Value) -> Value {
    let replicas = replicas(deployment);
    let now = now_rfc3339();
    json!({
        "observedGeneration": generation(deployment),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", &now),
            condition("Progressing", "True", "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{}\" has successfully progressed.", replica_set(deployment)), &now),
        ],
    })
}

/// Replaces `obj`'s status as the controller, through the status subresource.
pub(crate) fn write_status(
    state: &mut State,
    ctx: &WriteCtx,
    mut obj: Value,
    status: Value,
) -> Result<Value, super::errors::ApiError> {
    obj["status"] = status;
    forget_version(&mut obj);
    state.replace(&controller_ctx(ctx, Scope::Status), obj)
}

/// Just after a new spec: the new ReplicaSet's pods exist but none is available yet.
fn rolling_out(deployment: &Value) -> Value {
    let replicas = replicas(deployment);
    let now = now_rfc3339();
    json!({
        "observedGeneration": generation(deployment),
        "replicas": replicas,
        "updatedReplicas": replicas,
        "unavailableReplicas": replicas,
        "conditions": [
            condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", &now),
            condition("Progressing", "True", "ReplicaSetUpdated",
                &format!("ReplicaSet \"{}\" is progressing.", replica_set(deployment)), &now),
        ],
    })
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

fn controller_ctx(ctx: &WriteCtx, scope: Scope) -> WriteCtx {
    let mut ctx = ctx.clone();
    ctx.manager = CONTROLLER_MANAGER.into();
    ctx.scope = scope;
    ctx.strict = false;
    ctx
}

/// An unconditional write, as the controller's retries on conflict amount to.
fn forget_version(obj: &mut Value) {
    if let Some(meta) = obj["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        meta.remove("managedFields");
    }
}

fn replicas(deployment: &Value) -> i64 {
    deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn generation(deployment: &Value) -> i64 {
    deployment
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The name the controller gives the current ReplicaSet: the Deployment's and a template hash.
fn replica_set(deployment: &Value) -> String {
    let name = deployment
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let template = deployment
        .pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default();
    let hash = template.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{name}-{:010x}", hash & 0xff_ffff_ffff)
}

//! Applying the rendered children with server-side apply, and deleting the ones no longer wanted.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::child_cache::{ChildCache, Seen};
use super::context::{Context, FIELD_MANAGER};
use super::diff::first_difference;
use super::error::{Error, Result};
use super::monitoring::Monitoring;
use super::projection::{self, Fingerprint};
use super::rollout::{Plan, Workloads};
use crate::api::Validator;
use crate::decision::created_service_account_name;
use crate::render::{
    self, Rendered, ServiceMonitor, Ui, backup_name, service_monitor_name, web_ui_name,
};

/// A namespaced child kind this operator caches, compares and deletes.
pub(crate) trait Child:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
{
}

impl<K> Child for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Debug
        + DeserializeOwned
{
}

/// What applying the children changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ApplyReport {
    /// Children that did not exist and were created.
    pub created: Vec<String>,
    /// Children that existed but differed (someone edited them, or the spec changed).
    pub updated: Vec<String>,
    /// Children deleted because the spec no longer wants them.
    pub deleted: Vec<String>,
    /// What the status reads of the Deployments written, as the server answered: newer than the
    /// cache, which may not have their watch events yet (and no reconcile follows those events,
    /// see `Echoes`).
    pub written_deployments: Vec<Deployment>,
    /// Where the workloads stand against this operator release's render (`WorkloadsCurrent`).
    pub rollout: Option<Workloads>,
    /// What became of the ServiceMonitor the spec asks for (`MonitoringReady`).
    pub monitoring: Option<Monitoring>,
}

/// Applies every rendered child that differs from the cache; identical ones cost no request.
/// The Deployments `plan` leaves as they are (waiting for a rollout slot, or found unchanged) are
/// not looked at again, and those it read are compared with what it read.
pub(crate) async fn apply(
    rendered: &Rendered,
    plan: &Plan,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    if let Some(sa) = &rendered.service_account {
        apply_one(sa, &ctx.stores.service_accounts, ctx, report).await?;
    }
    apply_deployment(&rendered.participant, plan, ctx, report).await?;
    apply_one(
        &rendered.participant_service,
        &ctx.stores.services,
        ctx,
        report,
    )
    .await?;
    // The Admin API is closed to all but the validator app and the operator before the app starts.
    apply_one(
        &rendered.network_policy,
        &ctx.stores.network_policies,
        ctx,
        report,
    )
    .await?;
    apply_deployment(&rendered.validator_app, plan, ctx, report).await?;
    apply_one(
        &rendered.validator_app_service,
        &ctx.stores.services,
        ctx,
        report,
    )
    .await?;
    for (deployment, service) in &rendered.web_uis {
        apply_deployment(deployment, plan, ctx, report).await?;
        apply_one(service, &ctx.stores.services, ctx, report).await?;
    }
    // The backup Job's ServiceAccount before the CronJob whose pods run as it.
    if let Some(sa) = &rendered.backup_service_account {
        apply_one(sa, &ctx.stores.service_accounts, ctx, report).await?;
    }
    if let Some(cron_job) = &rendered.identity_backup {
        apply_one(cron_job, &ctx.stores.cron_jobs, ctx, report).await?;
    }
    if let Some(monitor) = &rendered.service_monitor {
        report.monitoring = Some(apply_service_monitor(monitor, ctx, report).await?);
    }
    Ok(())
}

/// Applies the ServiceMonitor where the cluster serves its CRD. Monitoring is an extra: a
/// refusal is reported in `MonitoringReady`, not as a failed reconcile.
async fn apply_service_monitor(
    monitor: &ServiceMonitor,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<Monitoring> {
    let crd = &ctx.stores.service_monitor_crd;
    if !crd.served(&ctx.client).await {
        return Ok(Monitoring::CrdMissing);
    }
    let name = monitor.name_any();
    match apply_one(monitor, &ctx.stores.service_monitors, ctx, report).await {
        Ok(_) => Ok(Monitoring::Applied { name }),
        Err(Error::Kube(kube::Error::Api(status))) => {
            // Served a moment ago, gone now: discovery decides.
            if status.code == 404 && !crd.served_now(&ctx.client).await {
                return Ok(Monitoring::CrdMissing);
            }
            Ok(Monitoring::NotApplied {
                name,
                error: status.message,
            })
        }
        Err(e) => Err(e),
    }
}

/// Applies a Deployment unless the plan leaves it, and keeps the server's answer for the status.
async fn apply_deployment(
    deployment: &Deployment,
    plan: &Plan,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    let name = deployment.name_any();
    if plan.leaves(&name) {
        return Ok(());
    }
    let cache = &ctx.stores.deployments;
    let answer = compare_and_apply(deployment, cache, plan.read(&name), ctx, report).await?;
    report
        .written_deployments
        .extend(answer.as_ref().and_then(Seen::deployment));
    Ok(())
}

/// Applies one child if it differs from the cache; returns what the cache would keep of the
/// server's answer when it wrote (the answer is never decoded whole).
async fn apply_one<K>(
    desired: &K,
    cache: &ChildCache<K>,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<Option<Seen<K>>>
where
    K: Child + Serialize,
{
    compare_and_apply(desired, cache, None, ctx, report).await
}

/// [`apply_one`], comparing with `read` (the child as just read from the API server) when the
/// cache's fingerprint differs, instead of reading it again.
async fn compare_and_apply<K>(
    desired: &K,
    cache: &ChildCache<K>,
    read: Option<&Live>,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<Option<Seen<K>>>
where
    K: Child + Serialize,
{
    let namespace = desired.namespace().ok_or(Error::MissingNamespace)?;
    let name = desired.name_any();
    let desired_json = serde_json::to_value(desired).map_err(|source| Error::Encode {
        what: "a child object",
        source,
    })?;
    let rendered = projection::of_rendered(&desired_json);
    let exists = match cache.get(&namespace, &name) {
        None => false,
        Some(kept) if kept.matches(rendered) => return Ok(None),
        Some(_) => {
            let fetched = match read {
                Some(_) => None,
                None => live::<K>(ctx, &namespace, &name).await?,
            };
            match read.or(fetched.as_ref()) {
                None => false,
                Some(live) if !differs(desired, &desired_json, live) => {
                    cache.accept(&namespace, &name, live.fingerprint, rendered);
                    return Ok(None);
                }
                Some(_) => true,
            }
        }
    };
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let api: Api<Seen<K>> = Api::namespaced(ctx.client.clone(), &namespace);
    let sending = ctx.echoes.sending(desired);
    let answer = api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&desired_json),
        )
        .await?;
    sending.answered(&answer);
    let what = render::describe(desired);
    if exists {
        report.updated.push(what);
    } else {
        report.created.push(what);
    }
    Ok(Some(answer))
}

/// Whether the live child fails to say what the render says, logged either way: where it differs
/// when it does (it is applied again), at debug when the fingerprints differed but the fields do
/// not (it is left as it is).
fn differs<K: Resource<DynamicType = ()>>(desired: &K, desired_json: &Value, live: &Live) -> bool {
    match first_difference(desired_json, &live.value) {
        None => {
            tracing::debug!(child = %render::describe(desired), "a child whose fingerprint differs from the render's says everything the render says: left as it is");
            false
        }
        Some(path) => {
            tracing::info!(child = %render::describe(desired), %path, "re-applying a child that differs from the rendered one");
            true
        }
    }
}

/// A child as the API server has it now, projected to what the operator's apply owns.
pub(crate) struct Live {
    /// Comparable with `diff::first_difference` against the render.
    pub value: Value,
    /// As the child cache would keep it.
    pub fingerprint: Fingerprint,
}

/// Reads a child whose cached fingerprint differs from the render's, to compare it field by
/// field and say where it differs (a read, not a write: it happens only on a difference).
pub(crate) async fn live<K: Child + Serialize>(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<Live>> {
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(object) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let Value::Object(object) = serde_json::to_value(&object).map_err(|source| Error::Encode {
        what: "a live child object",
        source,
    })?
    else {
        return Ok(None);
    };
    let (value, fingerprint) = projection::live::<K>(&object);
    Ok(Some(Live { value, fingerprint }))
}

/// Deletes children this validator may have had but its spec no longer wants: the operator-created
/// ServiceAccounts, the web UIs that were turned off and the backup CronJob. One goes only when it is labelled as ours
/// and owned by this Validator. Looking candidates up by name keeps this O(1).
pub(crate) async fn prune(
    validator: &Validator,
    rendered: &Rendered,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    let name = validator.name_any();
    if rendered.service_account.is_none() {
        let candidate = created_service_account_name(&name);
        prune_one::<ServiceAccount>(
            validator,
            &candidate,
            &ctx.stores.service_accounts,
            ctx,
            report,
        )
        .await?;
    }
    let backup = backup_name(&name);
    if rendered.identity_backup.is_none() {
        prune_one::<CronJob>(validator, &backup, &ctx.stores.cron_jobs, ctx, report).await?;
    }
    if rendered.backup_service_account.is_none() {
        prune_one::<ServiceAccount>(
            validator,
            &backup,
            &ctx.stores.service_accounts,
            ctx,
            report,
        )
        .await?;
    }
    if rendered.service_monitor.is_none() {
        // Empty unless the CRD is served.
        let cache = &ctx.stores.service_monitors;
        prune_one::<ServiceMonitor>(validator, &service_monitor_name(&name), cache, ctx, report)
            .await?;
    }
    for ui in Ui::ALL {
        let candidate = web_ui_name(&name, ui);
        let wanted = rendered
            .web_uis
            .iter()
            .any(|(d, _)| d.metadata.name.as_deref() == Some(candidate.as_str()));
        if !wanted {
            prune_one::<Deployment>(validator, &candidate, &ctx.stores.deployments, ctx, report)
                .await?;
            prune_one::<Service>(validator, &candidate, &ctx.stores.services, ctx, report).await?;
        }
    }
    Ok(())
}

async fn prune_one<K>(
    validator: &Validator,
    name: &str,
    cache: &ChildCache<K>,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()>
where
    K: Child,
{
    let namespace = validator.namespace().ok_or(Error::MissingNamespace)?;
    let Some(kept) = cache.get(&namespace, name) else {
        return Ok(());
    };
    let uid = validator.meta().uid.as_deref().unwrap_or_default();
    // Labelled as managed by this operator for this instance, and owned by this Validator.
    if uid.is_empty() || !kept.belongs_to(&validator.name_any(), uid) {
        return Ok(());
    }
    if !ctx.is_leading() {
        return Err(Error::NotLeader);
    }
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    report.deleted.push(format!("{}/{name}", K::kind(&())));
    Ok(())
}

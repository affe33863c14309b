//! Applying the rendered children with server-side apply, and deleting the ones no longer wanted.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;

use super::cache::{Child, ChildCache, Current, Seen, current, of_rendered};
use super::context::Context;
use super::error::{Error, Result};
use super::monitoring::Monitoring;
use super::report::ApplyReport;
use super::rollout::Plan;
use crate::api::Validator;
use crate::field_manager::FIELD_MANAGER;
use crate::render::{self, Rendered, ServiceMonitor};

/// Applies every rendered child that differs from the cache; identical ones cost no request.
/// The Deployments `plan` leaves as they are (waiting for a rollout slot, or found current) are
/// not looked at again, and the others are applied on what the plan found of them. The render is
/// taken apart whole, so a child kind added to it cannot be left out here.
pub(crate) async fn apply(
    rendered: &Rendered,
    plan: &Plan,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    let Rendered {
        participant,
        participant_service,
        validator_app,
        validator_app_service,
        web_uis,
        service_account,
        network_policy,
        identity_backup,
        backup_service_account,
        service_monitor,
    } = rendered;
    let stores = &ctx.stores;
    if let Some(sa) = service_account {
        apply_one(sa, &stores.service_accounts, ctx, report).await?;
    }
    apply_deployment(participant, plan, ctx, report).await?;
    apply_one(participant_service, &stores.services, ctx, report).await?;
    // The Admin API is closed to all but the validator app and the operator before the app starts.
    apply_one(network_policy, &stores.network_policies, ctx, report).await?;
    apply_deployment(validator_app, plan, ctx, report).await?;
    apply_one(validator_app_service, &stores.services, ctx, report).await?;
    for (deployment, service) in web_uis {
        apply_deployment(deployment, plan, ctx, report).await?;
        apply_one(service, &stores.services, ctx, report).await?;
    }
    // The backup Job's ServiceAccount before the CronJob whose pods run as it.
    if let Some(sa) = backup_service_account {
        apply_one(sa, &stores.service_accounts, ctx, report).await?;
    }
    if let Some(cron_job) = identity_backup {
        apply_one(cron_job, &stores.cron_jobs, ctx, report).await?;
    }
    if let Some(monitor) = service_monitor {
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
        Err(e) => match e.api_status() {
            // Served a moment ago, gone now: discovery decides.
            Some(status) if status.code == 404 && !crd.served_now(&ctx.client).await => {
                Ok(Monitoring::CrdMissing)
            }
            Some(status) => Ok(Monitoring::NotApplied {
                name,
                error: status.message.clone(),
            }),
            None => Err(e),
        },
    }
}

/// Applies a Deployment unless the plan leaves it.
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
    compare_and_apply(deployment, cache, plan.found(&name), ctx, report).await
}

/// Applies one child if it differs from the cache; the cache keeps the server's answer (never
/// decoded whole).
async fn apply_one<K>(
    desired: &K,
    cache: &ChildCache<K>,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()>
where
    K: Child + Serialize,
{
    compare_and_apply(desired, cache, None, ctx, report).await
}

/// [`apply_one`] on what is `found` of the child already (by the rollout plan), or on what
/// [`current`] finds.
async fn compare_and_apply<K>(
    desired: &K,
    cache: &ChildCache<K>,
    found: Option<&Current>,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()>
where
    K: Child + Serialize,
{
    let namespace = desired.namespace().ok_or(Error::MissingNamespace)?;
    let name = desired.name_any();
    let desired_json = serde_json::to_value(desired).map_err(|source| Error::Encode {
        what: "a child object",
        source,
    })?;
    let asked;
    let found = match found {
        Some(found) => found,
        None => {
            asked = current(desired, &desired_json, cache, &ctx.client).await?;
            &asked
        }
    };
    let read = match found {
        Current::Yes => return Ok(()),
        Current::Absent => None,
        Current::No(live) => Some(live),
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
        .await
        .map_err(Error::api("applying", render::describe(desired)))?;
    sending.answered(&answer);
    cache.applied(&answer, of_rendered(&desired_json));
    let what = render::describe(desired);
    match read {
        None => report.created.push(what),
        Some(live) if live.resource_version() == answer.meta().resource_version.as_deref() => {
            tracing::info!(child = %what, "the server answered the apply unchanged: its answer is taken as the render's");
        }
        Some(_) => report.updated.push(what),
    }
    Ok(())
}

/// Deletes every child of this Validator that the render does not contain, of every kind the
/// operator creates and whatever its name (an earlier release's name, a web UI turned off): one
/// labelled as managed by this operator for this instance and owned by this Validator. A
/// look-alike owned by another object, or not labelled as ours, is never touched.
pub(crate) async fn prune(
    validator: &Validator,
    rendered: &Rendered,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    let Some(uid) = validator.meta().uid.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    let owner = Owner {
        namespace: validator.namespace().ok_or(Error::MissingNamespace)?,
        instance: validator.name_any(),
        uid,
    };
    let wanted = Wanted::of(rendered);
    let stores = &ctx.stores;
    prune_kind(
        &owner,
        &wanted.deployments,
        &stores.deployments,
        ctx,
        report,
    )
    .await?;
    prune_kind(&owner, &wanted.services, &stores.services, ctx, report).await?;
    prune_kind(
        &owner,
        &wanted.service_accounts,
        &stores.service_accounts,
        ctx,
        report,
    )
    .await?;
    prune_kind(
        &owner,
        &wanted.network_policies,
        &stores.network_policies,
        ctx,
        report,
    )
    .await?;
    prune_kind(&owner, &wanted.cron_jobs, &stores.cron_jobs, ctx, report).await?;
    // Empty unless the ServiceMonitor CRD is served.
    prune_kind(
        &owner,
        &wanted.service_monitors,
        &stores.service_monitors,
        ctx,
        report,
    )
    .await
}

/// The Validator whose children are pruned.
struct Owner<'a> {
    namespace: String,
    /// Its name, the `app.kubernetes.io/instance` label of its children.
    instance: String,
    uid: &'a str,
}

/// The names of the rendered children, by kind.
struct Wanted<'a> {
    deployments: Vec<&'a str>,
    services: Vec<&'a str>,
    service_accounts: Vec<&'a str>,
    network_policies: Vec<&'a str>,
    cron_jobs: Vec<&'a str>,
    service_monitors: Vec<&'a str>,
}

impl<'a> Wanted<'a> {
    /// Takes the render apart whole, so a child kind added to it must be named here.
    fn of(rendered: &'a Rendered) -> Self {
        let Rendered {
            participant,
            participant_service,
            validator_app,
            validator_app_service,
            web_uis,
            service_account,
            network_policy,
            identity_backup,
            backup_service_account,
            service_monitor,
        } = rendered;
        fn names<'a, K: Resource + 'a>(children: impl IntoIterator<Item = &'a K>) -> Vec<&'a str> {
            children
                .into_iter()
                .filter_map(|child| child.meta().name.as_deref())
                .collect()
        }
        let deployments = [participant, validator_app]
            .into_iter()
            .chain(web_uis.iter().map(|(d, _)| d));
        let services = [participant_service, validator_app_service]
            .into_iter()
            .chain(web_uis.iter().map(|(_, s)| s));
        Self {
            deployments: names(deployments),
            services: names(services),
            service_accounts: names(service_account.iter().chain(backup_service_account)),
            network_policies: names([network_policy]),
            cron_jobs: names(identity_backup),
            service_monitors: names(service_monitor),
        }
    }
}

/// Deletes the children of one kind that belong to `owner` and are not `wanted`.
async fn prune_kind<K: Child>(
    owner: &Owner<'_>,
    wanted: &[&str],
    cache: &ChildCache<K>,
    ctx: &Context,
    report: &mut ApplyReport,
) -> Result<()> {
    let unwanted = cache
        .belonging_to(&owner.namespace, &owner.instance, owner.uid)
        .into_iter()
        .filter(|name| !wanted.contains(&name.as_str()));
    for name in unwanted {
        if !ctx.is_leading() {
            return Err(Error::NotLeader);
        }
        let api: Api<K> = Api::namespaced(ctx.client.clone(), &owner.namespace);
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                let object = format!("{} {}/{name}", K::kind(&()), owner.namespace);
                return Err(Error::api("deleting", object)(e));
            }
        }
        report.deleted.push(format!("{}/{name}", K::kind(&())));
    }
    Ok(())
}

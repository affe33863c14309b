//! Pure rendering: a Validator plus its decision become the objects to apply. No client, no clock.

mod backup;
mod database;
mod labels;
mod network_policy;
mod participant;
mod placement;
mod pod;
mod restore;
mod service_monitor;
mod validate;
mod validator_app;
mod web_ui;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::api::{PodSettings, Validator};
use crate::decision::{KmsDecision, created_service_account_name};
use crate::names::is_dns1123_label;
use crate::release::{Release, UnsupportedVersion};

pub use backup::{
    BACKUP_COMPONENT, DEFAULT_KEEP, backup_name, default_operator_image, destination_url,
};
pub use labels::{APP_NAME, COMPONENT, INSTANCE, MANAGED_BY, MANAGER, NAME, selector};
pub(crate) use labels::{GENERATION, ROLLOUT, ROLLOUT_HOLDS_SLOT, SPEC_HASH};
pub use network_policy::{
    ADMIN_API_PORT, DEFAULT_OPERATOR_NAMESPACE, NAMESPACE_NAME_LABEL, OPEN_PORTS,
    network_policy_name,
};
pub use participant::{PARTICIPANT_COMPONENT, participant_name};
pub use restore::{DUMP_DIR, DUMP_FILE};
pub use service_monitor::{
    Endpoint, METRICS_PORT_NAME, MONITORING_COMPONENT, NamespaceSelector, ServiceMonitor,
    ServiceMonitorSpec, service_monitor_name,
};
pub use validate::validate;
pub use validator_app::{VALIDATOR_APP_COMPONENT, validator_app_name};
pub use web_ui::{Ui, web_ui_name};

/// Default image registry path of the Splice images.
pub(crate) const IMAGE_REPOSITORY: &str = "ghcr.io/digital-asset/decentralized-canton-sync/docker";
/// Longest validator name whose children (`<name>-validator-app`) are valid Service names.
pub(crate) const MAX_NAME_LEN: usize = 63 - "-validator-app".len();

/// Every object one validator needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    pub participant: Deployment,
    pub participant_service: Service,
    pub validator_app: Deployment,
    pub validator_app_service: Service,
    /// The wallet and ANS web UIs that are turned on: Deployment and Service each.
    pub web_uis: Vec<(Deployment, Service)>,
    /// Present when the operator manages the participant's ServiceAccount.
    pub service_account: Option<ServiceAccount>,
    /// Admits the participant's Admin API only from the validator app and the operator.
    pub network_policy: NetworkPolicy,
    /// The identity backup CronJob, when `spec.backup.identities` asks for one.
    pub identity_backup: Option<CronJob>,
    /// The backup Job's ServiceAccount, when the operator is asked to create it.
    pub backup_service_account: Option<ServiceAccount>,
    /// The Prometheus Operator ServiceMonitor, when `spec.monitoring.serviceMonitor` asks for one
    /// (applied only where the cluster serves its CRD).
    pub service_monitor: Option<ServiceMonitor>,
}

/// Why a validator cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "metadata.name `{0}` is too long or not a DNS label: its Services are `<name>-participant` and `<name>-validator-app`, so use at most {MAX_NAME_LEN} lowercase letters, digits and `-`"
    )]
    InvalidName(String),
    #[error("metadata.namespace is missing")]
    MissingNamespace,
    #[error(transparent)]
    UnsupportedVersion(#[from] UnsupportedVersion),
    #[error(
        "{field}: `{name}` is set by the operator itself and cannot be overridden; use the typed field of the Validator instead"
    )]
    ReservedEnvName { field: String, name: String },
    #[error(
        "spec.kms.sessionSigningKeys needs Splice 0.7.2 or later; spec.version is {version}. Upgrade spec.version first, or turn session signing keys off"
    )]
    SessionSigningKeysUnsupported { version: String },
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    #[error(
        "{field} sets `{key}`, which Splice {version} removed (a leftover key would likely stop the app from starting): remove it from the variable before moving to {version}"
    )]
    RemovedConfigKey {
        field: String,
        key: String,
        version: String,
    },
}

impl RenderError {
    /// The condition reason this refusal is reported with.
    pub fn reason(&self) -> &'static str {
        match self {
            RenderError::InvalidName(_) => "InvalidName",
            RenderError::MissingNamespace => "MissingNamespace",
            RenderError::UnsupportedVersion(_) => "UnsupportedVersion",
            RenderError::ReservedEnvName { .. } => "ReservedEnvName",
            RenderError::SessionSigningKeysUnsupported { .. } => "UnsupportedFeature",
            RenderError::InvalidField { .. } => "InvalidSpec",
            RenderError::RemovedConfigKey { .. } => "RemovedConfigKey",
        }
    }
}

impl Rendered {
    /// The objects as JSON, in apply order (ServiceAccount first, so pods can start with it).
    pub fn to_json(&self) -> Result<Vec<serde_json::Value>, serde_json::Error> {
        let mut out = Vec::with_capacity(10);
        for sa in [&self.service_account, &self.backup_service_account]
            .into_iter()
            .flatten()
        {
            out.push(serde_json::to_value(sa)?);
        }
        out.push(serde_json::to_value(&self.participant)?);
        out.push(serde_json::to_value(&self.participant_service)?);
        out.push(serde_json::to_value(&self.validator_app)?);
        out.push(serde_json::to_value(&self.validator_app_service)?);
        for (deployment, service) in &self.web_uis {
            out.push(serde_json::to_value(deployment)?);
            out.push(serde_json::to_value(service)?);
        }
        out.push(serde_json::to_value(&self.network_policy)?);
        if let Some(cron_job) = &self.identity_backup {
            out.push(serde_json::to_value(cron_job)?);
        }
        if let Some(monitor) = &self.service_monitor {
            out.push(serde_json::to_value(monitor)?);
        }
        Ok(out)
    }
}

/// Renders a validator's objects from its spec and decision, for an operator in the default
/// namespace ([`DEFAULT_OPERATOR_NAMESPACE`]).
pub fn render(validator: &Validator, decision: &KmsDecision) -> Result<Rendered, RenderError> {
    render_with(validator, decision, None)
}

/// Like [`render`], with the operator's namespace, which the Admin API NetworkPolicy admits.
pub fn render_with(
    validator: &Validator,
    decision: &KmsDecision,
    operator_namespace: Option<&str>,
) -> Result<Rendered, RenderError> {
    let site = Site {
        operator_namespace,
        operator_image: None,
    };
    render_in(validator, decision, &site)
}

/// Where the operator runs: what some children refer to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Site<'a> {
    /// The operator's namespace, admitted to the participant's Admin API.
    pub operator_namespace: Option<&'a str>,
    /// The operator's image, which the backup CronJob runs (default [`default_operator_image`]).
    pub operator_image: Option<&'a str>,
}

/// Like [`render`], for an operator at `site`.
pub(crate) fn render_in(
    validator: &Validator,
    decision: &KmsDecision,
    site: &Site,
) -> Result<Rendered, RenderError> {
    let operator_namespace = site.operator_namespace;
    let name = validator.name_any();
    if name.len() > MAX_NAME_LEN || !is_dns1123_label(&name) {
        return Err(RenderError::InvalidName(name));
    }
    let release = validate(&validator.spec)?.release;
    let spec = &validator.spec;
    let ctx = Context {
        validator,
        decision,
        release,
        version: &validator.spec.version,
        name: &name,
        namespace: validator.namespace().ok_or(RenderError::MissingNamespace)?,
        registry: spec.image_registry.as_deref(),
    };
    let shared = spec.pods.as_ref();
    let mut participant = participant::deployment(&ctx);
    if let Some(template) = template(&mut participant) {
        placement::add_extras(
            template,
            &placement::Extras {
                field: "spec.participant",
                volumes: &spec.participant.extra_volumes,
                volume_mounts: &spec.participant.extra_volume_mounts,
                init_containers: &spec.participant.extra_init_containers,
            },
        )?;
        let settings = PodSettings::merged(shared, spec.participant.pod.as_ref());
        placement::place(template, &settings);
    }
    // The operator's own image (the backup Job's, the restore's init container), moved to
    // `spec.imageRegistry` like every default image.
    let operator_image = placement::relocate(
        &site
            .operator_image
            .map_or_else(default_operator_image, str::to_string),
        ctx.registry,
    );
    let mut validator_app = validator_app::deployment(&ctx);
    restore::add_to_validator_app(&ctx, &mut validator_app, &operator_image);
    if let Some(template) = template(&mut validator_app) {
        let app = &spec.validator_app;
        placement::add_extras(
            template,
            &placement::Extras {
                field: "spec.validatorApp",
                volumes: &app.extra_volumes,
                volume_mounts: &app.extra_volume_mounts,
                init_containers: &app.extra_init_containers,
            },
        )?;
        placement::place(template, &PodSettings::merged(shared, app.pod.as_ref()));
    }
    let ui_settings =
        PodSettings::merged(shared, spec.web_uis.as_ref().and_then(|w| w.pod.as_ref()));
    let mut web_uis: Vec<_> = Ui::ALL
        .iter()
        .filter_map(|ui| web_ui::objects(&ctx, *ui))
        .collect();
    for (deployment, _) in &mut web_uis {
        if let Some(template) = template(deployment) {
            placement::place(template, &ui_settings);
        }
    }
    let mut identity_backup = backup::cron_job(&ctx, &operator_image);
    if let Some(template) = identity_backup
        .as_mut()
        .and_then(|c| c.spec.as_mut())
        .and_then(|s| s.job_template.spec.as_mut())
        .map(|j| &mut j.template)
    {
        let backup_pod = spec.identity_backup().and_then(|b| b.pod.as_ref());
        placement::place(template, &PodSettings::merged(shared, backup_pod));
    }
    Ok(Rendered {
        participant,
        participant_service: participant::service(&ctx),
        validator_app,
        validator_app_service: validator_app::service(&ctx),
        web_uis,
        service_account: service_account(&ctx),
        network_policy: network_policy::network_policy(
            &ctx,
            operator_namespace.unwrap_or(DEFAULT_OPERATOR_NAMESPACE),
        ),
        identity_backup,
        backup_service_account: backup::service_account(&ctx),
        service_monitor: service_monitor::service_monitor(&ctx),
    })
}

/// The pod template of a rendered Deployment.
fn template(deployment: &mut Deployment) -> Option<&mut PodTemplateSpec> {
    deployment.spec.as_mut().map(|s| &mut s.template)
}

/// What every workload renderer needs.
pub(crate) struct Context<'a> {
    pub validator: &'a Validator,
    pub decision: &'a KmsDecision,
    /// The supported release `spec.version` names: every version-dependent fact comes from here.
    pub release: &'static Release,
    /// `spec.version`: the image tag and version label. The same as `release.version` unless it
    /// is a patch newer than the table, rendered with its line's newest facts.
    pub version: &'a str,
    pub name: &'a str,
    pub namespace: String,
    /// `spec.imageRegistry`: where the default images are pulled from instead.
    pub registry: Option<&'a str>,
}

impl Context<'_> {
    /// The image of a workload: the spec's override as written, or the Splice image tagged with
    /// `spec.version`, moved to `spec.imageRegistry` when one is set.
    pub(crate) fn image(&self, override_image: Option<&String>, artifact: &str) -> String {
        match override_image {
            Some(image) => image.clone(),
            None => placement::relocate(
                &format!("{IMAGE_REPOSITORY}/{artifact}:{}", self.version),
                self.registry,
            ),
        }
    }

    /// Metadata of a child: name, namespace, labels, and the owner reference when the Validator
    /// exists on a server (offline renders have no uid).
    pub(crate) fn meta(&self, name: String, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels::labels(self.name, component, self.version)),
            owner_references: owner_reference(self.validator).map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }
}

fn owner_reference(validator: &Validator) -> Option<OwnerReference> {
    validator.controller_owner_ref(&())
}

/// The participant's ServiceAccount, when the operator creates it.
fn service_account(ctx: &Context) -> Option<ServiceAccount> {
    let kms = &ctx.decision.kms;
    if !kms.creates_service_account() {
        return None;
    }
    let identity = kms.service_account.as_ref()?;
    let annotations = identity.annotations();
    let mut meta = ctx.meta(
        created_service_account_name(ctx.name),
        PARTICIPANT_COMPONENT,
    );
    meta.annotations = Some(annotations);
    Some(ServiceAccount {
        metadata: meta,
        // IRSA and Pod Identity inject their own token, GKE serves one from its metadata server;
        // the participant never calls the Kubernetes API.
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    })
}

/// Kind and name of an object, for messages.
pub(crate) fn describe<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}",
        K::kind(&()),
        obj.meta().name.as_deref().unwrap_or("?")
    )
}

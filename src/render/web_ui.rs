//! The wallet and ANS web UIs the validator chart deploys beside the app: Deployment and Service
//! `<name>-wallet-web-ui` and `<name>-ans-web-ui`, each on unless turned off.
//!
//! The UIs are static pages served on 8080 that call the validator app's API from the browser;
//! the chart gives them no probes and no user, so neither does the operator (their images'
//! users are not covered by the facts the workloads were checked against). They get the default
//! seccomp profile and no privilege escalation.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, SecurityContext, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Context;
use super::pod::{self, Pod, env, env_secret, port};
use crate::api::{InstanceNames, WebUi, WebUisSpec};

/// Which UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ui {
    Wallet,
    Ans,
}

impl Ui {
    /// Both, in apply order.
    pub const ALL: [Ui; 2] = [Ui::Wallet, Ui::Ans];

    /// Image name, container name and `app.kubernetes.io/component`.
    pub(crate) fn component(self) -> &'static str {
        match self {
            Ui::Wallet => "wallet-web-ui",
            Ui::Ans => "ans-web-ui",
        }
    }

    /// The Secret with the UI's OIDC client, as the chart names it.
    fn default_auth_secret(self) -> &'static str {
        match self {
            Ui::Wallet => "splice-app-wallet-ui-auth",
            Ui::Ans => "splice-app-cns-ui-auth",
        }
    }

    fn settings(self, spec: Option<&WebUisSpec>) -> Option<&WebUi> {
        let spec = spec?;
        match self {
            Ui::Wallet => spec.wallet.as_ref(),
            Ui::Ans => spec.ans.as_ref(),
        }
    }
}

/// Name of a UI's Deployment and Service.
pub fn web_ui_name(validator: &str, ui: Ui) -> String {
    format!("{validator}-{}", ui.component())
}

/// The UI's Deployment and Service, unless it is turned off.
pub(super) fn objects(ctx: &Context, ui: Ui) -> Option<(Deployment, Service)> {
    let spec = ctx.validator.spec.web_uis.as_ref();
    let defaults = WebUi::default();
    let settings = ui.settings(spec).unwrap_or(&defaults);
    if !settings.enabled {
        return None;
    }
    let container = Container {
        name: ui.component().to_string(),
        image: Some(ctx.image(settings.image.as_ref(), ui.component())),
        env: Some(env_vars(ctx, ui, settings)),
        ports: Some(vec![port("http", 8080)]),
        resources: Some(pod::resources(
            settings.resources.as_ref(),
            ctx.release.workloads.web_ui,
        )),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let name = web_ui_name(ctx.name, ui);
    let deployment = pod::deployment(
        ctx,
        name.clone(),
        ui.component(),
        Pod {
            containers: vec![container],
            init_containers: Vec::new(),
            security: pod::pod_security(None),
            service_account: None,
        },
    );
    let service = pod::service(
        ctx,
        name,
        ui.component(),
        &[("http", 80, IntOrString::String("http".to_string()))],
    );
    Some((deployment, service))
}

fn env_vars(ctx: &Context, ui: Ui, settings: &WebUi) -> Vec<EnvVar> {
    let spec = ctx.validator.spec.web_uis.as_ref();
    let names = spec
        .and_then(|s| s.instance_names.clone())
        .unwrap_or_default();
    let secret = settings
        .auth_secret
        .as_deref()
        .unwrap_or(ui.default_auth_secret());
    let audience = spec
        .and_then(|s| s.audience.clone())
        .unwrap_or_else(|| ctx.validator.spec.validator_app.auth.audience.clone());
    let mut vars = instance_name_vars(&names);
    if let Some(interval) = spec.and_then(|s| s.poll_interval_ms) {
        vars.push(env("SPLICE_APP_UI_POLL_INTERVAL", interval.to_string()));
    }
    vars.push(env_secret("SPLICE_APP_UI_AUTH_URL", secret, "url"));
    vars.push(env("SPLICE_APP_UI_AUTH_AUDIENCE", audience));
    if let Some(scope) = spec.and_then(|s| s.scope.clone()) {
        vars.push(env("SPLICE_APP_UI_AUTH_SCOPE", scope));
    }
    vars.push(env_secret(
        "SPLICE_APP_UI_AUTH_CLIENT_ID",
        secret,
        "client-id",
    ));
    vars
}

/// The network's names, with the Splice docs' values for the global synchronizer by default.
fn instance_name_vars(names: &InstanceNames) -> Vec<EnvVar> {
    let or = |value: &Option<String>, default: &str| value.clone().unwrap_or(default.to_string());
    vec![
        env(
            "SPLICE_APP_UI_NETWORK_NAME",
            or(&names.network_name, "Canton Network"),
        ),
        env(
            "SPLICE_APP_UI_NETWORK_FAVICON_URL",
            or(
                &names.network_favicon_url,
                "https://www.canton.network/hubfs/cn-favicon-05%201-1.png",
            ),
        ),
        env(
            "SPLICE_APP_UI_AMULET_NAME",
            or(&names.amulet_name, "Canton Coin"),
        ),
        env(
            "SPLICE_APP_UI_AMULET_NAME_ACRONYM",
            or(&names.amulet_name_acronym, "CC"),
        ),
        env(
            "SPLICE_APP_UI_NAME_SERVICE_NAME",
            or(&names.name_service_name, "Canton Name Service"),
        ),
        env(
            "SPLICE_APP_UI_NAME_SERVICE_NAME_ACRONYM",
            or(&names.name_service_name_acronym, "CNS"),
        ),
    ]
}

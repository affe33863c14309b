//! `canton-operator verify`: the seed's "Verifying KMS Is Active" checks as one command.

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde::Serialize;

use crate::api::Validator;
use crate::config::KmsDefault;
use crate::decision::{KmsDecision, resolve};
use crate::kms::{KMS_ENV_VAR, KMS_ENVELOPE_ENV_VAR, participant_env};
use crate::render::{COMPONENT, INSTANCE, PARTICIPANT_COMPONENT};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// What was expected and found, in words.
    pub detail: String,
}

/// All checks for one validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub validator: String,
    pub namespace: String,
    pub checks: Vec<Check>,
    pub passed: bool,
}

/// Why verification could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("Validator {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
}

/// What the cluster showed, gathered before the pure evaluation.
pub(crate) struct Observed<'a> {
    pub validator: &'a Validator,
    pub pods: &'a [Pod],
    pub service_account: Option<&'a ServiceAccount>,
}

/// Reads what is needed and evaluates it.
pub async fn verify(client: Client, namespace: &str, name: &str) -> Result<Report, VerifyError> {
    let validators: Api<Validator> = Api::namespaced(client.clone(), namespace);
    let validator = validators
        .get_opt(name)
        .await?
        .ok_or_else(|| VerifyError::NotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{INSTANCE}={name},{COMPONENT}={PARTICIPANT_COMPONENT}");
    let pods = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let decision = resolve(&validator.spec, &KmsDefault::Disabled).ok();
    let sa_name = decision
        .as_ref()
        .and_then(|d| d.participant_service_account(name));
    let service_account = match &sa_name {
        Some(sa) => {
            Api::<ServiceAccount>::namespaced(client, namespace)
                .get_opt(sa)
                .await?
        }
        None => None,
    };
    Ok(evaluate(&Observed {
        validator: &validator,
        pods: &pods,
        service_account: service_account.as_ref(),
    }))
}

/// The checks, as a pure function of what was observed.
pub(crate) fn evaluate(obs: &Observed) -> Report {
    let name = obs.validator.name_any();
    let namespace = obs.validator.namespace().unwrap_or_default();
    let mut checks = Vec::new();
    match recorded_decision(obs.validator) {
        Err(detail) => checks.push(Check {
            name: "decision",
            passed: false,
            detail,
        }),
        Ok(decision) => {
            let pod = obs
                .pods
                .iter()
                .find(|p| p.metadata.deletion_timestamp.is_none());
            checks.push(check_service_account(&decision, &name, pod));
            checks.push(check_env(&decision, pod));
            checks.push(check_ready(pod));
            if let Some(c) = check_annotation(&decision, &name, obs.service_account) {
                checks.push(c);
            }
        }
    }
    let passed = checks.iter().all(|c| c.passed);
    Report {
        validator: name,
        namespace,
        checks,
        passed,
    }
}

fn recorded_decision(validator: &Validator) -> Result<KmsDecision, String> {
    if validator.spec.kms.is_none() {
        return Err(
            "spec.kms is not recorded yet: the operator has not provisioned this validator".into(),
        );
    }
    resolve(&validator.spec, &KmsDefault::Disabled).map_err(|e| e.to_string())
}

fn check_service_account(decision: &KmsDecision, name: &str, pod: Option<&Pod>) -> Check {
    let expected = decision.participant_service_account(name);
    let found = pod
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.service_account_name.clone());
    let passed = pod.is_some() && (expected.is_none() || found == expected);
    Check {
        name: "serviceAccount",
        passed,
        detail: match pod {
            None => "no participant pod found".into(),
            Some(_) => format!(
                "expected {}, found {}",
                expected.as_deref().unwrap_or("(any)"),
                found.as_deref().unwrap_or("(default)")
            ),
        },
    }
}

fn check_env(decision: &KmsDecision, pod: Option<&Pod>) -> Check {
    let expected = decision
        .provider()
        .map(|p| participant_env(&p, decision.kms.mode, decision.kms.envelope.as_ref()));
    let env_of = |var: &str| {
        pod.and_then(|p| p.spec.as_ref())
            .and_then(|s| s.containers.iter().find(|c| c.name == "participant"))
            .and_then(|c| c.env.as_ref())
            .and_then(|env| env.iter().find(|e| e.name == var))
            .and_then(|e| e.value.clone())
    };
    let (passed, detail) = match (&expected, pod) {
        (_, None) => (false, "no participant pod found".to_string()),
        (Some((var, value)), Some(_)) => match env_of(var) {
            Some(found) if &found == value => {
                (true, format!("{var} present with the expected value"))
            }
            Some(found) => (
                false,
                format!("{var} differs: expected {value:?}, found {found:?}"),
            ),
            None => (false, format!("{var} missing")),
        },
        (None, Some(_)) => {
            let stray = [KMS_ENV_VAR, KMS_ENVELOPE_ENV_VAR]
                .into_iter()
                .find(|v| env_of(v).is_some());
            match stray {
                Some(var) => (
                    false,
                    format!("{var} present, but KMS is off for this validator"),
                ),
                None => (
                    true,
                    format!("KMS off and {KMS_ENV_VAR} absent, as expected"),
                ),
            }
        }
    };
    Check {
        name: "kmsConfig",
        passed,
        detail,
    }
}

fn check_ready(pod: Option<&Pod>) -> Check {
    let ready = pod
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    Check {
        name: "participantReady",
        passed: ready,
        detail: match pod {
            None => "no participant pod found".into(),
            Some(p) => format!(
                "pod {} is {}",
                p.name_any(),
                if ready { "Ready" } else { "not Ready" }
            ),
        },
    }
}

fn check_annotation(
    decision: &KmsDecision,
    name: &str,
    sa: Option<&ServiceAccount>,
) -> Option<Check> {
    let identity = decision.cloud_identity()?;
    let account = decision
        .participant_service_account(name)
        .unwrap_or_default();
    let value = |key: &str| {
        sa.and_then(|s| s.annotations().get(key).cloned())
            .filter(|v| !v.is_empty())
    };
    let (passed, detail) = match (sa, identity.required_annotation()) {
        (None, _) => (false, format!("ServiceAccount {account} not found")),
        (Some(_), Some((key, _))) => match value(key) {
            Some(v) => (true, format!("{account} has {key}: {v}")),
            None => (false, format!("{account} lacks annotation {key}")),
        },
        // Pod Identity and Federation: nothing to see but the absence of the other annotation;
        // the association or IAM binding is in the cloud.
        (Some(_), None) => match identity
            .conflicting_annotation()
            .and_then(|k| value(k).map(|v| (k, v)))
        {
            Some((key, v)) => (
                false,
                format!(
                    "{account} is annotated {key}: {v}, which overrides {}",
                    identity.as_str()
                ),
            ),
            None => (
                true,
                format!(
                    "{account} uses {} (nothing to annotate; the grant itself is in the cloud and not visible from the cluster)",
                    identity.as_str()
                ),
            ),
        },
    };
    Some(Check {
        name: "serviceAccountAnnotation",
        passed,
        detail,
    })
}

impl Report {
    /// One line per check and a summary, for people.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{}  {:<25} {}\n",
                if c.passed { "PASS" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
        let failed = self.checks.iter().filter(|c| !c.passed).count();
        out.push_str(&format!(
            "{}/{}: {} of {} checks passed\n",
            self.namespace,
            self.validator,
            self.checks.len() - failed,
            self.checks.len()
        ));
        out
    }
}

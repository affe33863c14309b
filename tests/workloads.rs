//! The workloads of a supported Splice release: the release table, what the validator app is
//! given, the database init containers, the web UIs, `additionalEnv`, session signing keys, and
//! the admission rules that go with them.

mod common;

use canton_operator::api::{PARTICIPANT_OPERATOR_ENV, VALIDATOR_APP_OPERATOR_ENV, Validator};
use canton_operator::decision::KmsDecision;
use canton_operator::kms::{KMS_ENV_VAR, SESSION_SIGNING_KEYS_ENV_VAR};
use canton_operator::release::{DEPRECATED_TRANSFER_COMMAND_SUPPORT, SUPPORTED, VERIFIED};
use canton_operator::render::{RenderError, Rendered, render};
use common::{
    EXAMPLE, SEED_ENV, SEED_PARTICIPANT_VALUE, container, decision, env_value, pod_spec, validator,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Container;
use serde_json::{Value, json};

const AWS_EXAMPLE: &str = "examples/validator-aws-external.yaml";
const NO_KMS_EXAMPLE: &str = "examples/validator-no-kms.yaml";

/// `file`'s Validator with a JSON merge patch applied to its spec.
fn patched(file: &str, patch: Value) -> Validator {
    let mut object = serde_json::to_value(validator(file)).unwrap();
    json_patch::merge(&mut object["spec"], &patch);
    serde_json::from_value(object).unwrap()
}

fn render_with_decision(v: &Validator, file: &str) -> Result<Rendered, RenderError> {
    let d: KmsDecision = decision(file, &[]);
    render(v, &d)
}

fn init_containers(d: &Deployment) -> Vec<&Container> {
    pod_spec(d).init_containers.iter().flatten().collect()
}

fn names(c: &Container) -> Vec<&str> {
    c.env.iter().flatten().map(|e| e.name.as_str()).collect()
}

// ---------------------------------------------------------------- releases

#[test]
fn every_supported_release_renders_its_own_images() {
    for release in &SUPPORTED {
        let v = patched(NO_KMS_EXAMPLE, json!({"version": release.version}));
        let r = render_with_decision(&v, NO_KMS_EXAMPLE).unwrap();
        let image = container(&r.validator_app).image.clone().unwrap();
        assert!(image.ends_with(&format!("/validator-app:{}", release.version)));
        let image = container(&r.participant).image.clone().unwrap();
        assert!(image.ends_with(&format!("/canton-participant:{}", release.version)));
    }
}

#[test]
fn an_unsupported_release_is_refused_with_the_supported_range() {
    // A new minor line, a major, releases before the table, pre-releases: refused.
    for version in [
        "0.4.15",
        "0.6.7",
        "0.9.0",
        "1.0.0",
        "0.8.1-rc1",
        "0.8",
        "latest",
    ] {
        let v = patched(NO_KMS_EXAMPLE, json!({"version": version}));
        let err = render_with_decision(&v, NO_KMS_EXAMPLE).unwrap_err();
        assert_eq!(err.reason(), "UnsupportedVersion", "{version}");
        assert!(
            err.to_string()
                .contains("0.7.0 to 0.8.1, and later patches of 0.7 and 0.8"),
            "{err}"
        );
    }
}

#[test]
fn a_newer_patch_runs_its_own_images_with_its_lines_newest_facts() {
    let newer = patched(NO_KMS_EXAMPLE, json!({"version": "0.8.4"}));
    let r = render_with_decision(&newer, NO_KMS_EXAMPLE).unwrap();
    for (deployment, image) in [
        (&r.participant, "canton-participant"),
        (&r.validator_app, "validator-app"),
    ] {
        let tag = container(deployment).image.clone().unwrap();
        assert!(tag.ends_with(&format!("/{image}:0.8.4")), "{tag}");
        let labels = deployment.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/version"], "0.8.4");
    }
    // Everything else is 0.8.1's render.
    let known = patched(NO_KMS_EXAMPLE, json!({"version": "0.8.1"}));
    let known = render_with_decision(&known, NO_KMS_EXAMPLE).unwrap();
    let strip = |r: &Rendered| {
        serde_json::to_string(&r.to_json().unwrap())
            .unwrap()
            .replace("0.8.4", "0.8.1")
    };
    assert_eq!(strip(&r), strip(&known));
}

#[test]
fn a_downgrade_is_refused_at_admission_and_an_upgrade_allowed() {
    // Whatever the rule's wording, these pairs are what it must decide.
    for (from, to) in [
        ("0.7.3", "0.7.4"),
        ("0.7.4", "0.8.1"),
        ("0.7.5", "0.8.0"),
        ("0.8.1", "0.8.4"),
        ("0.7.9", "0.7.10"),
    ] {
        let old = patched(NO_KMS_EXAMPLE, json!({"version": from}));
        let up = patched(NO_KMS_EXAMPLE, json!({"version": to}));
        assert_eq!(up.validate_cel_update(&old), Ok(()), "{from} -> {to}");
        let errors = old.validate_cel_update(&up).unwrap_err().into_vec();
        assert_eq!(errors.len(), 1, "{to} -> {from}: {errors:?}");
        assert!(errors[0].message.contains("cannot go down"), "{errors:?}");
    }
}

#[test]
fn the_examples_name_the_newest_verified_release() {
    assert!(SUPPORTED.iter().any(|r| r.version == VERIFIED));
    for entry in std::fs::read_dir(common::crate_path("examples")).unwrap() {
        let path = entry.unwrap().path();
        let relative = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        assert_eq!(validator(&relative).spec.version, VERIFIED, "{relative}");
    }
}

#[test]
fn no_release_is_given_a_key_it_removed() {
    let examples = std::fs::read_dir(common::crate_path("examples")).unwrap();
    let mut checked = 0;
    for entry in examples {
        let path = entry.unwrap().path();
        let relative = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        let example = validator(&relative);
        let signing_keys = example
            .spec
            .kms
            .as_ref()
            .is_some_and(|k| k.session_signing_keys());
        for release in SUPPORTED
            .iter()
            .filter(|r| !r.removed_config_keys.is_empty())
        {
            assert!(!signing_keys || release.session_signing_keys);
            let mut v = example.clone();
            v.spec.version = release.version.to_string();
            let r = render(&v, &decision(&relative, &[])).unwrap();
            let text = serde_json::to_string(&r.to_json().unwrap()).unwrap();
            for key in release.removed_config_keys {
                let last = key.rsplit('.').next().unwrap();
                assert!(
                    !text.contains(last),
                    "{relative} on {}: {key}",
                    release.version
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2 * 3, "{checked}");
}

#[test]
fn additional_env_setting_a_removed_key_is_refused_for_the_releases_that_removed_it() {
    let leftover = json!({"validatorApp": {"additionalEnv": [{
        "name": "ADDITIONAL_CONFIG_LEFTOVER",
        "value": "canton.validator-apps.validator_backend { enable-deprecated-transfer-command-support = true }"
    }]}});
    let on = |version: &str| {
        let mut spec = leftover.clone();
        spec["version"] = json!(version);
        render_with_decision(&patched(NO_KMS_EXAMPLE, spec), NO_KMS_EXAMPLE)
    };
    assert!(on("0.7.5").is_ok());
    for version in ["0.8.0", "0.8.1", "0.8.4"] {
        let err = on(version).unwrap_err();
        assert_eq!(err.reason(), "RemovedConfigKey", "{version}");
        let message = err.to_string();
        assert!(
            message.contains("spec.validatorApp.additionalEnv[0].value")
                && message.contains(DEPRECATED_TRANSFER_COMMAND_SUPPORT)
                && message.contains(version),
            "{message}"
        );
    }
}

// ---------------------------------------------------------------- the validator app

#[test]
fn the_validator_app_gets_contact_point_identifier_and_a_scan_client() {
    let v = validator(EXAMPLE);
    let r = render_with_decision(&v, EXAMPLE).unwrap();
    let app = container(&r.validator_app);
    assert_eq!(
        env_value(app, "SPLICE_APP_CONTACT_POINT"),
        Some("validators@acme.example")
    );
    assert_eq!(
        env_value(app, "SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER"),
        Some("acme")
    );
    assert_eq!(
        env_value(app, "ADDITIONAL_CONFIG_BFT_SCAN"),
        Some(
            "canton.validator-apps.validator_backend.scan-client = { type = \"bft\", seed-urls = \
             [\"https://scan.sv-1.global.canton.network.example\", \
             \"https://scan.sv-2.global.canton.network.example\"] }"
        )
    );
    assert_eq!(
        env_value(app, "SPLICE_APP_VALIDATOR_PARTICIPANT_ADDRESS"),
        Some("acme-participant")
    );
    // Top-ups are on by default with the docs' figures.
    assert_eq!(
        env_value(app, "ADDITIONAL_CONFIG_TOPUPS"),
        Some(
            "canton.validator-apps.validator_backend.domains.global.buy-extra-traffic = \
             { target-throughput = 20000, min-topup-interval = \"1m\" }"
        )
    );
    // Removed in Splice 0.6.7.
    assert!(!names(app).iter().any(|n| n.contains("MIGRATION")));
}

#[test]
fn without_a_sponsor_onboarding_is_null_and_without_a_secret_it_is_devnet() {
    let none = patched(
        EXAMPLE,
        json!({"validatorApp": {"sponsorSvAddress": null, "onboardingSecretRef": null}}),
    );
    let app = render_with_decision(&none, EXAMPLE).unwrap();
    assert_eq!(
        env_value(
            container(&app.validator_app),
            "ADDITIONAL_CONFIG_NO_ONBOARDING"
        ),
        Some("canton.validator-apps.validator_backend.onboarding = null")
    );
    let devnet = patched(
        EXAMPLE,
        json!({"validatorApp": {"onboardingSecretRef": null}}),
    );
    let app = render_with_decision(&devnet, EXAMPLE).unwrap();
    let app = container(&app.validator_app);
    assert_eq!(env_value(app, "SPLICE_APP_DEVNET"), Some("1"));
    assert!(!names(app).contains(&"SPLICE_APP_VALIDATOR_ONBOARDING_SECRET"));
}

#[test]
fn the_ledger_api_scope_is_optional_as_in_the_chart() {
    let r = render_with_decision(&validator(EXAMPLE), EXAMPLE).unwrap();
    let app = container(&r.validator_app);
    let scope = app
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE")
        .unwrap();
    let secret = scope
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(secret.optional, Some(true));
    let url = app
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_URL")
        .unwrap();
    assert_eq!(
        url.value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap()
            .optional,
        None
    );
}

#[test]
fn the_no_kms_example_gets_its_network_settings() {
    let r = render_with_decision(&validator(NO_KMS_EXAMPLE), NO_KMS_EXAMPLE).unwrap();
    let app = container(&r.validator_app);
    assert_eq!(
        env_value(app, "ADDITIONAL_CONFIG_BFT_SCAN"),
        Some(
            "canton.validator-apps.validator_backend.scan-client = { type = \"bft-custom\", \
             seed-urls = [\"https://scan.sv-1.global.canton.network.example\"], sv-names = \
             [\"Digital-Asset-2\", \"Global-Synchronizer-Foundation\", \"Cumberland-1\"], \
             threshold = 2 }"
        )
    );
    assert_eq!(
        env_value(app, "ADDITIONAL_CONFIG_WALLET_SWEEP"),
        Some(
            "canton.validator-apps.validator_backend.wallet-sweep = { \"plain-validator-1::1220aa\" \
             = { max-balance-usd = 10000.0, min-balance-usd = 1000.0, receiver = \
             \"treasury::1220bb\" } }"
        )
    );
    assert_eq!(
        env_value(app, "ADDITIONAL_CONFIG_PARTICIPANT_PRUNING"),
        Some(
            "canton.validator-apps.validator_backend.participant-pruning-schedule = { cron = \
             \"0 0 * * * ?\", max-duration = \"30m\", retention = \"30d\" }"
        )
    );
    // The user's own variable comes after the operator's, before the log settings.
    let participant = names(container(&r.participant));
    let mine = participant
        .iter()
        .position(|n| *n == "ADDITIONAL_CONFIG_PARTICIPANT_MAX_CONNECTIONS")
        .unwrap();
    let log = participant
        .iter()
        .position(|n| *n == "LOG_LEVEL_CANTON")
        .unwrap();
    assert!(mine < log);
}

// ---------------------------------------------------------------- databases

#[test]
fn each_app_creates_its_database_unless_turned_off() {
    let r = render_with_decision(&validator(EXAMPLE), EXAMPLE).unwrap();
    let init = init_containers(&r.participant);
    assert_eq!(init.len(), 1);
    assert_eq!(init[0].image.as_deref(), Some("postgres:17"));
    assert_eq!(
        env_value(init[0], "DATABASE_NAME"),
        Some("cantonnet_participant")
    );
    assert_eq!(env_value(init[0], "CONFLICT_CHECK"), Some("true"));
    assert_eq!(env_value(init[0], "PGDATABASE"), Some("cantonnet"));
    let init = init_containers(&r.validator_app);
    assert_eq!(init.len(), 1);
    assert_eq!(
        env_value(init[0], "DATABASE_NAME"),
        Some("cantonnet_validator")
    );
    assert_eq!(env_value(init[0], "CONFLICT_CHECK"), Some("false"));

    let managed = render_with_decision(&validator(NO_KMS_EXAMPLE), NO_KMS_EXAMPLE).unwrap();
    assert!(init_containers(&managed.participant).is_empty());
    assert!(init_containers(&managed.validator_app).is_empty());

    let custom = patched(
        EXAMPLE,
        json!({"databaseInit": {"image": "registry.example/postgres:16", "participantConflictCheck": false}}),
    );
    let r = render_with_decision(&custom, EXAMPLE).unwrap();
    let init = init_containers(&r.participant);
    assert_eq!(
        init[0].image.as_deref(),
        Some("registry.example/postgres:16")
    );
    assert_eq!(env_value(init[0], "CONFLICT_CHECK"), Some("false"));
}

// ---------------------------------------------------------------- web UIs

#[test]
fn both_web_uis_are_on_by_default_and_each_can_be_turned_off() {
    let r = render_with_decision(&validator(EXAMPLE), EXAMPLE).unwrap();
    let uis: Vec<_> = r
        .web_uis
        .iter()
        .map(|(d, s)| {
            (
                d.metadata.name.clone().unwrap(),
                s.metadata.name.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        uis,
        [
            (
                "acme-wallet-web-ui".to_string(),
                "acme-wallet-web-ui".to_string()
            ),
            ("acme-ans-web-ui".to_string(), "acme-ans-web-ui".to_string()),
        ]
    );
    let wallet = container(&r.web_uis[0].0);
    assert_eq!(
        env_value(wallet, "SPLICE_APP_UI_AUTH_AUDIENCE"),
        Some("https://validator.acme.example")
    );
    assert!(
        wallet
            .image
            .as_deref()
            .unwrap()
            .ends_with("/wallet-web-ui:0.7.4")
    );
    let r = render_with_decision(&validator(NO_KMS_EXAMPLE), NO_KMS_EXAMPLE).unwrap();
    assert_eq!(r.web_uis.len(), 1);
    assert_eq!(
        r.web_uis[0].0.metadata.name.as_deref(),
        Some("plain-wallet-web-ui")
    );
}

// ---------------------------------------------------------------- additionalEnv

#[test]
fn a_name_the_operator_sets_is_refused_in_additional_env() {
    for (workload, name) in [
        ("participant", KMS_ENV_VAR),
        ("participant", "AUTH_JWKS_URL"),
        ("validatorApp", "SPLICE_APP_CONTACT_POINT"),
        ("validatorApp", "ADDITIONAL_CONFIG_BFT_SCAN"),
    ] {
        let v = patched(
            EXAMPLE,
            json!({workload: {"additionalEnv": [{"name": "OK", "value": "1"}, {"name": name, "value": "x"}]}}),
        );
        let err = render_with_decision(&v, EXAMPLE).unwrap_err();
        assert_eq!(err.reason(), "ReservedEnvName");
        assert!(
            err.to_string()
                .contains(&format!("spec.{workload}.additionalEnv[1].name")),
            "{err}"
        );
        let errors = v.validate_cel().unwrap_err().into_vec();
        assert!(
            errors[0]
                .message
                .contains(&format!("spec.{workload}.additionalEnv")),
            "{errors:?}"
        );
    }
}

#[test]
fn the_reserved_lists_cover_every_name_the_operator_renders() {
    for file in [EXAMPLE, AWS_EXAMPLE, NO_KMS_EXAMPLE] {
        let mut v = validator(file);
        v.spec.participant.additional_env.clear();
        v.spec.validator_app.additional_env.clear();
        let r = render(&v, &decision(file, SEED_ENV)).unwrap();
        for name in names(container(&r.participant)) {
            assert!(PARTICIPANT_OPERATOR_ENV.contains(&name), "{file}: {name}");
        }
        for name in names(container(&r.validator_app)) {
            assert!(VALIDATOR_APP_OPERATOR_ENV.contains(&name), "{file}: {name}");
        }
    }
}

// ---------------------------------------------------------------- session signing keys

#[test]
fn session_signing_keys_are_one_typed_line_on_kms_participants() {
    let r = render_with_decision(&validator(AWS_EXAMPLE), AWS_EXAMPLE).unwrap();
    assert_eq!(
        env_value(container(&r.participant), SESSION_SIGNING_KEYS_ENV_VAR),
        Some("canton.participants.participant.crypto.session-signing-keys.enabled = true")
    );
    let old = patched(AWS_EXAMPLE, json!({"version": "0.7.1"}));
    let err = render_with_decision(&old, AWS_EXAMPLE).unwrap_err();
    assert_eq!(err.reason(), "UnsupportedFeature");
    assert!(err.to_string().contains("0.7.2"), "{err}");
}

#[test]
fn session_signing_keys_without_external_kms_are_refused_at_admission() {
    let off = patched(
        NO_KMS_EXAMPLE,
        json!({"kms": {"enabled": false, "sessionSigningKeys": {"enabled": true}}}),
    );
    let errors = off.validate_cel().unwrap_err().into_vec();
    assert!(errors[0].message.contains("external mode"), "{errors:?}");
    assert_eq!(validator(AWS_EXAMPLE).validate_cel(), Ok(()));
}

// ---------------------------------------------------------------- the seed's contract

#[test]
fn the_seed_variable_is_unchanged_and_only_on_the_participant() {
    let d = decision(EXAMPLE, SEED_ENV);
    let r = render(&validator(EXAMPLE), &d).unwrap();
    assert_eq!(
        env_value(container(&r.participant), KMS_ENV_VAR),
        Some(SEED_PARTICIPANT_VALUE)
    );
    for (deployment, _) in &r.web_uis {
        assert_eq!(pod_spec(deployment).service_account_name, None);
    }
    assert_eq!(pod_spec(&r.validator_app).service_account_name, None);
}

// ---------------------------------------------------------------- identity backups

#[test]
fn identity_backups_are_a_cron_job_with_the_operators_image_and_the_apps_credentials() {
    let r = render_with_decision(&validator(AWS_EXAMPLE), AWS_EXAMPLE).unwrap();
    let cron = r.identity_backup.expect("a CronJob");
    assert_eq!(
        cron.metadata.name.as_deref(),
        Some("acme-aws-identity-backup")
    );
    let spec = cron.spec.unwrap();
    assert_eq!(spec.schedule, "0 */6 * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    let job = spec.job_template.spec.unwrap();
    assert_eq!(job.backoff_limit, Some(0));
    let pod = job.template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("acme-aws-identity-backup")
    );
    assert_eq!(pod.automount_service_account_token, Some(false));
    let c = &pod.containers[0];
    assert_eq!(
        c.image.as_deref(),
        Some(
            format!(
                "ghcr.io/canton-operator/canton-operator:{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
    assert_eq!(
        c.args.clone().unwrap(),
        [
            "backup",
            "identities",
            "--validator",
            "acme-aws",
            "--namespace",
            "validators",
            "--participant-identifier",
            "acme-aws",
            "--validator-app-url",
            "http://acme-aws-validator-app:5003",
            "--keep",
            "14",
            "--destination",
            "s3://acme-canton-backups/identities",
            "--region",
            "eu-west-1",
        ]
    );
    let secrets: Vec<_> = c
        .env
        .iter()
        .flatten()
        .map(|e| {
            e.value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap()
                .name
                .clone()
        })
        .collect();
    assert!(
        secrets
            .iter()
            .all(|s| s == "splice-app-validator-ledger-api-auth")
    );
    assert_eq!(
        c.security_context
            .as_ref()
            .unwrap()
            .read_only_root_filesystem,
        Some(true)
    );
    let sa = r.backup_service_account.expect("the Job's ServiceAccount");
    assert_eq!(
        sa.metadata.annotations.unwrap()["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/acme-canton-backup"
    );
    // Without spec.backup: neither.
    let r = render_with_decision(&validator(EXAMPLE), EXAMPLE).unwrap();
    assert!(r.identity_backup.is_none() && r.backup_service_account.is_none());
}

#[test]
fn backup_destinations_and_their_rules() {
    let secret = patched(
        EXAMPLE,
        json!({"backup": {"identities": {"schedule": "30 2 * * *", "destination": {"secret": {}},
            "serviceAccount": {"name": "acme-backup"}}}}),
    );
    assert_eq!(secret.validate_cel(), Ok(()));
    let r = render_with_decision(&secret, EXAMPLE).unwrap();
    let pod = r
        .identity_backup
        .unwrap()
        .spec
        .unwrap()
        .job_template
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    assert_eq!(pod.automount_service_account_token, Some(true));
    assert!(
        pod.containers[0]
            .args
            .as_ref()
            .unwrap()
            .ends_with(&["--destination".to_string(), "secret".to_string()])
    );

    for (patch, message) in [
        (
            json!({"schedule": "30 2 * * *", "destination": {"secret": {}}, "serviceAccount": {"create": true, "awsRoleArn": "arn:aws:iam::1:role/x"}}),
            "the secret destination needs serviceAccount.name",
        ),
        (
            json!({"schedule": "30 2 * * *", "destination": {"secret": {}, "gcs": {"bucket": "abc"}}, "serviceAccount": {"name": "x"}}),
            "exactly one destination",
        ),
        (
            json!({"schedule": "every six hours", "destination": {"gcs": {"bucket": "abc"}}, "serviceAccount": {"name": "x"}}),
            "five cron fields",
        ),
    ] {
        let v = patched(EXAMPLE, json!({"backup": {"identities": patch}}));
        let errors = v.validate_cel().unwrap_err().into_vec();
        assert!(
            errors.iter().any(|e| e.message.contains(message)),
            "{message}: {errors:?}"
        );
    }
}

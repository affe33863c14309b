//! Would each example's workloads start on the Splice images?
//!
//! For every `examples/*.yaml` (read from the directory, so a new example is covered), every
//! release in [`releases`] and every operator environment that changes its render, the Validator
//! is rendered as `canton-operator render -f` renders it, and both Deployments go through the
//! start-up harness (`tests/common/startup.rs`): the container's configuration assembled as the
//! image's entrypoint does and resolved by Typesafe Config against the image skeletons in
//! `tests/images/`, the keys the config readers require, and the pod around it (user, writable
//! `/app`, probes, resources, database init container). The test fails listing every problem.
//! The harness's own tests below show each check can fail, and that a chart-like pod passes.

mod common;

use std::path::{Path, PathBuf};

use canton_operator::api::Validator;
use canton_operator::decision::resolve;
use canton_operator::manifest::{decode_validator, render_yaml, rendered_yaml};
use canton_operator::render::{Rendered, render_with};
use common::startup::{
    self, BACKEND, DEPRECATED_TRANSFER_COMMANDS, Env, Image, OptionalSecrets, PodExpectations,
    ReleaseModel, additional_config_file, check_container, check_pod, check_release, to_json,
};
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};

/// The Splice releases an example is checked for: every release the operator supports that has
/// the features the example uses (session signing keys need 0.7.2; that refusal is tested in
/// `tests/workloads.rs`), and a patch newer than the table on each of its minor lines (rendered
/// with that line's newest facts).
fn releases(example: &Validator) -> Vec<String> {
    let signing_keys = example
        .spec
        .kms
        .as_ref()
        .is_some_and(|k| k.session_signing_keys());
    let table = &canton_operator::release::SUPPORTED;
    let mut out: Vec<String> = table
        .iter()
        .filter(|r| r.session_signing_keys || !signing_keys)
        .map(|r| r.version.to_string())
        .collect();
    for (i, r) in table.iter().enumerate() {
        let last_of_line = table
            .get(i + 1)
            .is_none_or(|next| next.number().minor != r.number().minor);
        if last_of_line {
            let n = r.number();
            out.push(format!("{}.{}.{}", n.major, n.minor, n.patch + 3));
        }
    }
    out
}

/// An operator environment: its name in messages and its variables.
type Environment = (&'static str, &'static [(&'static str, &'static str)]);

/// The operator environments worth rendering an example under: without `spec.kms` the decision
/// comes from the environment, so both KMS off and the seed's; with it, the environment is unused.
fn environments(example: &Validator) -> Vec<Environment> {
    if example.spec.kms.is_some() {
        vec![("no operator environment", &[])]
    } else {
        vec![("KMS off", &[]), ("seed environment", common::SEED_ENV)]
    }
}

/// A path as shown in messages: relative to the crate.
fn relative(path: &Path) -> &Path {
    path.strip_prefix(common::crate_path("")).unwrap_or(path)
}

/// The example files, sorted.
fn example_files() -> Vec<PathBuf> {
    let dir = common::crate_path("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// What `canton-operator render -f` does (`manifest::render_yaml`): decode with the creation
/// rules, decide, render with the operator's namespace; here with `spec.version` set to `release`.
fn render_as_cli(
    example: &Validator,
    release: &str,
    env: &[(&str, &str)],
) -> Result<Rendered, String> {
    let mut validator = example.clone();
    validator.spec.version = release.to_string();
    // Through the CLI's decoder again, so the creation rules see the release (JSON is YAML).
    let text = serde_json::to_string(&validator).expect("a Validator serializes");
    let validator = decode_validator(&text).map_err(|e| e.to_string())?;
    let config = common::config(env);
    let decision = resolve(&validator.spec, &config.kms_default).map_err(|e| e.to_string())?;
    render_with(&validator, &decision, config.operator_namespace.as_deref())
        .map_err(|e| e.to_string())
}

/// Every start-up problem of one Deployment, for one workload of `release`. `pinned`: the image
/// the spec names for it, run as written whatever the release.
fn check_workload(
    (release, model): (&str, &ReleaseModel),
    (image, pinned): (Image, Option<&str>),
    deployment: &Deployment,
    resources_overridden: bool,
    creates_database: bool,
    init_image: &str,
) -> Vec<String> {
    let deployment = to_json(deployment);
    let Some(container) = deployment.pointer("/spec/template/spec/containers/0") else {
        return vec!["the Deployment has no container".into()];
    };
    let mut problems = check_release(model, image, container);
    let tag = container["image"].as_str().unwrap_or_default();
    match pinned {
        Some(pinned) if tag != pinned => {
            problems.push(format!("runs image {tag}, not the spec's {pinned}"));
        }
        Some(_) => {}
        None if !tag.ends_with(&format!("/{}:{release}", image.image_name())) => {
            problems.push(format!(
                "runs image {tag}, not {}:{release}",
                image.image_name()
            ));
        }
        None => {}
    }
    let database = startup::database(image, container);
    let expect = PodExpectations {
        image,
        database: database.as_deref(),
        resources_overridden,
        init_image,
        creates_database,
        no_token: model.chart_0_8,
    };
    problems.extend(check_pod(&deployment, &expect));
    problems
}

/// The problems of both workloads of one render, each under its heading.
fn check_rendered(
    release: (&str, &ReleaseModel),
    validator: &Validator,
    rendered: &Rendered,
) -> Vec<(String, Vec<String>)> {
    let spec = &validator.spec;
    let creates_database = spec.database_init.as_ref().is_none_or(|d| d.enabled);
    // The spec's image as written, or the operator's default, moved to `spec.imageRegistry`.
    let init_image = spec
        .database_init
        .as_ref()
        .and_then(|d| d.image.clone())
        .unwrap_or_else(|| match &spec.image_registry {
            Some(registry) => format!("{registry}/{}", startup::OPERATOR_INIT_IMAGE),
            None => startup::OPERATOR_INIT_IMAGE.to_string(),
        });
    let workloads = [
        (
            (Image::Participant, spec.participant.image.as_deref()),
            &rendered.participant,
            spec.participant.resources.is_some(),
        ),
        (
            (Image::ValidatorApp, spec.validator_app.image.as_deref()),
            &rendered.validator_app,
            spec.validator_app.resources.is_some(),
        ),
    ];
    workloads
        .into_iter()
        .map(|((image, pinned), deployment, overridden)| {
            let name = deployment.metadata.name.clone().unwrap_or_default();
            let heading = format!("{} (Deployment {name})", image.folder());
            let problems = check_workload(
                release,
                (image, pinned),
                deployment,
                overridden,
                creates_database,
                &init_image,
            );
            (heading, problems)
        })
        .collect()
}

/// Problems of the render itself: a release the skeletons do not describe, or a render that
/// differs from the CLI's (which would make this test check something else).
fn render_problems(
    text: &str,
    example: &Validator,
    release: &str,
    env: &[(&str, &str)],
    rendered: &Rendered,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = startup::model(release) {
        problems.push(e);
    }
    if release == example.spec.version {
        let cli = render_yaml(text, &common::config(env)).map_err(|e| e.to_string());
        let ours = rendered_yaml(rendered).map_err(|e| e.to_string());
        if cli != ours {
            problems.push("this test's render differs from `canton-operator render -f`".into());
        }
    }
    problems
}

#[test]
fn every_example_would_start_on_the_splice_images() {
    let files = example_files();
    assert!(!files.is_empty(), "no examples/*.yaml found");
    let mut report: Vec<(String, Vec<String>)> = Vec::new();
    for path in &files {
        let shown = relative(path).display().to_string();
        let text = std::fs::read_to_string(path).expect("example readable");
        let example = decode_validator(&text).unwrap_or_else(|e| panic!("{shown}: {e}"));
        for release in releases(&example) {
            for (env_name, env) in environments(&example) {
                let case = format!("{shown} [{env_name}] release {release}");
                report.extend(check_case(&case, &text, &example, &release, env));
            }
        }
    }
    let failing: Vec<&(String, Vec<String>)> =
        report.iter().filter(|(_, p)| !p.is_empty()).collect();
    let count: usize = failing.iter().map(|(_, p)| p.len()).sum();
    let listing: String = failing
        .iter()
        .map(|(heading, problems)| format!("{heading}:\n  - {}\n", problems.join("\n  - ")))
        .collect();
    assert!(
        failing.is_empty(),
        "{count} start-up problems in {} of {} checks (renders and workloads):\n\n{listing}",
        failing.len(),
        report.len()
    );
}

/// One example, release and environment: headed lists of problems (empty lists when fine).
fn check_case(
    case: &str,
    text: &str,
    example: &Validator,
    release: &str,
    env: &[(&str, &str)],
) -> Vec<(String, Vec<String>)> {
    let rendered = match render_as_cli(example, release, env) {
        Ok(rendered) => rendered,
        Err(e) => return vec![(case.to_string(), vec![format!("does not render: {e}")])],
    };
    let mut out = vec![(
        format!("{case}, render"),
        render_problems(text, example, release, env, &rendered),
    )];
    let model = match startup::model(release) {
        Ok(model) => model,
        Err(e) => return vec![(case.to_string(), vec![e])],
    };
    let workloads = check_rendered((release, &model), example, &rendered);
    out.extend(
        workloads
            .into_iter()
            .map(|(workload, problems)| (format!("{case}, {workload}"), problems)),
    );
    out
}

// ---- The harness itself: each check can fail, and a chart-like pod passes. ----

/// A plain env var.
fn var(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

/// An env var from a Secret key.
fn secret(name: &str, secret: &str, key: &str, optional: bool) -> Value {
    let mut selector = json!({"name": secret, "key": key});
    if optional {
        selector["optional"] = json!(true);
    }
    json!({"name": name, "valueFrom": {"secretKeyRef": selector}})
}

/// `canton.validator-apps.validator_backend.<rest>`.
fn backend(rest: &str) -> String {
    format!("{BACKEND}.{rest}")
}

/// The validator app container the 0.7.4 chart renders for the docs' standalone values
/// (sponsor + onboarding secret, party hint, bft scan client from seed URLs, wallet user).
fn chart_validator_app() -> Value {
    let ledger = "splice-app-validator-ledger-api-auth";
    let persistence = format!(
        "{} = {{ databaseName = \"cantonnet_validator\", currentSchema = \"validator\", \
         serverName = \"postgres\", portNumber = 5432, user = \"cnadmin\", \
         password = ${{SPLICE_APP_POSTGRES_PASSWORD}} }}",
        backend("storage.config.properties")
    );
    let scan = format!(
        "{}\n{}\n",
        backend("scan-client.type = \"bft\""),
        backend("scan-client.seed-urls = [\"https://scan.sv-1.example\"]")
    );
    let env = vec![
        var("JAVA_TOOL_OPTIONS", "-XX:+UseG1GC"),
        var("SPLICE_APP_VALIDATOR_PARTICIPANT_ADDRESS", "participant"),
        var(
            "SPLICE_APP_VALIDATOR_SV_SPONSOR_ADDRESS",
            "https://sv.sv-1.example",
        ),
        secret(
            "SPLICE_APP_VALIDATOR_ONBOARDING_SECRET",
            "splice-app-validator-onboarding-validator",
            "secret",
            false,
        ),
        var("SPLICE_APP_VALIDATOR_SCAN_ADDRESS", ""),
        var(
            "ADDITIONAL_CONFIG_VALIDATOR_WALLET_USER_0",
            &backend("validator-wallet-users.0 = \"administrator\""),
        ),
        var("SPLICE_APP_VALIDATOR_PARTY_HINT", "acme-validator-1"),
        var("ADDITIONAL_CONFIG_BFT_SCAN", &scan),
        var("ADDITIONAL_CONFIG_PERSISTENCE", &persistence),
        secret(
            "SPLICE_APP_POSTGRES_PASSWORD",
            "postgres-secrets",
            "postgresPassword",
            false,
        ),
        var(
            "ADDITIONAL_CONFIG_ENABLE_WALLET",
            &backend("enable-wallet = \"true\""),
        ),
        var("SPLICE_APP_CONTACT_POINT", ""),
        var("SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER", "acme"),
        var(
            "SPLICE_APP_VALIDATOR_AUTH_AUDIENCE",
            "https://validator.example",
        ),
        var(
            "SPLICE_APP_VALIDATOR_AUTH_JWKS_URL",
            "https://auth.example/jwks.json",
        ),
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_USER_NAME",
            ledger,
            "ledger-api-user",
            false,
        ),
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_AUDIENCE",
            ledger,
            "audience",
            false,
        ),
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_URL",
            ledger,
            "url",
            false,
        ),
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_ID",
            ledger,
            "client-id",
            false,
        ),
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
            ledger,
            "client-secret",
            false,
        ),
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE",
            ledger,
            "scope",
            true,
        ),
    ];
    container("validator-app", Image::ValidatorApp, env)
}

/// The participant container the 0.7.4 chart renders for the docs' values, optionally with KMS.
fn chart_participant(kms: Option<&str>) -> Value {
    let mut env = vec![
        var("JAVA_TOOL_OPTIONS", "-XX:+UseG1GC"),
        var("CANTON_PARTICIPANT_POSTGRES_SERVER", "postgres"),
        var("CANTON_PARTICIPANT_POSTGRES_PORT", "5432"),
        var("CANTON_PARTICIPANT_POSTGRES_SCHEMA", "participant"),
        secret(
            "CANTON_PARTICIPANT_POSTGRES_PASSWORD",
            "postgres-secrets",
            "postgresPassword",
            false,
        ),
        var("CANTON_PARTICIPANT_POSTGRES_DB", "participant_0"),
        secret(
            "CANTON_PARTICIPANT_ADMIN_USER_NAME",
            "splice-app-validator-ledger-api-auth",
            "ledger-api-user",
            false,
        ),
        var("AUTH_JWKS_URL", "https://auth.example/jwks.json"),
        var("AUTH_TARGET_AUDIENCE", "https://ledger.example"),
        var("LOG_LEVEL_CANTON", "INFO"),
    ];
    if let Some(kms) = kms {
        env.push(var(
            "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_PROVIDER_KMS",
            kms,
        ));
    }
    container("participant", Image::Participant, env)
}

/// The charts' container security profile.
fn chart_container_security() -> Value {
    json!({"runAsNonRoot": true, "runAsUser": 1001, "runAsGroup": 1001,
           "allowPrivilegeEscalation": false, "privileged": false,
           "capabilities": {"drop": ["ALL"]}})
}

/// A container with the chart's probes, default resources and security profile.
fn container(name: &str, image: Image, env: Vec<Value>) -> Value {
    let mut c = json!({
        "name": name,
        "image": format!("ghcr.io/digital-asset/decentralized-canton-sync/docker/{name}:0.7.4"),
        "env": env,
        "resources": startup::chart_resources(image),
        "securityContext": chart_container_security(),
    });
    for (key, probe) in startup::chart_probes(image) {
        c[key] = probe;
    }
    c
}

/// A Deployment around `container` as the charts render it: pod profile and a pg-init container.
fn chart_deployment(container: &Value, database: &str) -> Value {
    let init = json!({
        "name": "pg-init",
        "image": "postgres:14",
        "command": ["bash", "-c", format!(
            "until psql -h postgres -p 5432 -U cnadmin -d cantonnet -c 'create database {database}'; do sleep 5; done"
        )],
        "securityContext": chart_container_security(),
    });
    json!({"spec": {"template": {"spec": {
        "securityContext": {"fsGroup": 1001, "fsGroupChangePolicy": "OnRootMismatch",
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [init],
        "containers": [container],
    }}}})
}

/// Pod problems of a chart-like Deployment around `container`.
fn pod_problems(image: Image, container: &Value, database: &str) -> Vec<String> {
    let expect = PodExpectations {
        image,
        database: Some(database),
        resources_overridden: false,
        init_image: startup::INIT_IMAGE,
        creates_database: true,
        no_token: false,
    };
    check_pod(&chart_deployment(container, database), &expect)
}

/// The container without the env var `name`.
fn without(mut container: Value, name: &str) -> Value {
    let env = container["env"].as_array_mut().expect("env");
    let before = env.len();
    env.retain(|v| v["name"] != name);
    assert_eq!(env.len(), before - 1, "{name} was in the container");
    container
}

/// The container with one more env var.
fn with(mut container: Value, entry: Value) -> Value {
    container["env"].as_array_mut().expect("env").push(entry);
    container
}

#[test]
fn chart_like_workloads_would_start() {
    let app = chart_validator_app();
    assert_eq!(
        check_container(Image::ValidatorApp, &app),
        Vec::<String>::new()
    );
    assert_eq!(
        pod_problems(Image::ValidatorApp, &app, "cantonnet_validator"),
        Vec::<String>::new()
    );
    let kms = "canton.participants.participant.crypto.provider = kms\n\
               canton.participants.participant.crypto.kms = { audit-logging = true, region = eu-west-1, type = aws }";
    for participant in [chart_participant(None), chart_participant(Some(kms))] {
        assert_eq!(
            check_container(Image::Participant, &participant),
            Vec::<String>::new()
        );
        assert_eq!(
            startup::database(Image::Participant, &participant).as_deref(),
            Some("participant_0")
        );
        assert_eq!(
            pod_problems(Image::Participant, &participant, "participant_0"),
            Vec::<String>::new()
        );
    }
}

#[test]
fn additional_config_is_appended_in_byte_order_after_the_baked_file() {
    let env: Env = [
        ("ADDITIONAL_CONFIG_a", "x = a"),
        ("ADDITIONAL_CONFIG_B", "x = B"),
        ("ADDITIONAL_CONFIG_", "x = _"),
        ("NOT_ADDITIONAL_CONFIG", "x = no"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    // Byte order, as bash's ${!ADDITIONAL_CONFIG@}: a prefix first, then `B` (0x42) before `a` (0x61).
    assert_eq!(
        additional_config_file(Image::ValidatorApp, &env),
        "x = _\nx = B\nx = a\n"
    );
    let participant = additional_config_file(Image::Participant, &env);
    let baked = startup::image_file(Image::Participant, "additional-config.conf");
    assert_eq!(participant, format!("{baked}x = _\nx = B\nx = a\n"));
}

#[test]
fn byte_order_decides_which_additional_config_wins() {
    let set = backend("scan-client { type = \"bft\", seed-urls = [\"https://scan\"] }");
    let unset = backend("scan-client = null");
    let base = without(chart_validator_app(), "ADDITIONAL_CONFIG_BFT_SCAN");
    // `B` sorts before `a`: the later `a` unsets the scan client (a case-insensitive sort would not).
    let lost = with(
        with(base.clone(), var("ADDITIONAL_CONFIG_B", &set)),
        var("ADDITIONAL_CONFIG_a", &unset),
    );
    let problems = check_container(Image::ValidatorApp, &lost);
    assert_eq!(
        problems,
        [format!(
            "`{BACKEND}.scan-client` is missing (required, no default)"
        )]
    );
    let kept = with(
        with(base, var("ADDITIONAL_CONFIG_A", &unset)),
        var("ADDITIONAL_CONFIG_b", &set),
    );
    assert_eq!(
        check_container(Image::ValidatorApp, &kept),
        Vec::<String>::new()
    );
}

#[test]
fn a_missing_required_variable_is_named() {
    let app = without(chart_validator_app(), "SPLICE_APP_CONTACT_POINT");
    let app = without(app, "SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER");
    let problems = check_container(Image::ValidatorApp, &app);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    for name in [
        "SPLICE_APP_CONTACT_POINT",
        "SPLICE_APP_VALIDATOR_PARTICIPANT_IDENTIFIER",
    ] {
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&format!("${{{name}}} is not set"))),
            "{name} not named in {problems:#?}"
        );
    }
    let participant = without(chart_participant(None), "AUTH_TARGET_AUDIENCE");
    let problems = check_container(Image::Participant, &participant);
    assert_eq!(
        problems,
        [
            "required variable ${AUTH_TARGET_AUDIENCE} is not set, so the configuration does not resolve"
        ]
    );
}

#[test]
fn the_scan_address_may_be_empty_but_not_absent() {
    let app = chart_validator_app();
    assert!(check_container(Image::ValidatorApp, &app).is_empty());
    let app = without(app, "SPLICE_APP_VALIDATOR_SCAN_ADDRESS");
    let problems = check_container(Image::ValidatorApp, &app);
    assert!(
        problems[0].contains("${SPLICE_APP_VALIDATOR_SCAN_ADDRESS}"),
        "{problems:#?}"
    );
}

#[test]
fn a_missing_scan_client_is_reported() {
    let app = without(chart_validator_app(), "ADDITIONAL_CONFIG_BFT_SCAN");
    assert_eq!(
        check_container(Image::ValidatorApp, &app),
        [format!(
            "`{BACKEND}.scan-client` is missing (required, no default)"
        )]
    );
}

#[test]
fn scan_client_types_need_their_fields() {
    let cases = [
        (
            "{ type = \"bft\", seed-urls = [] }",
            "needs a non-empty `seed-urls`",
        ),
        ("{ type = \"trust-single\" }", "needs `url`"),
        (
            "{ type = \"bft-custom\", seed-urls = [\"u\"], sv-names = [\"a\"], threshold = 2 }",
            "between 1 and the 1 sv-names",
        ),
        (
            "{ type = \"bft-custom\", seed-urls = [\"u\"] }",
            "needs a non-empty `sv-names`",
        ),
        (
            "{ type = \"single\", url = \"u\" }",
            "not one of bft, bft-custom, trust-single",
        ),
    ];
    let base = without(chart_validator_app(), "ADDITIONAL_CONFIG_BFT_SCAN");
    for (scan, expected) in cases {
        let app = with(
            base.clone(),
            var(
                "ADDITIONAL_CONFIG_SCAN",
                &backend(&format!("scan-client = {scan}")),
            ),
        );
        let problems = check_container(Image::ValidatorApp, &app);
        assert!(
            problems.len() == 1 && problems[0].contains(expected),
            "{scan}: {problems:#?}"
        );
    }
    let fine =
        "{ type = \"bft-custom\", seed-urls = [\"u\"], sv-names = [\"a\", \"b\"], threshold = 2 }";
    let app = with(
        base,
        var(
            "ADDITIONAL_CONFIG_SCAN",
            &backend(&format!("scan-client = {fine}")),
        ),
    );
    assert!(check_container(Image::ValidatorApp, &app).is_empty());
}

#[test]
fn reader_validations_are_checked() {
    let app = chart_validator_app();
    let cases = [
        (
            without(app.clone(), "SPLICE_APP_VALIDATOR_PARTY_HINT"),
            "validator-party-hint` is missing",
        ),
        (
            with(
                app.clone(),
                var(
                    "ADDITIONAL_CONFIG_SYNC",
                    &format!(
                        "{}\n{}",
                        backend("domains.global.url = \"https://sequencer\""),
                        backend(
                            "domains.global.trusted-synchronizer-config { sv-names = [\"a\"], threshold = 1 }"
                        )
                    ),
                ),
            ),
            "sets both `url` and `trusted-synchronizer-config`",
        ),
        (
            with(
                app.clone(),
                var(
                    "ADDITIONAL_CONFIG_ONBOARDING",
                    &backend("onboarding.sv-client.admin-api.url = \"\""),
                ),
            ),
            "onboarding` is set without `sv-client.admin-api.url`",
        ),
        (
            with(
                app.clone(),
                var(
                    "ADDITIONAL_CONFIG_STORAGE",
                    &backend("storage.config.properties.databaseName = null"),
                ),
            ),
            "storage.config.properties.databaseName` is missing",
        ),
    ];
    for (container, expected) in cases {
        let problems = check_container(Image::ValidatorApp, &container);
        assert!(
            problems.len() == 1 && problems[0].contains(expected),
            "{expected}: {problems:#?}"
        );
    }
    let no_onboarding = with(
        app,
        var(
            "ADDITIONAL_CONFIG_NO_ONBOARDING",
            &backend("onboarding = null"),
        ),
    );
    assert!(check_container(Image::ValidatorApp, &no_onboarding).is_empty());
}

#[test]
fn names_bash_does_not_import_are_not_appended() {
    let env: Env = [
        ("ADDITIONAL_CONFIG.X", "x = dot"),
        ("ADDITIONAL_CONFIG-X", "x = dash"),
        ("ADDITIONAL_CONFIG_X", "x = underscore"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into();
    assert_eq!(
        additional_config_file(Image::ValidatorApp, &env),
        "x = underscore\n"
    );
}

#[test]
fn envelope_kms_without_a_type_is_reported() {
    let kms = "canton.participants.participant.crypto.private-key-store.encryption = { type = kms, wrapper-key-id = \"k\" }";
    let problems = check_container(Image::Participant, &chart_participant(Some(kms)));
    assert_eq!(
        problems,
        [
            "`canton.participants.participant.crypto.private-key-store.encryption.type` is kms but `crypto.kms.type` is missing"
        ]
    );
}

#[test]
fn kms_without_a_type_is_reported() {
    let kms = "canton.participants.participant.crypto.provider = kms";
    let problems = check_container(Image::Participant, &chart_participant(Some(kms)));
    assert_eq!(
        problems,
        [
            "`canton.participants.participant.crypto.provider` is kms but `crypto.kms.type` is missing"
        ]
    );
}

#[test]
fn optional_secret_keys_are_checked_both_ways() {
    let app = without(
        chart_validator_app(),
        "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
    );
    let app = with(
        app,
        secret(
            "SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_CLIENT_SECRET",
            "splice-app-validator-ledger-api-auth",
            "client-secret",
            true,
        ),
    );
    let env = startup::environment(&app, OptionalSecrets::Absent).expect("env");
    assert!(!env.contains_key("SPLICE_APP_VALIDATOR_LEDGER_API_AUTH_SCOPE"));
    let problems = check_container(Image::ValidatorApp, &app);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("auth-config.client-secret` is missing"));
    assert!(problems[0].ends_with("(when the optional Secret keys are absent)"));
}

#[test]
fn read_only_root_filesystem_is_reported() {
    let mut app = chart_validator_app();
    app["securityContext"]["readOnlyRootFilesystem"] = json!(true);
    let problems = pod_problems(Image::ValidatorApp, &app, "cantonnet_validator");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("readOnlyRootFilesystem: true"));
}

#[test]
fn pod_differences_from_the_chart_are_reported() {
    let mut app = chart_validator_app();
    app["securityContext"]["runAsUser"] = json!(0);
    app["readinessProbe"]["failureThreshold"] = json!(3);
    app["resources"]["requests"]["cpu"] = json!("1000m"); // same quantity: fine
    app["resources"]["limits"]["cpu"] = json!("2"); // the chart sets no CPU limit
    let problems = pod_problems(Image::ValidatorApp, &app, "cantonnet_validator");
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].contains("runs with runAsUser 0, not 1001"));
    assert!(problems[1].starts_with("readinessProbe is"));
    assert!(problems[2].starts_with("resources are"));
    let expect = PodExpectations {
        image: Image::ValidatorApp,
        database: Some("other_db"),
        resources_overridden: true,
        init_image: startup::INIT_IMAGE,
        creates_database: true,
        no_token: false,
    };
    let deployment = chart_deployment(&chart_validator_app(), "cantonnet_validator");
    assert_eq!(
        check_pod(&deployment, &expect),
        ["no init container (postgres:14) creates the database `other_db`"]
    );
}

#[test]
fn includes_are_inlined_from_the_image_folder() {
    for image in [Image::ValidatorApp, Image::Participant] {
        let app = startup::image_file(image, "app.conf");
        assert!(!app.lines().any(|l| l.trim_start().starts_with("include ")));
        assert!(
            app.contains("_storage {"),
            "{}: storage.conf not inlined",
            image.folder()
        );
    }
}

// ---- Per release: what 0.8 changed is modelled, so a render that ignores it fails. ----

fn model(release: &str) -> ReleaseModel {
    startup::model(release).unwrap()
}

#[test]
fn a_removed_key_fails_the_releases_that_removed_it() {
    let app = with(
        chart_validator_app(),
        var(
            "ADDITIONAL_CONFIG_LEFTOVER",
            &format!("{DEPRECATED_TRANSFER_COMMANDS} = true"),
        ),
    );
    assert_eq!(
        check_release(&model("0.7.5"), Image::ValidatorApp, &app),
        Vec::<String>::new()
    );
    for release in ["0.8.0", "0.8.1", "0.8.4"] {
        let problems = check_release(&model(release), Image::ValidatorApp, &app);
        assert_eq!(problems.len(), 1, "{release}: {problems:#?}");
        assert!(
            problems[0].contains("enable-deprecated-transfer-command-support` is set"),
            "{problems:#?}"
        );
    }
}

#[test]
fn the_0_8_chart_sets_the_participant_user_and_turns_the_token_off() {
    // The 0.7.4 chart's participant has no CANTON_PARTICIPANT_POSTGRES_USER.
    let participant = chart_participant(None);
    assert!(check_release(&model("0.7.4"), Image::Participant, &participant).is_empty());
    let problems = check_release(&model("0.8.0"), Image::Participant, &participant);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("CANTON_PARTICIPANT_POSTGRES_USER"));
    let participant = with(
        participant,
        var("CANTON_PARTICIPANT_POSTGRES_USER", "cnadmin"),
    );
    assert!(check_release(&model("0.8.0"), Image::Participant, &participant).is_empty());
    let app = chart_validator_app();
    let expect = |no_token| PodExpectations {
        image: Image::ValidatorApp,
        database: Some("cantonnet_validator"),
        resources_overridden: false,
        init_image: startup::INIT_IMAGE,
        creates_database: true,
        no_token,
    };
    let mut deployment = chart_deployment(&app, "cantonnet_validator");
    assert!(check_pod(&deployment, &expect(false)).is_empty());
    let problems = check_pod(&deployment, &expect(true));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("automountServiceAccountToken"));
    deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] = json!(false);
    assert!(check_pod(&deployment, &expect(true)).is_empty());
}

#[test]
fn a_release_without_facts_has_no_model() {
    assert_eq!(model("0.8.4").release, "0.8.1");
    assert_eq!(model("0.7.9").release, "0.7.5");
    for unknown in ["0.9.0", "0.6.7", "latest"] {
        assert!(startup::model(unknown).is_err(), "{unknown}");
    }
}

/// The restore example's validator app: the dump's configuration resolves with the keys the
/// reader needs, and its file is on a mounted volume; without the mount, or with a broken
/// block, the harness says so.
#[test]
fn the_restore_example_resolves_with_the_dump_mounted() {
    let rendered = common::rendered("examples/validator-restore.yaml", &[]);
    let deployment = to_json(&rendered.validator_app);
    let app = deployment
        .pointer("/spec/template/spec/containers/0")
        .expect("a container")
        .clone();
    assert_eq!(
        check_container(Image::ValidatorApp, &app),
        Vec::<String>::new()
    );
    let env = startup::environment(&app, OptionalSecrets::Present).expect("environment");
    let tree = startup::resolve(Image::ValidatorApp, &env)
        .tree
        .expect("resolves");
    let dump = startup::at(&tree, &backend("participant-bootstrapping-dump")).expect("dump block");
    assert_eq!(dump["type"], json!("file"));
    assert_eq!(dump["file"], json!(canton_operator::render::DUMP_FILE));
    assert_eq!(
        dump["new-participant-identifier"],
        json!("acme-participant-r1")
    );
    assert_eq!(
        startup::at(
            &tree,
            &backend("migrate-validator-party.scan.admin-api.url")
        ),
        Some(&json!("https://scan.sv-1.global.canton.network.example"))
    );

    let mut unmounted = app.clone();
    unmounted["volumeMounts"] = json!([]);
    let problems = check_container(Image::ValidatorApp, &unmounted);
    assert!(
        problems.iter().any(|p| p.contains("on no volume mounted")),
        "{problems:#?}"
    );
    let broken = with(
        app,
        var(
            "ADDITIONAL_CONFIG_ZZ",
            &format!(
                "{} = {{ type = \"url\" }}\n{} = {{ scan = {{ admin-api = \"x\" }} }}",
                backend("participant-bootstrapping-dump"),
                backend("migrate-validator-party")
            ),
        ),
    );
    let problems = check_container(Image::ValidatorApp, &broken);
    for fragment in ["type` is not `file`", "scan.admin-api.url` is missing"] {
        assert!(
            problems.iter().any(|p| p.contains(fragment)),
            "{fragment}: {problems:#?}"
        );
    }
}

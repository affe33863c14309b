//! Would a rendered workload start on the Splice images (0.7.x and 0.8.x, [`MODELS`])? A start-up
//! harness.
//!
//! It does what the images' entrypoints do with a container (facts file
//! `shared/reference/splice-0.7.4-workloads.md` §4 "Entrypoints", steps 7–9): take the image's
//! `app.conf`, then `monitoring.conf`, `parameters.conf`, then `/app/additional-config.conf` (the
//! participant's baked file, then every `ADDITIONAL_CONFIG*` variable in byte order of the names,
//! each value followed by a newline), and let Typesafe Config resolve that with the container's
//! environment. The image files are the skeletons under `tests/images/`. Then it checks the keys
//! the apps' config readers require, and, separately, the pod around the container.
//!
//! Canton parses each `--config` file on its own and merges them with `withFallback` before one
//! `resolve()`; the oracle parses the files' text joined with newlines. For well-formed files
//! (each image file is, and `additional-config.conf` is one file either way) both give the same
//! tree: later keys override earlier ones and objects merge.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::typesafe;

/// The user and group the 0.7.4 images run as (`nonroot` in da-base-image), and the chart's fsGroup.
pub const SPLICE_UID: i64 = 1001;
/// The chart's default image of the database init containers.
pub const INIT_IMAGE: &str = "postgres:14";
/// The operator's default image of the database init containers: PostgreSQL 14 reached end of
/// life on 2026-11-12 (docs/releases.md). Same client tools (`bash`, `psql`) as the charts'.
pub const OPERATOR_INIT_IMAGE: &str = "postgres:17";
/// The value a `secretKeyRef` or `fieldRef` variable gets: the Secret is assumed to exist.
pub const PLACEHOLDER: &str = "placeholder-from-reference";
/// Where the validator app's configuration lives.
pub const BACKEND: &str = "canton.validator-apps.validator_backend";
/// Where the participant's configuration lives.
pub const PARTICIPANT: &str = "canton.participants.participant";
/// The prefix the entrypoints collect into `/app/additional-config.conf`.
const ADDITIONAL_CONFIG: &str = "ADDITIONAL_CONFIG";

/// A Splice image whose start-up the harness models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Image {
    ValidatorApp,
    Participant,
}

impl Image {
    /// Its skeleton folder under `tests/images/`.
    pub fn folder(self) -> &'static str {
        match self {
            Image::ValidatorApp => "validator-app",
            Image::Participant => "participant",
        }
    }

    /// The image's name in the registry.
    pub fn image_name(self) -> &'static str {
        match self {
            Image::ValidatorApp => "validator-app",
            Image::Participant => "canton-participant",
        }
    }

    /// The text the image bakes into `/app/additional-config.conf` before any variable is appended.
    fn baked_additional_config(self) -> String {
        match self {
            Image::ValidatorApp => String::new(),
            Image::Participant => image_file(self, "additional-config.conf"),
        }
    }
}

/// The container's environment: variable name to value.
pub type Env = BTreeMap<String, String>;

/// Whether `secretKeyRef`s marked `optional: true` find their key (Kubernetes then sets the
/// variable) or not (the variable is absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionalSecrets {
    Present,
    Absent,
}

/// A rendered container or Deployment as JSON, from its typed form.
pub fn to_json(object: &impl serde::Serialize) -> Value {
    serde_json::to_value(object).expect("Kubernetes objects serialize")
}

/// The environment Kubernetes would give the container; an entry it cannot model is an error.
///
/// Plain values as given; `secretKeyRef` a placeholder (or absent when `optional: true` and
/// `optional` says so); `fieldRef` and other sources a placeholder. A later duplicate wins, as
/// in the kubelet.
pub fn environment(container: &Value, optional: OptionalSecrets) -> Result<Env, String> {
    if container.get("envFrom").is_some_and(|v| !v.is_null()) {
        return Err("`envFrom` is not modelled by the start-up harness: list the variables".into());
    }
    let mut env = Env::new();
    for var in array(container, "env") {
        let name = var["name"].as_str().ok_or("an env entry without a name")?;
        if let Some(value) = var_value(var, optional) {
            env.insert(name.to_string(), value);
        }
    }
    Ok(env)
}

/// The value of one env entry, `None` when Kubernetes would leave the variable unset.
fn var_value(var: &Value, optional: OptionalSecrets) -> Option<String> {
    if let Some(value) = var.get("value").and_then(Value::as_str) {
        return Some(value.to_string());
    }
    let Some(source) = var.get("valueFrom") else {
        // `value` omitted: Kubernetes sets the variable to "".
        return Some(String::new());
    };
    let secret = &source["secretKeyRef"];
    let skipped = secret["optional"] == json!(true) && optional == OptionalSecrets::Absent;
    (!skipped).then(|| PLACEHOLDER.to_string())
}

/// Whether any `secretKeyRef` is `optional: true`, so the environment differs both ways.
pub fn has_optional_secrets(container: &Value) -> bool {
    array(container, "env")
        .iter()
        .any(|v| v.pointer("/valueFrom/secretKeyRef/optional") == Some(&json!(true)))
}

/// A skeleton file of an image, with its `include` lines replaced by the included file of the
/// same folder (the image's `/app`): Typesafe's `parseString` cannot follow `file(...)`.
pub fn image_file(image: Image, name: &str) -> String {
    let relative = format!("tests/images/{}/{name}", image.folder());
    let text = super::read(&relative);
    text.lines()
        .map(|line| match included_file(line) {
            Some(file) => image_file(image, file),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The base name of the file an `include` line names: `include required(file("/app/x"))` and
/// `include file("x")` both name `x` in `/app`.
fn included_file(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("include ")?;
    let quoted = rest.split('"').nth(1)?;
    Some(quoted.rsplit('/').next().unwrap_or(quoted))
}

/// `/app/additional-config.conf` as the entrypoint leaves it: the baked text, then each
/// `ADDITIONAL_CONFIG*` value and a newline, names in byte order (bash `${!ADDITIONAL_CONFIG@}`).
/// Bash imports only environment names that are shell identifiers, so a name Kubernetes allows
/// but bash does not (`ADDITIONAL_CONFIG.X`, `ADDITIONAL_CONFIG-X`) is skipped, as in the image.
pub fn additional_config_file(image: Image, env: &Env) -> String {
    let mut names: Vec<&String> = env
        .keys()
        .filter(|n| n.starts_with(ADDITIONAL_CONFIG) && is_env_name(n))
        .collect();
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut text = image.baked_additional_config();
    for name in names {
        text.push_str(&env[name]);
        text.push('\n');
    }
    text
}

/// The configuration files in the order the entrypoint passes them with `--config`.
pub fn assemble(image: Image, env: &Env) -> Vec<String> {
    vec![
        image_file(image, "app.conf"),
        image_file(image, "monitoring.conf"),
        image_file(image, "parameters.conf"),
        additional_config_file(image, env),
    ]
}

/// What Typesafe Config makes of a container's configuration.
pub struct Resolution {
    /// The resolved tree; when required variables were unset, resolved with a placeholder for
    /// each, so the key checks still run. `None` when Typesafe Config refuses it otherwise.
    pub tree: Option<Value>,
    /// Why the image would not load it; empty when it resolves as it is.
    pub problems: Vec<String>,
}

/// Resolves the assembled configuration. Every unset required variable is named: after one is
/// found it is set to a placeholder and resolution is tried again, so one run lists them all.
pub fn resolve(image: Image, env: &Env) -> Resolution {
    let files = assemble(image, env);
    let mut env = env.clone();
    let mut problems = Vec::new();
    loop {
        let environment = environment_object(&env);
        let mut parts = vec![environment.as_str()];
        parts.extend(files.iter().map(String::as_str));
        let message = match typesafe::parse_parts(&parts, &[]) {
            Ok(tree) => {
                let tree = Some(tree);
                return Resolution { tree, problems };
            }
            Err(message) => message,
        };
        match unresolved(&message) {
            Some(var) if is_env_name(var) && !env.contains_key(var) && problems.len() < 64 => {
                problems.push(format!(
                    "required variable ${{{var}}} is not set, so the configuration does not resolve"
                ));
                env.insert(var.to_string(), PLACEHOLDER.to_string());
            }
            _ => {
                let message = shortened(&message);
                problems.push(format!(
                    "Typesafe Config refuses the configuration: {message}"
                ));
                return Resolution {
                    tree: None,
                    problems,
                };
            }
        }
    }
}

/// The environment as root keys ahead of the image's files, resolved with `resolve()` and no
/// system environment. Canton's `resolve()` looks a substitution up in the configuration first
/// and then in the process environment; root keys with the variables' names (which no config
/// key uses) give the same answers. The oracle's `env` (`resolveWith` over a merged source)
/// cannot be used here: Typesafe Config then fails on the images' own `key = "default"`,
/// `key = ${?VAR}` pairs with "replace in parent not possible", which the images do not.
fn environment_object(env: &Env) -> String {
    env.iter()
        .map(|(name, value)| {
            let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
            format!("{} = {}\n", quote(name), quote(value))
        })
        .collect()
}

/// A Typesafe Config message without the dump of the whole tree some messages carry.
fn shortened(message: &str) -> String {
    const MAX: usize = 400;
    match message.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_string(),
    }
}

/// The substitution Typesafe Config could not resolve, from its message
/// (`…: Could not resolve substitution to a value: ${NAME}`).
fn unresolved(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once("Could not resolve substitution to a value: ${")?;
    rest.split('}').next()
}

/// A shell identifier: a variable bash sees, and a substitution that names a variable rather
/// than a path inside the configuration (those contain dots).
fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What the harness knows of one Splice release, written from the facts files (independently of
/// the operator's table in `src/release.rs`, so a wrong entry there shows here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseModel {
    pub release: &'static str,
    /// The skeleton set under `tests/images/` its images are checked against. Only 0.7.4's
    /// exists: the facts show no difference in the images' files for 0.7.5 (pre-release tree)
    /// and none for 0.8.x (their image files were not read: the nearest known set is used).
    pub skeletons: &'static str,
    /// Keys its config readers no longer have: a configuration setting one would not load
    /// (inferred in the facts file: "would likely fail start-up").
    pub removed_keys: &'static [&'static str],
    /// The 0.8 charts: the participant gets `CANTON_PARTICIPANT_POSTGRES_USER` and every pod
    /// `automountServiceAccountToken: false`.
    pub chart_0_8: bool,
}

/// The one skeleton set under `tests/images/` (written from 0.7.4's images).
pub const SKELETONS: &str = "0.7.4";

/// Removed from the validator app's config class in 0.8.0 (facts: releases after 0.7.4).
pub const DEPRECATED_TRANSFER_COMMANDS: &str =
    "canton.validator-apps.validator_backend.enable-deprecated-transfer-command-support";

const fn model_0_7(release: &'static str) -> ReleaseModel {
    ReleaseModel {
        release,
        skeletons: SKELETONS,
        removed_keys: &[],
        chart_0_8: false,
    }
}

const fn model_0_8(release: &'static str) -> ReleaseModel {
    ReleaseModel {
        release,
        skeletons: SKELETONS,
        removed_keys: &[DEPRECATED_TRANSFER_COMMANDS],
        chart_0_8: true,
    }
}

/// Every release the facts files describe.
pub const MODELS: [ReleaseModel; 8] = [
    model_0_7("0.7.0"),
    model_0_7("0.7.1"),
    model_0_7("0.7.2"),
    model_0_7("0.7.3"),
    model_0_7("0.7.4"),
    model_0_7("0.7.5"),
    model_0_8("0.8.0"),
    model_0_8("0.8.1"),
];

/// The model of `release`: its own, or for a later patch of a known line that line's newest
/// (nothing is known of it beyond; the operator renders it so too).
pub fn model(release: &str) -> Result<ReleaseModel, String> {
    if let Some(m) = MODELS.iter().find(|m| m.release == release) {
        return Ok(*m);
    }
    let numbers = |v: &str| -> Option<(u32, u32, u32)> {
        let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
        Some((it.next()??, it.next()??, it.next()??))
    };
    let (major, minor, patch) =
        numbers(release).ok_or(format!("`{release}` is not a release number"))?;
    MODELS
        .iter()
        .rev()
        .find(|m| numbers(m.release).is_some_and(|(a, b, c)| (a, b) == (major, minor) && c < patch))
        .copied()
        .ok_or(format!(
            "no facts describe release {release} or its minor line: tests/common/startup.rs MODELS"
        ))
}

/// Everything that would stop this container's configuration from loading; empty = it loads.
/// When a `secretKeyRef` is optional both ways are checked, each problem saying which.
pub fn check_container(image: Image, container: &Value) -> Vec<String> {
    check_release(&model_0_7("0.7.4"), image, container)
}

/// [`check_container`] for a release: also the keys its readers no longer have, and what its
/// chart renders on the container.
pub fn check_release(model: &ReleaseModel, image: Image, container: &Value) -> Vec<String> {
    if model.skeletons != SKELETONS {
        return vec![format!(
            "release {} needs the {} skeletons, which tests/images/ does not have",
            model.release, model.skeletons
        )];
    }
    let mut problems = check_with(model, image, container, OptionalSecrets::Present);
    if model.chart_0_8 && image == Image::Participant {
        let has_user = array(container, "env")
            .iter()
            .any(|v| v["name"] == json!("CANTON_PARTICIPANT_POSTGRES_USER"));
        if !has_user {
            problems.push(format!(
                "the {} chart sets CANTON_PARTICIPANT_POSTGRES_USER (persistence.user); the container does not",
                model.release
            ));
        }
    }
    if has_optional_secrets(container) {
        let absent = check_with(model, image, container, OptionalSecrets::Absent);
        let new: Vec<String> = absent
            .into_iter()
            .filter(|p| !problems.contains(p))
            .map(|p| format!("{p} (when the optional Secret keys are absent)"))
            .collect();
        problems.extend(new);
    }
    problems
}

/// [`check_release`] for one reading of the optional Secret keys.
fn check_with(
    model: &ReleaseModel,
    image: Image,
    container: &Value,
    optional: OptionalSecrets,
) -> Vec<String> {
    let env = match environment(container, optional) {
        Ok(env) => env,
        Err(e) => return vec![e],
    };
    let Resolution { tree, mut problems } = resolve(image, &env);
    if let Some(tree) = tree {
        problems.extend(check_tree(image, &tree));
        problems.extend(
            model
                .removed_keys
                .iter()
                .filter(|key| at(&tree, key).is_some())
                .map(|key| {
                    format!(
                        "`{key}` is set, but Splice {} removed it: the configuration would not load",
                        model.release
                    )
                }),
        );
        if image == Image::ValidatorApp {
            problems.extend(dump_file_mounted(&tree, container));
        }
    }
    problems
}

/// The restore's dump file (`participant-bootstrapping-dump.file`) is on a volume mounted in the
/// container: the chart mounts its Secret there, so the app finds the file at start.
fn dump_file_mounted(tree: &Value, container: &Value) -> Option<String> {
    let file = text(
        tree,
        &format!("{BACKEND}.participant-bootstrapping-dump.file"),
    )?;
    let mounted = array(container, "volumeMounts").iter().any(|m| {
        m["mountPath"]
            .as_str()
            .is_some_and(|dir| file.starts_with(&format!("{}/", dir.trim_end_matches('/'))))
    });
    (!mounted).then(|| format!("the dump file {file} is on no volume mounted in the container"))
}

/// `participant-bootstrapping-dump` is read as a coproduct on `type`: `file` with `file` (and an
/// optional `new-participant-identifier`, which must not be empty when given);
/// `migrate-validator-party` needs `scan.admin-api.url`.
fn restore(backend: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(dump) = at(backend, "participant-bootstrapping-dump") {
        if text(dump, "type") != Some("file") {
            problems.push(format!(
                "`{BACKEND}.participant-bootstrapping-dump.type` is not `file`"
            ));
        }
        if text(dump, "file").is_none() {
            problems.push(format!(
                "`{BACKEND}.participant-bootstrapping-dump.file` is missing"
            ));
        }
        if at(dump, "new-participant-identifier").is_some()
            && text(dump, "new-participant-identifier").is_none()
        {
            problems.push(format!(
                "`{BACKEND}.participant-bootstrapping-dump.new-participant-identifier` is empty"
            ));
        }
    }
    if let Some(migrate) = at(backend, "migrate-validator-party")
        && text(migrate, "scan.admin-api.url").is_none()
    {
        problems.push(format!(
            "`{BACKEND}.migrate-validator-party.scan.admin-api.url` is missing"
        ));
    }
    problems
}

/// The database the container's configuration connects to, as far as it resolves.
pub fn database(image: Image, container: &Value) -> Option<String> {
    let env = environment(container, OptionalSecrets::Present).ok()?;
    let tree = resolve(image, &env).tree?;
    let app = match image {
        Image::ValidatorApp => BACKEND,
        Image::Participant => PARTICIPANT,
    };
    let path = format!("{app}.storage.config.properties.databaseName");
    text(&tree, &path).map(str::to_string)
}

/// The keys the app's config reader needs, on a resolved tree.
pub fn check_tree(image: Image, tree: &Value) -> Vec<String> {
    match image {
        Image::ValidatorApp => check_validator_app(tree),
        Image::Participant => check_participant(tree),
    }
}

/// The value at a dotted path (keys themselves contain no dots here).
pub fn at<'a>(tree: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(tree, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// A non-empty string at `path`.
fn text<'a>(tree: &'a Value, path: &str) -> Option<&'a str> {
    at(tree, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Fields of `ValidatorAppBackendConfig` with no default and not optional (facts §4).
const VALIDATOR_REQUIRED: [&str; 9] = [
    "storage",
    "ledger-api-user",
    "validator-wallet-users",
    "auth",
    "app-instances",
    "participant-client",
    "scan-client",
    "domains",
    "contact-point",
];

fn check_validator_app(tree: &Value) -> Vec<String> {
    let Some(backend) = at(tree, BACKEND) else {
        return vec![format!("`{BACKEND}` is missing")];
    };
    let mut problems: Vec<String> = VALIDATOR_REQUIRED
        .iter()
        .filter(|key| at(backend, key).is_none())
        .map(|key| format!("`{BACKEND}.{key}` is missing (required, no default)"))
        .collect();
    problems.extend(wallet_users(backend));
    problems.extend(onboarding(backend));
    problems.extend(scan_client(backend));
    problems.extend(party_hint(backend));
    problems.extend(synchronizer(backend));
    problems.extend(storage(backend, BACKEND));
    problems.extend(ledger_api_auth(backend));
    problems.extend(restore(backend));
    problems
}

/// `validator-wallet-users` is read as a list: a list, or an object with index keys
/// (`validator-wallet-users.0 = …`, which Typesafe converts; `{}` is the empty list).
fn wallet_users(backend: &Value) -> Option<String> {
    match at(backend, "validator-wallet-users")? {
        Value::Array(_) => None,
        Value::Object(map) if map.keys().all(|k| k.parse::<usize>().is_ok()) => None,
        other => Some(format!(
            "`{BACKEND}.validator-wallet-users` is not a list: {other}"
        )),
    }
}

/// `onboarding` is optional, but when present the SV client needs its URL.
fn onboarding(backend: &Value) -> Option<String> {
    at(backend, "onboarding")?;
    match text(backend, "onboarding.sv-client.admin-api.url") {
        Some(_) => None,
        None => Some(format!(
            "`{BACKEND}.onboarding` is set without `sv-client.admin-api.url` (set it, or set `onboarding = null`)"
        )),
    }
}

/// `scan-client` (`BftScanClientConfig`): its type and the fields that type needs.
fn scan_client(backend: &Value) -> Vec<String> {
    let Some(scan) = at(backend, "scan-client") else {
        return vec![]; // reported as a missing required field
    };
    let name = format!("`{BACKEND}.scan-client`");
    let seed_urls = || non_empty_list(scan, "seed-urls");
    match text(scan, "type") {
        Some("bft") if !seed_urls() => {
            vec![format!("{name} type bft needs a non-empty `seed-urls`")]
        }
        Some("bft-custom") => bft_custom(scan, &name, seed_urls()),
        Some("trust-single") if text(scan, "url").is_none() => {
            vec![format!("{name} type trust-single needs `url`")]
        }
        Some("bft" | "trust-single") => vec![],
        other => vec![format!(
            "{name}.type is {other:?}, not one of bft, bft-custom, trust-single"
        )],
    }
}

/// `bft-custom` needs seed URLs and SV names; its threshold is optional in 0.7.4
/// (`threshold: Option[Int]`, default a third of the seeds plus one), but never above the names.
fn bft_custom(scan: &Value, name: &str, has_seeds: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if !has_seeds {
        problems.push(format!(
            "{name} type bft-custom needs a non-empty `seed-urls`"
        ));
    }
    problems.extend(names_and_threshold(scan, name));
    problems
}

/// `sv-names` non-empty and, when `threshold` is set, at least as many names as the threshold.
fn names_and_threshold(object: &Value, name: &str) -> Option<String> {
    let names = at(object, "sv-names").and_then(Value::as_array);
    let count = names.map_or(0, Vec::len);
    if count == 0 {
        return Some(format!("{name} needs a non-empty `sv-names`"));
    }
    let threshold = at(object, "threshold")?;
    match threshold.as_u64() {
        Some(t) if t >= 1 && t as usize <= count => None,
        _ => Some(format!(
            "{name}.threshold {threshold} must be between 1 and the {count} sv-names"
        )),
    }
}

fn non_empty_list(object: &Value, key: &str) -> bool {
    at(object, key)
        .and_then(Value::as_array)
        .is_some_and(|l| !l.is_empty())
}

/// The reader requires a party hint exactly when the validator is not an SV's.
fn party_hint(backend: &Value) -> Option<String> {
    let sv = matches!(at(backend, "sv-validator"), Some(Value::Bool(true)))
        || matches!(text(backend, "sv-validator"), Some("true" | "yes" | "on"));
    (!sv && text(backend, "validator-party-hint").is_none()).then(|| {
        format!("`{BACKEND}.validator-party-hint` is missing (required for a non-SV validator)")
    })
}

/// `domains.global`: a static URL and a trusted-synchronizer config exclude each other.
fn synchronizer(backend: &Value) -> Vec<String> {
    let global = "domains.global";
    let trusted = at(backend, &format!("{global}.trusted-synchronizer-config"));
    let mut problems = Vec::new();
    if at(backend, &format!("{global}.url")).is_some() && trusted.is_some() {
        problems.push(format!(
            "`{BACKEND}.{global}` sets both `url` and `trusted-synchronizer-config`"
        ));
    }
    if let Some(trusted) = trusted {
        let name = format!("`{BACKEND}.{global}.trusted-synchronizer-config`");
        problems.extend(names_and_threshold(trusted, &name));
    }
    problems
}

/// Postgres connection properties the data source needs, under `<prefix>.storage`.
const STORAGE_PROPERTIES: [&str; 5] = [
    "serverName",
    "portNumber",
    "databaseName",
    "user",
    "password",
];

fn storage(app: &Value, prefix: &str) -> Vec<String> {
    let Some(storage) = at(app, "storage") else {
        return vec![];
    };
    match text(storage, "type") {
        Some("postgres") => STORAGE_PROPERTIES
            .iter()
            .filter(|p| at(storage, &format!("config.properties.{p}")).is_none())
            .map(|p| format!("`{prefix}.storage.config.properties.{p}` is missing"))
            .collect(),
        Some(_) => vec![],
        None => vec![format!("`{prefix}.storage.type` is missing")],
    }
}

/// The client-credentials reader needs the token URL, client id and secret (facts §4: optional
/// variables, but then required by the reader).
fn ledger_api_auth(backend: &Value) -> Vec<String> {
    let path = "participant-client.ledger-api.auth-config";
    let Some(auth) = at(backend, path) else {
        return vec![format!("`{BACKEND}.{path}` is missing")];
    };
    if text(auth, "type") != Some("client-credentials") {
        return vec![];
    }
    [
        "well-known-config-url",
        "client-id",
        "client-secret",
        "audience",
    ]
    .iter()
    .filter(|k| at(auth, k).is_none())
    .map(|k| format!("`{BACKEND}.{path}.{k}` is missing (client-credentials needs it)"))
    .collect()
}

fn check_participant(tree: &Value) -> Vec<String> {
    let Some(participant) = at(tree, PARTICIPANT) else {
        return vec![format!("`{PARTICIPANT}` is missing")];
    };
    let mut problems = Vec::new();
    if at(participant, "storage").is_none() {
        problems.push(format!("`{PARTICIPANT}.storage` is missing"));
    }
    problems.extend(storage(participant, PARTICIPANT));
    problems.extend(auth_services(participant));
    if at(participant, "admin-api.port").is_none() {
        problems.push(format!(
            "`{PARTICIPANT}.admin-api` is missing or has no port"
        ));
    }
    problems.extend(crypto(participant));
    problems
}

/// The Ledger API must authenticate: at least one auth service, a JWKS one with its URL.
fn auth_services(participant: &Value) -> Vec<String> {
    let path = "ledger-api.auth-services";
    let services = at(participant, path).and_then(Value::as_array);
    let Some(services) = services.filter(|s| !s.is_empty()) else {
        return vec![format!("`{PARTICIPANT}.{path}` is missing or empty")];
    };
    services
        .iter()
        .enumerate()
        .filter(|(_, s)| text(s, "type") == Some("jwt-jwks") && text(s, "url").is_none())
        .map(|(i, _)| format!("`{PARTICIPANT}.{path}.{i}` (jwt-jwks) has no url"))
        .collect()
}

/// KMS keys (`crypto.provider = kms`) or a KMS-encrypted key store (envelope mode,
/// `crypto.private-key-store.encryption.type = kms`) need a KMS configuration with its type.
fn crypto(participant: &Value) -> Vec<String> {
    let missing = text(participant, "crypto.kms.type").is_none();
    [
        ("crypto.provider", "kms"),
        ("crypto.private-key-store.encryption.type", "kms"),
    ]
    .iter()
    .filter(|(path, value)| missing && text(participant, path) == Some(value))
    .map(|(path, _)| format!("`{PARTICIPANT}.{path}` is kms but `crypto.kms.type` is missing"))
    .collect()
}

/// What the pod checks need to know beyond the Deployment itself.
pub struct PodExpectations<'a> {
    pub image: Image,
    /// The database the app connects to, which an init container must create.
    pub database: Option<&'a str>,
    /// The Validator spec sets this workload's resources, so the chart defaults do not apply.
    pub resources_overridden: bool,
    /// The image the database init container runs: the charts' [`INIT_IMAGE`] unless overridden.
    pub init_image: &'a str,
    /// Whether the databases are created by an init container (`false`: managed Postgres, where
    /// someone else creates them).
    pub creates_database: bool,
    /// The chart turns off the pod's service account token (0.8 on).
    pub no_token: bool,
}

/// Everything about the pod around the container that differs from the 0.7.4 charts in a way
/// that matters for start-up (users, writable `/app`, probes, resources, database init).
pub fn check_pod(deployment: &Value, expect: &PodExpectations) -> Vec<String> {
    let Some(pod) = deployment.pointer("/spec/template/spec") else {
        return vec!["the Deployment has no pod template".into()];
    };
    let mut problems = pod_security(pod);
    if expect.no_token && pod["automountServiceAccountToken"] != json!(false) {
        problems.push(
            "the chart sets automountServiceAccountToken: false on the pod; this pod mounts the token"
                .into(),
        );
    }
    for (kind, container) in containers(pod) {
        problems.extend(container_security(pod, kind, container));
    }
    let Some(main) = array(pod, "containers").first() else {
        problems.push("the pod has no container".into());
        return problems;
    };
    problems.extend(probes(main, expect.image));
    if !expect.resources_overridden {
        problems.extend(resources(main, expect.image));
    }
    if expect.creates_database {
        problems.extend(database_init(pod, expect.init_image, expect.database));
    }
    problems
}

/// Init containers and containers, each with what it is for messages.
fn containers(pod: &Value) -> Vec<(&'static str, &Value)> {
    let init = array(pod, "initContainers")
        .iter()
        .map(|c| ("init container", c));
    init.chain(array(pod, "containers").iter().map(|c| ("container", c)))
        .collect()
}

fn array<'a>(object: &'a Value, key: &str) -> &'a [Value] {
    object
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The chart's pod profile: files on volumes group-owned by 1001, the runtime's seccomp profile.
fn pod_security(pod: &Value) -> Vec<String> {
    let sc = &pod["securityContext"];
    let mut problems = Vec::new();
    if sc["fsGroup"] != json!(SPLICE_UID) {
        problems.push(format!(
            "pod securityContext.fsGroup is {}, not {SPLICE_UID}",
            sc["fsGroup"]
        ));
    }
    if sc.pointer("/seccompProfile/type") != Some(&json!("RuntimeDefault")) {
        problems.push("pod securityContext.seccompProfile.type is not RuntimeDefault".into());
    }
    problems
}

/// The image's user (numeric, since `runAsNonRoot` cannot check the name `nonroot`), no privilege,
/// and a writable root filesystem: the entrypoints write `/app/additional-config.conf`.
fn container_security(pod: &Value, kind: &str, c: &Value) -> Vec<String> {
    let name = format!("{kind} `{}`", c["name"].as_str().unwrap_or("?"));
    let own = &c["securityContext"];
    // The charts set these three on each container; Kubernetes applies the pod's when a
    // container sets none, so either way the container runs with them.
    let effective = |key: &str| match &own[key] {
        Value::Null => pod["securityContext"][key].clone(),
        v => v.clone(),
    };
    let mut problems = Vec::new();
    for (key, want) in [
        ("runAsUser", json!(SPLICE_UID)),
        ("runAsGroup", json!(SPLICE_UID)),
        ("runAsNonRoot", json!(true)),
    ] {
        let got = effective(key);
        if got != want {
            problems.push(format!("{name} runs with {key} {got}, not {want}"));
        }
    }
    if own["allowPrivilegeEscalation"] != json!(false) {
        problems.push(format!(
            "{name} does not set allowPrivilegeEscalation: false"
        ));
    }
    let drops_all = array(&own["capabilities"], "drop").contains(&json!("ALL"));
    if !drops_all {
        problems.push(format!("{name} does not drop ALL capabilities"));
    }
    if own["readOnlyRootFilesystem"] == json!(true) {
        problems.push(format!(
            "{name} has readOnlyRootFilesystem: true, but the entrypoint writes /app/additional-config.conf"
        ));
    }
    problems
}

/// The 0.7.4 charts' probes (facts §1, §2).
pub fn chart_probes(image: Image) -> [(&'static str, Value); 2] {
    match image {
        Image::Participant => [
            (
                "livenessProbe",
                json!({"grpc": {"port": 5061, "service": "liveness"}, "initialDelaySeconds": 600,
                       "periodSeconds": 60, "failureThreshold": 5, "timeoutSeconds": 10}),
            ),
            (
                "readinessProbe",
                json!({"grpc": {"port": 5061}, "initialDelaySeconds": 5,
                       "periodSeconds": 5, "failureThreshold": 3, "timeoutSeconds": 10}),
            ),
        ],
        Image::ValidatorApp => [
            (
                "livenessProbe",
                json!({"httpGet": {"path": "/api/validator/livez", "port": 5003},
                       "initialDelaySeconds": 60, "periodSeconds": 60, "failureThreshold": 5,
                       "timeoutSeconds": 10}),
            ),
            (
                "readinessProbe",
                json!({"httpGet": {"path": "/api/validator/readyz", "port": 5003},
                       "initialDelaySeconds": 5, "periodSeconds": 5, "failureThreshold": 5,
                       "timeoutSeconds": 3}),
            ),
        ],
    }
}

fn probes(container: &Value, image: Image) -> Vec<String> {
    chart_probes(image)
        .into_iter()
        .filter_map(|(key, want)| {
            let got = normalised_probe(&container[key]);
            (got != want).then(|| format!("{key} is {got}, the 0.7.4 chart's is {want}"))
        })
        .collect()
}

/// A probe without the fields that only spell out Kubernetes defaults.
fn normalised_probe(probe: &Value) -> Value {
    let mut probe = probe.clone();
    if let Some(map) = probe.as_object_mut() {
        if map.get("successThreshold") == Some(&json!(1)) {
            map.remove("successThreshold");
        }
        if let Some(http) = map.get_mut("httpGet").and_then(Value::as_object_mut)
            && http.get("scheme") == Some(&json!("HTTP"))
        {
            http.remove("scheme");
        }
    }
    probe
}

/// The 0.7.4 charts' default resources (facts §1, §2): no CPU limit.
pub fn chart_resources(image: Image) -> Value {
    match image {
        Image::Participant => json!({"requests": {"cpu": "2", "memory": "16Gi"},
                                     "limits": {"memory": "32Gi"}}),
        Image::ValidatorApp => json!({"requests": {"cpu": "1", "memory": "4Gi"},
                                      "limits": {"memory": "8Gi"}}),
    }
}

fn resources(container: &Value, image: Image) -> Option<String> {
    let want = chart_resources(image);
    let got = &container["resources"];
    let same = ["requests", "limits"]
        .iter()
        .all(|k| same_quantities(&got[k], &want[k]));
    (!same).then(|| format!("resources are {got}, the 0.7.4 chart's default is {want}"))
}

/// Same resource names with equal quantities (`"2"` = `"2000m"`, `"16Gi"` = `"16384Mi"`).
fn same_quantities(got: &Value, want: &Value) -> bool {
    let empty = serde_json::Map::new();
    let got = got.as_object().unwrap_or(&empty);
    let want = want.as_object().unwrap_or(&empty);
    got.len() == want.len()
        && want.iter().all(|(k, w)| {
            let g = got.get(k).and_then(quantity);
            g.is_some() && g == quantity(w)
        })
}

/// A Kubernetes quantity (string or number) in base units.
fn quantity(value: &Value) -> Option<f64> {
    if let Some(n) = value.as_f64() {
        return Some(n);
    }
    let s = value.as_str()?;
    let suffixes: [(&str, f64); 9] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, factor) = suffixes
        .iter()
        .find_map(|(suffix, f)| s.strip_suffix(suffix).map(|n| (n, *f)))
        .unwrap_or((s, 1.0));
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// An init container that creates the app's database with psql, as both charts' do.
fn database_init(pod: &Value, image: &str, database: Option<&str>) -> Option<String> {
    let creates = |c: &&Value| {
        let script = ["command", "args"]
            .iter()
            .flat_map(|k| array(c, k))
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        // The name is in the script, or handed to it in the environment (safer than splicing it).
        let names = |db: &str| {
            script.contains(&db.to_lowercase())
                || array(c, "env").iter().any(|e| e["value"] == json!(db))
        };
        c["image"] == json!(image)
            && script.contains("create database")
            && database.is_none_or(names)
    };
    let found = array(pod, "initContainers").iter().any(|c| creates(&c));
    (!found).then(|| {
        format!(
            "no init container ({image}) creates the database {}",
            database.map_or(
                "(name unknown: the configuration did not resolve)".into(),
                |d| { format!("`{d}`") }
            )
        )
    })
}

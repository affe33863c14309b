//! The binary: exit codes, stdout and stderr of `crd`, `render` and `check-config`.

mod common;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use canton_operator::config::{ENABLED_VAR, SERVICE_ACCOUNT_VAR, VALUE_VAR};
use common::{
    CASES, EXAMPLE, SEED_ENV, SEED_PARTICIPANT_VALUE, SEED_SERVICE_ACCOUNT, SEED_VALUE, crate_path,
    read, rendered,
};
use predicates::prelude::*;
use serde_json::Value;

/// The operator binary with exactly these KMS variables (the caller's own are removed).
fn operator(env: &[(&str, &str)]) -> Command {
    let mut cmd = cargo_bin_cmd!("canton-operator");
    for var in [ENABLED_VAR, VALUE_VAR, SERVICE_ACCOUNT_VAR, "POD_NAMESPACE"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).current_dir(crate_path(""));
    cmd
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd
        .assert()
        .success()
        .stderr("")
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).expect("UTF-8 output")
}

/// The YAML stream `render` printed, as JSON values.
fn documents(stream: &str) -> Vec<Value> {
    assert!(stream.starts_with("---\n"), "a YAML stream: {stream}");
    serde_saphyr::from_multiple(stream).unwrap_or_else(|e| panic!("{e}\n{stream}"))
}

fn kinds_and_names(docs: &[Value]) -> Vec<(String, String)> {
    docs.iter()
        .map(|d| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (s(&d["kind"]), s(&d["metadata"]["name"]))
        })
        .collect()
}

/// The pod spec of the Deployment named `name`.
fn pod<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no Deployment {name}"));
    &deployment["spec"]["template"]["spec"]
}

fn env_var<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == name)
}

// ---------------------------------------------------------------- crd

#[test]
fn crd_output_is_the_committed_deploy_crd() {
    let printed = stdout_of(operator(&[]).arg("crd"));
    assert!(
        printed == read("deploy/crd.yaml"),
        "deploy/crd.yaml is stale: run `cargo run -- crd > deploy/crd.yaml && scripts/sync-chart-crd`"
    );
    assert!(printed.contains("name: validators.canton-operator.dev"));
}

// ---------------------------------------------------------------- render

/// The workloads of the example, among whatever else `render` prints.
fn workloads(docs: &[Value]) -> Vec<(String, String)> {
    kinds_and_names(docs)
        .into_iter()
        .filter(|(kind, _)| kind == "Deployment" || kind == "Service")
        .collect()
}

fn example_workloads() -> Vec<(String, String)> {
    [
        ("Deployment", "acme-participant"),
        ("Service", "acme-participant"),
        ("Deployment", "acme-validator-app"),
        ("Service", "acme-validator-app"),
        ("Deployment", "acme-wallet-web-ui"),
        ("Service", "acme-wallet-web-ui"),
        ("Deployment", "acme-ans-web-ui"),
        ("Service", "acme-ans-web-ui"),
    ]
    .map(|(k, n)| (k.to_string(), n.to_string()))
    .to_vec()
}

#[test]
fn render_prints_exactly_the_rendered_objects_for_every_fixture() {
    for case in CASES {
        let docs = documents(&stdout_of(
            operator(case.env).args(["render", "-f", case.file]),
        ));
        let expected = rendered(case.file, case.env).to_json().expect("JSON");
        assert_eq!(docs, expected, "{}", case.name);
    }
}

#[test]
fn render_without_kms_prints_the_workloads_without_kms() {
    let docs = documents(&stdout_of(operator(&[]).args(["render", "-f", EXAMPLE])));
    assert_eq!(workloads(&docs), example_workloads());
    assert!(docs.iter().all(|d| d["kind"] != "ServiceAccount"));
    let participant = pod(&docs, "acme-participant");
    assert_eq!(participant.get("serviceAccountName"), None);
    assert_eq!(
        env_var(
            participant,
            "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS"
        ),
        None
    );
}

#[test]
fn render_with_the_seed_environment_prints_the_seed_configuration() {
    let docs = documents(&stdout_of(
        operator(SEED_ENV).args(["render", "-f", EXAMPLE]),
    ));
    assert_eq!(workloads(&docs), example_workloads());
    let participant = pod(&docs, "acme-participant");
    assert_eq!(participant["serviceAccountName"], SEED_SERVICE_ACCOUNT);
    let kms = env_var(
        participant,
        "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS",
    )
    .expect("the seed's variable");
    assert_eq!(kms["value"], SEED_PARTICIPANT_VALUE);
    assert_eq!(
        pod(&docs, "acme-validator-app").get("serviceAccountName"),
        None
    );
}

#[test]
fn render_reads_standard_input() {
    let from_file = stdout_of(operator(SEED_ENV).args(["render", "-f", EXAMPLE]));
    let from_stdin = stdout_of(
        operator(SEED_ENV)
            .args(["render", "-f", "-"])
            .write_stdin(read(EXAMPLE)),
    );
    assert_eq!(from_stdin, from_file);
}

#[test]
fn render_with_kms_enabled_and_no_service_account_prints_nothing() {
    for sa in [None, Some(""), Some("  ")] {
        let mut env = vec![(ENABLED_VAR, "true"), (VALUE_VAR, SEED_VALUE)];
        env.extend(sa.map(|s| (SERVICE_ACCOUNT_VAR, s)));
        operator(&env)
            .args(["render", "-f", EXAMPLE])
            .assert()
            .failure()
            .stdout("")
            .stderr(
                predicate::str::contains(SERVICE_ACCOUNT_VAR)
                    .and(predicate::str::contains("missing or empty")),
            );
    }
}

#[test]
fn render_refuses_what_is_not_a_validator() {
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n";
    operator(&[])
        .args(["render", "-f", "-"])
        .write_stdin(config_map)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains("not a Validator"));
    operator(&[])
        .args(["render", "-f", "Cargo.toml"])
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains("not a Validator"));
    operator(&[])
        .args(["render", "-f", "no/such/file.yaml"])
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains("no/such/file.yaml"));
}

#[test]
fn render_refuses_a_validator_the_api_server_would_refuse() {
    let invalid = read(EXAMPLE).replace(
        "spec:\n",
        "spec:\n  kms:\n    enabled: true\n    mode: external\n",
    );
    operator(&[])
        .args(["render", "-f", "-"])
        .write_stdin(invalid)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains(
            "enabled: true needs exactly one provider block",
        ));
}

/// `render -f -` of this text, through the binary.
fn render_stdin(env: &[(&str, &str)], text: &str) -> String {
    stdout_of(
        operator(env)
            .args(["render", "-f", "-"])
            .write_stdin(text.to_string()),
    )
}

/// The example under another name.
fn example_named(name: &str) -> String {
    read(EXAMPLE).replace("  name: acme\n", &format!("  name: {name}\n"))
}

#[test]
fn render_prints_every_validator_of_a_stream_in_order() {
    let (acme, beta) = (read(EXAMPLE), example_named("beta"));
    assert_ne!(acme, beta);
    // Comments before the first marker, empty documents, `---` with a comment, a closing `...`.
    let stream = format!("# two validators\n---\n{acme}---\n---\n--- # the second\n{beta}...\n");
    for env in [&[][..], SEED_ENV] {
        let both = render_stdin(env, &stream);
        assert_eq!(both, render_stdin(env, &acme) + &render_stdin(env, &beta));
        let names: Vec<String> = kinds_and_names(&documents(&both))
            .into_iter()
            .filter(|(kind, _)| kind == "Deployment")
            .map(|(_, name)| name)
            .collect();
        assert_eq!(
            names,
            [
                "acme-participant",
                "acme-validator-app",
                "acme-wallet-web-ui",
                "acme-ans-web-ui",
                "beta-participant",
                "beta-validator-app",
                "beta-wallet-web-ui",
                "beta-ans-web-ui",
            ]
        );
    }
}

/// The line of the first `---` after the example: where the second document starts.
fn second_document_line() -> usize {
    read(EXAMPLE).lines().count() + 1
}

#[test]
fn render_names_the_document_that_is_not_a_validator() {
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
    let stream = format!("{}---\n{config_map}", read(EXAMPLE));
    operator(&[])
        .args(["render", "-f", "-"])
        .write_stdin(stream)
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains(format!(
            "document 2 (line {}) is a ConfigMap, not a Validator",
            second_document_line()
        )));
}

#[test]
fn render_names_the_document_of_an_invalid_validator() {
    let invalid = example_named("beta").replace(
        "spec:\n",
        "spec:\n  kms:\n    enabled: true\n    mode: external\n",
    );
    let stream = format!("{}---\n{invalid}", read(EXAMPLE));
    operator(&[])
        .args(["render", "-f", "-"])
        .write_stdin(stream)
        .assert()
        .failure()
        .stdout("")
        .stderr(
            predicate::str::contains(format!("document 2 (line {})", second_document_line())).and(
                predicate::str::contains("enabled: true needs exactly one provider block"),
            ),
        );
    // A YAML error in the second document gives its line in the whole file.
    let broken = format!("{}---\nkind: Validator\nmetadata: [\n", read(EXAMPLE));
    let line = second_document_line() + 2;
    operator(&[])
        .args(["render", "-f", "-"])
        .write_stdin(broken)
        .assert()
        .failure()
        .stdout("")
        .stderr(
            predicate::str::contains("document 2")
                .and(predicate::str::contains(format!("line {line}"))),
        );
}

#[test]
fn render_refuses_a_stream_without_a_validator() {
    for empty in ["", "---\n", "# nothing\n---\n---\n...\n"] {
        operator(&[])
            .args(["render", "-f", "-"])
            .write_stdin(empty)
            .assert()
            .failure()
            .stdout("")
            .stderr(predicate::str::contains("holds no Validator"));
    }
}

// ---------------------------------------------------------------- check-config

#[test]
fn check_config_prints_the_effective_configuration() {
    let disabled = stdout_of(operator(&[]).arg("check-config"));
    assert!(disabled.starts_with("kms: disabled"), "{disabled}");
    let enabled = stdout_of(operator(SEED_ENV).arg("check-config"));
    for line in [
        "kms: enabled",
        "provider: aws",
        "location: region eu-west-1",
        "mode: external",
        "serviceAccount: catalyst-canton-kms",
        &format!("block: {SEED_VALUE}"),
    ] {
        assert!(enabled.lines().any(|l| l == line), "`{line}` in\n{enabled}");
    }
}

#[test]
fn check_config_refuses_with_every_error_on_stderr() {
    for (env, fragments) in [
        (
            vec![(ENABLED_VAR, "true")],
            vec![SERVICE_ACCOUNT_VAR, VALUE_VAR],
        ),
        (
            vec![
                (ENABLED_VAR, "yes"),
                (VALUE_VAR, SEED_VALUE),
                (SERVICE_ACCOUNT_VAR, SEED_SERVICE_ACCOUNT),
            ],
            vec![ENABLED_VAR, "`yes`"],
        ),
        (
            vec![
                (ENABLED_VAR, "true"),
                (
                    VALUE_VAR,
                    r#"{ type = "aws", region = "eu-west-1" } canton.x = 1"#,
                ),
                (SERVICE_ACCOUNT_VAR, SEED_SERVICE_ACCOUNT),
            ],
            vec![VALUE_VAR, "text after the closing brace"],
        ),
    ] {
        let assert = operator(&env)
            .arg("check-config")
            .assert()
            .failure()
            .stdout("");
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        for fragment in fragments {
            assert!(
                stderr.contains(fragment),
                "{env:?}: `{fragment}` in\n{stderr}"
            );
        }
        assert!(stderr.lines().all(|l| l.starts_with("error: ")), "{stderr}");
    }
}

// ---------------------------------------------------------------- strict like kubectl apply

/// `text` with `line` inserted after the first line that starts (after indentation) with `after`;
/// and the inserted line's number.
fn with_line(text: &str, after: &str, line: &str) -> (String, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    for (i, l) in text.lines().enumerate() {
        out.push(l.to_string());
        if at == 0 && l.trim_start().starts_with(after) {
            out.push(line.to_string());
            at = i + 2;
        }
    }
    assert!(at > 0, "{after} not found");
    (out.join("\n") + "\n", at)
}

fn refused(command: &str, text: &str) -> String {
    let out = operator(SEED_ENV)
        .args([command, "-f", "-"])
        .write_stdin(text.to_string())
        .assert()
        .failure()
        .stdout("")
        .get_output()
        .stderr
        .clone();
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn render_refuses_unknown_fields_naming_the_field_and_its_line() {
    let aws = read("examples/validator-aws-external.yaml");
    for (text, after, inserted, field) in [
        (read(EXAMPLE), "version:", "  replicas: 3", "spec.replicas"),
        (
            read(EXAMPLE),
            "participant:",
            "    postgress:",
            "spec.participant.postgress",
        ),
        (
            aws,
            "region:",
            "      regoin: eu-west-1",
            "spec.kms.aws.regoin",
        ),
    ] {
        let (bad, line) = with_line(&text, after, inserted);
        let stderr = refused("render", &bad);
        assert!(
            stderr.contains(&format!("line {line}: unknown field \"{field}\"")),
            "{stderr}"
        );
        // iam-policy reads the same file the same way.
        let stderr = refused("iam-policy", &bad);
        assert!(
            stderr.contains(&format!("unknown field \"{field}\"")),
            "{stderr}"
        );
    }
}

#[test]
fn render_refuses_a_wrong_api_version_or_kind() {
    let example = read(EXAMPLE);
    let line = example
        .lines()
        .position(|l| l.starts_with("apiVersion:"))
        .unwrap()
        + 1;
    let stderr = refused("render", &example.replace("/v1alpha1", "/v1"));
    assert!(
        stderr.contains(&format!(
            "line {line}: apiVersion is `canton-operator.dev/v1`; a Validator is canton-operator.dev/v1alpha1"
        )),
        "{stderr}"
    );
    let stderr = refused(
        "render",
        &example.replace("kind: Validator", "kind: Validators"),
    );
    assert!(
        stderr.contains("is a Validators, not a Validator"),
        "{stderr}"
    );
}

#[test]
fn render_refuses_two_validators_with_one_name() {
    let twice = format!("{}---\n{}", read(EXAMPLE), read(EXAMPLE));
    let stderr = refused("render", &twice);
    assert!(
        stderr.contains(&format!(
            "document 2 (line {}) is Validator validators/acme again (first in document 1, line 1)",
            second_document_line()
        )),
        "{stderr}"
    );
    // Another namespace is another Validator.
    let other = read(EXAMPLE).replace("namespace: validators", "namespace: other");
    render_stdin(SEED_ENV, &format!("{}---\n{other}", read(EXAMPLE)));
}

/// Each cause of an error is printed once (the KMS default's errors used to appear twice).
#[test]
fn an_error_is_printed_once() {
    let stderr = String::from_utf8(
        operator(&[(ENABLED_VAR, "true")])
            .args(["render", "-f", EXAMPLE])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone(),
    )
    .unwrap();
    for said_once in [
        "KMS default is unusable",
        "CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT is missing or empty",
        "CANTON_TOPOLOGY_KMS_VALUE is missing or empty",
    ] {
        assert_eq!(
            stderr.matches(said_once).count(),
            1,
            "{said_once}: {stderr}"
        );
    }
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// `crd | head`, `render | head`: the reader closes the pipe before the command writes; the command
/// ends quietly (exit 0, nothing on stderr) instead of panicking.
#[test]
fn a_closed_pipe_ends_quietly() {
    for args in [
        &["crd"][..],
        &["crd", "--reference"],
        &["render", "-f", EXAMPLE],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_canton-operator"))
            .args(args)
            .current_dir(crate_path(""))
            .env_remove(ENABLED_VAR)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before the first write
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}

// ---------------------------------------------------------------- releases below

#[test]
fn releases_below_lists_the_validators_of_a_file_under_a_release() {
    // README: `releases below VERSION -f FILE`.
    let out = operator(&[])
        .args(["releases", "below", "0.8.0", "-f", EXAMPLE])
        .assert()
        .code(1)
        .stderr("1 of 1 Validators below 0.8.0\n")
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let v = common::validator(EXAMPLE);
    let (ns, name) = (v.metadata.namespace.unwrap(), v.metadata.name.unwrap());
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAMESPACE", "NAME", "VERSION"],
            vec![ns.as_str(), name.as_str(), v.spec.version.as_str()]
        ]
    );
    operator(&[])
        .args(["releases", "below", "0.7.4", "-f", EXAMPLE])
        .assert()
        .success()
        .stdout("NAMESPACE  NAME  VERSION\n")
        .stderr("0 of 1 Validators below 0.7.4\n");
}

#[test]
fn releases_below_reads_a_stream_skips_other_kinds_and_prints_json() {
    let stream = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\n---\n{}---\n{}",
        read(EXAMPLE),
        read(EXAMPLE)
            .replace("version: \"0.7.4\"", "version: \"0.8.1\"")
            .replace("name: acme", "name: newer")
    );
    let out = operator(&[])
        .args(["releases", "below", "0.8.0", "-f", "-", "-o", "json"])
        .write_stdin(stream)
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let listed: Value = serde_json::from_slice(&out).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme"], "{listed}");
    operator(&[])
        .args(["releases", "below", "0.8", "-f", EXAMPLE])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a release number"));
}

#[test]
fn releases_below_against_a_cluster_says_when_it_cannot_reach_one() {
    // README: `releases below VERSION -n NS` / `--all-namespaces` (the listing itself is tested
    // against the fake API server in tests/controller_release.rs).
    for scope in [&["-n", "validators"][..], &["--all-namespaces"][..]] {
        operator(&[])
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .args(["releases", "below", "0.8.0"])
            .args(scope)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "error: connecting to the cluster",
            ));
    }
}

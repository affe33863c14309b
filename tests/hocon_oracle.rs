//! Every HOCON string the operator emits, read by Typesafe Config (what Canton reads it with).

mod common;

use std::cell::Cell;
use std::collections::BTreeMap;

use canton_operator::hocon;
use canton_operator::kms::{
    AwsKms, DriverKms, EnvelopeSettings, GcpKms, KMS_ENV_VAR, KMS_ENVELOPE_ENV_VAR, KmsMode,
    KmsProvider, kms_block, parse_kms_value, participant_env,
};
use common::typesafe::{self, assert_same_tree, same_tree};
use common::{
    CASES, EXAMPLE, SEED_ENV, SEED_PARTICIPANT_VALUE, SEED_SERVICE_ACCOUNT, accepted_values,
    additional_config, container, decision, env_value, pod_spec, rendered,
};
use k8s_openapi::api::core::v1::Container;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------- the seed, end to end

#[test]
fn seed_example_renders_the_seed_variable_byte_for_byte() {
    let objects = rendered(EXAMPLE, SEED_ENV);
    let participant = container(&objects.participant);
    assert_eq!(
        env_value(participant, KMS_ENV_VAR),
        Some(SEED_PARTICIPANT_VALUE)
    );
    assert_eq!(
        pod_spec(&objects.participant)
            .service_account_name
            .as_deref(),
        Some(SEED_SERVICE_ACCOUNT)
    );
    assert_eq!(pod_spec(&objects.validator_app).service_account_name, None);
    assert!(
        objects.service_account.is_none(),
        "the seed's ServiceAccount is externally managed"
    );
}

#[test]
fn seed_participant_config_reads_as_kms_provider_and_block() {
    let objects = rendered(EXAMPLE, SEED_ENV);
    let expected = json!({"canton": {"participants": {"participant": {"crypto": {
        "provider": "kms",
        "kms": {"type": "aws", "region": "eu-west-1", "audit-logging": true},
    }}}}});
    assert_eq!(container_tree(container(&objects.participant)), expected);
}

#[test]
fn participant_without_kms_gets_no_additional_config() {
    let objects = rendered(EXAMPLE, &[]);
    assert_eq!(additional_config(container(&objects.participant)), vec![]);
}

#[test]
fn validator_app_config_reads_as_the_splice_backend_settings() {
    for env in [&[][..], SEED_ENV] {
        let objects = rendered(EXAMPLE, env);
        let expected = json!({"canton": {"validator-apps": {"validator_backend": {
            "scan-client": {"type": "bft", "seed-urls": [
                "https://scan.sv-1.global.canton.network.example",
                "https://scan.sv-2.global.canton.network.example",
            ]},
            "domains": {"global": {"buy-extra-traffic": {
                "target-throughput": 20000,
                "min-topup-interval": "1m",
            }}},
            "storage": {"config": {"properties": {
                "databaseName": "cantonnet_validator",
                "currentSchema": "validator",
                "serverName": "postgres.validators.svc",
                "portNumber": 5432,
                "user": "cnadmin",
                "password": "secret:postgres-secrets/postgresPassword",
            }}},
            "enable-wallet": true,
            "validator-wallet-users": ["administrator"],
        }}}});
        assert_eq!(container_tree(container(&objects.validator_app)), expected);
    }
}

#[test]
fn validator_app_config_follows_its_spec() {
    let objects = rendered("tests/fixtures/no-kms.yaml", &[]);
    let expected = json!({"canton": {"validator-apps": {"validator_backend": {
        "scan-client": {"type": "bft", "seed-urls": ["https://scan.example"]},
        "domains": {"global": {"buy-extra-traffic": {
            "target-throughput": 20000,
            "min-topup-interval": "1m",
        }}},
        "storage": {"config": {"properties": {
            "databaseName": "cantonnet_validator",
            "currentSchema": "validator",
            "serverName": "pg.canton.svc",
            "portNumber": 5432,
            "user": "cnadmin",
            "password": "secret:plain-pg/password",
        }}},
        "enable-wallet": true,
    }}}});
    assert_eq!(container_tree(container(&objects.validator_app)), expected);
}

#[test]
fn validator_app_substitutions_need_its_own_variables() {
    let objects = rendered(EXAMPLE, &[]);
    let parts = additional_config(container(&objects.validator_app));
    let texts: Vec<&str> = parts.iter().map(|(_, v)| v.as_str()).collect();
    let err = typesafe::parse_parts(&texts, &[]).expect_err("substitutions without environment");
    assert!(err.contains("SPLICE_APP_"), "{err}");
}

#[test]
fn every_fixture_participant_reads_as_its_decision() {
    for case in CASES {
        let objects = rendered(case.file, case.env);
        let tree = container_tree(container(&objects.participant));
        let d = decision(case.file, case.env);
        let expected = match d.provider() {
            Some(provider) => expected_tree(&provider, d.kms.mode, d.kms.envelope.as_ref()),
            None => json!({}),
        };
        assert_same_tree(&tree, &expected, case.name);
    }
}

/// Typesafe Config's reading of a container's `ADDITIONAL_CONFIG*` variables, in name order, with
/// the container's own environment (Secret references stand for `secret:<name>/<key>`).
fn container_tree(c: &Container) -> Value {
    let parts = additional_config(c);
    let texts: Vec<&str> = parts.iter().map(|(_, v)| v.as_str()).collect();
    let env = container_env(c);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    typesafe::parse_parts(&texts, &env).unwrap_or_else(|e| panic!("{parts:?}: {e}"))
}

fn container_env(c: &Container) -> Vec<(String, String)> {
    c.env
        .iter()
        .flatten()
        .map(|v| {
            let secret = v
                .value_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref());
            let value = match (&v.value, secret) {
                (Some(value), _) => value.clone(),
                (None, Some(s)) => format!("secret:{}/{}", s.name, s.key),
                (None, None) => panic!("{} has neither value nor Secret", v.name),
            };
            (v.name.clone(), value)
        })
        .collect()
}

// ---------------------------------------------------------------- the KMS value, as Canton reads it

#[test]
fn accepted_values_mean_to_canton_what_they_mean_to_the_operator() {
    for (text, model) in accepted_values() {
        let provider = parse_kms_value(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(provider, model, "{text}");
        let emitted = hocon::render(&kms_block(&provider));
        assert_same_tree(&typesafe::tree(text), &expected_kms(&model), text);
        assert_same_tree(&typesafe::tree(&emitted), &expected_kms(&model), &emitted);
    }
}

/// A negative control: text pasted between quotes, as a naive writer would, is read as something
/// else entirely, so agreement in the tests above is not the oracle's doing.
#[test]
fn the_oracle_sees_what_naive_quoting_breaks() {
    let region = r#"eu-west-1", disable-ssl-verification = true, x = "y"#;
    let naive = format!(r#"{{ type = "aws", region = "{region}" }}"#);
    let model = common::aws(region, |_| ());
    assert_ne!(typesafe::tree(&naive), expected_kms(&model));
    assert_eq!(
        typesafe::tree(&hocon::render(&kms_block(&model))),
        expected_kms(&model)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever spelling of a KMS value the operator accepts, Canton reads as the operator's model.
    #[test]
    fn accepted_spellings_mean_the_same_to_canton(text in hocon_spelling()) {
        if let Ok(model) = parse_kms_value(&text) {
            let tree = typesafe::parse(&text)
                .map_err(|e| TestCaseError::fail(format!("accepted, but Canton refuses {text}: {e}")))?;
            let expected = expected_kms(&model);
            prop_assert!(same_tree(&tree, &expected), "{}\nCanton reads {:#}\noperator reads {:#}", text, tree, expected);
        }
    }
}

/// Where HOCON differs from JSON: bare words are text (`true-ish` too), and an integer literal
/// beyond 64 bits is text to Typesafe Config (`Long.parseLong` fails), so it must be to us.
#[test]
fn canton_reads_bare_words_and_long_integers_as_the_operator_does() {
    let text = "{ type = driver, name = d, config { a = true-ish, b = nullx, c = yes, d = e5, \
                e = NaN, f = off, g = 9223372036854775808, h = -0.5, i = 18446744073709551616 } }";
    let model = parse_kms_value(text).unwrap_or_else(|e| panic!("{e}"));
    let KmsProvider::Driver(DriverKms {
        config: Some(config),
        ..
    }) = &model
    else {
        panic!("{model:?}")
    };
    assert_eq!(config["a"], "true-ish");
    assert_eq!(config["g"], "9223372036854775808");
    assert_eq!(config["h"], -0.5);
    assert_same_tree(&typesafe::tree(text), &expected_kms(&model), text);
}

/// Generated driver values (numbers, bare words, nesting, separators, comments and near misses):
/// whatever the operator accepts, Canton reads as the operator's model. Fails if too few are
/// accepted to say anything.
#[test]
fn accepted_driver_values_mean_the_same_to_canton() {
    let mut runner = TestRunner::new(Config {
        cases: 2_048,
        failure_persistence: None,
        ..Config::default()
    });
    let (generated, accepted) = (Cell::new(0u32), Cell::new(0u32));
    let result = runner.run(&driver_spelling(), |text| {
        generated.set(generated.get() + 1);
        if let Ok(model) = parse_kms_value(&text) {
            accepted.set(accepted.get() + 1);
            let tree = typesafe::parse(&text).map_err(|e| {
                TestCaseError::fail(format!("accepted, but Canton refuses {text}: {e}"))
            })?;
            let expected = expected_kms(&model);
            prop_assert!(
                same_tree(&tree, &expected),
                "{}\nCanton reads {:#}\noperator reads {:#}",
                text,
                tree,
                expected
            );
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (generated, accepted) = (generated.get(), accepted.get());
    eprintln!("{accepted} of {generated} generated driver values accepted");
    assert!(
        accepted * 10 >= generated,
        "only {accepted} of {generated} accepted"
    );
    assert!(accepted < generated, "every generated value was accepted");
}

// ---------------------------------------------------------------- emit, then parse: property tests

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Typesafe Config reads the participant variable as exactly the model, whatever its strings hold.
    #[test]
    fn typesafe_config_reads_the_emitted_model(
        provider in provider(),
        (mode, envelope) in mode_and_envelope(),
    ) {
        let (name, text) = participant_env(&provider, mode, envelope.as_ref());
        let expected_name = match mode {
            KmsMode::External => KMS_ENV_VAR,
            KmsMode::Envelope => KMS_ENVELOPE_ENV_VAR,
        };
        prop_assert_eq!(name, expected_name);
        let tree = typesafe::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        let expected = expected_tree(&provider, mode, envelope.as_ref());
        prop_assert!(same_tree(&tree, &expected), "{}\nreads {:#}\nexpected {:#}", text, tree, expected);
    }

    /// The operator's own parser reads its own output back as the same model.
    #[test]
    fn own_parser_reads_the_emitted_block(provider in provider()) {
        let text = hocon::render(&kms_block(&provider));
        let parsed = parse_kms_value(&text).map_err(|e| TestCaseError::fail(format!("{text}\n{e}")))?;
        prop_assert_eq!(parsed, provider, "{}", text);
    }
}

/// The tree Canton must see: the seed's two lines in external mode, the wrapper settings in envelope mode.
fn expected_tree(
    provider: &KmsProvider,
    mode: KmsMode,
    envelope: Option<&EnvelopeSettings>,
) -> Value {
    let kms = expected_kms(provider);
    let crypto = match mode {
        KmsMode::External => json!({"provider": "kms", "kms": kms}),
        KmsMode::Envelope => {
            let mut encryption = json!({"type": "kms"});
            let settings = envelope.cloned().unwrap_or_default();
            put(&mut encryption, "wrapper-key-id", settings.wrapper_key_id);
            put(
                &mut encryption,
                "reverted",
                settings.reverted.then_some(true),
            );
            json!({"kms": kms, "private-key-store": {"encryption": encryption}})
        }
    };
    json!({"canton": {"participants": {"participant": {"crypto": crypto}}}})
}

/// Canton's `crypto.kms` keys for a model, written out independently of the emitter.
fn expected_kms(provider: &KmsProvider) -> Value {
    match provider {
        KmsProvider::Aws(a) => {
            let mut v = json!({"type": "aws", "region": a.region});
            put(&mut v, "multi-region-key", a.multi_region_key);
            put(&mut v, "audit-logging", a.audit_logging);
            put(&mut v, "endpoint-override", a.endpoint_override.clone());
            put(
                &mut v,
                "disable-ssl-verification",
                a.disable_ssl_verification,
            );
            put(&mut v, "custom-tags", a.custom_tags.clone());
            v
        }
        KmsProvider::Gcp(g) => {
            let mut v = json!({"type": "gcp", "location-id": g.location_id,
                "project-id": g.project_id, "key-ring-id": g.key_ring_id});
            put(&mut v, "audit-logging", g.audit_logging);
            put(&mut v, "endpoint-override", g.endpoint_override.clone());
            v
        }
        KmsProvider::Driver(d) => {
            let mut v = json!({"type": "driver", "name": d.name});
            put(&mut v, "config", d.config.clone());
            put(&mut v, "health-check-period", d.health_check_period.clone());
            v
        }
    }
}

fn put<T: serde::Serialize>(object: &mut Value, key: &str, value: Option<T>) {
    if let Some(value) = value {
        object[key] = serde_json::to_value(value).expect("serializable");
    }
}

// ---------------------------------------------------------------- generators

/// Text built from pieces that break naive HOCON writers, plus any character at all.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => prop::sample::select(vec![
            "\"", "\"\"\"", "}", "{", "]", "#", "//", "${HOME}", "${?X}", "\n", "\r\n", "\t", "\\",
            "\\u0041", " = ", ": ", ", ", ".", "include \"x\"", "+=", "é", "日本", "🎉",
            "\u{2028}", "\u{0}", "\u{1b}", "\u{7f}", "\u{feff}", " ",
        ])
        .prop_map(str::to_string),
        2 => "[a-zA-Z0-9._-]{1,8}",
        1 => any::<char>().prop_map(String::from),
    ];
    vec(piece, 0..6).prop_map(|pieces| pieces.concat())
}

fn provider() -> impl Strategy<Value = KmsProvider> {
    prop_oneof![
        aws().prop_map(KmsProvider::Aws),
        gcp().prop_map(KmsProvider::Gcp),
        driver().prop_map(KmsProvider::Driver),
    ]
}

fn aws() -> impl Strategy<Value = AwsKms> {
    (
        hostile_text(),
        any::<Option<bool>>(),
        any::<Option<bool>>(),
        proptest::option::of(hostile_text()),
        any::<Option<bool>>(),
        proptest::option::of(btree_map(hostile_text(), hostile_text(), 0..4)),
    )
        .prop_map(
            |(region, multi_region_key, audit_logging, endpoint_override, ssl, tags)| AwsKms {
                region,
                multi_region_key,
                audit_logging,
                endpoint_override,
                disable_ssl_verification: ssl,
                custom_tags: tags,
            },
        )
}

fn gcp() -> impl Strategy<Value = GcpKms> {
    (
        hostile_text(),
        hostile_text(),
        hostile_text(),
        any::<Option<bool>>(),
        proptest::option::of(hostile_text()),
    )
        .prop_map(
            |(location_id, project_id, key_ring_id, audit_logging, endpoint_override)| GcpKms {
                location_id,
                project_id,
                key_ring_id,
                audit_logging,
                endpoint_override,
            },
        )
}

fn driver() -> impl Strategy<Value = DriverKms> {
    (
        hostile_text(),
        proptest::option::of(json_object(json_value())),
        proptest::option::of(hostile_text()),
    )
        .prop_map(|(name, config, health_check_period)| DriverKms {
            name,
            config,
            health_check_period,
            ..DriverKms::default()
        })
}

/// Free-form driver configuration: nested objects and lists of every JSON type.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        hostile_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            json_object(inner).prop_map(Value::Object),
        ]
    })
}

fn json_object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Map<String, Value>> {
    btree_map(hostile_text(), values, 0..4)
        .prop_map(|m: BTreeMap<String, Value>| m.into_iter().collect())
}

fn mode_and_envelope() -> impl Strategy<Value = (KmsMode, Option<EnvelopeSettings>)> {
    let settings = (proptest::option::of(hostile_text()), any::<bool>()).prop_map(
        |(wrapper_key_id, reverted)| EnvelopeSettings {
            wrapper_key_id,
            reverted,
        },
    );
    prop_oneof![
        Just((KmsMode::External, None)),
        proptest::option::of(settings).prop_map(|e| (KmsMode::Envelope, e)),
    ]
}

/// Keys of an AWS value, each with spellings of plausible values (some that HOCON reads in a
/// surprising way, some that are wrong).
const SPELLINGS: &[(&str, &[&str])] = &[
    (
        "region",
        &[
            r#""eu-west-1""#,
            "eu-west-1",
            r#""""eu-west-1""""#,
            r#""eu" "-west-1""#,
            "eu west 1",
            "eu-west-1 # c",
        ],
    ),
    ("\"region\"", &[r#""eu-west-1""#, "eu-west-1"]),
    (
        "audit-logging",
        &["true", "false", r#""true""#, "yes", "on", "null", "1"],
    ),
    ("multi-region-key", &["true", "false", "true // c"]),
    ("disable-ssl-verification", &["false", "true", "tr ue"]),
    (
        "endpoint-override",
        &[
            r#""https://k.example/x""#,
            r#""https://k.example/x?a=${b}#c""#,
            "https://k.example/x",
            r#""""https://k.example/"x"""""#,
            r#""a\"b""#,
            r#""\u0041""#,
            r#""""#,
            "${?X}",
        ],
    ),
    (
        "custom-tags",
        &[
            r#"{ team = "x" }"#,
            r#"{ "a b" = "}", c: d }"#,
            "{}",
            r#"{ "k.x" = "v # w" }"#,
            r#"{ a = "1", a = "1" }"#,
            r#"{ a = "1" } { b = "2" }"#,
            r#"["x"]"#,
        ],
    ),
    ("type", &[r#""aws""#, "aws", r#""gcp""#]),
    ("region.x", &[r#""y""#]),
    ("\"a.b\"", &[r#""y""#]),
];

/// KMS values spelled in the ways HOCON allows and a few it does not: separators, quoting,
/// comments, concatenations, duplicates, nested objects.
fn hocon_spelling() -> impl Strategy<Value = String> {
    let field = (
        prop::sample::select(SPELLINGS),
        prop::sample::select(vec![" = ", ": ", "=", " : ", " "]),
        any::<prop::sample::Index>(),
    )
        .prop_map(|((key, values), separator, i)| format!("{key}{separator}{}", i.get(values)));
    let between = prop::sample::select(vec![
        ", ", "\n", ",\n", " # c }\n", " // c\n", ",", "  \r\n",
    ]);
    let fields = vec((field, between.clone()), 0..5);
    let region = prop::sample::select(vec![r#"region = "eu-west-1""#, "region: eu-west-1"]);
    let ending = prop::sample::select(vec!["}", " }", "\n}", ", }", "} # c", "}\n"]);
    (region, between, fields, ending).prop_map(|(region, sep, fields, ending)| {
        let rest: String = fields.into_iter().map(|(f, s)| format!("{f}{s}")).collect();
        format!("{{ type = aws{sep}{region}{sep}{rest}{ending}")
    })
}

const CONFIG_KEYS: &[&str] = &[
    "a", "b-c", "x_1", "slots", "true", "null", "yes", "include", "a.b", "\"q\"", "\"a.b\"", "_u",
    "1a", "a b", "a-", "e1", "NaN",
];

/// Scalars HOCON readers may read differently from JSON, or not at all.
const CONFIG_SCALARS: &[&str] = &[
    "\"aws\"",
    "driver",
    "eu-west-1",
    "true",
    "false",
    "null",
    "yes",
    "off",
    "0",
    "-0",
    "01",
    "-42",
    "1.5",
    "-2.25",
    "0.1000000000000000055511151231257827",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "123456789012345678901234567890",
    "1e5",
    "1E-3",
    "1.",
    ".5",
    "30s",
    "1-2",
    "Infinity",
    "NaN",
    "\"\"",
    "\"a b\"",
    "\"x\\ty\"",
    "\"é ü\"",
    "\"${x}\"",
    "\"#not a comment\"",
    "a b",
    "\"a\" \"b\"",
    "${x}",
    "include",
    "\"\"\"t\"\"\"",
    "a.b",
    "a/b",
    "true-ish",
    "nullx",
    "TRUE",
    "e5",
    "x--y",
];

const CONFIG_SEPARATORS: &[&str] = &[
    ", ", ",", "\n", ",\n", " \n ", "\r\n", " ", ", ,", "\n,", " # c\n", " // c\n",
];

const CONFIG_ASSIGN: &[&str] = &[" = ", "=", ": ", "", " += "];

fn config_value(depth: u32) -> BoxedStrategy<String> {
    let scalar = prop::sample::select(CONFIG_SCALARS).prop_map(str::to_string);
    if depth == 0 {
        return scalar.boxed();
    }
    prop_oneof![
        4 => scalar,
        1 => config_object(depth - 1),
        1 => bracketed(config_value(depth - 1), &["[", "[\n"], &["]", " ]", "\n]", ",]"]),
    ]
    .boxed()
}

/// Elements joined by generated separators, in generated brackets.
fn bracketed(
    element: BoxedStrategy<String>,
    open: &'static [&'static str],
    close: &'static [&'static str],
) -> BoxedStrategy<String> {
    (
        prop::sample::select(open),
        vec((element, prop::sample::select(CONFIG_SEPARATORS)), 0..4),
        prop::sample::select(close),
    )
        .prop_map(|(open, items, close)| {
            let last = items.len().saturating_sub(1);
            let body: String = items
                .into_iter()
                .enumerate()
                .map(|(i, (item, sep))| if i < last { item + sep } else { item })
                .collect();
            format!("{open}{body}{close}")
        })
        .boxed()
}

fn config_object(depth: u32) -> BoxedStrategy<String> {
    let field = (
        prop::sample::select(CONFIG_KEYS),
        prop::sample::select(CONFIG_ASSIGN),
        config_value(depth),
    )
        .prop_map(|(key, assign, value)| format!("{key}{assign}{value}"))
        .boxed();
    bracketed(field, &["{", "{\n"], &["}", " }", "\n}", ",}"])
}

/// A driver value whose free-form `config` holds the generated text.
fn driver_spelling() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "type = driver, name = d",
            "type = \"driver\"\nname = \"d\"",
        ]),
        prop::sample::select(CONFIG_SEPARATORS),
        prop::sample::select(vec!["config = ", "config ", "config: "]),
        config_object(2),
        prop::sample::select(vec!["}", " }", "\n}", "} # c", "}\n"]),
    )
        .prop_map(|(head, sep, assign, config, close)| {
            format!("{{ {head}{sep}{assign}{config}{close}")
        })
}

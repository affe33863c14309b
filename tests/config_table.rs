//! The operator's environment and `CANTON_TOPOLOGY_KMS_VALUE`: what is refused, with which message,
//! and what is accepted, as which model.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use canton_operator::config::{
    ConfigError, ENABLED_VAR, KmsDefault, OperatorConfig, SERVICE_ACCOUNT_VAR, VALUE_VAR,
};
use canton_operator::decision::resolve;
use canton_operator::kms::{KmsProvider, MAX_VALUE_BYTES, parse_kms_value};
use common::{EXAMPLE, SEED_SERVICE_ACCOUNT, SEED_VALUE, accepted_values, aws, config, validator};

// ---------------------------------------------------------------- the three variables

/// The seed's variables with `value` and `service_account` in place of its own.
fn enabled_with<'a>(
    value: Option<&'a str>,
    service_account: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut env = vec![(ENABLED_VAR, "true")];
    env.extend(value.map(|v| (VALUE_VAR, v)));
    env.extend(service_account.map(|s| (SERVICE_ACCOUNT_VAR, s)));
    env
}

/// Refused: the first error names every fragment, and a validator without `spec.kms` shows `reason`.
fn assert_refused(env: &[(&str, &str)], reason: &str, fragments: &[&str]) {
    let cfg = config(env);
    assert_refused_config(&cfg, reason, fragments, &format!("{env:?}"));
}

fn assert_refused_config(cfg: &OperatorConfig, reason: &str, fragments: &[&str], case: &str) {
    let first = cfg
        .errors()
        .first()
        .unwrap_or_else(|| panic!("{case} was accepted: {:?}", cfg.kms_default));
    let message = first.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "{case}: `{message}` lacks `{fragment}`"
        );
    }
    let refused = resolve(&validator(EXAMPLE).spec, &cfg.kms_default)
        .expect_err("a validator that needs the default is refused");
    assert_eq!(refused.reason(), reason, "{case}: {refused}");
    assert!(refused.to_string().contains(&message), "{case}: {refused}");
}

#[test]
fn service_account_missing_empty_or_blank_is_refused() {
    for sa in [None, Some(""), Some("   "), Some("\t\n")] {
        assert_refused(
            &enabled_with(Some(SEED_VALUE), sa),
            "KmsServiceAccountMissing",
            &[SERVICE_ACCOUNT_VAR, "missing or empty"],
        );
    }
}

#[test]
fn value_missing_or_blank_is_refused() {
    for value in [None, Some(""), Some("  \n ")] {
        assert_refused(
            &enabled_with(value, Some(SEED_SERVICE_ACCOUNT)),
            "KmsValueMissing",
            &[VALUE_VAR, "missing or empty"],
        );
    }
}

#[test]
fn both_missing_reports_both_service_account_first() {
    let cfg = config(&enabled_with(None, None));
    assert_eq!(
        cfg.errors(),
        &[
            ConfigError::MissingServiceAccount,
            ConfigError::MissingValue
        ]
    );
}

#[test]
fn enabled_must_be_true_or_false() {
    for value in ["yes", "1", "on", "enabled", "tru e"] {
        assert_refused(
            &[
                (ENABLED_VAR, value),
                (VALUE_VAR, SEED_VALUE),
                (SERVICE_ACCOUNT_VAR, SEED_SERVICE_ACCOUNT),
            ],
            "KmsConfigInvalid",
            &[ENABLED_VAR, &format!("`{value}`"), "true or false"],
        );
    }
}

#[test]
fn service_account_must_be_a_kubernetes_name() {
    for sa in [
        "Catalyst-KMS",
        "catalyst_kms",
        "-kms",
        "kms-",
        "a..b",
        "kms sa",
        &"a".repeat(254),
    ] {
        let env = [
            (ENABLED_VAR, "true"),
            (VALUE_VAR, SEED_VALUE),
            (SERVICE_ACCOUNT_VAR, sa),
        ];
        assert_refused(
            &env,
            "KmsConfigInvalid",
            &[SERVICE_ACCOUNT_VAR, "not a valid Kubernetes name"],
        );
    }
}

#[test]
fn non_unicode_variables_are_refused_by_name() {
    for var in [ENABLED_VAR, VALUE_VAR, SERVICE_ACCOUNT_VAR] {
        let cfg = OperatorConfig::from_lookup(|name| {
            if name == var {
                Some(OsString::from_vec(b"true\xff".to_vec()))
            } else {
                common::lookup(&enabled_with(Some(SEED_VALUE), Some(SEED_SERVICE_ACCOUNT)))(name)
            }
        });
        assert_refused_config(&cfg, "KmsConfigInvalid", &[var, "not valid UTF-8"], var);
    }
}

#[test]
fn field_checks_name_the_variable_and_the_field() {
    let env = enabled_with(
        Some(r#"{ type = "aws", region = "EU West 1" }"#),
        Some(SEED_SERVICE_ACCOUNT),
    );
    assert_refused(
        &env,
        "KmsConfigInvalid",
        &[VALUE_VAR, "kms.aws.region", "`EU West 1`"],
    );
}

#[test]
fn enabled_spellings_are_case_insensitive_and_trimmed() {
    for enabled in ["true", "TRUE", "True", " true\n"] {
        let env = [
            (ENABLED_VAR, enabled),
            (VALUE_VAR, SEED_VALUE),
            (SERVICE_ACCOUNT_VAR, " catalyst-canton-kms "),
        ];
        assert_eq!(
            config(&env).kms_default,
            KmsDefault::Enabled {
                provider: aws("eu-west-1", |a| a.audit_logging = Some(true)),
                service_account: SEED_SERVICE_ACCOUNT.to_string(),
            },
            "{enabled:?}"
        );
    }
}

#[test]
fn disabled_ignores_the_other_variables() {
    let garbage = [
        (VALUE_VAR, "} not hocon {"),
        (SERVICE_ACCOUNT_VAR, "Not_A_Name"),
    ];
    for enabled in [
        None,
        Some(""),
        Some("false"),
        Some("FALSE"),
        Some(" False "),
    ] {
        let mut env = garbage.to_vec();
        env.extend(enabled.map(|e| (ENABLED_VAR, e)));
        assert_eq!(
            config(&env).kms_default,
            KmsDefault::Disabled,
            "{enabled:?}"
        );
    }
}

// ---------------------------------------------------------------- the KMS value

/// Refused by the parser, and by the operator with the variable's name first; every fragment shown.
fn assert_value_refused(text: &str, fragments: &[&str]) {
    let error = parse_kms_value(text).expect_err(text).to_string();
    for fragment in fragments {
        assert!(
            error.contains(fragment),
            "{text}\n`{error}` lacks `{fragment}`"
        );
    }
    let cfg = config(&enabled_with(Some(text), Some(SEED_SERVICE_ACCOUNT)));
    let reason = if text.trim().is_empty() {
        "KmsValueMissing"
    } else {
        "KmsConfigInvalid"
    };
    assert_refused_config(&cfg, reason, &[VALUE_VAR], text);
}

const AWS: &str = r#"type = "aws", region = "eu-west-1""#;

/// `{ <AWS>, <extra> }`.
fn aws_with(extra: &str) -> String {
    format!("{{ {AWS}, {extra} }}")
}

#[test]
fn unknown_keys_and_types_are_refused_by_name() {
    assert_value_refused(
        &aws_with("key-id = \"x\""),
        &["`key-id`", "AWS", "known: type, region"],
    );
    assert_value_refused(&aws_with("provider = kms"), &["`provider`"]);
    assert_value_refused(
        r#"{ type = "gcp", location-id = "global", project-id = "acme-canton", key-ring-id = "r", region = "x" }"#,
        &["`region`", "GCP"],
    );
    assert_value_refused(
        r#"{ type = "azure", vault = "v" }"#,
        &["type = \"azure\"", "\"aws\", \"gcp\" and \"driver\""],
    );
    assert_value_refused(r#"{ type = "AWS", region = "eu-west-1" }"#, &["\"AWS\""]);
    assert_value_refused(r#"{ region = "eu-west-1" }"#, &["no `type`"]);
    assert_value_refused("{}", &["no `type`"]);
}

#[test]
fn missing_required_keys_are_named() {
    assert_value_refused(r#"{ type = "aws" }"#, &["lacks `region`", "AWS"]);
    assert_value_refused(
        r#"{ type = "gcp", location-id = "global", project-id = "acme-canton" }"#,
        &["lacks `key-ring-id`", "GCP"],
    );
    assert_value_refused(
        r#"{ type = "driver", config = {} }"#,
        &["lacks `name`", "driver"],
    );
}

#[test]
fn wrong_types_are_named() {
    for (text, key, expected) in [
        (
            r#"{ type = "aws", region = 1 }"#.to_string(),
            "`region`",
            "a string",
        ),
        (
            r#"{ type = "aws", region = ["eu-west-1"] }"#.to_string(),
            "`region`",
            "a string",
        ),
        (
            r#"{ type = "aws", region = { a = 1 } }"#.to_string(),
            "`region`",
            "a string",
        ),
        (
            r#"{ type = true, region = "eu-west-1" }"#.to_string(),
            "`type`",
            "a string",
        ),
        (
            aws_with(r#"audit-logging = "true""#),
            "`audit-logging`",
            "true or false",
        ),
        (
            aws_with("audit-logging = yes"),
            "`audit-logging`",
            "true or false",
        ),
        (
            aws_with("multi-region-key = 1"),
            "`multi-region-key`",
            "true or false",
        ),
        (
            aws_with(r#"custom-tags = ["a"]"#),
            "`custom-tags`",
            "an object of strings",
        ),
        (
            aws_with("custom-tags = { team = 1 }"),
            "`custom-tags.team`",
            "a string",
        ),
        (
            r#"{ type = "driver", name = "d", config = "x" }"#.to_string(),
            "`config`",
            "an object",
        ),
        (
            r#"{ type = "driver", name = "d", config = [1] }"#.to_string(),
            "`config`",
            "an object",
        ),
    ] {
        assert_value_refused(&text, &[key, expected]);
    }
}

#[test]
fn includes_are_refused() {
    for include in [
        r#"include "x""#,
        r#"include file("/etc/passwd")"#,
        r#"include url("http://169.254.169.254/latest/meta-data")"#,
        r#"include classpath("application.conf")"#,
        r#"include required(file("/etc/passwd"))"#,
    ] {
        assert_value_refused(&aws_with(include), &["include"]);
        assert_value_refused(&format!("{{ {include}\n{AWS} }}"), &["include"]);
    }
    assert_value_refused(r#"include "x""#, &["single HOCON object in braces"]);
}

#[test]
fn substitutions_are_refused_with_their_position() {
    assert_value_refused(
        r#"{ type = "aws", region = ${HOME} }"#,
        &["substitution", "line 1, column 26"],
    );
    assert_value_refused(&aws_with("endpoint-override = ${?X}"), &["substitution"]);
    assert_value_refused(
        r#"{ type = "aws", region = "eu-"${?R} }"#,
        &["substitution"],
    );
    assert_value_refused(
        "{\n  type = \"aws\"\n  region = ${AWS_REGION}\n}",
        &["substitution", "line 3"],
    );
    assert_value_refused(
        &aws_with("custom-tags { home = ${HOME} }"),
        &["substitution"],
    );
}

#[test]
fn text_after_the_object_is_refused() {
    for tail in [
        " canton.foo = 1",
        "\ncanton.participants.participant.crypto.provider = jce",
        r#" { type = "gcp" }"#,
        " }",
        ",",
        " x",
    ] {
        assert_value_refused(
            &format!("{{ {AWS} }}{tail}"),
            &["text after the closing brace"],
        );
    }
}

#[test]
fn dotted_keys_are_refused_by_name() {
    assert_value_refused(
        &aws_with("crypto.provider = jce"),
        &["dotted key `crypto.provider`"],
    );
    assert_value_refused(
        &aws_with(r#"custom-tags.team = "x""#),
        &["dotted key `custom-tags.team`"],
    );
    assert_value_refused(
        &aws_with(r#"custom-tags { a.b = "x" }"#),
        &["dotted key `a.b`"],
    );
    assert_value_refused(
        r#"{ type = "driver", name = "d", config { a.b = 1 } }"#,
        &["dotted key `a.b`"],
    );
}

#[test]
fn duplicates_must_agree() {
    assert_value_refused(
        &aws_with(r#"region = "us-east-1""#),
        &["defines `region` twice"],
    );
    assert_value_refused(
        r#"{ type = "aws", type = "gcp", region = "eu-west-1" }"#,
        &["defines `type` twice"],
    );
    // HOCON would merge these two objects; the operator does not guess.
    assert_value_refused(
        &aws_with(r#"custom-tags { a = "1" }, custom-tags { b = "2" }"#),
        &["defines `custom-tags` twice"],
    );
    assert_eq!(
        parse_kms_value(&aws_with(r#"region = "eu-west-1", region = eu-west-1"#)),
        Ok(aws("eu-west-1", |_| ()))
    );
}

#[test]
fn appends_are_refused() {
    assert_value_refused(
        &aws_with(r#"custom-tags += { a = "b" }"#),
        &["`+=`", "`custom-tags`"],
    );
    assert_value_refused(&aws_with("region += \"x\""), &["`+=`", "`region`"]);
}

#[test]
fn comments_cannot_close_or_hide_the_object() {
    // A `}` inside a comment closes nothing: the object is unterminated.
    assert_value_refused(&format!("{{ {AWS} # }}"), &["not valid HOCON"]);
    assert_value_refused(&format!("{{ {AWS} // }}"), &["not valid HOCON"]);
    // A comment ends at the line's end: what follows is content, and is refused as such.
    assert_value_refused(
        &format!("{{ {AWS} }} # comment\ncanton.x = 1"),
        &["text after the closing brace", "line 2"],
    );
    // HOCON has no block comments.
    assert_value_refused(&format!("{{ {AWS} /* }} */ }}"), &["not valid HOCON"]);
}

#[test]
fn control_characters_are_refused_by_code_point() {
    for (c, code) in [
        ('\0', "U+0000"),
        ('\u{1b}', "U+001B"),
        ('\u{7f}', "U+007F"),
        ('\u{85}', "U+0085"),
    ] {
        assert_value_refused(
            &format!(r#"{{ type = "aws", region = "eu-west-1{c}" }}"#),
            &[code],
        );
    }
    // Tabs, newlines and carriage returns are layout, not content.
    assert!(parse_kms_value("{\r\n\ttype = \"aws\"\r\n\tregion = \"eu-west-1\"\r\n}").is_ok());
}

#[test]
fn oversized_values_are_refused_before_parsing() {
    let tags: String = (0..2000).map(|i| format!("t{i} = \"v\", ")).collect();
    let text = aws_with(&format!("custom-tags {{ {tags} }}"));
    assert!(text.len() > MAX_VALUE_BYTES);
    assert_value_refused(
        &text,
        &[
            &format!("{} bytes long", text.len()),
            &format!("at most {MAX_VALUE_BYTES}"),
        ],
    );
    let commented = format!("{SEED_VALUE} # {}", "x".repeat(MAX_VALUE_BYTES));
    assert_value_refused(&commented, &["bytes long"]);
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let depth = (MAX_VALUE_BYTES - 100) / 4;
    let nested = format!("{}1{}", "{a=".repeat(depth), "}".repeat(depth));
    let text = format!(r#"{{ type = "driver", name = "d", config = {{ x = {nested} }} }}"#);
    assert!(text.len() <= MAX_VALUE_BYTES);
    // Run on a small stack, as a controller worker thread would, so an unbounded recursion shows.
    let result = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || parse_kms_value(&text).map_err(|e| e.to_string()))
        .expect("thread")
        .join()
        .expect("parser did not overflow its stack");
    let error = result.expect_err("a config nested thousands deep");
    assert!(error.contains("not valid HOCON"), "{error}");
}

#[test]
fn non_object_roots_are_refused() {
    for text in [
        "[1, 2]",
        r#""aws""#,
        "aws",
        "type = \"aws\", region = \"eu-west-1\"",
        "null",
        "42",
    ] {
        assert_value_refused(text, &["single HOCON object in braces"]);
    }
    assert_value_refused("", &["is empty"]);
    assert_value_refused(" \n\t", &["is empty"]);
}

#[test]
fn accepted_values_parse_to_their_model() {
    for (text, model) in accepted_values() {
        assert_eq!(parse_kms_value(text), Ok(model.clone()), "{text}");
        assert_eq!(
            config(&enabled_with(Some(text), Some(SEED_SERVICE_ACCOUNT))).kms_default,
            KmsDefault::Enabled {
                provider: model,
                service_account: SEED_SERVICE_ACCOUNT.to_string()
            },
            "{text}"
        );
    }
}

#[test]
fn a_quoted_substitution_is_plain_text() {
    let text = aws_with(r#"custom-tags { "${HOME}" = "${?X}" }"#);
    let Ok(KmsProvider::Aws(a)) = parse_kms_value(&text) else {
        panic!("{text}")
    };
    assert_eq!(
        a.custom_tags.unwrap().get("${HOME}").map(String::as_str),
        Some("${?X}")
    );
}

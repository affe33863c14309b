//! The plain KMS value reader against `hocon-parser`: whatever the plain reader accepts, the
//! general HOCON path must read to the same model (or refuse with the same error).
//!
//! Texts are generated from the plain spelling plus its near misses (comments, escapes, dotted and
//! quoted keys, trailing commas, concatenations, numbers HOCON reads differently from JSON), so
//! both sides of the plain reader's border are exercised. What the plain reader takes is also
//! held against Typesafe Config, the library Canton reads the value with.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::Path;

mod common;

use canton_operator::hocon::render;
use canton_operator::kms::{kms_block, readers};
use common::typesafe;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Asserts agreement where the plain reader answers; says whether it did.
fn agree(text: &str) -> bool {
    match readers::plain(text) {
        Some(plain) => {
            let general = readers::hocon(text);
            assert_eq!(plain, general, "the readers disagree on {text:?}");
            // Same model, and the same text for the participant (field order included).
            if let (Ok(plain), Ok(general)) = (&plain, &general) {
                assert_eq!(
                    render(&kms_block(plain)),
                    render(&kms_block(general)),
                    "{text:?}"
                );
            }
            true
        }
        None => false,
    }
}

#[test]
fn the_readers_agree_on_the_fuzz_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/kms_value");
    let mut read = 0;
    let mut plain = 0;
    for entry in std::fs::read_dir(&dir).expect("the committed fuzz corpus") {
        let bytes = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        read += 1;
        plain += usize::from(agree(&text));
    }
    // The corpus holds both spellings; a plain reader that declines everything proves nothing.
    assert!(read >= 100, "only {read} corpus inputs");
    assert!(
        plain >= 5,
        "the plain reader took only {plain} of {read} inputs"
    );
    assert!(plain < read, "the plain reader took every input");
}

#[test]
fn the_plain_reader_takes_the_documented_examples() {
    for text in [
        r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#,
        "{\n  type = gcp\n  location-id = europe-west1\n  project-id = \"acme-canton\"\n  key-ring-id: canton\n}",
        r#"{ type = "driver", name = "acme-hsm", config = { slots = [1, 2], backoff = 1.5, tls { enabled = true } } }"#,
    ] {
        assert!(agree(text), "declined {text:?}");
        assert!(readers::hocon(text).is_ok(), "{text}");
    }
}

#[test]
fn canton_reads_bare_words_as_the_plain_reader_does() {
    let text = "{ type = driver, name = d, config { a = true-ish, b = nullx, c = yes, d = e5, \
                e = NaN, f = off, g = 9223372036854775808, h = -0.5 } }";
    let tree = readers::plain_tree(text).expect("plain spelling");
    assert_eq!(tree["config"]["a"], "true-ish");
    assert_eq!(tree["config"]["g"], "9223372036854775808");
    canton_reads_what_the_plain_reader_reads([text.to_string()].iter());
    agree(text);
}

const KEYS: &[&str] = &[
    "a", "b-c", "x_1", "slots", "tls", "true", "null", "yes", "include", "a.b", "\"q\"", "\"a.b\"",
    "_u", "1a", "a b", "a-", "e1", "NaN",
];

const SCALARS: &[&str] = &[
    "\"aws\"",
    "driver",
    "\"eu-west-1\"",
    "eu-west-1",
    "true",
    "false",
    "null",
    "yes",
    "off",
    "0",
    "-0",
    "01",
    "7",
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
    "-.5",
    "30s",
    "1-2",
    "Infinity",
    "NaN",
    "-",
    "\"\"",
    "\"a b\"",
    "\"x\\ty\"",
    "\"é ü\"",
    "\"${x}\"",
    "\"#not a comment\"",
    "\"// nor this\"",
    "a b",
    "\"a\" \"b\"",
    "\"a\"b",
    "${x}",
    "${?X}",
    "include",
    "\"\"\"t\"\"\"",
    "a.b",
    "a/b",
    "a+b",
    "true-ish",
    "nullx",
    "TRUE",
    "fALSE",
    "e5",
    "a-",
    "x--y",
    "on_off",
];

const SEPARATORS: &[&str] = &[
    ", ", ",", "\n", ",\n", " \n ", "\r\n", "\n\n", " ", ", ,", "\n,", " # c\n", " // c\n", ";",
];

const ASSIGN: &[&str] = &[" = ", "=", ": ", " : ", "", " += "];

fn value(depth: u32) -> BoxedStrategy<String> {
    let scalar = prop::sample::select(SCALARS).prop_map(str::to_string);
    if depth == 0 {
        return scalar.boxed();
    }
    prop_oneof![
        4 => scalar,
        1 => object(depth - 1),
        1 => array(depth - 1),
    ]
    .boxed()
}

/// Elements joined by generated separators, in generated brackets.
fn list(
    element: BoxedStrategy<String>,
    open: &'static [&'static str],
    close: &'static [&'static str],
) -> BoxedStrategy<String> {
    (
        prop::sample::select(open),
        prop::collection::vec((element, prop::sample::select(SEPARATORS)), 0..4),
        prop::sample::select(close),
    )
        .prop_map(|(open, items, close)| {
            let last = items.len().saturating_sub(1);
            let body: String = items
                .into_iter()
                .enumerate()
                .map(|(i, (item, sep))| {
                    if i < last {
                        format!("{item}{sep}")
                    } else {
                        item
                    }
                })
                .collect();
            format!("{open}{body}{close}")
        })
        .boxed()
}

fn field(depth: u32) -> BoxedStrategy<String> {
    (
        prop::sample::select(KEYS),
        prop::sample::select(ASSIGN),
        value(depth),
    )
        .prop_map(|(key, assign, value)| format!("{key}{assign}{value}"))
        .boxed()
}

fn object(depth: u32) -> BoxedStrategy<String> {
    list(
        field(depth),
        &["{", "{ ", "{\n"],
        &["}", " }", "\n}", ",}", ", }"],
    )
}

fn array(depth: u32) -> BoxedStrategy<String> {
    list(value(depth), &["[", "[ ", "[\n"], &["]", " ]", "\n]", ",]"])
}

/// A KMS value: a provider's required fields, then generated ones, with generated layout.
fn kms_value() -> impl Strategy<Value = String> {
    let head = prop::sample::select(vec![
        "type = driver, name = d",
        "type = \"driver\"\nname = \"d\"",
        "type = aws, region = eu-west-1",
        "type = gcp, location-id = l, project-id = p, key-ring-id = k",
        "type = \"aws\"",
        "",
    ]);
    let extra = prop::sample::select(vec![
        "config",
        "custom-tags",
        "tls",
        "region",
        "name",
        "type",
        "audit-logging",
    ]);
    let fields = prop::collection::vec(
        prop_oneof![
            (extra, prop::sample::select(ASSIGN), value(2))
                .prop_map(|(k, a, v)| format!("{k}{a}{v}")),
            field(2),
        ],
        0..4,
    );
    (
        prop::sample::select(vec!["", " ", "\n", "\u{feff}"]),
        head,
        fields,
        prop::sample::select(SEPARATORS),
        prop::sample::select(vec!["}", " }", "\n}", ",}", "} x", "}\n", "} # c", "}}"]),
    )
        .prop_map(|(lead, head, fields, sep, close)| {
            let mut parts: Vec<String> = Vec::new();
            if !head.is_empty() {
                parts.push(head.to_string());
            }
            parts.extend(fields);
            format!("{lead}{{ {}{close}", parts.join(sep))
        })
}

#[test]
fn the_plain_reader_agrees_with_hocon_parser() {
    let mut runner = TestRunner::new(Config {
        cases: 16_384,
        failure_persistence: None,
        ..Config::default()
    });
    let (generated, taken) = (Cell::new(0u32), Cell::new(0u32));
    let plain_texts = RefCell::new(BTreeSet::new());
    let result = runner.run(&kms_value(), |text| {
        generated.set(generated.get() + 1);
        if agree(&text) {
            taken.set(taken.get() + 1);
            plain_texts.borrow_mut().insert(text);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Both sides of the border are exercised, or the agreement above says little.
    let (generated, taken) = (generated.get(), taken.get());
    eprintln!("plain reader took {taken} of {generated} generated values");
    assert!(
        taken * 20 >= generated,
        "plain reader took {taken} of {generated}"
    );
    assert!(
        taken * 2 <= generated,
        "plain reader took {taken} of {generated}"
    );
    canton_reads_what_the_plain_reader_reads(plain_texts.into_inner().iter().take(600));
}

/// Typesafe Config's tree of each text is the plain reader's, key for key.
fn canton_reads_what_the_plain_reader_reads<'a>(texts: impl Iterator<Item = &'a String>) {
    for text in texts {
        let plain = readers::plain_tree(text).expect("taken by the plain reader");
        let canton = typesafe::tree(text);
        assert!(
            typesafe::same_tree(&canton, &plain),
            "{text:?}\nCanton reads {canton:#}\nthe plain reader {plain:#}"
        );
    }
}

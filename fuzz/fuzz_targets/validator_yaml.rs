//! A Validator manifest: arbitrary bytes into `manifest::decode_validator`.
//!
//! Properties:
//! - decoding never panics;
//! - for a decoded Validator, `decision::resolve` (against each kind of environment default)
//!   and `render::render` never panic;
//! - the YAML stream of the rendered objects (`manifest::rendered_yaml`, what `render` prints)
//!   reads back as exactly `Rendered::to_json` (what the controller applies).
#![no_main]

use std::ffi::OsString;
use std::sync::OnceLock;

use canton_operator::config::{self, KmsDefault, OperatorConfig};
use canton_operator::{decision, manifest, render};
use libfuzzer_sys::fuzz_target;

fn defaults() -> &'static [KmsDefault] {
    static DEFAULTS: OnceLock<Vec<KmsDefault>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let seed = OperatorConfig::from_lookup(|name: &str| -> Option<OsString> {
            match name {
                config::ENABLED_VAR => Some("true".into()),
                config::VALUE_VAR => {
                    Some(r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#.into())
                }
                config::SERVICE_ACCOUNT_VAR => Some("canton-kms".into()),
                _ => None,
            }
        });
        assert!(seed.errors().is_empty(), "{:?}", seed.errors());
        let invalid = OperatorConfig::from_lookup(|name: &str| -> Option<OsString> {
            (name == config::ENABLED_VAR).then(|| "true".into())
        });
        vec![KmsDefault::Disabled, seed.kms_default, invalid.kms_default]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(validator) = manifest::decode_validator(text) else {
        return;
    };
    for default in defaults() {
        let Ok(decision) = decision::resolve(&validator.spec, default) else {
            continue;
        };
        let _ = decision.summary();
        let Ok(rendered) = render::render(&validator, &decision) else {
            continue;
        };
        // The stream `canton-operator render` prints must read back as exactly the objects the
        // controller applies: hostile strings from the manifest must not change its structure.
        let objects = rendered
            .to_json()
            .expect("rendered objects serialize to JSON");
        let stream =
            manifest::rendered_yaml(&rendered).expect("rendered objects serialize to YAML");
        let back: Vec<serde_json::Value> = serde_saphyr::from_multiple(&stream)
            .unwrap_or_else(|e| panic!("emitted YAML does not read back: {e}\n{stream}"));
        assert_eq!(back, objects, "YAML round trip changed an object\n{stream}");
    }
});

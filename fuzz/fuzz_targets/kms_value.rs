//! `CANTON_TOPOLOGY_KMS_VALUE`: arbitrary text into `kms::parse_kms_value`.
//!
//! Properties:
//! - parsing never panics, whatever the text;
//! - whatever it accepts, the operator emits (`kms::kms_block` rendered by `hocon::render`, and
//!   the `crypto.kms = …` line of `kms::participant_env` in both modes) parses back to the same
//!   model. A mismatch, or emitted text the parser refuses, is a crash.
#![no_main]

use canton_operator::hocon;
use canton_operator::kms::{self, EnvelopeSettings, KmsMode, KmsProvider, MAX_VALUE_BYTES};
use libfuzzer_sys::fuzz_target;

const KMS_PATH: &str = "canton.participants.participant.crypto.kms = ";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(provider) = kms::parse_kms_value(text) else {
        return;
    };

    let block = hocon::render(&kms::kms_block(&provider));
    reparse("kms_block", text, &block, &provider);

    let (_, external) = kms::participant_env(&provider, KmsMode::External, None);
    let lines: Vec<&str> = external.split('\n').collect();
    assert_eq!(
        lines.len(),
        2,
        "external value is not two lines: {external:?}"
    );
    assert_eq!(
        lines[0],
        "canton.participants.participant.crypto.provider = kms"
    );
    let value = lines[1]
        .strip_prefix(KMS_PATH)
        .unwrap_or_else(|| panic!("unexpected kms line {:?}", lines[1]));
    assert_eq!(value, block, "participant_env and kms_block disagree");

    let envelope = EnvelopeSettings {
        wrapper_key_id: Some("alias/canton \"}${X}".into()),
        reverted: true,
    };
    let (_, enveloped) = kms::participant_env(&provider, KmsMode::Envelope, Some(&envelope));
    let first = enveloped.split('\n').next().unwrap_or_default();
    let value = first
        .strip_prefix(KMS_PATH)
        .unwrap_or_else(|| panic!("unexpected envelope kms line {first:?}"));
    assert_eq!(value, block, "envelope mode emits another kms block");
    assert_eq!(
        enveloped.lines().count(),
        2,
        "envelope value is not two lines"
    );
});

/// The emitted block must parse to the model it came from. Emitting can lengthen the text
/// (bare strings get quotes, tabs become `\t`), so a block over the input limit is not re-parsed:
/// the limit guards operator input, and the operator never reads its own output.
fn reparse(what: &str, input: &str, emitted: &str, provider: &KmsProvider) {
    if emitted.len() > MAX_VALUE_BYTES {
        return;
    }
    match kms::parse_kms_value(emitted) {
        Ok(again) => assert_eq!(
            &again, provider,
            "{what}: round trip changed the model\ninput:   {input:?}\nemitted: {emitted:?}"
        ),
        Err(e) => {
            panic!("{what}: emitted text refused: {e}\ninput:   {input:?}\nemitted: {emitted:?}")
        }
    }
}

//! The CRD's CEL rules, evaluated locally by kube's CEL validator: which creations and updates the
//! API server lets through, and what it says when it refuses.

mod common;

use canton_operator::api::{KmsSpec, Validator};
use common::{EXAMPLE, validator};
use serde_json::{Value, json};

fn aws_eu() -> Value {
    json!({"region": "eu-west-1", "auditLogging": true})
}

/// The example Validator with this `spec.kms` (JSON, as a user writes it) and `spec.serviceAccountName`.
fn with_kms(kms: Option<Value>, service_account_name: Option<&str>) -> Validator {
    let mut v = validator(EXAMPLE);
    v.spec.kms = kms.map(|k| {
        serde_json::from_value::<KmsSpec>(k.clone()).unwrap_or_else(|e| panic!("{k}: {e}"))
    });
    v.spec.service_account_name = service_account_name.map(str::to_string);
    v
}

fn kms(k: Value) -> Validator {
    with_kms(Some(k), Some("catalyst-canton-kms"))
}

fn external_aws() -> Validator {
    kms(json!({"enabled": true, "mode": "external", "aws": aws_eu()}))
}

fn disabled() -> Validator {
    kms(json!({"enabled": false}))
}

/// Refused with one error per fragment, in order, each message containing its fragment.
fn assert_refused_with(result: Result<(), kube::core::cel::ValidationErrors>, fragments: &[&str]) {
    let errors = result.expect_err("refused").into_vec();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert!(
        messages.len() == fragments.len()
            && messages.iter().zip(fragments).all(|(m, f)| m.contains(f)),
        "expected refusals containing {fragments:#?}, got {messages:#?}"
    );
}

/// Refused with exactly one error whose message contains `message`.
fn assert_refused(result: Result<(), kube::core::cel::ValidationErrors>, message: &str) {
    assert_refused_with(result, &[message]);
}

fn assert_update_refused(old: &Validator, new: &Validator, message: &str) {
    assert!(old.validate_cel().is_ok(), "the old object must be valid");
    assert_refused(new.validate_cel_update(old), message);
}

fn assert_update_allowed(old: &Validator, new: &Validator) {
    assert_eq!(old.validate_cel(), Ok(()));
    assert_eq!(new.validate_cel_update(old), Ok(()));
}

// ---------------------------------------------------------------- updates that keep keys reachable

#[test]
fn recording_a_decision_is_allowed() {
    assert_update_allowed(&with_kms(None, None), &external_aws());
    assert_update_allowed(&with_kms(None, None), &disabled());
}

#[test]
fn re_applying_the_same_decision_is_allowed() {
    assert_update_allowed(&external_aws(), &external_aws());
    assert_update_allowed(&disabled(), &disabled());
}

#[test]
fn audit_logging_and_tags_may_change() {
    let changed = kms(json!({"enabled": true, "aws": {
        "region": "eu-west-1", "auditLogging": false, "customTags": {"team": "canton"},
    }}));
    assert_update_allowed(&external_aws(), &changed);
}

#[test]
fn a_running_validator_may_move_to_envelope_mode() {
    let envelope = kms(json!({"enabled": true, "mode": "envelope", "aws": aws_eu(),
        "envelope": {"wrapperKeyId": "alias/canton"}}));
    assert_update_allowed(&disabled(), &envelope);
}

// ---------------------------------------------------------------- updates that would lose keys

#[test]
fn kms_cannot_be_turned_off() {
    let off = "KMS cannot be turned off for this validator";
    let keeping_provider = kms(json!({"enabled": false, "aws": aws_eu()}));
    assert_update_refused(&external_aws(), &keeping_provider, off);
    assert_refused_with(
        disabled().validate_cel_update(&external_aws()),
        &[off, "the KMS provider cannot change"],
    );
}

#[test]
fn external_mode_cannot_be_added_later() {
    assert_update_refused(
        &disabled(),
        &external_aws(),
        "external-key mode (crypto.provider = kms) must be chosen before the participant first starts",
    );
}

#[test]
fn mode_cannot_change_once_enabled() {
    let envelope = kms(json!({"enabled": true, "mode": "envelope", "aws": aws_eu()}));
    assert_update_refused(
        &external_aws(),
        &envelope,
        "mode cannot change once KMS is enabled",
    );
    assert_update_refused(
        &envelope,
        &external_aws(),
        "mode cannot change once KMS is enabled",
    );
}

#[test]
fn provider_cannot_change() {
    let gcp = kms(json!({"enabled": true, "gcp": {
        "locationId": "europe-west1", "projectId": "acme-canton", "keyRingId": "ring",
    }}));
    assert_update_refused(
        &external_aws(),
        &gcp,
        "the KMS provider cannot change once KMS is enabled",
    );
}

#[test]
fn aws_key_location_cannot_change() {
    let message = "aws.region and aws.multiRegionKey locate the participant's keys";
    let moved = kms(json!({"enabled": true, "aws": {"region": "us-east-1", "auditLogging": true}}));
    assert_update_refused(&external_aws(), &moved, message);
    let multi =
        kms(json!({"enabled": true, "aws": {"region": "eu-west-1", "multiRegionKey": true}}));
    assert_update_refused(&external_aws(), &multi, message);
    // An explicit false is the same as absent.
    let single =
        kms(json!({"enabled": true, "aws": {"region": "eu-west-1", "multiRegionKey": false}}));
    assert_update_allowed(&external_aws(), &single);
}

#[test]
fn gcp_key_ring_cannot_change() {
    let gcp = |ring: &str| {
        kms(json!({"enabled": true, "gcp": {
            "locationId": "europe-west1", "projectId": "acme-canton", "keyRingId": ring,
        }}))
    };
    assert_update_refused(
        &gcp("ring"),
        &gcp("other-ring"),
        "gcp.locationId, gcp.projectId and gcp.keyRingId locate the participant's keys",
    );
}

#[test]
fn driver_name_cannot_change() {
    let driver = |name: &str| kms(json!({"enabled": true, "driver": {"name": name}}));
    assert_update_refused(
        &driver("acme-hsm"),
        &driver("other-hsm"),
        "driver.name cannot change once KMS is enabled",
    );
}

#[test]
fn spec_kms_cannot_be_removed() {
    assert_update_refused(
        &external_aws(),
        &with_kms(None, Some("catalyst-canton-kms")),
        "spec.kms cannot be removed once recorded",
    );
    assert_update_refused(
        &disabled(),
        &with_kms(None, None),
        "spec.kms cannot be removed once recorded",
    );
}

// ---------------------------------------------------------------- creation rules

#[test]
fn enabled_needs_a_provider() {
    assert_refused(
        kms(json!({"enabled": true})).validate_cel(),
        "enabled: true needs exactly one provider block: aws, gcp or driver",
    );
}

#[test]
fn at_most_one_provider() {
    let two = json!({"aws": aws_eu(), "driver": {"name": "d"}});
    let mut enabled = two.clone();
    enabled["enabled"] = json!(true);
    assert_refused_with(
        kms(enabled).validate_cel(),
        &[
            "enabled: true needs exactly one provider block: aws, gcp or driver",
            "set at most one provider block: aws, gcp or driver",
        ],
    );
    let mut disabled = two;
    disabled["enabled"] = json!(false);
    assert_refused(
        kms(disabled).validate_cel(),
        "set at most one provider block: aws, gcp or driver",
    );
}

#[test]
fn envelope_settings_need_envelope_mode() {
    assert_refused(
        kms(json!({"enabled": true, "mode": "external", "aws": aws_eu(),
            "envelope": {"wrapperKeyId": "alias/canton"}}))
        .validate_cel(),
        "envelope settings apply only with mode: envelope",
    );
}

#[test]
fn service_account_is_either_named_or_created() {
    let sa = |service_account: Value| {
        with_kms(
            Some(json!({"enabled": true, "aws": aws_eu(), "serviceAccount": service_account})),
            None,
        )
    };
    let either = "set either name (an existing ServiceAccount) or create: true";
    assert_refused(
        sa(json!({"name": "kms", "create": true, "awsRoleArn": "arn:aws:iam::123456789012:role/x"}))
            .validate_cel(),
        either,
    );
    assert_refused(sa(json!({})).validate_cel(), either);
    assert_refused(
        sa(json!({"create": true})).validate_cel(),
        "create: true needs awsRoleArn or gcpServiceAccount",
    );
    assert_eq!(sa(json!({"name": "kms"})).validate_cel(), Ok(()));
    assert_eq!(
        sa(json!({"create": true, "awsRoleArn": "arn:aws:iam::123456789012:role/x"}))
            .validate_cel(),
        Ok(())
    );
}

/// A rotation whose synchronizer timeout is zero would fail at its first wait: refused at admission.
#[test]
fn a_rotation_s_synchronizer_timeout_is_longer_than_zero() {
    use canton_operator::api::ValidatorKeyRotation;
    let rotation = |timeout: Option<&str>| -> ValidatorKeyRotation {
        let mut spec = json!({"validator": "v1"});
        if let Some(t) = timeout {
            spec["synchronizerTimeout"] = json!(t);
        }
        serde_json::from_value(json!({
            "apiVersion": "canton-operator.dev/v1alpha1", "kind": "ValidatorKeyRotation",
            "metadata": {"name": "r", "namespace": "ns"}, "spec": spec
        }))
        .unwrap()
    };
    assert_eq!(rotation(None).validate_cel(), Ok(()));
    assert_eq!(rotation(Some("10m")).validate_cel(), Ok(()));
    assert_eq!(rotation(Some("1h0m0s")).validate_cel(), Ok(()));
    for zero in ["0s", "0h0m0s", "00m"] {
        assert_refused(
            rotation(Some(zero)).validate_cel(),
            "spec.synchronizerTimeout must be longer than zero",
        );
    }
}

// ---------------------------------------------------------------- spec.version only moves forward

fn at_version(version: &str) -> Validator {
    let mut v = validator(EXAMPLE);
    v.spec.version = version.to_string();
    v
}

const DOWN: &str = "spec.version cannot go down";

#[test]
fn a_downgrade_is_refused() {
    for (from, to) in [
        ("0.7.4", "0.7.3"),
        ("0.8.0", "0.7.5"),
        ("0.7.10", "0.7.9"),
        ("1.0.0", "0.99.99"),
        ("0.8.1", "0.8.0"),
    ] {
        assert_update_refused(&at_version(from), &at_version(to), DOWN);
    }
}

#[test]
fn an_upgrade_is_allowed_across_minor_lines_and_numerically() {
    for (from, to) in [
        ("0.7.3", "0.7.4"),
        ("0.7.4", "0.7.5"),
        ("0.7.4", "0.8.1"),
        ("0.7.5", "0.8.0"),
        // Numbers, not text: "0.7.10" < "0.7.9" as strings.
        ("0.7.9", "0.7.10"),
        ("0.9.0", "0.10.0"),
        ("0.7.4", "0.7.4"),
    ] {
        assert_update_allowed(&at_version(from), &at_version(to));
    }
}

/// A detour through something that is not a release number would otherwise open a downgrade
/// (0.8.0 -> "x" -> 0.7.0): once a release number, the version stays one.
#[test]
fn a_release_number_stays_one() {
    for to in [
        "latest",
        "0.8.0-rc1",
        "0.8",
        "v0.8.0",
        "0.8.0.1",
        "1234567.0.0",
    ] {
        assert_update_refused(&at_version("0.8.0"), &at_version(to), DOWN);
    }
    // A version that was never a release number may become one (the operator renders nothing
    // for it, `UnsupportedVersion`).
    assert_update_allowed(&at_version("latest"), &at_version("0.7.4"));
    assert_update_allowed(&at_version("latest"), &at_version("0.7.0"));
}

#[test]
fn the_cloud_identity_matches_the_provider_and_its_fields() {
    let with = |provider: (&str, Value), service_account: Value| {
        let mut k = json!({"enabled": true, "serviceAccount": service_account});
        k[provider.0] = provider.1;
        with_kms(Some(k), None)
    };
    let aws = || ("aws", aws_eu());
    let gcp = || {
        (
            "gcp",
            json!({"locationId": "europe-west1", "projectId": "acme", "keyRingId": "ring"}),
        )
    };
    // Pod Identity and Federation may create a ServiceAccount with nothing to annotate.
    assert_eq!(
        with(
            aws(),
            json!({"create": true, "cloudIdentity": "eksPodIdentity"})
        )
        .validate_cel(),
        Ok(())
    );
    assert_eq!(
        with(
            gcp(),
            json!({"create": true, "cloudIdentity": "gkeWorkloadIdentityFederation"})
        )
        .validate_cel(),
        Ok(())
    );
    assert_eq!(
        with(
            aws(),
            json!({"name": "kms", "cloudIdentity": "eksPodIdentity",
            "awsRoleArn": "arn:aws:iam::123456789012:role/x"})
        )
        .validate_cel(),
        Ok(())
    );
    // The annotation-based ones still need what they annotate.
    assert_refused(
        with(aws(), json!({"create": true, "cloudIdentity": "irsa"})).validate_cel(),
        "create: true needs awsRoleArn or gcpServiceAccount",
    );
    assert_refused(
        with(
            gcp(),
            json!({"name": "kms", "cloudIdentity": "eksPodIdentity"}),
        )
        .validate_cel(),
        "must match the provider",
    );
    assert_refused(
        with(
            aws(),
            json!({"name": "kms", "cloudIdentity": "gkeWorkloadIdentity"}),
        )
        .validate_cel(),
        "must match the provider",
    );
    assert_refused(
        with(
            aws(),
            json!({"name": "kms", "cloudIdentity": "eksPodIdentity",
            "gcpServiceAccount": "kms@acme.iam.gserviceaccount.com"}),
        )
        .validate_cel(),
        "gcpServiceAccount is for GKE Workload Identity",
    );
    assert_refused_with(
        with(
            gcp(),
            json!({"name": "kms", "cloudIdentity": "gkeWorkloadIdentityFederation",
            "gcpServiceAccount": "kms@acme.iam.gserviceaccount.com"}),
        )
        .validate_cel(),
        &["there is no Google service account"],
    );
    assert_refused(
        with(
            gcp(),
            json!({"name": "kms", "cloudIdentity": "gkeWorkloadIdentity",
            "awsRoleArn": "arn:aws:iam::123456789012:role/x"}),
        )
        .validate_cel(),
        "awsRoleArn is for AWS",
    );
}

#[test]
fn a_service_monitor_s_interval_and_labels_are_checked() {
    let monitored = |settings: Value| {
        let mut v = validator(EXAMPLE);
        v.spec.monitoring =
            Some(serde_json::from_value(json!({"serviceMonitor": settings})).unwrap());
        v
    };
    assert_eq!(
        monitored(json!({"enabled": true, "interval": "1m30s", "labels": {"release": "prom"}}))
            .validate_cel(),
        Ok(())
    );
    assert_refused(
        monitored(json!({"enabled": true, "interval": "30 seconds"})).validate_cel(),
        "interval is a Prometheus duration",
    );
    assert_refused(
        monitored(json!({"enabled": true, "labels": {"app.kubernetes.io/instance": "other"}}))
            .validate_cel(),
        "app.kubernetes.io/* labels are set by the operator",
    );
}

/// The restore example with its `spec.restore` changed by `edit` (JSON, as a user writes it).
fn restoring(edit: impl FnOnce(&mut Value)) -> Validator {
    let mut v = validator("examples/validator-restore.yaml");
    let mut restore = serde_json::to_value(&v.spec.restore).unwrap();
    edit(&mut restore);
    v.spec.restore = serde_json::from_value(restore).unwrap();
    v
}

#[test]
fn a_restore_names_one_dump_a_new_identifier_and_a_service_account() {
    assert_eq!(restoring(|_| {}).validate_cel(), Ok(()));
    assert_refused(
        restoring(|r| {
            r["object"] = json!("canton/validators/acme/identities-20260101T000000Z.json")
        })
        .validate_cel(),
        "exactly one of object and latest",
    );
    // The dump's own identifier as the new one (and so as validatorApp.participantIdentifier).
    let reused = restoring(|r| r["participantIdentifier"] = r["newParticipantIdentifier"].clone());
    assert_refused(
        reused.validate_cel(),
        "newParticipantIdentifier must differ",
    );
    let mut reused =
        restoring(|r| r["newParticipantIdentifier"] = r["participantIdentifier"].clone());
    reused.spec.validator_app.participant_identifier = Some("acme-participant".into());
    assert_refused(
        reused.validate_cel(),
        "newParticipantIdentifier must differ",
    );
    assert_refused(
        restoring(|r| {
            r["serviceAccount"] = json!({"create": true, "awsRoleArn": "arn:aws:iam::1:role/r"})
        })
        .validate_cel(),
        "restore.serviceAccount needs name",
    );
    let mut other_id = restoring(|_| {});
    other_id.spec.validator_app.participant_identifier = Some("something-else".into());
    assert_refused(
        other_id.validate_cel(),
        "must equal spec.restore.newParticipantIdentifier",
    );
}

#[test]
fn a_restore_is_fixed_once_its_import_started_and_may_go_once_it_completed() {
    let with_status = |restore: Value| {
        let mut v = restoring(|_| {});
        v.status = Some(serde_json::from_value(json!({"restore": restore})).unwrap());
        v
    };
    let started = json!({"fingerprint": "1220ab", "startedAt": "2026-01-01T00:00:00Z"});
    let completed = json!({"fingerprint": "1220ab", "startedAt": "2026-01-01T00:00:00Z", "completedAt": "2026-01-01T01:00:00Z"});
    let changed = |old: &Validator| {
        let mut new = old.clone();
        new.spec.restore.as_mut().unwrap().migrate_validator_party = false;
        new
    };
    let removed = |old: &Validator| {
        let mut new = old.clone();
        new.spec.restore = None;
        new
    };
    // Before the import: a typo can be fixed.
    let pending = with_status(json!({}));
    assert_update_allowed(&pending, &changed(&pending));
    let old = with_status(started);
    assert_update_refused(
        &old,
        &changed(&old),
        "cannot change once its import has started",
    );
    assert_update_refused(
        &old,
        &removed(&old),
        "cannot change once its import has started",
    );
    let old = with_status(completed);
    assert_update_refused(
        &old,
        &changed(&old),
        "cannot change once its import has started",
    );
    assert_update_allowed(&old, &removed(&old));
}

//! `iam-policy`: valid JSON with the least-privilege statements for each provider and mode.

use std::collections::BTreeSet;

use assert_cmd::Command;
use serde_json::Value;

fn policy(example: &str, extra: &[&str]) -> Value {
    let out = Command::cargo_bin("canton-operator")
        .unwrap()
        .env_clear()
        .args(["iam-policy", "-f", example])
        .args(extra)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("iam-policy prints JSON")
}

fn actions(statement: &Value) -> BTreeSet<String> {
    match &statement["Action"] {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::String(s) => BTreeSet::from([s.clone()]),
        _ => BTreeSet::new(),
    }
}

fn all_actions(p: &Value) -> BTreeSet<String> {
    p["permissionsPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(actions)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn aws_external_grants_exactly_what_external_keys_need() {
    let p = policy(
        "examples/validator-aws-external.yaml",
        &[
            "--account-id",
            "123456789012",
            "--oidc-provider",
            "oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        ],
    );
    assert_eq!(p["mode"], "external");
    assert_eq!(
        all_actions(&p),
        set(&[
            "kms:CreateKey",
            "kms:TagResource",
            "kms:Decrypt",
            "kms:Sign",
            "kms:DescribeKey",
            "kms:GetPublicKey"
        ])
    );
    let statements = p["permissionsPolicy"]["Statement"].as_array().unwrap();
    let using = statements
        .iter()
        .find(|s| actions(s).contains("kms:Sign"))
        .unwrap();
    assert_eq!(
        using["Resource"],
        "arn:aws:kms:eu-west-1:123456789012:key/*"
    );
    assert_eq!(
        using["Condition"]["StringEquals"]["aws:ResourceTag/Team"], "validators",
        "scoped by the custom tags"
    );
    let trust = &p["trustPolicy"]["Statement"][0];
    assert_eq!(trust["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        trust["Condition"]["StringEquals"]["oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub"],
        "system:serviceaccount:validators:catalyst-canton-kms"
    );
}

#[test]
fn aws_envelope_grants_encrypt_and_decrypt_on_the_wrapper_key_only() {
    let p = policy("examples/validator-envelope.yaml", &[]);
    assert_eq!(
        all_actions(&p),
        set(&[
            "kms:CreateKey",
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:DescribeKey"
        ])
    );
    let using = &p["permissionsPolicy"]["Statement"][1];
    assert!(
        using["Resource"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:kms:eu-west-1:123456789012:key/1234abcd")
    );
}

#[test]
fn managed_identity_takes_the_account_from_the_role_and_tags_default_to_canton() {
    let p = policy("examples/validator-managed-sa.yaml", &[]);
    let using = &p["permissionsPolicy"]["Statement"][1];
    assert_eq!(
        using["Resource"],
        "arn:aws:kms:eu-west-1:123456789012:key/*"
    );
    assert_eq!(
        using["Condition"]["StringEquals"]["aws:ResourceTag/CreatedBy"],
        "Canton"
    );
    assert_eq!(
        p["trustPolicy"]["Statement"][0]["Condition"]["StringEquals"]["<OIDC_PROVIDER>:sub"],
        "system:serviceaccount:validators:acme-managed-participant"
    );
}

#[test]
fn gcp_gets_a_custom_role_and_a_workload_identity_binding() {
    let p = policy("examples/validator-gcp.yaml", &[]);
    let perms: BTreeSet<String> = p["customRole"]["includedPermissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(perms.contains("cloudkms.cryptoKeyVersions.useToSign"));
    assert!(
        !perms
            .iter()
            .any(|p| p.contains("destroy") || p.contains("delete"))
    );
    assert_eq!(p["bindings"][1]["role"], "roles/iam.workloadIdentityUser");
    assert_eq!(
        p["bindings"][1]["member"],
        "serviceAccount:acme-canton.svc.id.goog[validators/acme-gcp-participant]"
    );
}

#[test]
fn no_policy_ever_allows_key_deletion() {
    for example in [
        "examples/validator-aws-external.yaml",
        "examples/validator-envelope.yaml",
        "examples/validator-managed-sa.yaml",
        "examples/validator-gcp.yaml",
    ] {
        let text = policy(example, &[]).to_string();
        assert!(
            !text.contains("ScheduleKeyDeletion")
                && !text.contains("DeleteKey")
                && !text.contains("kms:*"),
            "{example}: {text}"
        );
    }
}

#[test]
fn kms_off_has_no_policy() {
    Command::cargo_bin("canton-operator")
        .unwrap()
        .env_clear()
        .args(["iam-policy", "-f", "examples/validator-no-kms.yaml"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("KMS is off"));
}

#[test]
fn identity_backups_get_the_bucket_permissions_of_their_job() {
    let p = policy("examples/validator-aws-external.yaml", &[]);
    let backup = &p["identityBackup"];
    assert_eq!(backup["serviceAccount"], "acme-aws-identity-backup");
    let objects = all_actions(backup);
    assert!(
        set(&[
            "s3:PutObject",
            "s3:GetObject",
            "s3:DeleteObject",
            "s3:ListBucket"
        ])
        .is_subset(&objects),
        "{objects:?}"
    );
    let resources: Vec<String> = backup["permissionsPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Resource"].to_string())
        .collect();
    assert!(
        resources
            .iter()
            .any(|r| r.contains("arn:aws:s3:::acme-canton-backups/identities/")),
        "{resources:?}"
    );
    // The KMS part is still there, unchanged.
    assert!(all_actions(&p).contains("kms:Sign"));
    // Without spec.backup: no backup section.
    assert!(
        policy("examples/validator-gcp.yaml", &[])
            .get("identityBackup")
            .is_none()
    );
}

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

/// `example` with each `(from, to)` replaced, written to a temporary file.
fn variant(example: &str, edits: &[(&str, &str)]) -> tempfile::NamedTempFile {
    let mut text = std::fs::read_to_string(example).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{example} has `{from}`");
        text = text.replacen(from, to, 1);
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

/// Runs `iam-policy`: its JSON, and its stderr.
fn policy_and_warnings(file: &std::path::Path, extra: &[&str]) -> (Value, String) {
    let out = Command::cargo_bin("canton-operator")
        .unwrap()
        .env_clear()
        .arg("iam-policy")
        .arg("-f")
        .arg(file)
        .args(extra)
        .assert()
        .success()
        .get_output()
        .clone();
    (
        serde_json::from_slice(&out.stdout).expect("iam-policy prints JSON"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const POD_IDENTITY: [(&str, &str); 2] = [
    (
        "    sessionSigningKeys:\n      enabled: true\n",
        "    sessionSigningKeys:\n      enabled: true\n    serviceAccount:\n      name: catalyst-canton-kms\n      cloudIdentity: eksPodIdentity\n",
    ),
    (
        "        awsRoleArn: arn:aws:iam::123456789012:role/acme-canton-backup\n",
        "        awsRoleArn: arn:aws:iam::123456789012:role/acme-canton-backup\n        cloudIdentity: eksPodIdentity\n",
    ),
];

#[test]
fn eks_pod_identity_trusts_the_pod_identity_service_for_this_service_account_only() {
    let file = variant("examples/validator-aws-external.yaml", &POD_IDENTITY);
    let (p, warnings) = policy_and_warnings(
        file.path(),
        &["--account-id", "123456789012", "--cluster-name", "prod-eks"],
    );
    assert_eq!(p["cloudIdentity"], "eksPodIdentity");
    let trust = &p["trustPolicy"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "pods.eks.amazonaws.com");
    assert_eq!(actions(trust), set(&["sts:AssumeRole", "sts:TagSession"]));
    let only = &trust["Condition"]["StringEquals"];
    assert_eq!(only["aws:RequestTag/kubernetes-namespace"][0], "validators");
    assert_eq!(
        only["aws:RequestTag/kubernetes-service-account"][0],
        "catalyst-canton-kms"
    );
    assert!(
        !p.to_string().contains("oidc-provider"),
        "no IRSA trust: {p}"
    );
    let association = p["podIdentityAssociation"]["command"].as_str().unwrap();
    assert!(
        association.starts_with("aws eks create-pod-identity-association --cluster-name prod-eks --namespace validators --service-account catalyst-canton-kms --role-arn arn:aws:iam::123456789012:role/<ROLE_NAME>"),
        "{association}"
    );
    // The permissions are the mechanism's business no more than before.
    assert!(all_actions(&p).contains("kms:Sign"));
    // The backup Job's role: its trust and association too, with its own role and account.
    let backup = &p["identityBackup"];
    assert_eq!(backup["cloudIdentity"], "eksPodIdentity");
    assert_eq!(
        backup["trustPolicy"]["Statement"][0]["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"]
            [0],
        "acme-aws-identity-backup"
    );
    assert_eq!(
        backup["podIdentityAssociation"]["roleArn"],
        "arn:aws:iam::123456789012:role/acme-canton-backup"
    );
    // The participant's role name is not in the Validator: one warning, naming it.
    assert_eq!(warnings.lines().count(), 1, "{warnings}");
    assert!(warnings.contains("<ROLE_NAME>"), "{warnings}");
}

#[test]
fn irsa_takes_the_issuer_as_the_aws_cli_prints_it() {
    let (p, warnings) = policy_and_warnings(
        std::path::Path::new("examples/validator-aws-external.yaml"),
        &[
            "--account-id",
            "123456789012",
            "--oidc-provider",
            "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC",
        ],
    );
    assert_eq!(p["cloudIdentity"], "irsa");
    let trust = &p["trustPolicy"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Federated"],
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    );
    assert_eq!(
        trust["Condition"]["StringEquals"]["oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud"],
        "sts.amazonaws.com"
    );
    // The backup Job's role trusts the same issuer for its own ServiceAccount.
    assert_eq!(
        p["identityBackup"]["trustPolicy"]["Statement"][0]["Condition"]["StringEquals"]["oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub"],
        "system:serviceaccount:validators:acme-aws-identity-backup"
    );
    assert!(!p.to_string().contains("https://"), "{p}");
    assert_eq!(warnings, "", "everything known: no placeholder");
}

#[test]
fn every_placeholder_left_is_warned_about() {
    let (p, warnings) = policy_and_warnings(
        std::path::Path::new("examples/validator-aws-external.yaml"),
        &[],
    );
    let text = p.to_string();
    for placeholder in ["<AWS_ACCOUNT_ID>", "<OIDC_PROVIDER>"] {
        assert!(text.contains(placeholder), "{text}");
        let warning = warnings
            .lines()
            .find(|l| l.contains(placeholder))
            .unwrap_or_else(|| panic!("no warning for {placeholder}: {warnings}"));
        assert!(warning.starts_with("warning: "), "{warning}");
    }
    assert!(warnings.contains("--oidc-provider"), "{warnings}");
    assert_eq!(warnings.lines().count(), 2, "{warnings}");
}

#[test]
fn an_account_id_has_twelve_digits() {
    for bad in ["12345678901", "1234567890123", "12345678901a"] {
        Command::cargo_bin("canton-operator")
            .unwrap()
            .env_clear()
            .args(["iam-policy", "-f", "examples/validator-aws-external.yaml"])
            .args(["--account-id", bad])
            .assert()
            .failure()
            .stderr(predicates::str::contains("12 digits"));
    }
}

#[test]
fn gke_federation_grants_the_kubernetes_service_account_directly() {
    let file = variant(
        "examples/validator-gcp.yaml",
        &[(
            "      gcpServiceAccount: canton-kms@acme-canton.iam.gserviceaccount.com\n",
            "      cloudIdentity: gkeWorkloadIdentityFederation\n",
        )],
    );
    let (p, warnings) = policy_and_warnings(file.path(), &["--project-number", "123456789"]);
    assert_eq!(p["cloudIdentity"], "gkeWorkloadIdentityFederation");
    let bindings = p["bindings"].as_array().unwrap();
    assert_eq!(
        bindings.len(),
        1,
        "no Google service account to impersonate: {bindings:?}"
    );
    assert_eq!(
        bindings[0]["member"],
        "principal://iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/acme-canton.svc.id.goog/subject/ns/validators/sa/acme-gcp-participant"
    );
    assert_eq!(
        bindings[0]["resource"],
        "projects/acme-canton/locations/europe-west1/keyRings/validators"
    );
    assert_eq!(warnings, "");
    // Without the project number: a placeholder, and its warning.
    let (_, warnings) = policy_and_warnings(file.path(), &[]);
    assert!(
        warnings.contains("<PROJECT_NUMBER>") && warnings.contains("--project-number"),
        "{warnings}"
    );
}

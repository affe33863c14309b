//! Least privilege for the backup Job: what its identity must be granted at the destination.
//! Printed by `iam-policy` for Validators with `spec.backup.identities`.

use serde_json::{Value, json};

use super::store::{Destination, StoreError};

/// The permissions the backup Job needs for `destination` (`s3://…`, `gcs://…` or `secret`):
/// write, read back, list, and delete for retention, on the prefix only.
pub fn backup_bucket_policy(destination: &str) -> Result<Value, StoreError> {
    Ok(match Destination::parse(destination)? {
        Destination::S3 { bucket, prefix } => s3(&bucket, &prefix),
        Destination::Gcs { bucket, prefix } => gcs(&bucket, &prefix),
        Destination::Secret => secret(),
    })
}

/// `prefix/` or empty: the keys the Job writes start with it.
fn key_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

fn s3(bucket: &str, prefix: &str) -> Value {
    let keys = key_prefix(prefix);
    json!({
        "provider": "aws",
        "destination": format!("s3://{bucket}/{prefix}"),
        "permissionsPolicy": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "BackupDumpObjects",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                    "Resource": format!("arn:aws:s3:::{bucket}/{keys}*"),
                },
                {
                    "Sid": "BackupDumpListing",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": format!("arn:aws:s3:::{bucket}"),
                    "Condition": { "StringLike": { "s3:prefix": [format!("{keys}*")] } },
                },
            ],
        },
    })
}

fn gcs(bucket: &str, prefix: &str) -> Value {
    json!({
        "provider": "gcp",
        "destination": format!("gcs://{bucket}/{prefix}"),
        "customRole": {
            "id": "cantonIdentityBackup",
            "title": "Canton identity backup",
            "includedPermissions": [
                "storage.objects.create",
                "storage.objects.get",
                "storage.objects.list",
                "storage.objects.delete",
            ],
        },
        "bindings": [{
            "resource": format!("projects/_/buckets/{bucket}"),
            "role": "projects/<PROJECT_ID>/roles/cantonIdentityBackup",
            "member": "serviceAccount:<BACKUP_GOOGLE_SERVICE_ACCOUNT_EMAIL>",
        }],
    })
}

fn secret() -> Value {
    json!({
        "provider": "kubernetes",
        "destination": "secret",
        "note": "Secret dumps stay in the cluster: they are lost with it. Use s3:// or gcs:// for an off-cluster backup.",
        "role": {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "rules": [{
                "apiGroups": [""],
                "resources": ["secrets"],
                "verbs": ["create", "get", "list", "delete"],
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_grants_the_four_actions_on_the_prefix_only() {
        let p = backup_bucket_policy("s3://acme-backups/canton").unwrap();
        let st = &p["permissionsPolicy"]["Statement"];
        assert_eq!(
            st[0]["Action"],
            json!(["s3:PutObject", "s3:GetObject", "s3:DeleteObject"])
        );
        assert_eq!(st[0]["Resource"], "arn:aws:s3:::acme-backups/canton/*");
        assert_eq!(st[1]["Action"], "s3:ListBucket");
        assert_eq!(st[1]["Resource"], "arn:aws:s3:::acme-backups");
        assert_eq!(
            st[1]["Condition"]["StringLike"]["s3:prefix"],
            json!(["canton/*"])
        );
    }

    #[test]
    fn s3_without_prefix_covers_the_bucket() {
        let p = backup_bucket_policy("s3://b").unwrap();
        assert_eq!(
            p["permissionsPolicy"]["Statement"][0]["Resource"],
            "arn:aws:s3:::b/*"
        );
    }

    #[test]
    fn gcs_role_has_create_get_list_delete() {
        let p = backup_bucket_policy("gcs://acme-backups/x").unwrap();
        let perms = p["customRole"]["includedPermissions"].as_array().unwrap();
        for want in [
            "storage.objects.create",
            "storage.objects.get",
            "storage.objects.list",
            "storage.objects.delete",
        ] {
            assert!(perms.contains(&json!(want)), "{want}");
        }
        assert_eq!(
            p["bindings"][0]["resource"],
            "projects/_/buckets/acme-backups"
        );
    }

    #[test]
    fn secret_is_namespaced_rbac_and_says_it_is_not_off_cluster() {
        let p = backup_bucket_policy("secret").unwrap();
        assert_eq!(p["role"]["kind"], "Role");
        assert!(p["note"].as_str().unwrap().contains("in the cluster"));
    }

    #[test]
    fn other_destinations_are_refused() {
        assert!(backup_bucket_policy("ftp://x").is_err());
    }
}

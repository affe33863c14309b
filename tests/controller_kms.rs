//! Per-validator KMS on a cluster: preflight, operator-managed identity, envelope mode. The CRD's
//! rules themselves are tested in `tests/cel_rules.rs`.

mod harness;
mod support;

use std::time::Duration;

use canton_operator::api::{KmsServiceAccount, KmsSpec};
use canton_operator::kms::{AwsKms, KmsProvider};
use harness::*;
use serde_json::json;

const ENVELOPE_VAR: &str = "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS_ENVELOPE";

fn aws() -> KmsProvider {
    KmsProvider::Aws(AwsKms {
        region: "eu-west-1".into(),
        ..Default::default()
    })
}

fn with_kms(name: &str, kms: KmsSpec, sa: Option<&str>) -> canton_operator::api::Validator {
    let mut v = validator(name);
    v.spec.kms = Some(kms);
    v.spec.service_account_name = sa.map(str::to_string);
    v
}

#[tokio::test]
async fn missing_service_account_blocks_provisioning_with_a_reason() {
    within(30, async {
        let server = server();
        server
            .insert(&with_kms("nosa", KmsSpec::external(aws()), Some("absent")))
            .unwrap();
        let _op = start(&server, config(false));
        eventually("ServiceAccountNotFound", || {
            condition(&server, "nosa", "KmsConfigured").is_some_and(|c| {
                c["status"] == "False"
                    && c["reason"] == "ServiceAccountNotFound"
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("eks.amazonaws.com/role-arn"))
            })
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        assert!(deployment(&server, "nosa-participant").is_none());

        // Creating it, annotated, unblocks the validator on the next look (a restart, here).
        service_account(&server, "absent", Some("arn:aws:iam::123456789012:role/x"));
        drop(_op);
        let _op = start(&server, config(false));
        eventually("provisioned", || {
            deployment(&server, "nosa-participant").is_some()
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn unannotated_service_account_blocks_provisioning() {
    within(30, async {
        let server = server();
        service_account(&server, "bare", None);
        server
            .insert(&with_kms("bare", KmsSpec::external(aws()), Some("bare")))
            .unwrap();
        let _op = start(&server, config(false));
        eventually("ServiceAccountNotAnnotated", || {
            condition(&server, "bare", "Ready")
                .is_some_and(|c| c["reason"] == "ServiceAccountNotAnnotated")
        })
        .await;
        assert!(deployment(&server, "bare-participant").is_none());
    })
    .await;
}

#[tokio::test]
async fn operator_managed_identity_is_created_owned_restored_and_pruned() {
    within(40, async {
        let server = server();
        let kms = gcp_kms_with_created_account();
        server.insert(&with_kms("managed", kms, None)).unwrap();
        let _op = start(&server, config(false));
        eventually("ServiceAccount created", || get(&server, "v1", "serviceaccounts", "managed-participant").is_some()).await;
        let sa = get(&server, "v1", "serviceaccounts", "managed-participant").unwrap();
        assert_eq!(sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"], "canton-kms@acme-canton.iam.gserviceaccount.com");
        assert_eq!(sa["automountServiceAccountToken"], false);
        let v = validator_obj(&server, "managed").unwrap();
        assert_eq!(sa["metadata"]["ownerReferences"][0]["uid"], v["metadata"]["uid"]);
        eventually("participant runs as it", || {
            deployment(&server, "managed-participant")
                .is_some_and(|d| d["spec"]["template"]["spec"]["serviceAccountName"] == "managed-participant")
        })
        .await;

        // Annotation drift is restored.
        server
            .merge_patch("v1", "serviceaccounts", Some(NS), "managed-participant", json!({"metadata": {"annotations": {"iam.gke.io/gcp-service-account": "evil@x.iam.gserviceaccount.com"}}}), "kubectl")
            .unwrap();
        eventually("annotation restored", || {
            get(&server, "v1", "serviceaccounts", "managed-participant").unwrap()["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
                == "canton-kms@acme-canton.iam.gserviceaccount.com"
        })
        .await;

        // Switching to an externally managed account prunes the one the operator created.
        service_account(&server, "external-gsa", None);
        server
            .merge_patch("v1", "serviceaccounts", Some(NS), "external-gsa", json!({"metadata": {"annotations": {"iam.gke.io/gcp-service-account": "b@acme-canton.iam.gserviceaccount.com"}}}), "kubectl")
            .unwrap();
        server
            .merge_patch(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "managed",
                json!({"spec": {"kms": {"serviceAccount": {"create": null, "gcpServiceAccount": null, "name": "external-gsa"}}}}),
                "kubectl",
            )
            .unwrap();
        eventually("created ServiceAccount pruned", || get(&server, "v1", "serviceaccounts", "managed-participant").is_none()).await;
        eventually("Pruned event", || !events(&server, "Pruned").is_empty()).await;
    })
    .await;
}

#[tokio::test]
async fn a_validator_without_kms_moving_to_envelope_mode_gets_the_envelope_variable() {
    within(40, async {
        let server = server();
        service_account(&server, "kms-sa", Some("arn:aws:iam::123456789012:role/x"));
        server.insert(&validator("legacy")).unwrap();
        let _op = start(&server, config(false));
        eventually("provisioned without KMS", || deployment(&server, "legacy-participant").is_some()).await;
        settle(&server, Duration::from_millis(300)).await;

        // Envelope mode is the one allowed change (the CRD's rules, tests/cel_rules.rs); the
        // participant gets the envelope variable once.
        let envelope = json!({"spec": {"serviceAccountName": "kms-sa", "kms": {"enabled": true, "mode": "envelope", "aws": {"region": "eu-west-1"}, "envelope": {"wrapperKeyId": "alias/canton-wrapper"}}}});
        server
            .merge_patch("canton-operator.dev/v1alpha1", "validators", Some(NS), "legacy", envelope, "kubectl")
            .unwrap();
        eventually("envelope variable rendered", || participant_env(&server, "legacy", ENVELOPE_VAR).is_some()).await;
        let value = participant_env(&server, "legacy", ENVELOPE_VAR).unwrap();
        assert!(value.contains("private-key-store.encryption = { type = kms, wrapper-key-id = \"alias/canton-wrapper\" }"), "{value}");
        assert_eq!(participant_env(&server, "legacy", "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS"), None);
        eventually("KmsConfigured says envelope", || {
            condition(&server, "legacy", "KmsConfigured").is_some_and(|c| c["reason"] == "EnvelopeKeys")
        })
        .await;
        eventually("the move is an Event", || events(&server, "KmsModeChanged").len() == 1).await;
    })
    .await;
}

#[tokio::test]
async fn children_are_applied_server_side_with_one_field_manager() {
    within(20, async {
        let server = server();
        server.insert(&validator("ssa")).unwrap();
        let _op = start(&server, config(false));
        eventually("provisioned", || {
            deployment(&server, "ssa-validator-app").is_some()
        })
        .await;
        let applies: Vec<_> = server
            .writes()
            .into_iter()
            .filter(|r| r.path.contains("/deployments/") || r.path.contains("/services/"))
            .collect();
        assert!(!applies.is_empty());
        for r in applies {
            assert_eq!(r.method, http::Method::PATCH, "{}", r.path);
            assert_eq!(
                r.content_type.as_deref(),
                Some("application/apply-patch+yaml"),
                "{}",
                r.path
            );
            assert_eq!(
                r.param("fieldManager"),
                Some("canton-operator"),
                "{}",
                r.path
            );
            assert_eq!(r.param("force"), Some("true"), "{}", r.path);
        }
        // The status write follows the last child and the Provisioned Event: wait for it.
        eventually("status goes through the status subresource", || {
            server.writes().iter().any(|r| r.path.ends_with("/status"))
        })
        .await;
    })
    .await;
}

/// EKS Pod Identity: nothing on the ServiceAccount, so an unannotated one is provisioned, one the
/// operator creates carries no IRSA annotation, and an IRSA annotation (which the AWS SDKs would
/// use instead) blocks with ServiceAccountAnnotationConflict.
#[tokio::test]
async fn eks_pod_identity_needs_no_annotation_and_refuses_the_irsa_one() {
    within(40, async {
        let server = server();
        service_account(&server, "pod-id", None);
        service_account(&server, "both", Some("arn:aws:iam::123456789012:role/irsa"));
        let pod_identity = |sa: KmsServiceAccount| {
            let mut kms = KmsSpec::external(aws());
            kms.service_account = Some(KmsServiceAccount {
                cloud_identity: Some(canton_operator::api::CloudIdentity::EksPodIdentity),
                ..sa
            });
            kms
        };
        let named = |name: &str| KmsServiceAccount {
            name: Some(name.into()),
            ..Default::default()
        };
        server
            .insert(&with_kms(
                "pod-id",
                pod_identity(named("pod-id")),
                Some("pod-id"),
            ))
            .unwrap();
        server
            .insert(&with_kms("both", pod_identity(named("both")), Some("both")))
            .unwrap();
        let created = KmsServiceAccount {
            create: Some(true),
            aws_role_arn: Some("arn:aws:iam::123456789012:role/pod-identity".into()),
            ..Default::default()
        };
        server
            .insert(&with_kms("made", pod_identity(created), None))
            .unwrap();
        let _op = start(&server, config(false));
        eventually("the unannotated ServiceAccount's participant", || {
            deployment(&server, "pod-id-participant").is_some()
        })
        .await;
        eventually("the created ServiceAccount", || {
            get(&server, "v1", "serviceaccounts", "made-participant").is_some()
        })
        .await;
        let sa = get(&server, "v1", "serviceaccounts", "made-participant").unwrap();
        assert!(
            sa["metadata"]["annotations"]
                .get("eks.amazonaws.com/role-arn")
                .is_none(),
            "{sa}"
        );
        eventually("ServiceAccountAnnotationConflict", || {
            condition(&server, "both", "Ready")
                .is_some_and(|c| c["reason"] == "ServiceAccountAnnotationConflict")
        })
        .await;
        assert!(deployment(&server, "both-participant").is_none());
        let ready = condition(&server, "both", "Ready").unwrap();
        assert!(
            ready["message"]
                .as_str()
                .unwrap()
                .contains("eks.amazonaws.com/role-arn"),
            "{ready}"
        );
    })
    .await;
}

//! Identity backups through the reconciler: the CronJob is created and removed with the spec, and
//! each finished run (a backup Job's pod and its one-line result) shows in `status.backup`, the
//! `IdentityBackedUp` condition, an Event and the age metric.

mod harness;
mod support;

use harness::*;
use serde_json::{Value, json};
use support::fake_api::FakeApiServer;

const V: (&str, &str) = ("canton-operator.dev/v1alpha1", "validators");

fn backed_up_validator(name: &str) -> canton_operator::api::Validator {
    let mut v = validator(name);
    v.spec.backup = Some(
        serde_json::from_value(json!({"identities": {
            "schedule": "0 */6 * * *",
            "destination": {"s3": {"bucket": "acme-backups", "prefix": "ids", "region": "eu-west-1"}},
            "serviceAccount": {"create": true, "awsRoleArn": "arn:aws:iam::123456789012:role/backup"},
        }}))
        .unwrap(),
    );
    v
}

/// A finished backup Job pod of `validator`, as the Job controller and the kubelet leave it.
fn finished_pod(server: &FakeApiServer, validator: &str, n: u32, finished_at: &str, message: &str) {
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{validator}-identity-backup-{n}"),
            "namespace": NS,
            "labels": {
                "app.kubernetes.io/managed-by": "canton-operator",
                "app.kubernetes.io/name": "canton-validator",
                "app.kubernetes.io/instance": validator,
                "app.kubernetes.io/component": "identity-backup",
            },
        },
        "spec": {"restartPolicy": "Never", "containers": [{"name": "backup", "image": "op"}]},
    });
    let created = server.insert(&pod).unwrap();
    let status = json!({
        "phase": "Succeeded",
        "containerStatuses": [{
            "name": "backup", "image": "op", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {
                "exitCode": 0, "reason": "Completed", "finishedAt": finished_at, "message": message,
            }},
        }],
    });
    let name = created["metadata"]["name"].as_str().unwrap().to_string();
    server
        .set_status("v1", "pods", Some(NS), &name, status)
        .unwrap();
}

fn result(outcome: &str, reason: &str, finished_at: &str) -> String {
    json!({
        "outcome": outcome, "reason": reason, "message": format!("{reason} in the test"),
        "object": format!("ids/validators/acme/identities-{finished_at}.json"),
        "sizeBytes": 4242, "pruned": 0, "finishedAt": finished_at,
    })
    .to_string()
}

fn backup_condition(server: &FakeApiServer, name: &str) -> Option<Value> {
    condition(server, name, "IdentityBackedUp")
}

#[tokio::test]
async fn backups_are_scheduled_watched_and_removed_with_the_spec() {
    within(60, async {
        let server = server();
        server.insert(&backed_up_validator("acme")).unwrap();
        let op = start(
            &server,
            config_from(&[(
                "CANTON_OPERATOR_IMAGE",
                "registry.example/canton-operator:dev",
            )]),
        );
        eventually("the CronJob and its ServiceAccount", || {
            get(&server, "batch/v1", "cronjobs", "acme-identity-backup").is_some()
                && get(&server, "v1", "serviceaccounts", "acme-identity-backup").is_some()
        })
        .await;
        let cron = get(&server, "batch/v1", "cronjobs", "acme-identity-backup").unwrap();
        assert_eq!(cron["spec"]["schedule"], "0 */6 * * *");
        assert_eq!(
            cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/canton-operator:dev",
            "the operator's own image"
        );
        assert_eq!(
            cron["metadata"]["ownerReferences"][0]["kind"], "Validator",
            "owned, so it goes with the Validator"
        );
        eventually("waiting for the first run", || {
            backup_condition(&server, "acme").is_some_and(|c| c["reason"] == "NoBackupYet")
        })
        .await;

        // A verified run.
        let t1 = "2099-01-01T06:00:05Z";
        finished_pod(&server, "acme", 1, t1, &result("Verified", "Verified", t1));
        eventually("IdentityBackedUp=True", || {
            backup_condition(&server, "acme").is_some_and(|c| c["status"] == "True")
        })
        .await;
        let status = validator_obj(&server, "acme").unwrap()["status"]["backup"].clone();
        assert_eq!(status["lastSuccess"]["sizeBytes"], 4242);
        assert_eq!(status["lastAttempt"]["reason"], "Verified");
        let metrics = op.metrics.encode();
        assert!(
            metrics.lines().any(
                |l| l.starts_with("canton_operator_identity_backup_age_seconds{")
                    && l.contains(r#"validator="acme""#)
            ),
            "{metrics}"
        );

        // A failed run after it: False with the run's reason, a Warning Event, the success kept.
        let t2 = "2099-01-01T12:00:04Z";
        finished_pod(
            &server,
            "acme",
            2,
            t2,
            &result("Failed", "WrongParticipant", t2),
        );
        eventually("IdentityBackedUp=False WrongParticipant", || {
            backup_condition(&server, "acme").is_some_and(|c| c["reason"] == "WrongParticipant")
        })
        .await;
        let warnings = events(&server, "WrongParticipant");
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_eq!(warnings[0]["type"], "Warning");
        let status = validator_obj(&server, "acme").unwrap()["status"]["backup"].clone();
        assert_eq!(status["lastSuccess"]["finishedAt"], t1);
        assert_eq!(status["lastAttempt"]["finishedAt"], t2);

        // A pod that died without a result is a failed run too.
        finished_pod(&server, "acme", 3, "2099-01-01T18:00:09Z", "");
        eventually("IdentityBackedUp=False JobFailed", || {
            backup_condition(&server, "acme").is_some_and(|c| c["reason"] == "JobFailed")
        })
        .await;

        // Backups turned off: the CronJob and its ServiceAccount go, and so do the condition and
        // the metric.
        server
            .merge_patch(
                V.0,
                V.1,
                Some(NS),
                "acme",
                json!({"spec": {"backup": null}}),
                "kubectl",
            )
            .unwrap();
        eventually("CronJob and ServiceAccount deleted, condition gone", || {
            get(&server, "batch/v1", "cronjobs", "acme-identity-backup").is_none()
                && get(&server, "v1", "serviceaccounts", "acme-identity-backup").is_none()
                && backup_condition(&server, "acme").is_none()
        })
        .await;
        let metrics = op.metrics.encode();
        assert!(
            !metrics
                .lines()
                .any(|l| (l.starts_with("canton_operator_identity_backup")
                    || l.contains(r#"condition="IdentityBackedUp""#))
                    && l.contains(r#"validator="acme""#)),
            "{metrics}"
        );
    })
    .await;
}

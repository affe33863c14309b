//! Placement, metadata and extra volumes through the reconciler and the stateful fake API
//! server: the production example converges and then rests (no field it renders reads back as a
//! difference), and what another manager adds to a pod template stays.

mod harness;
mod support;

use std::time::Duration;

use canton_operator::manifest::decode_validator;
use harness::*;
use serde_json::json;

const NAME: &str = "pinned";

fn production() -> canton_operator::api::Validator {
    let text = std::fs::read_to_string("examples/validator-production.yaml").unwrap();
    let mut v = decode_validator(&text).unwrap();
    v.metadata.name = Some(NAME.to_string());
    v.metadata.namespace = Some(NS.to_string());
    v
}

fn template_annotations(server: &support::fake_api::FakeApiServer) -> serde_json::Value {
    deployment(server, &format!("{NAME}-participant")).unwrap()["spec"]["template"]["metadata"]
        ["annotations"]
        .clone()
}

#[tokio::test]
async fn a_placed_validator_converges_rests_and_keeps_foreign_annotations() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&production()).unwrap();
        let op = start(&server, config(true));
        // Both Deployments: the validator app's is applied after the participant's.
        eventually("the participant and the validator app are written", || {
            deployment(&server, &format!("{NAME}-participant")).is_some()
                && deployment(&server, &format!("{NAME}-validator-app")).is_some()
        })
        .await;
        let d = deployment(&server, &format!("{NAME}-participant")).unwrap();
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["priorityClassName"], json!("canton-mainnet"));
        assert_eq!(
            pod["tolerations"][0]["key"],
            json!("pool.acme.example/dedicated")
        );
        assert_eq!(pod["volumes"][0]["name"], json!("corporate-ca"));
        assert_eq!(
            template_annotations(&server)["vault.hashicorp.com/agent-inject"],
            json!("true")
        );
        make_available(&server, &format!("{NAME}-participant"));
        make_available(&server, &format!("{NAME}-validator-app"));
        eventually("Ready=True", || {
            condition(&server, NAME, "Ready").is_some_and(|c| c["status"] == "True")
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        op.kill();

        // `kubectl rollout restart` stamps the pod template under its own manager.
        let mut d = deployment(&server, &format!("{NAME}-participant")).unwrap();
        d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] =
            json!("2026-12-06T05:00:00Z");
        d["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        server.update(&d, "kubectl-rollout").unwrap();
        make_available(&server, &format!("{NAME}-participant"));

        let op =
            restart_and_assert_no_writes(&server, "with placement fields, in steady state").await;

        // The user changes their annotation: the operator applies it, the foreign one stays.
        let mut v = validator_obj(&server, NAME).unwrap();
        v["spec"]["participant"]["pod"]["annotations"]["vault.hashicorp.com/role"] =
            json!("canton-participant-v2");
        v["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        server.update(&v, "kubectl-edit").unwrap();
        eventually("the new annotation is applied", || {
            template_annotations(&server)["vault.hashicorp.com/role"]
                == json!("canton-participant-v2")
        })
        .await;
        assert_eq!(
            template_annotations(&server)["kubectl.kubernetes.io/restartedAt"],
            json!("2026-12-06T05:00:00Z"),
            "another manager's annotation is not the operator's to remove"
        );
        drop(op);
    })
    .await;
}

//! The reconciler against a stateful fake API server: one test per behaviour of the controller issue.

mod harness;
mod support;

use std::time::Duration;

use harness::*;
use serde_json::json;

const KMS_VAR: &str = "ADDITIONAL_CONFIG_SPLICE_PARTICIPANT_CRYPTO_KMS";

async fn provisioned(server: &support::fake_api::FakeApiServer, name: &str) {
    let participant = format!("{name}-participant");
    let app = format!("{name}-validator-app");
    eventually("both Deployments exist", || {
        deployment(server, &participant).is_some() && deployment(server, &app).is_some()
    })
    .await;
}

/// Marks both Deployments available and waits for `Ready=True`.
async fn ready(server: &support::fake_api::FakeApiServer, name: &str) {
    make_available(server, &format!("{name}-participant"));
    make_available(server, &format!("{name}-validator-app"));
    eventually("Ready=True", || {
        condition(server, name, "Ready").is_some_and(|c| c["status"] == "True")
    })
    .await;
}

#[tokio::test]
async fn kms_on_records_the_decision_then_provisions_the_seed_participant() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("acme")).unwrap();
        let _op = start(&server, config(true));
        provisioned(&server, "acme").await;

        let v = validator_obj(&server, "acme").unwrap();
        assert_eq!(v["spec"]["kms"]["enabled"], true);
        assert_eq!(v["spec"]["kms"]["mode"], "external");
        assert_eq!(
            v["spec"]["kms"]["aws"],
            json!({"region": "eu-west-1", "auditLogging": true})
        );
        assert_eq!(v["spec"]["serviceAccountName"], SEED_SA);
        assert_eq!(
            participant_env(&server, "acme", KMS_VAR).as_deref(),
            Some(SEED_PARTICIPANT_VALUE)
        );
        let p = deployment(&server, "acme-participant").unwrap();
        assert_eq!(p["spec"]["template"]["spec"]["serviceAccountName"], SEED_SA);
        let app = deployment(&server, "acme-validator-app").unwrap();
        assert!(
            app["spec"]["template"]["spec"]
                .get("serviceAccountName")
                .is_none()
        );
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["uid"],
            v["metadata"]["uid"]
        );

        // The capture went in before any workload: the Validator write precedes the first Deployment apply.
        let requests = server.requests();
        let capture = requests
            .iter()
            .position(|r| r.is_write() && r.path.contains("/validators/acme"))
            .unwrap();
        let first_child = requests
            .iter()
            .position(|r| r.is_write() && r.path.contains("/deployments/"))
            .unwrap();
        assert!(
            capture < first_child,
            "spec.kms must be recorded before any workload is created"
        );
        let capture = &requests[capture];
        assert_eq!(capture.param("fieldManager"), Some("canton-operator"));
        assert_eq!(
            capture.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );

        eventually("KmsConfigured=True", || {
            condition(&server, "acme", "KmsConfigured")
                .is_some_and(|c| c["status"] == "True" && c["reason"] == "ExternalKeys")
        })
        .await;
        eventually("one KmsDecisionRecorded event", || {
            events(&server, "KmsDecisionRecorded").len() == 1
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn kms_off_provisions_without_kms() {
    within(30, async {
        let server = server();
        server.insert(&validator("plain")).unwrap();
        let _op = start(&server, config(false));
        provisioned(&server, "plain").await;
        assert_eq!(
            validator_obj(&server, "plain").unwrap()["spec"]["kms"],
            json!({"enabled": false, "mode": "external"})
        );
        assert_eq!(participant_env(&server, "plain", KMS_VAR), None);
        let p = deployment(&server, "plain-participant").unwrap();
        assert!(
            p["spec"]["template"]["spec"]
                .get("serviceAccountName")
                .is_none()
        );
        eventually("KmsConfigured says keys on node", || {
            condition(&server, "plain", "KmsConfigured")
                .is_some_and(|c| c["reason"] == "KeysOnNode")
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn environment_switch_touches_only_new_validators() {
    within(40, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("before")).unwrap();
        let op = start(&server, config(false));
        provisioned(&server, "before").await;
        op.kill();

        // The operator restarts with KMS on: the old validator keeps its participant, a new one gets KMS.
        server.insert(&validator("after")).unwrap();
        let op = start(&server, config(true));
        provisioned(&server, "after").await;
        settle(&server, Duration::from_millis(300)).await;
        assert_eq!(participant_env(&server, "before", KMS_VAR), None);
        assert_eq!(
            participant_env(&server, "after", KMS_VAR).as_deref(),
            Some(SEED_PARTICIPANT_VALUE)
        );
        op.kill();

        // And back: KMS off again never removes KMS from the validator that recorded it.
        server.clear_requests();
        let op = start(&server, config(false));
        eventually("the third operator reconciled both validators", || {
            reconciles(&op) >= 2
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        assert!(
            !server
                .writes()
                .iter()
                .any(|r| r.path.contains("/deployments/")),
            "the third operator rewrote a workload"
        );
        assert_eq!(
            participant_env(&server, "after", KMS_VAR).as_deref(),
            Some(SEED_PARTICIPANT_VALUE)
        );
        assert_eq!(participant_env(&server, "before", KMS_VAR), None);
    })
    .await;
}

#[tokio::test]
async fn broken_environment_refuses_only_validators_that_need_it() {
    within(30, async {
        let server = server();
        let broken = config_from(&[
            ("CANTON_TOPOLOGY_KMS_ENABLED", "true"),
            ("CANTON_TOPOLOGY_KMS_VALUE", SEED_VALUE),
        ]);
        server.insert(&validator("needs-default")).unwrap();
        let mut own = validator("has-own");
        own.spec.kms = Some(canton_operator::api::KmsSpec::disabled());
        server.insert(&own).unwrap();
        let _op = start(&server, broken);

        provisioned(&server, "has-own").await;
        eventually("refusal in status", || {
            condition(&server, "needs-default", "Ready").is_some_and(|c| {
                c["status"] == "False"
                    && c["reason"] == "KmsServiceAccountMissing"
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("CANTON_TOPOLOGY_KMS_SERVICE_ACCOUNT"))
            })
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        assert!(
            deployment(&server, "needs-default-participant").is_none(),
            "no workload while refused"
        );
        assert!(
            validator_obj(&server, "needs-default").unwrap()["spec"]
                .get("kms")
                .is_none(),
            "nothing recorded"
        );
        assert_eq!(events(&server, "KmsServiceAccountMissing").len(), 1);
        assert_eq!(
            events(&server, "KmsServiceAccountMissing")[0]["type"],
            "Warning"
        );
    })
    .await;
}

#[tokio::test]
async fn fixing_the_environment_and_restarting_provisions_the_refused_validator() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("late")).unwrap();
        let broken = config_from(&[("CANTON_TOPOLOGY_KMS_ENABLED", "true")]);
        let op = start(&server, broken);
        eventually("refused", || {
            condition(&server, "late", "Ready")
                .is_some_and(|c| c["reason"] == "KmsServiceAccountMissing")
        })
        .await;
        op.kill();
        let _op = start(&server, config(true));
        provisioned(&server, "late").await;
        assert_eq!(
            participant_env(&server, "late", KMS_VAR).as_deref(),
            Some(SEED_PARTICIPANT_VALUE)
        );
    })
    .await;
}

#[tokio::test]
async fn drift_is_restored_and_reported() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("acme")).unwrap();
        let _op = start(&server, config(true));
        provisioned(&server, "acme").await;
        settle(&server, Duration::from_millis(200)).await;

        // Someone drops the KMS variable and changes the ServiceAccount (kubectl edit).
        let mut d = deployment(&server, "acme-participant").unwrap();
        let env = d["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().clone();
        let kept: Vec<_> = env.into_iter().filter(|e| e["name"] != KMS_VAR).collect();
        d["spec"]["template"]["spec"]["containers"][0]["env"] = json!(kept);
        d["spec"]["template"]["spec"]["serviceAccountName"] = json!("default");
        d["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        server.clear_requests();
        server.update(&d, "kubectl-edit").unwrap();
        assert_eq!(participant_env(&server, "acme", KMS_VAR), None);

        eventually("KMS variable restored", || {
            participant_env(&server, "acme", KMS_VAR).as_deref() == Some(SEED_PARTICIPANT_VALUE)
        })
        .await;
        eventually("ServiceAccount restored", || {
            deployment(&server, "acme-participant").unwrap()["spec"]["template"]["spec"]["serviceAccountName"] == SEED_SA
        })
        .await;
        eventually("DriftCorrected event", || !events(&server, "DriftCorrected").is_empty()).await;
        // Its fingerprint differed, so it was read once to compare it: by the rollout plan, whose
        // read the apply then used.
        assert_eq!(
            child_reads(&server, "acme"),
            vec![format!("/apis/apps/v1/namespaces/{NS}/deployments/acme-participant")]
        );

        // A label edited on a Service (the caches keep labels only in the object's JSON).
        let part_of = |server: &support::fake_api::FakeApiServer| {
            get(server, "v1", "services", "acme-participant").unwrap()["metadata"]["labels"]
                ["app.kubernetes.io/part-of"]
                .clone()
        };
        let mut s = get(&server, "v1", "services", "acme-participant").unwrap();
        s["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("something-else");
        s["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        server.update(&s, "kubectl-edit").unwrap();
        assert_eq!(part_of(&server), json!("something-else"));
        eventually("Service label restored", || {
            part_of(&server) == json!("canton-network")
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn steady_state_sends_no_writes() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("calm")).unwrap();
        let op = start(&server, config(true));
        provisioned(&server, "calm").await;
        ready(&server, "calm").await;
        settle(&server, Duration::from_millis(300)).await;
        op.kill();

        // A restarted operator reconciles everything again: it must find nothing to write.
        let _op = restart_and_assert_no_writes(&server, "in steady state").await;
        // Every child's cached fingerprint matches the render: none is read to compare.
        assert_eq!(child_reads(&server, "calm"), Vec::<String>::new());
    })
    .await;
}

/// A child that says more than the render (here a label the operator's own field manager once
/// applied) differs by fingerprint, so it is read and compared field by field once: it says
/// everything the render says, so nothing is written, and later reconciles neither read nor
/// write it.
#[tokio::test]
async fn a_child_that_says_more_than_the_render_is_read_once_and_left_alone() {
    within(40, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("more")).unwrap();
        let op = start(&server, config(true));
        provisioned(&server, "more").await;
        ready(&server, "more").await;
        settle(&server, Duration::from_millis(300)).await;

        let mut service = get(&server, "v1", "services", "more-participant").unwrap();
        let meta = service["metadata"].as_object_mut().unwrap();
        for server_set in ["resourceVersion", "managedFields", "uid", "creationTimestamp"] {
            meta.remove(server_set);
        }
        service["metadata"]["labels"]["example.com/extra"] = json!("kept");
        service.as_object_mut().unwrap().remove("status");
        server.apply(&service, "canton-operator", true).unwrap();
        let touch = |i: usize| {
            server
                .merge_patch(
                    "canton-operator.dev/v1alpha1",
                    "validators",
                    Some(NS),
                    "more",
                    json!({"metadata": {"annotations": {"example.com/touched": i.to_string()}}}),
                    "kubectl",
                )
                .unwrap();
        };
        server.clear_requests();
        let before = reconciles(&op);
        touch(0);
        eventually("a reconcile after the edit", || reconciles(&op) > before).await;
        settle(&server, Duration::from_millis(300)).await;
        assert_no_writes(&server, "for a child that says more than the render");
        assert_eq!(
            child_reads(&server, "more"),
            vec![format!("/api/v1/namespaces/{NS}/services/more-participant")]
        );

        server.clear_requests();
        for i in 1..3 {
            let before = reconciles(&op);
            touch(i);
            eventually("a reconcile after the edit", || reconciles(&op) > before).await;
        }
        settle(&server, Duration::from_millis(300)).await;
        assert_no_writes(&server, "on later reconciles");
        assert_eq!(child_reads(&server, "more"), Vec::<String>::new());
        assert_eq!(
            get(&server, "v1", "services", "more-participant").unwrap()["metadata"]["labels"]
                ["example.com/extra"],
            "kept"
        );
    })
    .await;
}

/// Reconciles completed so far, from the operator's metrics.
fn reconciles(op: &Operator) -> u64 {
    op.metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix("canton_operator_reconciles_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A Validator whose resources are not spelled canonically (`1000m`, `16384Mi`): the API server
/// stores its children's quantities as `1` and `16Gi`, which must not count as drift. Reconciles
/// (triggered by annotation edits) write nothing and publish no Event; a real edit is still put
/// back.
#[tokio::test]
async fn non_canonical_quantities_are_not_drift() {
    within(40, async {
        let server = server();
        seed_service_account(&server);
        let mut v = validator("quant");
        v.spec.participant.resources = Some(
            serde_json::from_value(json!({
                "requests": {"cpu": "1000m", "memory": "16384Mi"},
                "limits": {"cpu": "2000m", "memory": "16384Mi"},
            }))
            .unwrap(),
        );
        server.insert(&v).unwrap();
        let op = start(&server, config(true));
        provisioned(&server, "quant").await;
        ready(&server, "quant").await;
        let resources = |server: &support::fake_api::FakeApiServer| {
            deployment(server, "quant-participant").unwrap()["spec"]["template"]["spec"]
                ["containers"][0]["resources"]
                .clone()
        };
        assert_eq!(
            resources(&server),
            json!({"requests": {"cpu": "1", "memory": "16Gi"}, "limits": {"cpu": "2", "memory": "16Gi"}}),
            "the server stores quantities canonical"
        );
        settle(&server, Duration::from_millis(300)).await;

        server.clear_requests();
        let events_before = server.list("events.k8s.io/v1", "events", Some(NS)).len();
        for i in 0..4 {
            let before = reconciles(&op);
            server
                .merge_patch(
                    "canton-operator.dev/v1alpha1",
                    "validators",
                    Some(NS),
                    "quant",
                    json!({"metadata": {"annotations": {"example.com/touched": i.to_string()}}}),
                    "kubectl",
                )
                .unwrap();
            eventually("a reconcile after the annotation edit", || {
                reconciles(&op) > before
            })
            .await;
        }
        settle(&server, Duration::from_millis(300)).await;
        assert_no_writes(&server, "with canonical quantities on the server");
        assert_eq!(
            child_reads(&server, "quant"),
            Vec::<String>::new(),
            "the fingerprints compare quantities by value"
        );
        assert_eq!(
            server.list("events.k8s.io/v1", "events", Some(NS)).len(),
            events_before,
            "no Event"
        );

        // A real change of a quantity is still drift.
        let mut d = deployment(&server, "quant-participant").unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = json!("3");
        d["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        server.update(&d, "kubectl-edit").unwrap();
        eventually("cpu limit restored", || {
            resources(&server)["limits"]["cpu"] == "2"
        })
        .await;
        eventually("DriftCorrected event", || {
            !events(&server, "DriftCorrected").is_empty()
        })
        .await;
    })
    .await;
}

/// Provisioning at the floor: the watch events of the operator's own writes start no further
/// reconcile, so each child is written once, the capture once, the status once, and each Event
/// is published once. Someone else's status edit is still put right.
#[tokio::test]
async fn provisioning_writes_each_object_once_and_others_status_edits_are_undone() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("once")).unwrap();
        let op = start(&server, config(true));
        provisioned(&server, "once").await;
        eventually("KmsConfigured=True", || {
            condition(&server, "once", "KmsConfigured").is_some_and(|c| c["status"] == "True")
        })
        .await;
        settle(&server, Duration::from_millis(500)).await;
        // Each path with "?" appended, so "/validators/once?" is not "/validators/once/status?".
        let writes: Vec<String> = server
            .writes()
            .iter()
            .filter(|r| !r.path.contains("/events"))
            .map(|r| format!("{} {}?", r.method, r.path))
            .collect();
        for path in [
            "/validators/once?",
            "/validators/once/status?",
            "/deployments/once-participant?",
            "/deployments/once-validator-app?",
            "/services/once-participant?",
            "/services/once-validator-app?",
            "/networkpolicies/once-participant-admin?",
            "/deployments/once-wallet-web-ui?",
            "/services/once-wallet-web-ui?",
            "/deployments/once-ans-web-ui?",
            "/services/once-ans-web-ui?",
        ] {
            let n = writes.iter().filter(|w| w.contains(path)).count();
            assert_eq!(n, 1, "{path} written {n} times: {writes:#?}");
        }
        assert_eq!(writes.len(), 11, "{writes:#?}");
        assert_eq!(
            reconciles(&op),
            1,
            "the echoes of the operator's own writes started more reconciles"
        );
        assert_eq!(events(&server, "KmsDecisionRecorded").len(), 1);
        assert_eq!(events(&server, "Provisioned").len(), 1);
        let v = validator_obj(&server, "once").unwrap();
        assert_eq!(
            condition(&server, "once", "ParticipantReady").unwrap()["reason"],
            "Progressing",
            "the status saw the Deployments this reconcile wrote: {}",
            v["status"]
        );

        // Someone else rewrites the status: that is no echo, and it is put right.
        let mut status = v["status"].clone();
        status["conditions"][0]["reason"] = json!("EditedByHand");
        server
            .set_status(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "once",
                status,
            )
            .unwrap();
        eventually("the status is put right", || {
            condition(&server, "once", "Ready").is_some_and(|c| c["reason"] != "EditedByHand")
        })
        .await;
    })
    .await;
}

/// The shipped debounce coalesces triggers; it must not hide any: a validator provisions,
/// becomes Ready, has drift restored, and then rests.
#[tokio::test]
async fn with_the_shipped_debounce_validators_converge_and_rest() {
    within(30, async {
        let server = server();
        seed_service_account(&server);
        server.insert(&validator("slow")).unwrap();
        let debounce = Duration::from_millis(canton_operator::controller::DEFAULT_DEBOUNCE_MS);
        let _op = start_with_debounce(&server, config(true), debounce);
        provisioned(&server, "slow").await;
        ready(&server, "slow").await;

        let mut d = deployment(&server, "slow-participant").unwrap();
        d["spec"]["template"]["spec"]["serviceAccountName"] = json!("default");
        d["metadata"].as_object_mut().unwrap().remove("resourceVersion");
        server.update(&d, "kubectl-edit").unwrap();
        eventually("ServiceAccount restored", || {
            deployment(&server, "slow-participant").unwrap()["spec"]["template"]["spec"]["serviceAccountName"] == SEED_SA
        })
        .await;

        settle(&server, debounce * 3).await;
        server.clear_requests();
        settle(&server, debounce * 4).await;
        assert_no_writes(&server, "at rest");
    })
    .await;
}

#[tokio::test]
async fn status_transition_time_is_stable_and_ready_follows_deployments() {
    within(30, async {
        let server = server();
        server.insert(&validator("st")).unwrap();
        let _op = start(&server, config(false));
        provisioned(&server, "st").await;
        eventually("ParticipantReady=False", || {
            condition(&server, "st", "ParticipantReady").is_some_and(|c| c["status"] == "False")
        })
        .await;
        let kms_before = condition(&server, "st", "KmsConfigured").unwrap();
        ready(&server, "st").await;
        let kms_after = condition(&server, "st", "KmsConfigured").unwrap();
        assert_eq!(
            kms_before["lastTransitionTime"],
            kms_after["lastTransitionTime"]
        );
        let v = validator_obj(&server, "st").unwrap();
        assert_eq!(
            v["status"]["observedGeneration"],
            v["metadata"]["generation"]
        );
        assert_eq!(v["status"]["kms"]["summary"], "off");
    })
    .await;
}

#[tokio::test]
async fn api_errors_back_off_and_converge_and_one_bad_validator_blocks_nobody() {
    within(40, async {
        let server = server();
        server.inject(
            support::fake_api::Fault::new(500)
                .path("/deployments/ok-participant")
                .times(3),
        );
        server.insert(&validator("ok")).unwrap();
        let mut bad = validator("this-name-is-far-too-long-for-its-validator-app-service");
        bad.spec.kms = Some(canton_operator::api::KmsSpec::disabled());
        server.insert(&bad).unwrap();
        let op = start(&server, config(false));
        provisioned(&server, "ok").await;
        let participant_writes = server
            .requests()
            .iter()
            .filter(|r| r.is_write() && r.path.contains("/deployments/ok-participant"))
            .count();
        assert_eq!(
            participant_writes, 4,
            "three failed writes, then the one that went through"
        );
        assert!(
            metric(
                &op,
                r#"canton_operator_reconcile_failures_total{reason="Api500"}"#
            )
            .is_some_and(|n| n >= 3),
            "the 500s failed reconciles:\n{}",
            op.metrics.encode()
        );
        eventually("the bad one is refused with a reason", || {
            condition(
                &server,
                "this-name-is-far-too-long-for-its-validator-app-service",
                "Ready",
            )
            .is_some_and(|c| c["reason"] == "InvalidName")
        })
        .await;
    })
    .await;
}

/// What deletion needs from the operator: every child names the Validator as its controlling
/// owner (the garbage collector, not the operator, then removes them), and a Validator being
/// deleted gets nothing recreated.
#[tokio::test]
async fn children_are_owned_and_a_validator_being_deleted_is_left_alone() {
    within(30, async {
        let server = server();
        let mut v = validator("gone");
        v.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        server.insert(&v).unwrap();
        let op = start(&server, config(false));
        provisioned(&server, "gone").await;
        settle(&server, Duration::from_millis(300)).await;
        let uid = validator_obj(&server, "gone").unwrap()["metadata"]["uid"].clone();
        let children = [
            ("apps/v1", "deployments", "gone-participant"),
            ("apps/v1", "deployments", "gone-validator-app"),
            ("v1", "services", "gone-participant"),
            ("v1", "services", "gone-validator-app"),
            (
                "networking.k8s.io/v1",
                "networkpolicies",
                "gone-participant-admin",
            ),
        ];
        for (api_version, plural, name) in children {
            let child = get(&server, api_version, plural, name)
                .unwrap_or_else(|| panic!("{plural}/{name} exists"));
            let owners = child["metadata"]["ownerReferences"].as_array().unwrap();
            assert_eq!(owners.len(), 1, "{plural}/{name}");
            let owner = &owners[0];
            assert_eq!(owner["kind"], "Validator", "{plural}/{name}");
            assert_eq!(owner["apiVersion"], "canton-operator.dev/v1alpha1");
            assert_eq!(owner["name"], "gone");
            assert_eq!(owner["uid"], uid, "{plural}/{name}");
            assert_eq!(owner["controller"], true, "{plural}/{name}");
        }

        // Deletion starts (another finalizer holds the Validator); its workloads go, as the
        // garbage collector's foreground deletion would remove them. The operator must not
        // bring them back.
        server
            .delete(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "gone",
            )
            .unwrap();
        assert!(
            validator_obj(&server, "gone").unwrap()["metadata"]["deletionTimestamp"].is_string()
        );
        settle(&server, Duration::from_millis(300)).await;
        server.clear_requests();
        let before = reconciles(&op);
        server
            .delete("apps/v1", "deployments", Some(NS), "gone-participant")
            .unwrap();
        server
            .delete("v1", "services", Some(NS), "gone-participant")
            .unwrap();
        eventually("the operator reconciled after the deletions", || {
            reconciles(&op) > before
        })
        .await;
        settle(&server, Duration::from_millis(500)).await;
        assert!(
            deployment(&server, "gone-participant").is_none(),
            "recreated"
        );
        assert!(
            get(&server, "v1", "services", "gone-participant").is_none(),
            "recreated"
        );
        assert_no_writes(&server, "while the Validator is being deleted");
    })
    .await;
}

/// A sample of the operator's metrics text, by its exact name and labels.
fn metric(op: &Operator, sample: &str) -> Option<i64> {
    op.metrics.encode().lines().find_map(|l| {
        l.strip_prefix(sample)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Deleting a Validator (no finalizer, so no reconcile sees it) drops it from the `validators`
/// gauge and from the failure counts, here while it was failing.
/// Two provisioned validators, `doomed` and `kept`, both counted in the `validators` gauge, and
/// that gauge's series.
async fn doomed_and_kept(server: &support::fake_api::FakeApiServer) -> (Operator, &'static str) {
    server.insert(&validator("doomed")).unwrap();
    server.insert(&validator("kept")).unwrap();
    let op = start(server, config(false));
    provisioned(server, "doomed").await;
    provisioned(server, "kept").await;
    let off = r#"canton_operator_validators{kms="off"}"#;
    eventually("both counted", || metric(&op, off) == Some(2)).await;
    (op, off)
}

#[tokio::test]
async fn a_deleted_validator_is_forgotten() {
    within(40, async {
        let server = server();
        let (op, off) = doomed_and_kept(&server).await;

        // Its participant can no longer be written, and someone edits it: every reconcile fails.
        server.inject(
            support::fake_api::Fault::new(500)
                .path("/deployments/doomed-participant")
                .times(1_000_000),
        );
        let mut d = deployment(&server, "doomed-participant").unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example.com/other:1");
        d["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("resourceVersion");
        server.update(&d, "kubectl-edit").unwrap();
        eventually("the failing validator is counted", || {
            metric(&op, "canton_operator_validators_failing") == Some(1)
        })
        .await;

        server
            .delete(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "doomed",
            )
            .unwrap();
        eventually("forgotten", || {
            metric(&op, off) == Some(1)
                && metric(&op, "canton_operator_validators_failing") == Some(0)
        })
        .await;
        settle(&server, Duration::from_millis(300)).await;
        assert_eq!(
            metric(&op, off),
            Some(1),
            "the other validator is still counted"
        );
        assert_eq!(metric(&op, "canton_operator_validators_failing"), Some(0));
    })
    .await;
}

/// A Validator deleted while the watch was down brings no delete event: the re-list that follows
/// must forget it.
#[tokio::test]
async fn a_validator_deleted_while_the_watch_was_down_is_forgotten_after_the_relist() {
    within(40, async {
        let server = server();
        let (op, off) = doomed_and_kept(&server).await;

        // No event reaches the operator; the Validator goes; the watches expire (410) and re-list.
        server.pause_watches();
        server
            .delete(
                "canton-operator.dev/v1alpha1",
                "validators",
                Some(NS),
                "doomed",
            )
            .unwrap();
        server.clear_requests();
        server.expire_watches();
        eventually("the Validators were listed again", || {
            server
                .requests()
                .iter()
                .any(|r| r.param("watch").is_none() && r.path.ends_with("/validators"))
        })
        .await;
        eventually("forgotten after the re-list", || {
            metric(&op, off) == Some(1)
        })
        .await;
        server.resume_watches();
    })
    .await;
}

#[tokio::test]
async fn only_the_leader_writes_and_losing_the_lease_stops_writes() {
    within(40, async {
        let server = server();
        server.insert(&validator("first")).unwrap();
        let (leading, leading_rx) = tokio::sync::watch::channel(false);
        let (_shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let metrics = std::sync::Arc::new(canton_operator::metrics::Metrics::new());
        let settings = canton_operator::controller::Settings {
            namespace: None,
            concurrency: 2,
            debounce: std::time::Duration::ZERO,
            max_concurrent_rollouts: 1,
        };
        let task = tokio::spawn(canton_operator::controller::run(
            server.client(),
            config(false),
            settings,
            metrics,
            leading_rx,
            shutdown_rx,
        ));
        settle(&server, Duration::from_millis(300)).await;
        assert_eq!(server.count_writes(), 0, "a standby replica wrote");

        leading.send_replace(true);
        provisioned(&server, "first").await;
        settle(&server, Duration::from_millis(300)).await;

        leading.send_replace(false);
        server.clear_requests();
        server.insert(&validator("second")).unwrap();
        settle(&server, Duration::from_millis(500)).await;
        assert_no_writes(&server, "after losing the lease");

        leading.send_replace(true);
        provisioned(&server, "second").await;
        task.abort();
    })
    .await;
}

/// Not a check: prints the requests of provisioning 100 validators in process, on a
/// multi-threaded runtime (where a write's watch event can overtake its answer) with the shipped
/// debounce. `cargo test --test controller requests_per_validator -- --ignored --nocapture`;
/// figures in docs/reliability.md ("Own writes start no reconcile").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn requests_per_validator_in_process() {
    let server = server();
    seed_service_account(&server);
    let n = 100;
    for i in 0..n {
        server.insert(&validator(&format!("v{i}"))).unwrap();
    }
    let debounce = Duration::from_millis(canton_operator::controller::DEFAULT_DEBOUNCE_MS);
    let op = start_with_debounce(&server, config(true), debounce);
    within(60, async {
        let all = || {
            (0..n).all(|i| {
                condition(&server, &format!("v{i}"), "KmsConfigured")
                    .is_some_and(|c| c["status"] == "True")
            })
        };
        while !all() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    settle(&server, Duration::from_millis(1500)).await;
    let requests = server.requests();
    let per = |count: usize| count as f64 / f64::from(n);
    let all = requests
        .iter()
        .filter(|r| !r.is_watch() && !r.path.contains("/leases"))
        .count();
    let writes = requests.iter().filter(|r| r.is_write()).count();
    let status = requests
        .iter()
        .filter(|r| r.is_write() && r.path.ends_with("/status"))
        .count();
    println!(
        "{n} validators: {} reconciles; per validator {:.2} requests (not watches or the Lease), {:.2} writes, {:.2} status patches",
        reconciles(&op),
        per(all),
        per(writes),
        per(status)
    );
}

//! Behaviour of the in-memory fake apiserver (tests/support/fake_api),
//! driven through kube's own `Api`, `watcher` and `Recorder` so the fake is
//! checked against exactly the requests kube sends.

mod support;

use std::time::Duration;

use futures::{Stream, StreamExt};
use http::Method;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    PropagationPolicy, WatchEvent, WatchParams,
};
use kube::core::GroupVersionKind;
use kube::runtime::events::{Event as RecorderEvent, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, KubeSchema, Resource};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::fake_api::{FakeApiServer, Fault};

/// A test CRD with a create-time rule, a transition rule, and a field that
/// keeps unknown content.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "test.example.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
#[x_kube(validation = Rule::new("self.replicas >= 0").message("replicas must not be negative"))]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    #[x_kube(validation = Rule::new("self == oldSelf").message("storageClass is immutable"))]
    storage_class: String,
    replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form")]
    extra: Option<Value>,
}

/// Status of the test CRD.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Default)]
pub struct WidgetStatus {
    ready: bool,
}

fn free_form(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    serde_json::from_value(json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}))
        .expect("static schema")
}

const WAIT: Duration = Duration::from_secs(5);

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image, "env": [{"name": "A", "value": "1"}]}]},
            },
        },
    }))
    .expect("valid deployment")
}

fn config_map(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }))
    .expect("valid configmap")
}

fn widget(name: &str, storage: &str, replicas: i32) -> Widget {
    Widget::new(
        name,
        WidgetSpec {
            storage_class: storage.into(),
            replicas,
            extra: None,
        },
    )
}

fn widget_server() -> FakeApiServer {
    let server = FakeApiServer::new();
    server.register_crd(&Widget::crd()).expect("crd registers");
    server
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.example.com", "v1", "Widget"),
        "widgets",
    )
}

fn rv<K: Resource>(obj: &K) -> String {
    obj.meta()
        .resource_version
        .clone()
        .expect("resourceVersion set")
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn next_event<S, T>(stream: &mut S) -> T
where
    S: Stream<Item = T> + Unpin,
{
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("event within timeout")
        .expect("stream still open")
}

#[tokio::test]
async fn create_get_list_with_selectors_and_pagination() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        api.create(
            &PostParams::default(),
            &config_map(name, json!({"tier": tier, "n": name})),
        )
        .await
        .expect("create");
    }
    api.create(&PostParams::default(), &config_map("d", json!({})))
        .await
        .expect("create");

    let got = api.get("a").await.expect("get");
    assert!(got.metadata.uid.is_some() && got.metadata.creation_timestamp.is_some());
    assert_eq!(
        got.metadata.generation, None,
        "configmaps have no generation"
    );

    let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect()
    };
    let cases = [
        ("tier=web", vec!["a", "c"]),
        ("tier==db", vec!["b"]),
        ("tier!=web", vec!["b", "d"]),
        ("tier in (db, web),n notin (c)", vec!["a", "b"]),
        ("tier", vec!["a", "b", "c"]),
        ("!tier", vec!["d"]),
    ];
    for (selector, expected) in cases {
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list");
        assert_eq!(names(list), expected, "selector {selector}");
    }
    let by_name = api
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .expect("list");
    assert_eq!(names(by_name), vec!["b"]);
    let err = api
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .expect_err("unsupported field");
    assert_eq!(api_error(err).code, 400);

    let first = api
        .list(&ListParams::default().limit(3))
        .await
        .expect("page 1");
    let token = first.metadata.continue_.clone().expect("continue token");
    assert_eq!(first.items.len(), 3);
    let second = api
        .list(&ListParams::default().limit(3).continue_token(&token))
        .await
        .expect("page 2");
    assert_eq!(names(second.clone()), vec!["d"]);
    assert!(second.metadata.continue_.is_none());
}

#[tokio::test]
async fn create_errors_match_the_apiserver() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &config_map("x", json!({})))
        .await
        .expect("create");

    let dup = api_error(
        api.create(&PostParams::default(), &config_map("x", json!({})))
            .await
            .expect_err("409"),
    );
    assert_eq!((dup.code, dup.reason.as_str()), (409, "AlreadyExists"));

    let bad = api_error(
        api.create(&PostParams::default(), &config_map("Bad_Name", json!({})))
            .await
            .expect_err("422"),
    );
    assert_eq!((bad.code, bad.reason.as_str()), (422, "Invalid"));
    assert!(bad.message.contains("RFC 1123"), "{}", bad.message);

    let bad_label = config_map("y", json!({"app": "has spaces"}));
    let err = api_error(
        api.create(&PostParams::default(), &bad_label)
            .await
            .expect_err("422"),
    );
    assert!(err.message.contains("metadata.labels"), "{}", err.message);

    let mut other_ns = config_map("z", json!({}));
    other_ns.metadata.namespace = Some("other".into());
    let err = api_error(
        api.create(&PostParams::default(), &other_ns)
            .await
            .expect_err("400"),
    );
    assert_eq!(err.code, 400);

    let copied = api.get("x").await.expect("get");
    let mut copy = copied.clone();
    copy.metadata.name = Some("copy".into());
    let err = api_error(
        api.create(&PostParams::default(), &copy)
            .await
            .expect_err("rv set on create"),
    );
    assert_eq!(err.code, 400);
    assert!(
        err.message.contains("resourceVersion should not be set"),
        "{}",
        err.message
    );

    let mut huge = config_map("huge", json!({}));
    huge.data = Some([("blob".to_string(), "x".repeat(1024 * 1024 + 1))].into());
    let err = api_error(
        api.create(&PostParams::default(), &huge)
            .await
            .expect_err("too big"),
    );
    assert_eq!(err.code, 422);

    let missing_ns: Api<ConfigMap> = Api::namespaced(server.client(), "nope");
    let err = api_error(
        missing_ns
            .create(&PostParams::default(), &config_map("z", json!({})))
            .await
            .expect_err("404"),
    );
    assert_eq!(err.code, 404);
    assert!(err.message.contains("namespaces \"nope\" not found"));

    let mut generated = config_map("", json!({}));
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let made = api
        .create(&PostParams::default(), &generated)
        .await
        .expect("generateName");
    let name = made.metadata.name.expect("name");
    assert!(
        name.starts_with("gen-") && name.len() == "gen-".len() + 5,
        "{name}"
    );
}

#[tokio::test]
async fn deployments_get_defaults_and_generation_tracks_spec_only() {
    let server = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let created = api
        .create(&PostParams::default(), &deployment("web", 2, "nginx:1.27"))
        .await
        .expect("create");
    assert_eq!(created.metadata.generation, Some(1));
    let spec = created.spec.clone().expect("spec");
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    let container = &spec.template.spec.expect("pod spec").containers[0];
    assert_eq!(container.image_pull_policy.as_deref(), Some("IfNotPresent"));

    let labelled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("label patch");
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "labels do not bump generation"
    );

    let scaled = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scale");
    assert_eq!(scaled.metadata.generation, Some(2));

    let same = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("no-op patch");
    assert_eq!(
        rv(&same),
        rv(&scaled),
        "a no-op write keeps the resourceVersion"
    );
    assert_eq!(same.metadata.generation, Some(2));

    let mut mismatched = deployment("bad", 1, "nginx");
    mismatched
        .spec
        .as_mut()
        .expect("spec")
        .selector
        .match_labels = Some([("app".to_string(), "other".to_string())].into());
    let err = api_error(
        api.create(&PostParams::default(), &mismatched)
            .await
            .expect_err("selector mismatch"),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("`selector` does not match template `labels`"),
        "{}",
        err.message
    );
}

/// With the Deployment controller on, an applied Deployment comes back as from a 1.33 cluster:
/// the revision annotation, a rolling-out status with conditions, and the controller's own
/// managedFields entry on the status subresource; the generation stays; making it available
/// finishes the rollout, and a new spec starts the next revision.
#[tokio::test]
async fn the_deployment_controller_gives_deployments_a_real_servers_shape() {
    let server = FakeApiServer::new();
    server.run_deployment_controller(true);
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let apply = PatchParams::apply("canton-operator").force();
    api.patch(
        "web",
        &apply,
        &Patch::Apply(deployment("web", 1, "nginx:1.27")),
    )
    .await
    .expect("apply");
    let live = server
        .get("apps/v1", "deployments", Some("default"), "web")
        .expect("stored");
    assert_eq!(live["metadata"]["generation"], 1);
    assert_eq!(
        live["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let status = &live["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["unavailableReplicas"], 1);
    let conditions: Vec<(&str, &str)> = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or(""),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        conditions,
        [("Available", "False"), ("Progressing", "True")]
    );
    let managers: Vec<(&str, &str, &str)> = live["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or("");
            (text("manager"), text("operation"), text("subresource"))
        })
        .collect();
    assert_eq!(
        managers,
        [
            ("canton-operator", "Apply", ""),
            ("kube-controller-manager", "Update", "status")
        ]
    );
    assert!(live["metadata"]["creationTimestamp"].is_string());
    assert_eq!(
        live.pointer("/spec/template/spec/containers/0/terminationMessagePath"),
        Some(&json!("/dev/termination-log"))
    );

    let available = server.make_deployment_available(&live).expect("available");
    assert_eq!(available["status"]["availableReplicas"], 1);
    assert_eq!(available["status"]["conditions"][0]["status"], "True");
    assert_eq!(available["metadata"]["generation"], 1);

    api.patch(
        "web",
        &apply,
        &Patch::Apply(deployment("web", 1, "nginx:1.28")),
    )
    .await
    .expect("new image");
    let rolled = server
        .get("apps/v1", "deployments", Some("default"), "web")
        .expect("stored");
    assert_eq!(rolled["metadata"]["generation"], 2);
    assert_eq!(rolled["status"]["observedGeneration"], 2);
    assert_eq!(
        rolled["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
}

/// Quantities come back canonical, as from a real apiserver: suffix family kept, largest suffix
/// that keeps an integer, millis when fractional; an apply of another spelling of the stored value
/// is a no-op; a malformed quantity is refused.
#[tokio::test]
async fn quantities_are_stored_canonical() {
    let server = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let cases = [
        ("1000m", "1"),
        ("16384Mi", "16Gi"),
        ("0.5", "500m"),
        ("1000", "1k"),
        ("1024", "1024"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("1.1Ki", "1126400m"),
        ("1Ki", "1Ki"),
        ("2048Ki", "2Mi"),
        ("1e3", "1e3"),
        ("1.5e3", "1500"),
        ("100e-3", "100e-3"),
        ("12E6", "12e6"),
        ("0.0001", "100u"),
        ("0.1n", "1n"),
        ("0Mi", "0"),
        ("1E", "1E"),
        ("100Mi", "100Mi"),
        (" 2 ", "2"),
    ];
    let limits: serde_json::Map<String, Value> = cases
        .iter()
        .enumerate()
        .map(|(i, (written, _))| (format!("example.com/r{i}"), json!(written)))
        .collect();
    let mut d = serde_json::to_value(deployment("q", 1, "nginx:1.27")).unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": limits, "requests": {"cpu": "250m", "memory": "0.5Gi"}});
    d["spec"]["template"]["spec"]["volumes"] =
        json!([{"name": "tmp", "emptyDir": {"sizeLimit": "2048Mi"}}]);
    let created = server.apply(&d, "writer", true).expect("apply");
    let resources = &created["spec"]["template"]["spec"]["containers"][0]["resources"];
    for (i, (written, stored)) in cases.iter().enumerate() {
        assert_eq!(
            resources["limits"][format!("example.com/r{i}")],
            json!(stored),
            "{written:?}"
        );
    }
    assert_eq!(
        resources["requests"],
        json!({"cpu": "250m", "memory": "512Mi"})
    );
    assert_eq!(
        created["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"],
        "2Gi"
    );
    let again = server.apply(&d, "writer", true).expect("same apply");
    assert_eq!(
        again["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "another spelling of the stored quantities is a no-op"
    );

    let mut bad = deployment("bad-q", 1, "nginx:1.27");
    let pod = bad.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    pod.containers[0].resources =
        Some(serde_json::from_value(json!({"limits": {"cpu": "1K"}})).unwrap());
    let err = api_error(
        api.create(&PostParams::default(), &bad)
            .await
            .expect_err("1K"),
    );
    assert_eq!(err.code, 400);
    assert!(
        err.message.contains("quantities must match"),
        "{}",
        err.message
    );
}

/// The apiserver does not own a Lease's clock: `renewTime` and `acquireTime` are stored as the
/// client wrote them, however far from the server's time, so an elector must not take them for
/// the server's judgement of time.
#[tokio::test]
async fn lease_times_are_stored_as_written() {
    use k8s_openapi::api::coordination::v1::Lease;
    let server = FakeApiServer::new();
    let api: Api<Lease> = Api::namespaced(server.client(), "default");
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "l", "namespace": "default"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
            "acquireTime": "2999-01-01T00:00:00.123456Z", "renewTime": "2001-01-01T00:00:00.000001Z"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &lease)
        .await
        .expect("create");
    let stored = server
        .get("coordination.k8s.io/v1", "leases", Some("default"), "l")
        .unwrap();
    assert_eq!(stored["spec"]["acquireTime"], "2999-01-01T00:00:00.123456Z");
    assert_eq!(stored["spec"]["renewTime"], "2001-01-01T00:00:00.000001Z");
}

#[tokio::test]
async fn status_subresource_is_isolated() {
    let server = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let mut with_status = deployment("web", 1, "nginx:1");
    with_status.status = Some(serde_json::from_value(json!({"replicas": 7})).expect("status"));
    let created = api
        .create(&PostParams::default(), &with_status)
        .await
        .expect("create");
    assert_eq!(created.status, None, "status is dropped on create");

    let status_patch =
        json!({"spec": {"replicas": 9}, "status": {"availableReplicas": 1, "replicas": 1}});
    let after = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status_patch))
        .await
        .expect("status patch");
    assert_eq!(
        after.spec.as_ref().and_then(|s| s.replicas),
        Some(1),
        "spec is untouched via /status"
    );
    assert_eq!(
        after.status.as_ref().and_then(|s| s.available_replicas),
        Some(1)
    );
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "status writes do not bump generation"
    );

    let main_patch = json!({"status": {"availableReplicas": 3}});
    let after_main = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&main_patch))
        .await
        .expect("main patch");
    assert_eq!(
        after_main
            .status
            .as_ref()
            .and_then(|s| s.available_replicas),
        Some(1),
        "status ignored on main"
    );
    assert_eq!(
        rv(&after_main),
        rv(&after),
        "ignored status change is a no-op"
    );

    server
        .set_status(
            "apps/v1",
            "deployments",
            Some("default"),
            "web",
            json!({"readyReplicas": 1}),
        )
        .expect("set_status");
    let got = api.get_status("web").await.expect("get status");
    assert_eq!(got.status.and_then(|s| s.ready_replicas), Some(1));
}

#[tokio::test]
async fn replace_with_stale_resource_version_conflicts() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let created = api
        .create(&PostParams::default(), &config_map("c", json!({})))
        .await
        .expect("create");

    let mut fresh = created.clone();
    fresh.data = Some([("k".to_string(), "v2".to_string())].into());
    let updated = api
        .replace("c", &PostParams::default(), &fresh)
        .await
        .expect("replace");
    assert_ne!(rv(&updated), rv(&created));

    let mut stale = created.clone();
    stale.data = Some([("k".to_string(), "v3".to_string())].into());
    let err = api_error(
        api.replace("c", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(err.message.contains("the object has been modified"));

    let again = api
        .replace("c", &PostParams::default(), &updated)
        .await
        .expect("identical replace");
    assert_eq!(rv(&again), rv(&updated), "identical PUT is a no-op");
}

#[tokio::test]
async fn server_side_apply_creates_merges_removes_and_is_idempotent() {
    let server = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let pp = PatchParams::apply("operator");

    let mut desired = deployment("web", 2, "nginx:1");
    let env = |d: &mut Deployment| -> Vec<String> {
        d.spec
            .as_ref()
            .expect("spec")
            .template
            .spec
            .as_ref()
            .expect("pod")
            .containers[0]
            .env
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.name)
            .collect()
    };
    let created = api
        .patch("web", &pp, &Patch::Apply(&desired))
        .await
        .expect("apply creates");
    assert_eq!(created.metadata.generation, Some(1));
    let managed = created
        .metadata
        .managed_fields
        .clone()
        .expect("managedFields");
    let entry = managed
        .iter()
        .find(|m| m.manager.as_deref() == Some("operator"))
        .expect("operator entry");
    assert_eq!(entry.operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_string(&entry.fields_v1).expect("fieldsV1");
    assert!(fields.contains(r#""f:replicas":{}"#), "{fields}");
    assert!(
        fields.contains(r#""k:{\"name\":\"main\"}":{".":{}"#),
        "{fields}"
    );

    server.clear_requests();
    let again = api
        .patch("web", &pp, &Patch::Apply(&desired))
        .await
        .expect("re-apply");
    assert_eq!(
        rv(&again),
        rv(&created),
        "re-applying the same configuration is a no-op"
    );
    assert_eq!(server.count_writes(), 1);
    let req = &server.writes()[0];
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(req.param("fieldManager"), Some("operator"));

    // A human adds an env var; the operator keeps applying its own config.
    let human_patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "main", "env": [{"name": "HUMAN", "value": "x"}]}
    ]}}}});
    let mut human = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}});
    human["spec"] = human_patch["spec"].clone();
    server.apply(&human, "human", false).expect("human apply");
    let mut merged = api.get("web").await.expect("get");
    assert_eq!(
        env(&mut merged),
        vec!["A".to_string(), "HUMAN".to_string()],
        "lists merge by name"
    );

    // The operator stops managing env var A: it is removed; HUMAN stays.
    desired
        .spec
        .as_mut()
        .expect("spec")
        .template
        .spec
        .as_mut()
        .expect("pod")
        .containers[0]
        .env = None;
    desired.metadata.labels = None;
    let mut pruned = api
        .patch("web", &pp, &Patch::Apply(&desired))
        .await
        .expect("apply without A");
    assert_eq!(env(&mut pruned), vec!["HUMAN".to_string()]);
    assert!(
        pruned.metadata.labels.is_none(),
        "labels the operator stopped applying are removed"
    );
}

#[tokio::test]
async fn server_side_apply_conflicts_unless_forced() {
    let server = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    api.patch(
        "web",
        &PatchParams::apply("operator"),
        &Patch::Apply(deployment("web", 2, "nginx:1")),
    )
    .await
    .expect("create");

    // `kubectl edit` / `kubectl scale` by a human: an Update by another manager.
    server
        .merge_patch(
            "apps/v1",
            "deployments",
            Some("default"),
            "web",
            json!({"spec": {"replicas": 5}}),
            "kubectl-edit",
        )
        .expect("human edit");

    let err = api
        .patch(
            "web",
            &PatchParams::apply("operator"),
            &Patch::Apply(deployment("web", 3, "nginx:1")),
        )
        .await
        .expect_err("conflict");
    let status = api_error(err);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert!(
        status
            .message
            .contains("conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"),
        "{}",
        status.message
    );

    // Applying the value the human set is not a conflict (shared ownership).
    api.patch(
        "web",
        &PatchParams::apply("operator"),
        &Patch::Apply(deployment("web", 5, "nginx:1")),
    )
    .await
    .expect("same value shares ownership");

    let forced = api
        .patch(
            "web",
            &PatchParams::apply("operator").force(),
            &Patch::Apply(deployment("web", 3, "nginx:1")),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.spec.expect("spec").replicas, Some(3));
    let managed = forced.metadata.managed_fields.expect("managedFields");
    let human_owns_replicas = managed
        .iter()
        .filter(|m| m.manager.as_deref() == Some("kubectl-edit"))
        .any(|m| {
            serde_json::to_string(&m.fields_v1)
                .expect("json")
                .contains("f:replicas")
        });
    assert!(!human_owns_replicas, "force moves ownership to the applier");

    let no_manager = api_error(
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Apply(deployment("web", 3, "nginx:1")),
        )
        .await
        .expect_err("fieldManager required"),
    );
    assert_eq!(no_manager.code, 422);
    assert!(
        no_manager.message.contains("fieldManager"),
        "{}",
        no_manager.message
    );
}

#[tokio::test]
async fn strategic_merge_patch_merges_builtins_and_is_rejected_for_custom_resources() {
    let server = widget_server();
    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let smp = json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}});
    let patched = deployments
        .patch("web", &PatchParams::default(), &Patch::Strategic(&smp))
        .await
        .expect("strategic merge");
    let names: Vec<String> = patched
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["main", "sidecar"], "containers merge by name");

    let widgets: Api<Widget> = Api::namespaced(server.client(), "default");
    widgets
        .create(&PostParams::default(), &widget("w", "fast", 1))
        .await
        .expect("create widget");
    let err = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect_err("415");
    assert_eq!(api_error(err).code, 415);
}

#[tokio::test]
async fn custom_resource_schema_pruning_cel_and_crd_status() {
    let server = widget_server();
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    let crd = crds
        .get("widgets.test.example.com")
        .await
        .expect("crd stored");
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established);

    let dynamic: Api<DynamicObject> =
        Api::namespaced_with(server.client(), "default", &widget_resource());
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"storageClass": "fast", "replicas": 1, "bogus": true, "extra": {"anything": {"goes": 1}}},
    }))
    .expect("dynamic object");
    let created = dynamic
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    assert_eq!(
        created.data["spec"].get("bogus"),
        None,
        "unknown fields are pruned"
    );
    assert_eq!(
        created.data["spec"]["extra"]["anything"]["goes"], 1,
        "preserve-unknown-fields keeps content"
    );
    assert_eq!(created.metadata.generation, Some(1));

    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::apply("strict-client")
    };
    let mut obj2 = obj.clone();
    obj2.metadata.name = Some("w2".into());
    let err = api_error(
        dynamic
            .patch("w2", &strict, &Patch::Apply(&obj2))
            .await
            .expect_err("strict"),
    );
    assert_eq!(err.code, 400);
    assert!(
        err.message.contains("unknown field \"spec.bogus\""),
        "{}",
        err.message
    );

    let widgets: Api<Widget> = Api::namespaced(server.client(), "default");
    let err = api_error(
        widgets
            .create(&PostParams::default(), &widget("neg", "fast", -1))
            .await
            .expect_err("cel"),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message.contains("replicas must not be negative"),
        "{}",
        err.message
    );

    let err = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"storageClass": "slow"}})),
        )
        .await
        .expect_err("transition rule");
    let status = api_error(err);
    assert_eq!(status.code, 422);
    assert!(
        status.message.contains("storageClass is immutable"),
        "{}",
        status.message
    );

    let ok = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .expect("allowed change");
    assert_eq!(ok.spec.replicas, 4);
    assert_eq!(ok.metadata.generation, Some(2));

    let typed_err = api_error(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": "many"}})),
            )
            .await
            .expect_err("schema type"),
    );
    assert!(
        typed_err.message.contains("must be of type integer"),
        "{}",
        typed_err.message
    );

    let status = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .expect("status");
    assert_eq!(status.status, Some(WidgetStatus { ready: true }));
    assert_eq!(status.metadata.generation, Some(2));
}

#[tokio::test]
async fn watcher_sees_initial_list_and_live_changes() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &config_map("before", json!({})))
        .await
        .expect("create");

    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(
        next_event(&mut stream).await.expect("init"),
        watcher::Event::Init
    ));
    match next_event(&mut stream).await.expect("init apply") {
        watcher::Event::InitApply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("before")),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        next_event(&mut stream).await.expect("init done"),
        watcher::Event::InitDone
    ));

    api.create(&PostParams::default(), &config_map("after", json!({})))
        .await
        .expect("create");
    match next_event(&mut stream).await.expect("apply") {
        watcher::Event::Apply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("after")),
        other => panic!("unexpected {other:?}"),
    }
    api.delete("before", &DeleteParams::default())
        .await
        .expect("delete");
    match next_event(&mut stream).await.expect("delete") {
        watcher::Event::Delete(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("before")),
        other => panic!("unexpected {other:?}"),
    }

    // Watch expiry: the watcher gets the 410 and re-lists from scratch.
    server.expire_watches();
    let err = next_event(&mut stream)
        .await
        .expect_err("410 surfaces as an error");
    assert!(format!("{err:?}").contains("410"), "{err:?}");
    assert!(matches!(
        next_event(&mut stream).await.expect("relist"),
        watcher::Event::Init
    ));
    match next_event(&mut stream).await.expect("relisted object") {
        watcher::Event::InitApply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("after")),
        other => panic!("unexpected {other:?}"),
    }
    let lists = server
        .requests()
        .iter()
        .filter(|r| !r.is_watch() && r.method == Method::GET)
        .count();
    assert!(lists >= 2, "expired watch forces a new LIST");
}

#[tokio::test]
async fn raw_watch_replays_history_filters_and_expires() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let start = server.resource_version().to_string();
    api.create(
        &PostParams::default(),
        &config_map("a", json!({"team": "x"})),
    )
    .await
    .expect("create a");
    api.create(
        &PostParams::default(),
        &config_map("b", json!({"team": "y"})),
    )
    .await
    .expect("create b");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "y"}}})),
    )
    .await
    .expect("relabel");

    let wp = WatchParams::default().labels("team=x").timeout(5);
    let mut events = api.watch(&wp, &start).await.expect("watch").boxed();
    match next_event(&mut events).await.expect("added") {
        WatchEvent::Added(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("a")),
        other => panic!("unexpected {other:?}"),
    }
    match next_event(&mut events).await.expect("left selector") {
        WatchEvent::Deleted(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("a")),
        other => panic!("no longer matching the selector is a DELETED, got {other:?}"),
    }

    let mut bookmarks = api
        .watch(&WatchParams::streaming_lists(), "0")
        .await
        .expect("streaming list")
        .boxed();
    let mut added = 0;
    loop {
        match next_event(&mut bookmarks).await.expect("event") {
            WatchEvent::Added(_) => added += 1,
            WatchEvent::Bookmark(bm) => {
                assert!(
                    bm.metadata
                        .annotations
                        .contains_key("k8s.io/initial-events-end")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(added, 2);

    server.compact();
    let mut stale = api
        .watch(&WatchParams::default(), &start)
        .await
        .expect("watch")
        .boxed();
    match next_event(&mut stale).await.expect("error event") {
        WatchEvent::Error(status) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn deletion_honours_finalizers_and_garbage_collects_dependents() {
    let server = FakeApiServer::new();
    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let configmaps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let owner = deployments
        .create(&PostParams::default(), &deployment("owner", 1, "nginx:1"))
        .await
        .expect("owner");
    let owner_ref = owner.controller_owner_ref(&()).expect("owner ref");
    for name in ["child", "orphan-me"] {
        let mut cm = config_map(name, json!({}));
        cm.metadata.owner_references = Some(vec![owner_ref.clone()]);
        configmaps
            .create(&PostParams::default(), &cm)
            .await
            .expect("child");
    }
    deployments
        .delete("owner", &DeleteParams::default())
        .await
        .expect("delete owner");
    assert!(
        configmaps.get_opt("child").await.expect("get").is_none(),
        "background GC removes dependents"
    );

    let owner2 = deployments
        .create(&PostParams::default(), &deployment("owner2", 1, "nginx:1"))
        .await
        .expect("owner2");
    let mut kept = config_map("kept", json!({}));
    kept.metadata.owner_references = Some(vec![owner2.controller_owner_ref(&()).expect("ref")]);
    configmaps
        .create(&PostParams::default(), &kept)
        .await
        .expect("kept");
    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    deployments
        .delete("owner2", &orphan)
        .await
        .expect("orphan delete");
    let survivor = configmaps
        .get("kept")
        .await
        .expect("orphaned dependent survives");
    assert!(
        survivor.metadata.owner_references.is_none(),
        "orphaning removes the ownerReference"
    );

    let mut guarded = config_map("guarded", json!({}));
    guarded.metadata.finalizers = Some(vec!["example.com/cleanup".into()]);
    configmaps
        .create(&PostParams::default(), &guarded)
        .await
        .expect("guarded");
    let pending = configmaps
        .delete("guarded", &DeleteParams::default())
        .await
        .expect("delete");
    let pending = pending
        .left()
        .expect("object returned while finalizers are pending");
    assert!(pending.metadata.deletion_timestamp.is_some());
    let err = configmaps
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/cleanup", "x.io/new"]}})),
        )
        .await
        .expect_err("no new finalizers while deleting");
    assert_eq!(api_error(err).code, 422);

    // kube's finalizer helper removes finalizers with a JSON patch (test + remove).
    let remove = json_patch_remove_finalizer("example.com/cleanup");
    configmaps
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Json::<()>(remove),
        )
        .await
        .expect("remove finalizer");
    assert!(
        configmaps.get_opt("guarded").await.expect("get").is_none(),
        "last finalizer gone: deleted"
    );

    let namespaces: Api<Namespace> = Api::all(server.client());
    assert!(
        namespaces
            .get_opt("default")
            .await
            .expect("get ns")
            .is_some()
    );
}

fn json_patch_remove_finalizer(name: &str) -> json_patch::Patch {
    serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": name},
        {"op": "remove", "path": "/metadata/finalizers/0"},
    ]))
    .expect("json patch")
}

#[tokio::test]
async fn json_patch_test_of_missing_path_against_null_passes() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &config_map("c", json!({})))
        .await
        .expect("create");
    let add: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/f"]},
    ]))
    .expect("patch");
    let patched = api
        .patch("c", &PatchParams::default(), &Patch::Json::<()>(add))
        .await
        .expect("finalizer added");
    assert_eq!(
        patched.metadata.finalizers,
        Some(vec!["example.com/f".to_string()])
    );
}

#[tokio::test]
async fn injected_faults_fail_matching_requests_only() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    server.inject(
        Fault::new(500)
            .method(Method::POST)
            .path("/configmaps")
            .times(2),
    );
    for _ in 0..2 {
        let err = api_error(
            api.create(&PostParams::default(), &config_map("c", json!({})))
                .await
                .expect_err("fault"),
        );
        assert_eq!((err.code, err.reason.as_str()), (500, "InternalError"));
    }
    api.create(&PostParams::default(), &config_map("c", json!({})))
        .await
        .expect("faults used up");
    server.inject(Fault::new(429).method(Method::GET));
    assert_eq!(api_error(api.get("c").await.expect_err("429")).code, 429);
    assert!(api.get("c").await.is_ok());
    assert_eq!(
        server.count_writes(),
        3,
        "faulted requests are still recorded"
    );
}

#[tokio::test]
async fn recorder_publishes_events() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let cm = api
        .create(&PostParams::default(), &config_map("c", json!({})))
        .await
        .expect("create");
    let recorder = Recorder::new(server.client(), Reporter::from("test-operator"));
    let event = RecorderEvent {
        type_: EventType::Normal,
        reason: "Created".into(),
        note: Some("made it".into()),
        action: "Create".into(),
        secondary: None,
    };
    let reference = cm.object_ref(&());
    recorder.publish(&event, &reference).await.expect("publish");
    recorder
        .publish(&event, &reference)
        .await
        .expect("publish again (series patch)");
    let events = server.list("events.k8s.io/v1", "events", Some("default"));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["series"]["count"], 2);
}

#[tokio::test]
async fn crds_created_over_the_api_register_their_resource() {
    let server = FakeApiServer::new();
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    crds.patch(
        "widgets.test.example.com",
        &PatchParams::apply("installer"),
        &Patch::Apply(Widget::crd()),
    )
    .await
    .expect("install crd");
    let widgets: Api<Widget> = Api::namespaced(server.client(), "default");
    widgets
        .create(&PostParams::default(), &widget("w", "fast", 1))
        .await
        .expect("create widget");
    let listed: Vec<Widget> = widgets
        .list(&ListParams::default())
        .await
        .expect("list")
        .items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec.storage_class, "fast");

    crds.delete("widgets.test.example.com", &DeleteParams::default())
        .await
        .expect("delete crd");
    let err = api_error(widgets.get("w").await.expect_err("resource gone"));
    assert_eq!(err.code, 404);
}

#[tokio::test]
async fn apply_to_status_touches_only_status_and_tracks_the_subresource() {
    let server = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    let created = api
        .create(&PostParams::default(), &deployment("web", 1, "nginx:1"))
        .await
        .expect("create");
    let status_apply = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 42},
        "status": {"readyReplicas": 1},
    });
    let after = api
        .patch_status(
            "web",
            &PatchParams::apply("status-writer"),
            &Patch::Apply(&status_apply),
        )
        .await
        .expect("status apply");
    assert_eq!(after.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(
        after.status.as_ref().and_then(|s| s.ready_replicas),
        Some(1)
    );
    assert_eq!(after.metadata.generation, created.metadata.generation);
    let entry = after
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("status-writer"))
        .expect("status-writer entry");
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    let fields = serde_json::to_string(&entry.fields_v1).expect("json");
    assert!(
        fields.contains("f:readyReplicas") && !fields.contains("f:spec"),
        "{fields}"
    );
}

#[tokio::test(start_paused = true)]
async fn paused_and_dropped_watches() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    assert!(matches!(
        next_event(&mut stream).await.expect("init"),
        watcher::Event::Init
    ));
    assert!(matches!(
        next_event(&mut stream).await.expect("done"),
        watcher::Event::InitDone
    ));

    server.pause_watches();
    api.create(&PostParams::default(), &config_map("held", json!({})))
        .await
        .expect("create");
    let held = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
    assert!(held.is_err(), "no event is delivered while paused");
    server.resume_watches();
    match next_event(&mut stream).await.expect("apply") {
        watcher::Event::Apply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("held")),
        other => panic!("unexpected {other:?}"),
    }

    // A dropped watch resumes from its last resourceVersion: no re-list, no gap.
    server.clear_requests();
    server.drop_watches();
    api.create(&PostParams::default(), &config_map("after-drop", json!({})))
        .await
        .expect("create");
    match next_event(&mut stream).await.expect("apply") {
        watcher::Event::Apply(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("after-drop")),
        other => panic!("unexpected {other:?}"),
    }
    let reqs = server.requests();
    assert!(
        reqs.iter()
            .any(|r| r.is_watch() && r.param("resourceVersion").is_some_and(|v| v != "0"))
    );
    assert!(
        !reqs
            .iter()
            .any(|r| r.method == Method::GET && !r.is_watch() && r.path.ends_with("/configmaps"))
    );
}

#[tokio::test]
async fn namespace_and_foreground_deletion() {
    let server = FakeApiServer::new();
    let namespaces: Api<Namespace> = Api::all(server.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "temp"}})).expect("ns");
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    assert_eq!(
        created.status.and_then(|s| s.phase).as_deref(),
        Some("Active")
    );

    let configmaps: Api<ConfigMap> = Api::namespaced(server.client(), "temp");
    let mut held = config_map("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    configmaps
        .create(&PostParams::default(), &held)
        .await
        .expect("cm");
    configmaps
        .create(&PostParams::default(), &config_map("plain", json!({})))
        .await
        .expect("cm");

    namespaces
        .delete("temp", &DeleteParams::default())
        .await
        .expect("delete ns");
    let terminating = namespaces
        .get("temp")
        .await
        .expect("still there while content remains");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert!(configmaps.get_opt("plain").await.expect("get").is_none());
    let err = api_error(
        configmaps
            .create(&PostParams::default(), &config_map("new", json!({})))
            .await
            .expect_err("terminating"),
    );
    assert_eq!(err.code, 403);

    configmaps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    assert!(
        namespaces.get_opt("temp").await.expect("get").is_none(),
        "empty terminating namespace goes away"
    );

    let deployments: Api<Deployment> = Api::namespaced(server.client(), "default");
    let defaults: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let owner = deployments
        .create(&PostParams::default(), &deployment("owner", 1, "nginx:1"))
        .await
        .expect("owner");
    let mut child = config_map("child", json!({}));
    child.metadata.owner_references = Some(vec![owner.controller_owner_ref(&()).expect("ref")]);
    child.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    defaults
        .create(&PostParams::default(), &child)
        .await
        .expect("child");
    let foreground = DeleteParams::foreground();
    deployments
        .delete("owner", &foreground)
        .await
        .expect("foreground delete");
    let waiting = deployments
        .get("owner")
        .await
        .expect("owner waits for dependents");
    assert!(
        waiting
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
    defaults
        .patch(
            "child",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release child");
    assert!(
        deployments.get_opt("owner").await.expect("get").is_none(),
        "owner goes once dependents are gone"
    );
}

#[tokio::test]
async fn metadata_only_requests_and_discovery() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    api.create(&PostParams::default(), &config_map("c", json!({"a": "b"})))
        .await
        .expect("create");
    let meta = api.get_metadata("c").await.expect("metadata");
    assert_eq!(
        meta.metadata
            .labels
            .unwrap_or_default()
            .get("a")
            .map(String::as_str),
        Some("b")
    );
    let list = api
        .list_metadata(&ListParams::default())
        .await
        .expect("list metadata");
    assert_eq!(list.items.len(), 1);

    let client = server.client();
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.major, "1");
    let groups = client.list_api_groups().await.expect("groups");
    assert!(groups.groups.iter().any(|g| g.name == "apps"));
    let core = client
        .list_core_api_resources("v1")
        .await
        .expect("core resources");
    assert!(core.resources.iter().any(|r| r.name == "configmaps"));
}

/// The fieldsV1 of `manager`'s entry (any operation) in an object's managedFields, as JSON text.
fn fields_of(object: &Value, manager: &str) -> String {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == manager)
        .map(|m| m["fieldsV1"].to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn applied_web(server: &FakeApiServer) -> Api<Deployment> {
    let api: Api<Deployment> = Api::namespaced(server.client(), "default");
    api.patch(
        "web",
        &PatchParams::apply("operator"),
        &Patch::Apply(deployment("web", 1, "nginx:1")),
    )
    .await
    .expect("apply");
    api
}

fn web(server: &FakeApiServer) -> Value {
    server
        .get("apps/v1", "deployments", Some("default"), "web")
        .expect("web exists")
}

/// `kubectl set env`, a sidecar and a volume added by a strategic merge patch: each added item of
/// a keyed list (containers and env by name, volumes by name, volumeMounts by mountPath) and each
/// added annotation is the writer's; the applier keeps its own items and fields, and applying
/// the same configuration again changes nothing and takes nothing.
#[tokio::test]
async fn an_update_owns_the_items_it_adds_to_keyed_lists_and_the_applier_keeps_its_own() {
    let server = FakeApiServer::new();
    let api = applied_web(&server).await;
    server
        .strategic_patch(
            "apps/v1",
            "deployments",
            Some("default"),
            "web",
            json!({"metadata": {"annotations": {"team": "payments"}},
                "spec": {"template": {"spec": {
                "containers": [
                    {"name": "main", "env": [{"name": "EXTRA", "value": "x"}],
                     "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]},
                    {"name": "proxy", "image": "envoy:1", "ports": [{"containerPort": 9901}]}],
                "volumes": [{"name": "cache", "emptyDir": {}}]}}}}),
            "platform-tooling",
        )
        .expect("patch");
    let live = web(&server);
    let theirs = fields_of(&live, "platform-tooling");
    for item in [
        r#""k:{\"name\":\"EXTRA\"}""#,
        r#""k:{\"name\":\"proxy\"}""#,
        r#""k:{\"name\":\"cache\"}""#,
        r#""k:{\"mountPath\":\"/cache\"}""#,
        r#""k:{\"containerPort\":9901,\"protocol\":\"TCP\"}""#,
        r#""f:team""#,
    ] {
        assert!(theirs.contains(item), "{item} in {theirs}");
    }
    let ours = fields_of(&live, "operator");
    assert!(!ours.contains("EXTRA") && !ours.contains("proxy") && !ours.contains("team"));
    assert!(ours.contains(r#""k:{\"name\":\"A\"}""#) && ours.contains(r#""f:image""#));

    let version = live["metadata"]["resourceVersion"].clone();
    let again = api
        .patch(
            "web",
            &PatchParams::apply("operator"),
            &Patch::Apply(deployment("web", 1, "nginx:1")),
        )
        .await
        .expect("apply again");
    assert_eq!(json!(again.metadata.resource_version), version);
    let containers = &web(&server)["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["env"][1]["name"], "EXTRA");
    assert_eq!(containers[1]["name"], "proxy");
}

/// An update that changes a field moves it to the writer; one that removes an item leaves it to
/// nobody; `kubectl rollout restart` owns only its annotation.
#[tokio::test]
async fn an_update_takes_what_it_changes_and_removes_what_it_removes() {
    let server = FakeApiServer::new();
    applied_web(&server).await;
    let mut edited = web(&server);
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    edited["spec"]["template"]["spec"]["containers"][0]["env"] = json!([]);
    edited["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    server.update(&edited, "kubectl-edit").expect("edit");
    let live = web(&server);
    let ours = fields_of(&live, "operator");
    assert!(!ours.contains("f:image"), "{ours}");
    assert!(!ours.contains(r#""k:{\"name\":\"A\"}""#), "{ours}");
    assert!(ours.contains(r#""k:{\"name\":\"main\"}""#), "{ours}");
    let theirs = fields_of(&live, "kubectl-edit");
    assert!(theirs.contains("f:image") && !theirs.contains("k:{\\\"name\\\":\\\"A\\\"}"));

    server
        .rollout_restart("default", "web", "2026-12-06T05:00:00Z")
        .expect("restart");
    let live = web(&server);
    assert_eq!(
        live["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        "2026-12-06T05:00:00Z"
    );
    assert_eq!(fields_of(&live, "operator"), ours);
    let restart = fields_of(&live, "kubectl-rollout");
    assert!(
        restart.contains("f:kubectl.kubernetes.io/restartedAt")
            && !restart.contains("f:containers"),
        "{restart}"
    );
}

/// A forced apply by another manager takes the fields it sets from the first applier; the first
/// applier's forced apply takes them back.
#[tokio::test]
async fn a_forced_apply_takes_fields_and_gives_them_back() {
    let server = FakeApiServer::new();
    let api = applied_web(&server).await;
    let mut other = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:9"}]}}}});
    server
        .apply(&other, "other-tool", false)
        .expect_err("conflict");
    server.apply(&other, "other-tool", true).expect("forced");
    let live = web(&server);
    assert!(!fields_of(&live, "operator").contains("f:image"));
    assert!(fields_of(&live, "other-tool").contains("f:image"));
    api.patch(
        "web",
        &PatchParams::apply("operator").force(),
        &Patch::Apply(deployment("web", 1, "nginx:1")),
    )
    .await
    .expect("taken back");
    let live = web(&server);
    assert!(fields_of(&live, "operator").contains("f:image"));
    assert!(!fields_of(&live, "other-tool").contains("f:image"));
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1"
    );
    other["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1");
    server
        .apply(&other, "other-tool", false)
        .expect("same value, shared");
}

/// Server-side apply merges keyed lists in the configuration's order (structured-merge-diff's
/// `visitListItems`): an item inserted in the middle lands there; another manager's item keeps
/// its place after the item it followed.
#[tokio::test]
async fn apply_orders_keyed_lists_as_the_configuration_does() {
    let server = FakeApiServer::new();
    let api = applied_web(&server).await;
    server
        .strategic_patch(
            "apps/v1",
            "deployments",
            Some("default"),
            "web",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "main", "env": [{"name": "THEIRS", "value": "t"}]}]}}}}),
            "kubectl-set",
        )
        .expect("set env");
    let mut config = serde_json::to_value(deployment("web", 1, "nginx:1")).unwrap();
    config["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "Z", "value": "z"}, {"name": "A", "value": "1"}, {"name": "B", "value": "b"}]);
    api.patch(
        "web",
        &PatchParams::apply("operator"),
        &Patch::Apply(&config),
    )
    .await
    .expect("apply");
    let names: Vec<Value> = web(&server)["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(names, [json!("Z"), json!("A"), json!("THEIRS"), json!("B")]);
}

/// A mutating admission webhook changes what an apply wrote; the field stays the applier's, and
/// the same apply again is answered unchanged (same resourceVersion).
#[tokio::test]
async fn a_webhook_mutation_stays_the_appliers_and_a_repeated_apply_is_a_no_op() {
    let server = FakeApiServer::new();
    server.mutating_webhook("deployments", |d| {
        if let Some(image) = d.pointer_mut("/spec/template/spec/containers/0/image")
            && let Some(name) = image
                .as_str()
                .filter(|i| !i.starts_with("mirror.example.com/"))
        {
            *image = json!(format!("mirror.example.com/{name}"));
        }
    });
    let api = applied_web(&server).await;
    let live = web(&server);
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "mirror.example.com/nginx:1"
    );
    assert!(fields_of(&live, "operator").contains("f:image"));
    let again = api
        .patch(
            "web",
            &PatchParams::apply("operator"),
            &Patch::Apply(deployment("web", 1, "nginx:1")),
        )
        .await
        .expect("apply again");
    assert_eq!(
        json!(again.metadata.resource_version),
        live["metadata"]["resourceVersion"]
    );
}

/// A ServiceAccount's `imagePullSecrets` is an atomic list (unlike a pod's, keyed by name):
/// another manager's different list conflicts with the whole of it.
#[tokio::test]
async fn a_service_accounts_pull_secrets_are_one_atomic_field() {
    let server = FakeApiServer::new();
    let sa = |secret: &str| {
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "app", "namespace": "default"},
            "imagePullSecrets": [{"name": secret}]})
    };
    server.apply(&sa("a"), "operator", false).expect("apply");
    let err = server
        .apply(&sa("b"), "other", false)
        .expect_err("conflict");
    assert!(err.message.contains(".imagePullSecrets"), "{}", err.message);
    let live = server
        .get("v1", "serviceaccounts", Some("default"), "app")
        .expect("exists");
    assert_eq!(
        fields_of(&live, "operator"),
        json!({"f:imagePullSecrets": {}}).to_string()
    );
}

/// Discovery of an optional CRD's group/version, as the operator asks it before using
/// ServiceMonitors: 404 until the CRD is created, its resources once it is, 404 again once it is
/// deleted (and its objects are gone with it).
#[tokio::test]
async fn discovery_serves_a_custom_resource_only_while_its_crd_exists() {
    let server = FakeApiServer::new();
    let client = server.client();
    let gv = "monitoring.coreos.com/v1";
    match client.list_api_group_resources(gv).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404, "{status:?}"),
        other => panic!("an unserved group/version is 404: {other:?}"),
    }
    let text = std::fs::read_to_string("tests/fixtures/servicemonitor-crd.yaml").unwrap();
    let crd: Value = serde_saphyr::from_str(&text).unwrap();
    server.register_crd(&crd).unwrap();
    let served = client.list_api_group_resources(gv).await.unwrap();
    let monitors = served
        .resources
        .iter()
        .find(|r| r.name == "servicemonitors")
        .expect("servicemonitors served");
    assert!(monitors.namespaced);
    assert_eq!(monitors.kind, "ServiceMonitor");
    let groups = client.list_api_groups().await.unwrap();
    assert!(
        groups
            .groups
            .iter()
            .any(|g| g.name == "monitoring.coreos.com")
    );
    // Its schema applies: `endpoints` and `selector` are required.
    let missing = server.insert(&json!({
        "apiVersion": gv, "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "default"}, "spec": {"selector": {}},
    }));
    assert_eq!(missing.unwrap_err().code, 422);
    server
        .insert(&json!({
            "apiVersion": gv, "kind": "ServiceMonitor",
            "metadata": {"name": "m", "namespace": "default"},
            "spec": {"selector": {}, "endpoints": [{"port": "metrics"}]},
        }))
        .unwrap();
    server
        .delete(
            "apiextensions.k8s.io/v1",
            "customresourcedefinitions",
            None,
            "servicemonitors.monitoring.coreos.com",
        )
        .unwrap();
    match client.list_api_group_resources(gv).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404, "{status:?}"),
        other => panic!("a deleted CRD's group/version is 404 again: {other:?}"),
    }
}

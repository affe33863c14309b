//! Pod placement and metadata (`spec.pods` and each workload's `pod`), the image registry, and
//! extra volumes, mounts and init containers: what each field renders to on the participant,
//! validator-app, web UI and backup Job pods, the merge rule, and the names the operator keeps
//! for itself — refused at admission (the CRD's CEL, offline) and again before rendering.

mod common;

use canton_operator::api::{
    OPERATOR_POD_LABELS, OPERATOR_VOLUMES, PARTICIPANT_CONTAINERS, VALIDATOR_APP_CONTAINERS,
    Validator,
};
use canton_operator::decision::resolve;
use canton_operator::render::{RenderError, Rendered, render};
use common::{EXAMPLE, config, pod_spec, validator};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
use serde_json::{Value, json};

/// The example with backups (its `spec.backup.identities` renders the CronJob).
const WITH_BACKUP: &str = "examples/validator-aws-external.yaml";
const PRODUCTION: &str = "examples/validator-production.yaml";

/// `file`'s Validator with `patch` merged into its spec (JSON merge patch; a `kms` in the patch
/// replaces the file's whole, with its `serviceAccountName`).
fn patched(file: &str, patch: Value) -> Validator {
    let mut object = serde_json::to_value(validator(file)).unwrap();
    if patch.get("kms").is_some() {
        let spec = object["spec"].as_object_mut().unwrap();
        spec.remove("kms");
        spec.remove("serviceAccountName");
    }
    merge(&mut object["spec"], &patch);
    serde_json::from_value(object).unwrap_or_else(|e| panic!("{patch}: {e}"))
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn try_render(v: &Validator) -> Result<Rendered, RenderError> {
    let decision = resolve(&v.spec, &config(&[]).kms_default).expect("a decision");
    render(v, &decision)
}

fn rendered(v: &Validator) -> Rendered {
    try_render(v).unwrap_or_else(|e| panic!("{e}"))
}

/// Every pod template a render holds, named: participant, validator-app, the UIs, backup.
fn templates(r: &Rendered) -> Vec<(String, &PodTemplateSpec)> {
    fn of(d: &Deployment) -> &PodTemplateSpec {
        &d.spec.as_ref().unwrap().template
    }
    let mut out = vec![
        ("participant".to_string(), of(&r.participant)),
        ("validator-app".to_string(), of(&r.validator_app)),
    ];
    for (d, _) in &r.web_uis {
        out.push((d.metadata.name.clone().unwrap(), of(d)));
    }
    if let Some(cron) = &r.identity_backup {
        let job = cron
            .spec
            .as_ref()
            .unwrap()
            .job_template
            .spec
            .as_ref()
            .unwrap();
        out.push(("backup".to_string(), &job.template));
    }
    out
}

fn spec_of(t: &PodTemplateSpec) -> &PodSpec {
    t.spec.as_ref().unwrap()
}

fn json_of<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn label<'a>(t: &'a PodTemplateSpec, key: &str) -> Option<&'a str> {
    t.metadata
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn annotation<'a>(t: &'a PodTemplateSpec, key: &str) -> Option<&'a str> {
    t.metadata
        .as_ref()?
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn shared() -> Value {
    json!({
        "nodeSelector": {"pool": "canton", "zone": "a"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "arch", "operator": "In", "values": ["amd64"]}]}]}}},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "canton", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "canton-validator"}}}],
        "priorityClassName": "canton-mainnet",
        "annotations": {"sidecar.istio.io/inject": "false", "team": "ledger"},
        "labels": {"network": "mainnet", "team": "ledger"},
        "imagePullSecrets": [{"name": "mirror-pull"}],
        "imagePullPolicy": "Always",
    })
}

// ------------------------------------------------------------------------------- spec.pods

#[test]
fn shared_settings_reach_every_pod() {
    let r = rendered(&patched(WITH_BACKUP, json!({"pods": shared()})));
    let all = templates(&r);
    assert_eq!(all.len(), 5, "participant, app, two UIs, backup");
    let s = shared();
    for (name, t) in all {
        let pod = spec_of(t);
        assert_eq!(json_of(&pod.node_selector), s["nodeSelector"], "{name}");
        assert_eq!(json_of(&pod.affinity), s["affinity"], "{name}");
        assert_eq!(json_of(&pod.tolerations), s["tolerations"], "{name}");
        assert_eq!(
            json_of(&pod.topology_spread_constraints),
            s["topologySpreadConstraints"],
            "{name}"
        );
        assert_eq!(
            pod.priority_class_name.as_deref(),
            Some("canton-mainnet"),
            "{name}"
        );
        assert_eq!(
            json_of(&pod.image_pull_secrets),
            s["imagePullSecrets"],
            "{name}"
        );
        assert_eq!(
            annotation(t, "sidecar.istio.io/inject"),
            Some("false"),
            "{name}"
        );
        assert_eq!(label(t, "network"), Some("mainnet"), "{name}");
        // The operator's own labels stay: the Deployment's selector still matches its pods.
        assert_eq!(
            label(t, "app.kubernetes.io/instance"),
            Some("acme-aws"),
            "{name}"
        );
        for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
            assert_eq!(
                c.image_pull_policy.as_deref(),
                Some("Always"),
                "{name}/{}",
                c.name
            );
        }
    }
}

#[test]
fn nothing_set_renders_nothing() {
    let r = rendered(&validator(WITH_BACKUP));
    for (name, t) in templates(&r) {
        let pod = spec_of(t);
        assert!(
            pod.node_selector.is_none() && pod.affinity.is_none(),
            "{name}"
        );
        assert!(
            pod.tolerations.is_none() && pod.topology_spread_constraints.is_none(),
            "{name}"
        );
        assert!(
            pod.priority_class_name.is_none() && pod.image_pull_secrets.is_none(),
            "{name}"
        );
        assert!(t.metadata.as_ref().unwrap().annotations.is_none(), "{name}");
        for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
            assert!(c.image_pull_policy.is_none(), "{name}/{}", c.name);
        }
    }
}

// ------------------------------------------------------------------------- the merge rule

/// Where each workload's `pod` lives in the spec, and the names of the templates it reaches.
const WORKLOADS: [(&str, &[&str]); 4] = [
    ("/participant/pod", &["participant"]),
    ("/validatorApp/pod", &["validator-app"]),
    (
        "/webUis/pod",
        &["acme-aws-wallet-web-ui", "acme-aws-ans-web-ui"],
    ),
    ("/backup/identities/pod", &["backup"]),
];

fn with_pod(pointer: &str, pod: Value) -> Value {
    let mut patch = json!({"pods": shared()});
    let mut at = &mut patch;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for part in &parts {
        at = at
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert(json!({}));
    }
    *at = pod;
    patch
}

#[test]
fn a_workload_overrides_the_shared_settings_by_the_merge_rule() {
    let over = json!({
        "nodeSelector": {"zone": "b", "disk": "ssd"},
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname"}}]}},
        "tolerations": [],
        "topologySpreadConstraints": [{"maxSkew": 2, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule"}],
        "priorityClassName": "canton-critical",
        "annotations": {"team": "ops", "vault.hashicorp.com/agent-inject": "true"},
        "labels": {"team": "ops"},
        "imagePullSecrets": [{"name": "other"}],
        "imagePullPolicy": "IfNotPresent",
    });
    for (pointer, names) in WORKLOADS {
        let r = rendered(&patched(WITH_BACKUP, with_pod(pointer, over.clone())));
        for (name, t) in templates(&r) {
            let pod = spec_of(t);
            if !names.contains(&name.as_str()) {
                // Other workloads keep the shared settings only.
                assert_eq!(
                    pod.priority_class_name.as_deref(),
                    Some("canton-mainnet"),
                    "{pointer}: {name}"
                );
                assert_eq!(label(t, "team"), Some("ledger"), "{pointer}: {name}");
                continue;
            }
            // Maps: merged key by key, the workload winning.
            assert_eq!(
                json_of(&pod.node_selector),
                json!({"pool": "canton", "zone": "b", "disk": "ssd"}),
                "{pointer}"
            );
            assert_eq!(annotation(t, "team"), Some("ops"), "{pointer}");
            assert_eq!(
                annotation(t, "sidecar.istio.io/inject"),
                Some("false"),
                "{pointer}"
            );
            assert_eq!(
                annotation(t, "vault.hashicorp.com/agent-inject"),
                Some("true"),
                "{pointer}"
            );
            assert_eq!(label(t, "team"), Some("ops"), "{pointer}");
            assert_eq!(label(t, "network"), Some("mainnet"), "{pointer}");
            // Everything else: replaced whole; an empty list clears the shared one.
            assert_eq!(json_of(&pod.affinity), over["affinity"], "{pointer}");
            assert!(
                pod.tolerations.is_none(),
                "{pointer}: tolerations [] clears them"
            );
            assert_eq!(
                json_of(&pod.topology_spread_constraints),
                over["topologySpreadConstraints"],
                "{pointer}"
            );
            assert_eq!(
                pod.priority_class_name.as_deref(),
                Some("canton-critical"),
                "{pointer}"
            );
            assert_eq!(
                json_of(&pod.image_pull_secrets),
                json!([{"name": "other"}]),
                "{pointer}"
            );
            for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
                assert_eq!(
                    c.image_pull_policy.as_deref(),
                    Some("IfNotPresent"),
                    "{pointer}"
                );
            }
        }
    }
}

#[test]
fn a_workload_alone_needs_no_shared_settings() {
    let v = patched(
        EXAMPLE,
        json!({"participant": {"pod": {"priorityClassName": "p"}}}),
    );
    let r = rendered(&v);
    assert_eq!(
        pod_spec(&r.participant).priority_class_name.as_deref(),
        Some("p")
    );
    assert!(pod_spec(&r.validator_app).priority_class_name.is_none());
}

// ------------------------------------------------------------------------- image registry

#[test]
fn the_registry_moves_every_default_image_and_leaves_written_ones() {
    let v = patched(
        WITH_BACKUP,
        json!({"imageRegistry": "mirror.example.com/canton"}),
    );
    let r = rendered(&v);
    let mut seen = 0;
    for (name, t) in templates(&r) {
        let pod = spec_of(t);
        for c in pod.init_containers.iter().flatten().chain(&pod.containers) {
            let image = c.image.as_deref().unwrap();
            assert!(
                image.starts_with("mirror.example.com/canton/"),
                "{name}/{}: {image}",
                c.name
            );
            seen += 1;
        }
    }
    assert_eq!(
        seen, 7,
        "participant + pg-init, app + pg-init, two UIs, backup"
    );
    let participant = &pod_spec(&r.participant).containers[0];
    assert_eq!(
        participant.image.as_deref(),
        Some("mirror.example.com/canton/canton-participant:0.7.4")
    );
    let init = &pod_spec(&r.participant).init_containers.as_ref().unwrap()[0];
    assert_eq!(
        init.image.as_deref(),
        Some("mirror.example.com/canton/postgres:17")
    );
    let backup = templates(&r).pop().unwrap().1;
    let operator = spec_of(backup).containers[0].image.clone().unwrap();
    assert_eq!(
        operator,
        format!(
            "mirror.example.com/canton/canton-operator:{}",
            env!("CARGO_PKG_VERSION")
        )
    );

    // A per-image override is used exactly as written: it wins over the registry.
    let v = patched(
        WITH_BACKUP,
        json!({"imageRegistry": "mirror.example.com/canton",
            "validatorApp": {"image": "other.example/pinned/validator-app:0.7.4"},
            "databaseInit": {"image": "other.example/psql:17"},
            "webUis": {"wallet": {"image": "other.example/wallet:1"}}}),
    );
    let r = rendered(&v);
    let app = pod_spec(&r.validator_app);
    assert_eq!(
        app.containers[0].image.as_deref(),
        Some("other.example/pinned/validator-app:0.7.4")
    );
    assert_eq!(
        app.init_containers.as_ref().unwrap()[0].image.as_deref(),
        Some("other.example/psql:17")
    );
    let wallet = pod_spec(&r.web_uis[0].0);
    assert_eq!(
        wallet.containers[0].image.as_deref(),
        Some("other.example/wallet:1")
    );
    let ans = pod_spec(&r.web_uis[1].0);
    assert_eq!(
        ans.containers[0].image.as_deref(),
        Some("mirror.example.com/canton/ans-web-ui:0.7.4")
    );
}

#[test]
fn the_default_database_init_image_is_a_supported_postgres() {
    let r = rendered(&validator(EXAMPLE));
    for d in [&r.participant, &r.validator_app] {
        let init = &pod_spec(d).init_containers.as_ref().unwrap()[0];
        assert_eq!(init.image.as_deref(), Some("postgres:17"));
    }
}

#[test]
fn a_registry_with_a_scheme_or_trailing_slash_is_refused() {
    for bad in [
        "https://mirror.example.com",
        "mirror.example.com/",
        "mirror/x@sha256",
    ] {
        let v = patched(EXAMPLE, json!({"imageRegistry": bad}));
        assert!(
            matches!(try_render(&v), Err(RenderError::InvalidField { ref field, .. }) if field == "spec.imageRegistry"),
            "{bad}"
        );
    }
}

// ------------------------------------------------------- extra volumes, mounts, init containers

fn extras(prefix: &str) -> Value {
    json!({
        "extraVolumes": [
            {"name": "ca", "configMap": {"name": "corporate-ca"}},
            {"name": "vault", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
        "extraVolumeMounts": [
            {"name": "ca", "mountPath": "/etc/ssl/corporate", "readOnly": true},
            {"name": "vault", "mountPath": "/vault/secrets"},
        ],
        "extraInitContainers": [
            {"name": format!("{prefix}-vault-init"), "image": "hashicorp/vault:1.17",
             "imagePullPolicy": "Always",
             "args": ["agent", "-config=/etc/vault/agent.hcl", "-exit-after-auth"],
             "volumeMounts": [{"name": "vault", "mountPath": "/vault/secrets"}]},
        ],
    })
}

#[test]
fn extras_come_after_the_operator_s_own() {
    let driver = json!({"enabled": true, "driver": {"name": "hsm",
        "jar": {"image": "acme/hsm-driver:1", "path": "/driver/hsm.jar", "classpathDir": "/app/lib"}},
        "serviceAccount": {"name": "hsm"}});
    let v = patched(
        EXAMPLE,
        json!({"kms": driver, "participant": extras("p"), "validatorApp": extras("v"),
            "pods": {"imagePullPolicy": "IfNotPresent"}}),
    );
    let r = rendered(&v);
    let participant = pod_spec(&r.participant);
    // An init container of the user's with a pull policy of its own keeps it.
    let policies: Vec<_> = participant
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.image_pull_policy.as_deref()))
        .collect();
    assert_eq!(
        policies,
        [
            ("pg-init", Some("IfNotPresent")),
            ("kms-driver", Some("IfNotPresent")),
            ("p-vault-init", Some("Always"))
        ]
    );
    let names = |items: Vec<&str>| items.join(",");
    assert_eq!(
        names(
            participant
                .volumes
                .iter()
                .flatten()
                .map(|v| v.name.as_str())
                .collect()
        ),
        "kms-driver,ca,vault"
    );
    assert_eq!(
        names(
            participant
                .init_containers
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect()
        ),
        "pg-init,kms-driver,p-vault-init"
    );
    let mounts: Vec<_> = participant.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(
        mounts,
        ["/app/lib/hsm.jar", "/etc/ssl/corporate", "/vault/secrets"]
    );
    let app = pod_spec(&r.validator_app);
    assert_eq!(
        names(
            app.volumes
                .iter()
                .flatten()
                .map(|v| v.name.as_str())
                .collect()
        ),
        "ca,vault"
    );
    assert_eq!(
        names(
            app.init_containers
                .iter()
                .flatten()
                .map(|c| c.name.as_str())
                .collect()
        ),
        "validator-app-pg-init,v-vault-init"
    );
    assert_eq!(app.containers[0].volume_mounts.as_ref().unwrap().len(), 2);
    // The UIs get none of it.
    assert!(pod_spec(&r.web_uis[0].0).volumes.is_none());
}

#[test]
fn a_mount_over_the_operator_s_own_is_refused_before_rendering() {
    let driver = json!({"enabled": true, "driver": {"name": "hsm",
        "jar": {"image": "acme/hsm-driver:1", "path": "/driver/hsm.jar", "classpathDir": "/app/lib"}},
        "serviceAccount": {"name": "hsm"}});
    let v = patched(
        EXAMPLE,
        json!({"kms": driver, "participant": {
            "extraVolumes": [{"name": "jar", "emptyDir": {}}],
            "extraVolumeMounts": [{"name": "jar", "mountPath": "/app/lib/hsm.jar"}]}}),
    );
    match try_render(&v) {
        Err(RenderError::InvalidField { field, .. }) => {
            assert_eq!(field, "spec.participant.extraVolumeMounts[0].mountPath")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_mount_of_a_volume_that_is_not_there_is_refused_before_rendering() {
    let v = patched(
        EXAMPLE,
        json!({"validatorApp": {"extraVolumeMounts": [{"name": "nope", "mountPath": "/x"}]}}),
    );
    match try_render(&v) {
        Err(RenderError::InvalidField { field, message }) => {
            assert_eq!(field, "spec.validatorApp.extraVolumeMounts[0].name");
            assert!(message.contains("nope"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// --------------------------------------------------------------- names the operator keeps

/// Every place pod settings go, as a spec pointer, with the field path the refusal names.
const POD_PLACES: [(&str, &str); 5] = [
    ("/pods", "spec.pods"),
    ("/participant/pod", "spec.participant.pod"),
    ("/validatorApp/pod", "spec.validatorApp.pod"),
    ("/webUis/pod", "spec.webUis.pod"),
    ("/backup/identities/pod", "spec.backup.identities.pod"),
];

fn at(pointer: &str, value: Value) -> Value {
    let mut patch = json!({});
    let mut node = &mut patch;
    for part in pointer.trim_start_matches('/').split('/') {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert(json!({}));
    }
    *node = value;
    patch
}

/// The Validator with `value` at `pointer`, built without the CEL check (as a client sends it).
fn unchecked(pointer: &str, value: Value) -> Validator {
    patched(WITH_BACKUP, at(pointer, value))
}

fn refused_keys() -> Vec<String> {
    let mut keys: Vec<String> = OPERATOR_POD_LABELS.iter().map(|k| k.to_string()).collect();
    keys.extend(
        [
            "canton-operator.dev/spec-hash",
            "canton-operator.dev/validator-generation",
            "canton-operator.dev/rollout",
        ]
        .map(String::from),
    );
    keys
}

fn cel_refusal(v: &Validator) -> (String, String) {
    let errors = canton_operator::api::cel::check_rules(v)
        .expect_err("refused at admission")
        .into_vec();
    assert_eq!(errors.len(), 1, "{errors:?}");
    (errors[0].field_path.clone(), errors[0].message.clone())
}

#[test]
fn operator_labels_are_refused_at_admission_and_before_rendering() {
    for (pointer, field) in POD_PLACES {
        for key in refused_keys() {
            let v = unchecked(pointer, json!({"labels": {key.clone(): "x"}}));
            let (path, message) = cel_refusal(&v);
            assert!(
                path.ends_with(&format!("{}.labels", field.trim_start_matches("spec.")))
                    || path.contains("labels"),
                "{field}: {path}"
            );
            assert!(message.starts_with("pod labels:"), "{message}");
            match try_render(&v) {
                Err(RenderError::InvalidField { field: f, message }) => {
                    assert_eq!(f, format!("{field}.labels"));
                    assert!(message.contains(&key), "{message}");
                }
                other => panic!("{field} {key}: expected a refusal, got {other:?}"),
            }
        }
        // A label of the user's own passes both.
        let ok = unchecked(
            pointer,
            json!({"labels": {"app.kubernetes.io/team": "x", "team": "y"}}),
        );
        assert_eq!(
            canton_operator::api::cel::check_rules(&ok).map_err(|e| e.to_string()),
            Ok(())
        );
        assert!(try_render(&ok).is_ok(), "{field}");
    }
}

#[test]
fn operator_annotations_are_refused_at_admission_and_before_rendering() {
    for (pointer, field) in POD_PLACES {
        let v = unchecked(
            pointer,
            json!({"annotations": {"canton-operator.dev/rollout": "x"}}),
        );
        let (path, message) = cel_refusal(&v);
        assert_eq!(path, format!("{field}.annotations"));
        assert!(message.starts_with("pod annotations:"), "{message}");
        match try_render(&v) {
            Err(RenderError::InvalidField { field: f, .. }) => {
                assert_eq!(f, format!("{field}.annotations"))
            }
            other => panic!("{field}: expected a refusal, got {other:?}"),
        }
        let ok = unchecked(
            pointer,
            json!({"annotations": {"vault.hashicorp.com/agent-inject": "true"}}),
        );
        assert_eq!(
            canton_operator::api::cel::check_rules(&ok).map_err(|e| e.to_string()),
            Ok(())
        );
    }
}

#[test]
fn operator_container_and_volume_names_are_refused_at_admission_and_before_rendering() {
    let cases: [(&str, &[&str]); 2] = [
        ("participant", PARTICIPANT_CONTAINERS),
        ("validatorApp", VALIDATOR_APP_CONTAINERS),
    ];
    for (workload, names) in cases {
        for name in names {
            let v = unchecked(
                &format!("/{workload}/extraInitContainers"),
                json!([{"name": name, "image": "busybox:1"}]),
            );
            let (path, message) = cel_refusal(&v);
            assert_eq!(path, format!("spec.{workload}.extraInitContainers"));
            assert!(
                message.contains(&format!("spec.{workload}.extraInitContainers")),
                "{message}"
            );
            match try_render(&v) {
                Err(RenderError::InvalidField { field, .. }) => {
                    assert_eq!(
                        field,
                        format!("spec.{workload}.extraInitContainers[0].name")
                    )
                }
                other => panic!("{workload} {name}: expected a refusal, got {other:?}"),
            }
        }
        for name in OPERATOR_VOLUMES {
            let v = unchecked(
                &format!("/{workload}/extraVolumes"),
                json!([{"name": name, "emptyDir": {}}]),
            );
            let (path, message) = cel_refusal(&v);
            assert_eq!(path, format!("spec.{workload}.extraVolumes"));
            assert!(
                message.contains(&format!("spec.{workload}.extraVolumes")),
                "{message}"
            );
            match try_render(&v) {
                Err(RenderError::InvalidField { field, .. }) => {
                    assert_eq!(field, format!("spec.{workload}.extraVolumes[0].name"))
                }
                other => panic!("{workload} {name}: expected a refusal, got {other:?}"),
            }
        }
    }
}

/// The refused lists are the names the render uses: every label key on a rendered pod, every
/// container and volume name of the participant (with a KMS driver jar) and the validator app.
#[test]
fn the_refused_names_are_the_ones_the_render_uses() {
    let driver = json!({"enabled": true, "driver": {"name": "hsm",
        "jar": {"image": "acme/hsm-driver:1", "path": "/driver/hsm.jar", "classpathDir": "/app/lib"}},
        "serviceAccount": {"name": "hsm"}});
    let r = rendered(&patched(WITH_BACKUP, json!({"kms": driver})));
    for (name, t) in templates(&r) {
        for key in t.metadata.as_ref().unwrap().labels.as_ref().unwrap().keys() {
            assert!(
                OPERATOR_POD_LABELS.contains(&key.as_str()),
                "{name}: label {key}"
            );
        }
    }
    let names = |d: &Deployment| {
        let pod = pod_spec(d);
        let containers: Vec<String> = pod
            .init_containers
            .iter()
            .flatten()
            .chain(&pod.containers)
            .map(|c| c.name.clone())
            .collect();
        let volumes: Vec<String> = pod
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.clone())
            .collect();
        (containers, volumes)
    };
    for (deployment, reserved) in [
        (&r.participant, PARTICIPANT_CONTAINERS),
        (&r.validator_app, VALIDATOR_APP_CONTAINERS),
    ] {
        let (containers, volumes) = names(deployment);
        for c in containers {
            assert!(reserved.contains(&c.as_str()), "container {c}");
        }
        for v in volumes {
            assert!(OPERATOR_VOLUMES.contains(&v.as_str()), "volume {v}");
        }
    }
}

// ------------------------------------------------------------------------------ the example

#[test]
fn the_production_example_is_pinned_mirrored_and_annotated() {
    let r = rendered(&validator(PRODUCTION));
    let participant = pod_spec(&r.participant);
    assert_eq!(
        participant.priority_class_name.as_deref(),
        Some("canton-mainnet")
    );
    assert_eq!(
        participant.tolerations.as_ref().unwrap()[0]
            .effect
            .as_deref(),
        Some("NoSchedule")
    );
    assert_eq!(
        participant.containers[0].image.as_deref(),
        Some("mirror.acme.example/canton/canton-participant:0.7.4")
    );
    let t = &r.participant.spec.as_ref().unwrap().template;
    assert_eq!(
        annotation(t, "vault.hashicorp.com/agent-inject"),
        Some("true")
    );
    assert_eq!(label(t, "acme.example/network"), Some("mainnet"));
    assert_eq!(
        pod_spec(&r.validator_app).containers[0].image.as_deref(),
        Some("mirror.acme.example/canton-pinned/validator-app:0.7.4")
    );
    let ui = pod_spec(&r.web_uis[0].0);
    assert!(ui.tolerations.is_none());
    assert_eq!(
        ui.node_selector
            .as_ref()
            .unwrap()
            .get("pool.acme.example/name")
            .map(String::as_str),
        Some("general")
    );
}

// ------------------------------------------------------------------------------ the CRD

/// The pod spec types keep every field (so `kubectl explain validator.spec.pods.affinity
/// --recursive` shows them), without Kubernetes' descriptions inside; the CRD stays under the
/// 256 KiB annotation a client-side `kubectl apply` of it writes (README's install command).
#[test]
fn embedded_pod_types_keep_their_fields_and_the_crd_fits_client_side_apply() {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(Validator::crd()).unwrap();
    let spec = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties")
        .unwrap();
    let affinity = &spec["pods"]["properties"]["affinity"];
    assert!(
        affinity["description"]
            .as_str()
            .unwrap()
            .contains("replaces the shared value")
    );
    let node_affinity = &affinity["properties"]["nodeAffinity"];
    assert_eq!(node_affinity["type"], json!("object"));
    assert!(node_affinity.get("description").is_none());
    let mounts = &spec["participant"]["properties"]["extraVolumeMounts"]["items"];
    assert_eq!(mounts["required"], json!(["mountPath", "name"]));
    assert_eq!(mounts["properties"]["readOnly"]["type"], json!("boolean"));
    let toleration = &spec["validatorApp"]["properties"]["pod"]["properties"]["tolerations"];
    assert_eq!(
        toleration["items"]["properties"]["effect"]["type"],
        json!("string")
    );
    let size = serde_json::to_string(&crd).unwrap().len();
    assert!(size < 262_144, "the Validator CRD is {size} bytes as JSON");
}

/// The rules of a structural schema the API server checks on CRD creation, for the whole
/// Validator schema (the embedded pod types included): every node has a type (or is
/// int-or-string or keeps unknown fields), no `$ref`, and nothing but validation inside
/// `anyOf` / `allOf` / `oneOf` / `not` (int-or-string's two types aside).
#[test]
fn the_validator_schema_is_structural() {
    use kube::CustomResourceExt;
    fn walk(node: &Value, path: &str, junctor: Option<bool>, problems: &mut Vec<String>) {
        let Some(map) = node.as_object() else { return };
        let flag = |k: &str| map.get(k) == Some(&json!(true));
        if map.contains_key("$ref") {
            problems.push(format!("{path}: $ref"));
        }
        match junctor {
            None if !map.contains_key("type")
                && !flag("x-kubernetes-int-or-string")
                && !flag("x-kubernetes-preserve-unknown-fields") =>
            {
                problems.push(format!("{path}: no type"))
            }
            Some(int_or_string) => {
                for key in ["description", "default", "nullable", "additionalProperties"] {
                    if map.contains_key(key) {
                        problems.push(format!("{path}: {key} inside a junctor"));
                    }
                }
                if map.contains_key("type") && !int_or_string {
                    problems.push(format!("{path}: type inside a junctor"));
                }
            }
            None => {}
        }
        for key in ["anyOf", "allOf", "oneOf", "not"] {
            let subs = match map.get(key) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(one) => vec![one],
                None => continue,
            };
            for sub in subs {
                walk(
                    sub,
                    &format!("{path}/{key}"),
                    Some(flag("x-kubernetes-int-or-string")),
                    problems,
                );
            }
        }
        if let Some(Value::Object(props)) = map.get("properties") {
            for (name, sub) in props {
                walk(sub, &format!("{path}.{name}"), None, problems);
            }
        }
        for (key, suffix) in [("items", "[]"), ("additionalProperties", "{}")] {
            if let Some(sub @ Value::Object(_)) = map.get(key) {
                walk(sub, &format!("{path}{suffix}"), None, problems);
            }
        }
    }
    let crd = serde_json::to_value(Validator::crd()).unwrap();
    let schema = crd
        .pointer("/spec/versions/0/schema/openAPIV3Schema")
        .unwrap();
    let mut problems = Vec::new();
    walk(schema, "", None, &mut problems);
    assert_eq!(problems, Vec::<String>::new());
}

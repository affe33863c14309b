//! Built-in kinds: decoding through the typed k8s-openapi structs (which drops
//! unknown fields and rejects wrong types, like the apiserver's Go structs),
//! `omitempty` emulation, the apiserver's defaulting, and the validations
//! operators most often trip over.

use k8s_openapi::ByteString;
use k8s_openapi::api::{apps, batch, coordination, core::v1 as core, events, networking};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use super::errors::{Cause, FieldErrorKind, field_error};
use super::quantity;
use super::registry::Builtin;

/// Decodes and re-encodes through the typed struct. Errors are decode
/// failures (the apiserver answers 400 for those).
pub(crate) fn decode(kind: Builtin, obj: Value) -> Result<Value, String> {
    let mut out = match kind {
        Builtin::Pod => roundtrip::<core::Pod>(obj).and_then(|mut pod| {
            canonical_quantities(&mut pod, "/spec")?;
            Ok(pod)
        }),
        Builtin::Service => roundtrip::<core::Service>(obj),
        Builtin::ServiceAccount => roundtrip::<core::ServiceAccount>(obj),
        Builtin::Secret => decode_secret(obj),
        Builtin::ConfigMap => roundtrip::<core::ConfigMap>(obj),
        Builtin::CoreEvent => roundtrip::<core::Event>(obj),
        Builtin::Namespace => roundtrip::<core::Namespace>(obj),
        Builtin::Deployment => roundtrip::<apps::v1::Deployment>(obj).and_then(|mut d| {
            canonical_quantities(&mut d, "/spec/template/spec")?;
            Ok(d)
        }),
        Builtin::Event => roundtrip::<events::v1::Event>(obj),
        Builtin::Lease => roundtrip::<coordination::v1::Lease>(obj),
        Builtin::NetworkPolicy => roundtrip::<networking::v1::NetworkPolicy>(obj),
        Builtin::CronJob => roundtrip::<batch::v1::CronJob>(obj).and_then(|mut c| {
            canonical_quantities(&mut c, "/spec/jobTemplate/spec/template/spec")?;
            Ok(c)
        }),
        Builtin::CustomResourceDefinition => roundtrip::<CustomResourceDefinition>(obj),
    }?;
    drop_empty_lists(&mut out);
    Ok(out)
}

/// The apiserver decodes quantities into `resource.Quantity` and encodes them canonical.
fn canonical_quantities(obj: &mut Value, pod_spec: &str) -> Result<(), String> {
    match obj.pointer_mut(pod_spec) {
        Some(spec) => quantity::canonicalise_pod_spec(spec),
        None => Ok(()),
    }
}

fn roundtrip<T: DeserializeOwned + Serialize>(obj: Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// `stringData` is write-only: the apiserver folds it into `data`.
fn decode_secret(obj: Value) -> Result<Value, String> {
    let mut secret: core::Secret = serde_json::from_value(obj).map_err(|e| e.to_string())?;
    if let Some(string_data) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(Default::default);
        for (k, v) in string_data {
            data.insert(k, ByteString(v.into_bytes()));
        }
    }
    serde_json::to_value(secret).map_err(|e| e.to_string())
}

/// Go's `omitempty` drops empty slices; k8s-openapi keeps `Some(vec![])`.
fn drop_empty_lists(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, child| !matches!(child, Value::Array(a) if a.is_empty()));
            map.values_mut().for_each(drop_empty_lists);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_empty_lists),
        _ => {}
    }
}

/// Sets `key` on an object node when absent.
fn default_field(node: &mut Value, key: &str, value: Value) {
    if let Some(map) = node.as_object_mut() {
        let entry = map.entry(key.to_string()).or_insert(Value::Null);
        if entry.is_null() {
            *entry = value;
        }
    }
}

/// Each element of the list at `node[key]`.
fn each_item(node: &mut Value, key: &str, mut f: impl FnMut(&mut Value)) {
    if let Some(items) = node.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(&mut f);
    }
}

/// The apiserver's defaulting for the built-ins (SetDefaults_* functions).
/// `allocate_ip` hands out Service cluster IPs.
pub(crate) fn apply_defaults(
    kind: Builtin,
    obj: &mut Value,
    old: Option<&Value>,
    allocate_ip: &mut dyn FnMut() -> String,
) {
    match kind {
        Builtin::Deployment => deployment_defaults(obj),
        Builtin::Pod => {
            if let Some(spec) = obj.get_mut("spec") {
                pod_spec_defaults(spec);
                default_field(spec, "enableServiceLinks", json!(true));
            }
            if old.is_none() {
                default_field(obj, "status", json!({}));
                if let Some(status) = obj.get_mut("status") {
                    default_field(status, "phase", json!("Pending"));
                }
            }
        }
        Builtin::Service => service_defaults(obj, old, allocate_ip),
        Builtin::Secret => default_field(obj, "type", json!("Opaque")),
        Builtin::Namespace => namespace_defaults(obj),
        Builtin::NetworkPolicy => network_policy_defaults(obj),
        Builtin::CronJob => cron_job_defaults(obj),
        _ => {}
    }
}

fn deployment_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    default_field(spec, "replicas", json!(1));
    default_field(spec, "revisionHistoryLimit", json!(10));
    default_field(spec, "progressDeadlineSeconds", json!(600));
    default_field(spec, "strategy", json!({"type": "RollingUpdate"}));
    if let Some(strategy) = spec.get_mut("strategy") {
        default_field(strategy, "type", json!("RollingUpdate"));
        if strategy["type"] == "RollingUpdate" {
            default_field(strategy, "rollingUpdate", json!({}));
            if let Some(ru) = strategy.get_mut("rollingUpdate") {
                default_field(ru, "maxUnavailable", json!("25%"));
                default_field(ru, "maxSurge", json!("25%"));
            }
        }
    }
    if let Some(pod_spec) = spec.pointer_mut("/template/spec") {
        pod_spec_defaults(pod_spec);
    }
}

fn pod_spec_defaults(spec: &mut Value) {
    default_field(spec, "restartPolicy", json!("Always"));
    default_field(spec, "terminationGracePeriodSeconds", json!(30));
    default_field(spec, "dnsPolicy", json!("ClusterFirst"));
    default_field(spec, "securityContext", json!({}));
    default_field(spec, "schedulerName", json!("default-scheduler"));
    each_item(spec, "containers", container_defaults);
    each_item(spec, "initContainers", container_defaults);
    each_item(spec, "volumes", |v| {
        for source in ["secret", "configMap", "projected", "downwardAPI"] {
            if let Some(src) = v.get_mut(source) {
                default_field(src, "defaultMode", json!(420));
            }
        }
    });
}

fn container_defaults(c: &mut Value) {
    default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
    default_field(c, "terminationMessagePolicy", json!("File"));
    let image = c
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    default_field(c, "imagePullPolicy", json!(default_pull_policy(&image)));
    default_field(c, "resources", json!({}));
    each_item(c, "ports", |p| default_field(p, "protocol", json!("TCP")));
    each_item(c, "env", |e| {
        if let Some(field_ref) = e.pointer_mut("/valueFrom/fieldRef") {
            default_field(field_ref, "apiVersion", json!("v1"));
        }
    });
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe) {
            default_field(p, "timeoutSeconds", json!(1));
            default_field(p, "periodSeconds", json!(10));
            default_field(p, "successThreshold", json!(1));
            default_field(p, "failureThreshold", json!(3));
            if let Some(http) = p.get_mut("httpGet") {
                default_field(http, "scheme", json!("HTTP"));
            }
        }
    }
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn service_defaults(obj: &mut Value, old: Option<&Value>, allocate_ip: &mut dyn FnMut() -> String) {
    if old.is_none() {
        // What the apiserver returns for every new Service until a load balancer reports.
        default_field(obj, "status", json!({"loadBalancer": {}}));
    }
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    default_field(spec, "type", json!("ClusterIP"));
    default_field(spec, "sessionAffinity", json!("None"));
    each_item(spec, "ports", |p| {
        default_field(p, "protocol", json!("TCP"));
        let port = p.get("port").cloned().unwrap_or(Value::Null);
        default_field(p, "targetPort", port);
    });
    if spec["type"] == "ExternalName" {
        return;
    }
    let old_spec = old.and_then(|o| o.get("spec"));
    for field in ["clusterIP", "clusterIPs"] {
        if let Some(v) = old_spec.and_then(|s| s.get(field)) {
            default_field(spec, field, v.clone());
        }
    }
    if spec.get("clusterIP").is_none_or(Value::is_null) {
        spec["clusterIP"] = json!(allocate_ip());
    }
    let ip = spec["clusterIP"].clone();
    default_field(spec, "clusterIPs", json!([ip]));
    default_field(spec, "ipFamilies", json!(["IPv4"]));
    default_field(spec, "ipFamilyPolicy", json!("SingleStack"));
    default_field(spec, "internalTrafficPolicy", json!("Cluster"));
}

fn namespace_defaults(obj: &mut Value) {
    let name = obj
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(meta) = obj.get_mut("metadata") {
        default_field(meta, "labels", json!({}));
        if let Some(labels) = meta.get_mut("labels") {
            labels["kubernetes.io/metadata.name"] = name;
        }
    }
    default_field(obj, "spec", json!({}));
    if let Some(spec) = obj.get_mut("spec") {
        default_field(spec, "finalizers", json!(["kubernetes"]));
    }
    default_field(obj, "status", json!({}));
    if let Some(status) = obj.get_mut("status") {
        default_field(status, "phase", json!("Active"));
    }
}

/// What the apiserver defaults on a CronJob: its own policy fields and the pod template (the Job
/// fields of the template are defaulted only when a Job is made from it).
fn cron_job_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    default_field(spec, "concurrencyPolicy", json!("Allow"));
    default_field(spec, "suspend", json!(false));
    default_field(spec, "successfulJobsHistoryLimit", json!(3));
    default_field(spec, "failedJobsHistoryLimit", json!(1));
    if let Some(pod) = spec.pointer_mut("/jobTemplate/spec/template/spec") {
        pod_spec_defaults(pod);
    }
}

fn network_policy_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    let types = if spec.get("egress").is_some() {
        json!(["Ingress", "Egress"])
    } else {
        json!(["Ingress"])
    };
    default_field(spec, "policyTypes", types);
}

/// Validations of the built-ins that operators commonly get wrong.
pub(crate) fn validate(kind: Builtin, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    match kind {
        Builtin::Deployment => validate_deployment(obj, old, &mut errs),
        Builtin::Pod => {
            if let Some(spec) = obj.get("spec") {
                validate_pod_spec(spec, "spec", &mut errs);
            }
        }
        Builtin::Service => validate_service(obj, old, &mut errs),
        Builtin::ConfigMap | Builtin::Secret => {
            validate_data_keys(obj, old, &mut errs);
            validate_data_size(obj, &mut errs);
        }
        Builtin::Event => validate_event(obj, &mut errs),
        _ => {}
    }
    errs
}

fn validate_deployment(obj: &Value, old: Option<&Value>, errs: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    if spec
        .get("replicas")
        .and_then(Value::as_i64)
        .is_some_and(|r| r < 0)
    {
        let detail = format!("{}: must be greater than or equal to 0", spec["replicas"]);
        errs.push(field_error(
            "spec.replicas",
            FieldErrorKind::Invalid,
            &detail,
        ));
    }
    match spec.get("selector") {
        None => errs.push(field_error("spec.selector", FieldErrorKind::Required, "")),
        Some(selector) => {
            let labels = spec
                .pointer("/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            if !selector_matches(selector, &labels) {
                let detail = format!(
                    "{}: `selector` does not match template `labels`",
                    go_map(&labels)
                );
                errs.push(field_error(
                    "spec.template.metadata.labels",
                    FieldErrorKind::Invalid,
                    &detail,
                ));
            }
            if let Some(old_sel) = old.and_then(|o| o.pointer("/spec/selector"))
                && old_sel != selector
            {
                let detail = format!("{selector}: field is immutable");
                errs.push(field_error(
                    "spec.selector",
                    FieldErrorKind::Invalid,
                    &detail,
                ));
            }
        }
    }
    match spec.pointer("/template/spec") {
        Some(pod_spec) => validate_pod_spec(pod_spec, "spec.template.spec", errs),
        None => errs.push(field_error(
            "spec.template.spec.containers",
            FieldErrorKind::Required,
            "",
        )),
    }
}

/// `matchLabels` and `matchExpressions` of a LabelSelector against labels.
fn selector_matches(selector: &Value, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let exprs = selector.get("matchExpressions").and_then(Value::as_array);
    let match_exprs = exprs.into_iter().flatten().all(|e| {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match e.get("operator").and_then(Value::as_str) {
            Some("In") => get(key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => get(key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => get(key).is_some(),
            Some("DoesNotExist") => get(key).is_none(),
            _ => false,
        }
    });
    let empty = selector.get("matchLabels").is_none() && exprs.is_none();
    !empty && match_labels && match_exprs
}

/// Go's `%#v`-ish rendering of a string map, as in the real message.
fn go_map(labels: &Value) -> String {
    let pairs: Vec<String> = labels
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k:?}:{v}")).collect())
        .unwrap_or_default();
    format!("map[string]string{{{}}}", pairs.join(", "))
}

fn validate_pod_spec(spec: &Value, path: &str, errs: &mut Vec<Cause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        errs.push(field_error(
            &format!("{path}.containers"),
            FieldErrorKind::Required,
            "",
        ));
    }
    let mut seen = Vec::new();
    for (i, c) in containers.into_iter().flatten().enumerate() {
        let cpath = format!("{path}.containers[{i}]");
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        if seen.contains(&name) {
            errs.push(field_error(
                &format!("{cpath}.name"),
                FieldErrorKind::Duplicate,
                &format!("{name:?}"),
            ));
        }
        seen.push(name);
        if c.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.push(field_error(
                &format!("{cpath}.image"),
                FieldErrorKind::Required,
                "",
            ));
        }
    }
}

fn validate_service(obj: &Value, old: Option<&Value>, errs: &mut Vec<Cause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let is_external = spec["type"] == "ExternalName";
    let headless = spec["clusterIP"] == "None";
    let ports = spec.get("ports").and_then(Value::as_array);
    if !is_external && !headless && ports.is_none_or(|p| p.is_empty()) {
        errs.push(field_error("spec.ports", FieldErrorKind::Required, ""));
    }
    for (i, p) in ports.into_iter().flatten().enumerate() {
        let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&port) {
            let detail = format!("{port}: must be between 1 and 65535, inclusive");
            errs.push(field_error(
                &format!("spec.ports[{i}].port"),
                FieldErrorKind::Invalid,
                &detail,
            ));
        }
    }
    if let Some(old_ip) = old.and_then(|o| o.pointer("/spec/clusterIP"))
        && spec.get("clusterIP").is_some_and(|ip| ip != old_ip)
    {
        let detail = format!("{}: field is immutable", spec["clusterIP"]);
        errs.push(field_error(
            "spec.clusterIP",
            FieldErrorKind::Invalid,
            &detail,
        ));
    }
}

fn validate_data_keys(obj: &Value, old: Option<&Value>, errs: &mut Vec<Cause>) {
    for field in ["data", "binaryData"] {
        for key in obj
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            let ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
            if !ok {
                let detail = format!(
                    "{key:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
                     (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
                );
                errs.push(field_error(
                    &format!("{field}[{key}]"),
                    FieldErrorKind::Invalid,
                    &detail,
                ));
            }
        }
    }
    let immutable = old.and_then(|o| o.get("immutable")) == Some(&Value::Bool(true));
    if immutable {
        for field in ["data", "binaryData"] {
            if obj.get(field) != old.and_then(|o| o.get(field)) {
                errs.push(field_error(
                    field,
                    FieldErrorKind::Forbidden,
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        if obj.get("immutable") != Some(&Value::Bool(true)) {
            errs.push(field_error(
                "immutable",
                FieldErrorKind::Forbidden,
                "field is immutable when `immutable` is set",
            ));
        }
    }
}

/// ConfigMaps and Secrets hold at most 1 MiB of data.
fn validate_data_size(obj: &Value, errs: &mut Vec<Cause>) {
    const LIMIT: usize = 1024 * 1024;
    let size: usize = ["data", "binaryData", "stringData"]
        .iter()
        .filter_map(|f| obj.get(*f).and_then(Value::as_object))
        .flat_map(|m| m.iter())
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > LIMIT {
        let detail = format!("must have at most {LIMIT} bytes");
        errs.push(field_error("data", FieldErrorKind::TooLong, &detail));
    }
}

/// events.k8s.io/v1 Event validation (ValidateEventCreate for v1).
fn validate_event(obj: &Value, errs: &mut Vec<Cause>) {
    let text = |f: &str| obj.get(f).and_then(Value::as_str).unwrap_or("");
    for field in [
        "reportingController",
        "reportingInstance",
        "action",
        "reason",
    ] {
        if text(field).is_empty() {
            errs.push(field_error(field, FieldErrorKind::Required, ""));
        } else if text(field).len() > 128 {
            errs.push(field_error(
                field,
                FieldErrorKind::TooLong,
                "may not be more than 128 bytes",
            ));
        }
    }
    if obj.get("eventTime").is_none_or(Value::is_null) {
        errs.push(field_error("eventTime", FieldErrorKind::Required, ""));
    }
    if !matches!(text("type"), "Normal" | "Warning") {
        let detail = format!("{:?}: has invalid value: {:?}", text("type"), text("type"));
        errs.push(field_error("type", FieldErrorKind::Invalid, &detail));
    }
    if text("note").len() > 1024 {
        errs.push(field_error(
            "note",
            FieldErrorKind::TooLong,
            "may not be more than 1024 bytes",
        ));
    }
}

//! The CRD reference in Markdown, generated from the schemas the types derive (kept in sync by a test).

use std::fmt::Write as _;

use serde_json::Value;

use crate::api::KUBERNETES_TYPED_FIELDS;
use crate::manifest::crds;

/// The reference page for every CRD this operator serves.
pub fn markdown() -> String {
    let mut out = String::from(
        "# CRD reference\n\nGenerated from the Rust types by `canton-operator crd --reference`; do not edit by hand.\n",
    );
    for crd in crds() {
        let Some(version) = crd.spec.versions.first() else {
            continue;
        };
        let _ = write!(
            out,
            "\n## {} ({}/{})\n",
            crd.spec.names.kind, crd.spec.group, version.name
        );
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| serde_json::to_value(s).ok())
            .unwrap_or(Value::Null);
        let mut rows = Vec::new();
        for top in ["spec", "status"] {
            if let Some(node) = schema.pointer(&format!("/properties/{top}")) {
                walk(node, top, &mut rows);
            }
        }
        out.push_str("\n| Field | Type | Required | Description |\n| --- | --- | --- | --- |\n");
        for row in rows {
            out.push_str(&row);
        }
    }
    out
}

fn walk(node: &Value, path: &str, rows: &mut Vec<String>) {
    let Some(props) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, child) in props {
        let field = format!("{path}.{name}");
        let ty = type_of(child);
        let description = child
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .replace('\n', " ")
            .replace('|', "\\|");
        let req = if required.contains(&name.as_str()) {
            "yes"
        } else {
            ""
        };
        rows.push(format!("| `{field}` | {ty} | {req} | {description} |\n"));
        if KUBERNETES_TYPED_FIELDS.contains(&name.as_str()) {
            // Kubernetes' own pod spec types: `kubectl explain pod.spec.<field>` documents them.
            continue;
        }
        walk(child, &field, rows);
        if let Some(items) = child.get("items") {
            walk(items, &format!("{field}[]"), rows);
        }
    }
}

fn type_of(node: &Value) -> String {
    let base = node.get("type").and_then(Value::as_str).unwrap_or("any");
    match (base, node.get("enum").and_then(Value::as_array)) {
        (_, Some(values)) => values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(" \\| "),
        ("array", _) => format!(
            "{}[]",
            node.get("items")
                .map(type_of)
                .unwrap_or_else(|| "any".into())
        ),
        _ => base.to_string(),
    }
}

//! Offline outputs: the CRD YAML and the objects a Validator renders to, as a YAML stream.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde::Serialize;

use crate::api::Validator;
use crate::api::field_validation::{FieldValidationError, check_validator_document, yaml_error};
use crate::config::OperatorConfig;
use crate::decision::{DecisionError, resolve};
use crate::render::{RenderError, Rendered, Site, render_in};

/// Why an offline render failed.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("not a Validator: {0}")]
    Decode(String),
    #[error(
        "document {index} (line {line}) is {kind}, not a Validator: `render -f` reads Validators only"
    )]
    NotAValidator {
        index: usize,
        line: usize,
        kind: String,
    },
    #[error("document {index} (line {line}): {error}")]
    InDocument {
        index: usize,
        line: usize,
        error: Box<ManifestError>,
    },
    #[error("the file holds no Validator")]
    Empty,
    #[error("the Validator would be refused by the API server: {0}")]
    Rejected(String),
    #[error(transparent)]
    Fields(#[from] FieldValidationError),
    #[error(
        "document {index} (line {line}) is Validator {namespace}/{name} again (first in document {first_index}, line {first_line}): one file names each Validator once, as kubectl apply needs"
    )]
    Duplicate {
        index: usize,
        line: usize,
        namespace: String,
        name: String,
        first_index: usize,
        first_line: usize,
    },
    #[error("no KMS decision can be made: {0}")]
    Decision(#[from] DecisionError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Iam(#[from] crate::iam::IamError),
    #[error("spec.backup.identities.destination: {0}")]
    BackupDestination(#[from] crate::backup::store::StoreError),
    #[error("could not write YAML: {0}")]
    Encode(String),
}

/// The CustomResourceDefinitions this operator serves.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![Validator::crd(), crate::api::ValidatorKeyRotation::crd()]
}

/// The CustomResourceDefinitions as one YAML stream (`---` between documents).
pub fn crd_yaml() -> Result<String, ManifestError> {
    let docs = crds()
        .iter()
        .map(|crd| serde_saphyr::to_string(crd).map_err(|e| ManifestError::Encode(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(docs.join("---\n"))
}

/// Reads a Validator from YAML; a missing namespace means `default`, as with kubectl.
/// Fields the CRD does not declare and a wrong `apiVersion` are refused, as `kubectl apply`'s
/// default (strict) field validation does.
pub fn decode_validator(text: &str) -> Result<Validator, ManifestError> {
    check_validator_document(text)?;
    let mut validator: Validator =
        serde_saphyr::from_str(text).map_err(|e| ManifestError::Decode(yaml_error(&e)))?;
    if validator.metadata.namespace.is_none() {
        validator.metadata.namespace = Some("default".to_string());
    }
    crate::api::cel::check_rules(&validator).map_err(|e| ManifestError::Rejected(e.to_string()))?;
    Ok(validator)
}

/// The cloud permissions a Validator's participant needs, as pretty JSON.
pub fn iam_policy_json(
    text: &str,
    config: &OperatorConfig,
    facts: &crate::iam::ClusterFacts,
) -> Result<String, ManifestError> {
    let validator = decode_validator(text)?;
    let decision = resolve(&validator.spec, &config.kms_default)?;
    let name = kube::ResourceExt::name_any(&validator);
    let namespace = validator.metadata.namespace.clone().unwrap_or_default();
    let account = decision
        .participant_service_account(&name)
        .unwrap_or_default();
    let gcp_project = match decision.provider() {
        Some(crate::kms::KmsProvider::Gcp(gcp)) => Some(gcp.project_id),
        _ => None,
    };
    let backup = backup_policy(&validator, &namespace, gcp_project.as_deref(), facts)?;
    let policy = match (
        crate::iam::policy(&decision, &namespace, &account, facts),
        backup,
    ) {
        (Ok(mut policy), Some(backup)) => {
            policy["identityBackup"] = backup;
            policy
        }
        (Ok(policy), None) => policy,
        // KMS off, but backups on: the backup Job's permissions are still worth printing.
        (Err(crate::iam::IamError::KmsOff), Some(backup)) => {
            serde_json::json!({ "identityBackup": backup })
        }
        (Err(e), _) => return Err(e.into()),
    };
    serde_json::to_string_pretty(&policy).map_err(|e| ManifestError::Encode(e.to_string()))
}

/// The bucket permissions of the identity backup Job, with the ServiceAccount it runs as and
/// how that becomes the cloud identity the bucket grants (trust policy or bindings).
fn backup_policy(
    validator: &Validator,
    namespace: &str,
    gcp_project: Option<&str>,
    facts: &crate::iam::ClusterFacts,
) -> Result<Option<serde_json::Value>, ManifestError> {
    let Some(backup) = validator.spec.identity_backup() else {
        return Ok(None);
    };
    let destination = crate::render::destination_url(&backup.destination);
    let mut policy = crate::backup::backup_bucket_policy(&destination)?;
    let name = kube::ResourceExt::name_any(validator);
    let account = backup
        .service_account
        .name
        .clone()
        .unwrap_or_else(|| crate::render::backup_name(&name));
    crate::iam::backup_identity(
        &mut policy,
        namespace,
        &account,
        &backup.service_account,
        gcp_project,
        facts,
    );
    policy["serviceAccount"] = serde_json::Value::String(account);
    Ok(Some(policy))
}

/// What the operator would apply for every Validator in the file (a YAML stream, as kubectl
/// reads it) if each were provisioned now, in file order. Empty documents are skipped.
pub fn render_yaml(text: &str, config: &OperatorConfig) -> Result<String, ManifestError> {
    let documents = documents(text);
    let several = documents.len() > 1;
    let mut out = String::new();
    let mut rendered_any = false;
    // The document and line of the first Validator of each (namespace, name).
    let mut seen: std::collections::HashMap<ValidatorKey, (usize, usize)> =
        std::collections::HashMap::new();
    for (i, document) in documents.iter().enumerate() {
        let at = |e: ManifestError| match e {
            e @ (ManifestError::NotAValidator { .. } | ManifestError::Duplicate { .. }) => e,
            e if several => ManifestError::InDocument {
                index: i + 1,
                line: document.line,
                error: Box::new(e),
            },
            e => e,
        };
        if let Some((key, yaml)) = render_document(document, i + 1, config).map_err(at)? {
            if let Some(&(first_index, first_line)) = seen.get(&key) {
                return Err(ManifestError::Duplicate {
                    index: i + 1,
                    line: document.line,
                    namespace: key.0,
                    name: key.1,
                    first_index,
                    first_line,
                });
            }
            seen.insert(key, (i + 1, document.line));
            out.push_str(&yaml);
            rendered_any = true;
        }
    }
    if !rendered_any {
        return Err(ManifestError::Empty);
    }
    Ok(out)
}

/// One document of a YAML stream: its text, padded with blank lines so that parse errors give
/// the line in the whole file.
struct Document {
    text: String,
    line: usize,
}

/// Splits a YAML stream before each `---` line: YAML forbids a document marker at the start of a
/// line inside any scalar, so a YAML reader splits the stream there too.
fn documents(text: &str) -> Vec<Document> {
    let mut out: Vec<Document> = Vec::new();
    let mut start = 0;
    let mut line = 1;
    let mut offset = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        let body = l.trim_end_matches(['\n', '\r']);
        let marker = body == "---" || body.starts_with("--- ") || body.starts_with("---\t");
        if marker && offset > start {
            out.push(document(&text[start..offset], line));
            start = offset;
            line = n + 1;
        }
        offset += l.len();
    }
    out.push(document(&text[start..], line));
    out
}

fn document(text: &str, line: usize) -> Document {
    let mut padded = "\n".repeat(line - 1);
    padded.push_str(text);
    Document { text: padded, line }
}

/// A Validator's namespace and name.
type ValidatorKey = (String, String);

/// Every Validator of a YAML stream with its `spec.version`, in file order, read leniently (other
/// kinds and empty documents are skipped; a Validator the operator would refuse is still listed),
/// so a fleet's manifests can be checked against a release (`releases below -f`).
pub fn validator_releases(
    text: &str,
) -> Result<Vec<crate::minimum_release::ValidatorRelease>, ManifestError> {
    let mut out = Vec::new();
    for (i, document) in documents(text).iter().enumerate() {
        let value: serde_json::Value =
            serde_saphyr::from_str(&document.text).map_err(|e| ManifestError::InDocument {
                index: i + 1,
                line: document.line,
                error: Box::new(ManifestError::Decode(e.to_string())),
            })?;
        if value.get("kind").and_then(|k| k.as_str()) != Some("Validator") {
            continue;
        }
        let text_at = |pointer: &str| value.pointer(pointer).and_then(|v| v.as_str());
        out.push(crate::minimum_release::ValidatorRelease {
            namespace: text_at("/metadata/namespace")
                .unwrap_or("default")
                .to_string(),
            name: text_at("/metadata/name").unwrap_or_default().to_string(),
            version: text_at("/spec/version").unwrap_or_default().to_string(),
        });
    }
    if out.is_empty() {
        return Err(ManifestError::Empty);
    }
    Ok(out)
}

/// The Validator's (namespace, name) and its rendered objects, `None` for an empty document.
fn render_document(
    document: &Document,
    index: usize,
    config: &OperatorConfig,
) -> Result<Option<(ValidatorKey, String)>, ManifestError> {
    let value: serde_json::Value = serde_saphyr::from_str(&document.text)
        .map_err(|e| ManifestError::Decode(yaml_error(&e)))?;
    if value.is_null() {
        return Ok(None);
    }
    let kind = match value.get("kind").and_then(|k| k.as_str()) {
        Some("Validator") => None,
        Some(kind) => Some(format!("a {kind}")),
        None => Some("an object without `kind`".to_string()),
    };
    if let Some(kind) = kind {
        return Err(ManifestError::NotAValidator {
            index,
            line: document.line,
            kind,
        });
    }
    let validator = decode_validator(&document.text)?;
    let decision = resolve(&validator.spec, &config.kms_default)?;
    let site = Site {
        operator_namespace: config.operator_namespace.as_deref(),
        operator_image: config.operator_image.as_deref(),
    };
    let rendered = render_in(&validator, &decision, &site)?;
    let key = (
        validator.metadata.namespace.clone().unwrap_or_default(),
        kube::ResourceExt::name_any(&validator),
    );
    rendered_yaml(&rendered).map(|yaml| Some((key, yaml)))
}

/// The rendered objects as one YAML stream, in apply order (the order of [`Rendered::to_json`]),
/// written by `serde_saphyr` straight from the typed objects. (A writer of our own saved
/// ~150 µs here, in a command that takes milliseconds: not worth a second YAML writer.)
pub fn rendered_yaml(rendered: &Rendered) -> Result<String, ManifestError> {
    let mut out = String::with_capacity(16 * 1024);
    for sa in [&rendered.service_account, &rendered.backup_service_account]
        .into_iter()
        .flatten()
    {
        push_document(&mut out, sa)?;
    }
    push_document(&mut out, &rendered.participant)?;
    push_document(&mut out, &rendered.participant_service)?;
    push_document(&mut out, &rendered.validator_app)?;
    push_document(&mut out, &rendered.validator_app_service)?;
    for (deployment, service) in &rendered.web_uis {
        push_document(&mut out, deployment)?;
        push_document(&mut out, service)?;
    }
    push_document(&mut out, &rendered.network_policy)?;
    if let Some(cron_job) = &rendered.identity_backup {
        push_document(&mut out, cron_job)?;
    }
    Ok(out)
}

fn push_document<T: Serialize>(out: &mut String, object: &T) -> Result<(), ManifestError> {
    out.push_str("---\n");
    let doc = serde_saphyr::to_string(object).map_err(|e| ManifestError::Encode(e.to_string()))?;
    out.push_str(&doc);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// One document as `render` writes it, read back.
    fn round_trip(value: &Value) {
        let mut out = String::new();
        push_document(&mut out, value).unwrap();
        let back: Vec<Value> =
            serde_saphyr::from_multiple(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(back, std::slice::from_ref(value), "\n{out}");
    }

    fn seed_config() -> OperatorConfig {
        OperatorConfig::from_lookup(|name| -> Option<OsString> {
            match name {
                crate::config::ENABLED_VAR => Some("true".into()),
                crate::config::VALUE_VAR => {
                    Some(r#"{ type = "aws", region = "eu-west-1", audit-logging = true }"#.into())
                }
                crate::config::SERVICE_ACCOUNT_VAR => Some("canton-kms".into()),
                _ => None,
            }
        })
    }

    #[test]
    fn the_stream_is_to_json() {
        let example = include_str!("../examples/validator.yaml");
        for config in [OperatorConfig::from_lookup(|_| None), seed_config()] {
            let validator = decode_validator(example).unwrap();
            let decision = resolve(&validator.spec, &config.kms_default).unwrap();
            let rendered = crate::render::render(&validator, &decision).unwrap();
            let stream = rendered_yaml(&rendered).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&stream).unwrap();
            assert_eq!(docs, rendered.to_json().unwrap(), "\n{stream}");
        }
    }

    #[test]
    fn hostile_text_stays_a_string() {
        for s in [
            "",
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "~",
            "NULL",
            "0.4.15",
            "5432",
            "1e3",
            "0x1F",
            "1:20",
            ".inf",
            "-",
            "- a",
            "a: b",
            "#x",
            " x",
            "x ",
            "<<",
            "*a",
            "&a",
            "!x",
            "%x",
            "@x",
            "[a]",
            "{a}",
            "'a'",
            "\"a\"",
            "---",
            "...",
            "a\nb\n",
            "\nlead",
            " indented\nx",
            "tab\tand\rcr\nz",
            "a\u{0}b\u{7f}\u{85}\u{2028}\u{2029}\u{feff}",
            "é ü 日本 🦀",
            "x\n---\nkind: Secret",
            "${HOME} } { \"",
        ] {
            round_trip(&json!({ "k": s, s: [s] }));
        }
    }

    #[test]
    fn numbers_are_exact() {
        round_trip(&json!({ "a": [0, -1, 5432, i64::MIN, i64::MAX, u64::MAX] }));
        for f in [1.5, 1e20, -2.5e-7, 0.1, 1e15, -0.0, 123456789.125] {
            round_trip(&json!({ "f": f }));
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips(key in "\\PC{0,12}", value in any::<String>(), lines in "[ -~\n]{0,40}") {
            round_trip(&json!({ key.clone(): value, "l": lines, "s": [key] }));
        }
    }

    #[test]
    fn documents_split_at_markers_only() {
        let text = "# c\na: |\n  ---x\n  b\n---\n\n...\n--- # two\nc: 1\n---\n";
        let docs = documents(text);
        let lines: Vec<usize> = docs.iter().map(|d| d.line).collect();
        assert_eq!(lines, [1, 5, 8, 10]);
        let first: Value = serde_saphyr::from_str(&docs[0].text).unwrap();
        assert_eq!(first, json!({ "a": "---x\nb\n" }));
        assert!(
            docs[2].text.starts_with(&"\n".repeat(7)),
            "keeps file lines"
        );
    }
}

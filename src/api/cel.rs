//! The Validator CRD's CEL rules, checked without an API server (the `render`, `verify` and
//! `iam-policy` commands read Validators from files).
//!
//! kube's generated `validate_cel` rebuilds and recompiles the whole CRD schema on every call
//! (about 4 ms); here the schema is compiled once per process and reused.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use kube::core::cel::{CompiledSchema, ValidationErrors, Validator as Rules, compile_schema};

use super::Validator;

/// The CRD's `openAPIV3Schema`, rules compiled; `None` if the CRD carries no schema (never for
/// a derived CRD, but not worth a panic).
fn compiled() -> Option<&'static CompiledSchema> {
    static COMPILED: OnceLock<Option<CompiledSchema>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let crd = Validator::crd();
            let schema = crd
                .spec
                .versions
                .first()?
                .schema
                .as_ref()?
                .open_api_v3_schema
                .as_ref()?;
            let schema = serde_json::to_value(schema).ok()?;
            Some(compile_schema(&schema))
        })
        .as_ref()
}

thread_local! {
    /// The CEL environment with the Kubernetes functions; built once per thread.
    static RULES: Rules = Rules::new();
}

/// Checks a new Validator against the CRD's creation rules, as the API server would.
pub fn check_rules(validator: &Validator) -> Result<(), ValidationErrors> {
    let Some(schema) = compiled() else {
        return validator.validate_cel();
    };
    let Ok(object) = serde_json::to_value(validator) else {
        return validator.validate_cel();
    };
    RULES.with(|rules| rules.validate_compiled(schema, &object, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(kms: serde_json::Value) -> Validator {
        let mut object: serde_json::Value =
            serde_saphyr::from_str(include_str!("../../examples/validator.yaml")).unwrap();
        object["spec"]["kms"] = kms;
        serde_json::from_value(object).unwrap()
    }

    #[test]
    fn agrees_with_kubes_generated_check() {
        let cases = [
            serde_json::json!({"enabled": false}),
            serde_json::json!({"enabled": true}),
            serde_json::json!({"enabled": true, "aws": {"region": "us-east-1"},
                "serviceAccount": {"name": "kms"}}),
            serde_json::json!({"enabled": true, "aws": {"region": "us-east-1"},
                "gcp": {"locationId": "l", "projectId": "p", "keyRingId": "k"}}),
        ];
        let two_providers = validator(cases[3].clone());
        assert!(check_rules(&two_providers).is_err(), "one provider only");
        for kms in cases {
            let v = validator(kms.clone());
            assert_eq!(
                check_rules(&v).map_err(|e| e.to_string()),
                v.validate_cel().map_err(|e| e.to_string()),
                "{kms}"
            );
        }
    }
}

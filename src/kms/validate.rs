//! Field checks on a KMS model, with messages that name the field (in `spec.kms` spelling).

use super::model::{AwsKms, DriverKms, GcpKms, KmsProvider};

/// A problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Path of the field, such as `spec.kms.aws.region`.
    pub field: String,
    /// What is wrong and what would be right.
    pub message: String,
}

impl FieldError {
    /// A problem at `field`.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks a provider's fields; `prefix` is where the provider block sits, e.g. `spec.kms`.
pub(crate) fn validate_provider(provider: &KmsProvider, prefix: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    match provider {
        KmsProvider::Aws(aws) => check_aws(aws, &format!("{prefix}.aws"), &mut errors),
        KmsProvider::Gcp(gcp) => check_gcp(gcp, &format!("{prefix}.gcp"), &mut errors),
        KmsProvider::Driver(driver) => {
            check_driver(driver, &format!("{prefix}.driver"), &mut errors)
        }
    }
    errors
}

fn check_aws(aws: &AwsKms, at: &str, errors: &mut Vec<FieldError>) {
    if !is_aws_region(&aws.region) {
        errors.push(FieldError::new(
            format!("{at}.region"),
            format!(
                "`{}` is not an AWS region name such as eu-west-1",
                aws.region
            ),
        ));
    }
    check_endpoint(
        aws.endpoint_override.as_deref(),
        &format!("{at}.endpointOverride"),
        errors,
    );
    for (key, value) in aws.custom_tags.iter().flatten() {
        check_tag(key, value, &format!("{at}.customTags"), errors);
    }
}

fn check_gcp(gcp: &GcpKms, at: &str, errors: &mut Vec<FieldError>) {
    if !is_gcp_location(&gcp.location_id) {
        errors.push(FieldError::new(
            format!("{at}.locationId"),
            format!(
                "`{}` is not a Cloud KMS location such as europe-west1 or global",
                gcp.location_id
            ),
        ));
    }
    if !is_gcp_project(&gcp.project_id) {
        errors.push(FieldError::new(
            format!("{at}.projectId"),
            format!(
                "`{}` is not a Google Cloud project id (6-30 lowercase letters, digits or hyphens, starting with a letter)",
                gcp.project_id
            ),
        ));
    }
    if !is_gcp_key_ring(&gcp.key_ring_id) {
        errors.push(FieldError::new(
            format!("{at}.keyRingId"),
            format!(
                "`{}` is not a key ring id (1-63 letters, digits, `_` or `-`)",
                gcp.key_ring_id
            ),
        ));
    }
    check_endpoint(
        gcp.endpoint_override.as_deref(),
        &format!("{at}.endpointOverride"),
        errors,
    );
}

fn check_driver(driver: &DriverKms, at: &str, errors: &mut Vec<FieldError>) {
    if driver.name.trim().is_empty() {
        errors.push(FieldError::new(
            format!("{at}.name"),
            "must name the KMS driver",
        ));
    }
    if let Some(period) = &driver.health_check_period
        && !is_duration(period)
    {
        errors.push(FieldError::new(
            format!("{at}.healthCheckPeriod"),
            format!("`{period}` is not a duration such as 10s, 500ms or 1m"),
        ));
    }
    if let Some(jar) = &driver.jar {
        let file_ok =
            jar.path.starts_with('/') && jar.path.ends_with(".jar") && !jar.path.contains("..");
        let dir_ok = jar.classpath_dir.starts_with('/') && !jar.classpath_dir.contains("..");
        if jar.image.trim().is_empty() || !file_ok || !dir_ok {
            errors.push(FieldError::new(
                format!("{at}.jar"),
                "needs an image, the absolute path of a .jar inside it, and an absolute classpathDir",
            ));
        }
    }
    for (key, value) in driver.config.iter().flatten() {
        let field = format!("{at}.config.{key}");
        if value.is_null() {
            errors.push(FieldError::new(
                &field,
                "is null; remove it or give it a value",
            ));
        }
        check_integers(value, &field, errors);
    }
}

/// Canton's configuration reader holds integers as 64-bit signed numbers and reads a longer
/// integer literal as text, so such a number would reach the driver as something else.
fn check_integers(value: &serde_json::Value, at: &str, errors: &mut Vec<FieldError>) {
    match value {
        serde_json::Value::Number(n) if n.is_u64() && n.as_i64().is_none() => {
            errors.push(FieldError::new(
                at,
                format!("{n} is beyond the 64-bit signed integers Canton reads; quote it to pass it as text"),
            ));
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_integers(item, &format!("{at}[{i}]"), errors);
            }
        }
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                check_integers(item, &format!("{at}.{key}"), errors);
            }
        }
        _ => {}
    }
}

fn check_endpoint(endpoint: Option<&str>, at: &str, errors: &mut Vec<FieldError>) {
    if let Some(url) = endpoint {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            errors.push(FieldError::new(
                at,
                format!("`{url}` is not an http(s) URL"),
            ));
        }
    }
}

/// AWS tag rules: key 1-128 and value 0-256 characters, and the `aws:` prefix is reserved.
fn check_tag(key: &str, value: &str, at: &str, errors: &mut Vec<FieldError>) {
    let key_len = key.chars().count();
    if key_len == 0 || key_len > 128 {
        errors.push(FieldError::new(
            at,
            format!("tag key `{key}` must have 1 to 128 characters"),
        ));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        errors.push(FieldError::new(
            at,
            format!("tag key `{key}` uses the reserved prefix aws:"),
        ));
    }
    if value.chars().count() > 256 {
        errors.push(FieldError::new(
            at,
            format!("the value of tag `{key}` is longer than 256 characters"),
        ));
    }
    if key.chars().chain(value.chars()).any(char::is_control) {
        errors.push(FieldError::new(
            at,
            format!("tag `{key}` contains a control character"),
        ));
    }
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-2`: letters-and-hyphens, then a number.
pub(crate) fn is_aws_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_gcp_location(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_gcp_project(s: &str) -> bool {
    let len_ok = (6..=30).contains(&s.len());
    let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let last_ok = s.chars().last().is_some_and(|c| c != '-');
    len_ok
        && first_ok
        && last_ok
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_gcp_key_ring(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A HOCON duration: digits, optional space, and a unit Typesafe Config reads.
pub(crate) fn is_duration(s: &str) -> bool {
    const UNITS: &[&str] = &[
        "ns",
        "us",
        "ms",
        "s",
        "m",
        "h",
        "d",
        "nanoseconds",
        "microseconds",
        "milliseconds",
        "seconds",
        "minutes",
        "hours",
        "days",
        "second",
        "minute",
        "hour",
        "day",
    ];
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let unit = s[digits..].trim_start();
    digits > 0 && UNITS.contains(&unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_shapes() {
        for ok in ["eu-west-1", "us-gov-west-1", "ap-southeast-2"] {
            assert!(is_aws_region(ok), "{ok}");
        }
        for bad in [
            "",
            "eu-west",
            "EU-WEST-1",
            "eu west 1",
            "eu-west-1\"",
            "-west-1",
        ] {
            assert!(!is_aws_region(bad), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert!(is_duration("10s") && is_duration("500 ms") && is_duration("1m"));
        assert!(!is_duration("s") && !is_duration("10 parsecs") && !is_duration("-1s"));
    }

    #[test]
    fn names_the_field() {
        let p = KmsProvider::Gcp(GcpKms {
            location_id: "europe-west1".into(),
            project_id: "Bad_Project".into(),
            key_ring_id: "ring".into(),
            ..Default::default()
        });
        let errors = validate_provider(&p, "spec.kms");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "spec.kms.gcp.projectId");
    }

    #[test]
    fn driver_integers_must_fit_what_canton_reads() {
        let config = serde_json::json!({
            "ok": i64::MAX,
            "nested": { "ids": [1, u64::MAX] },
            "top": 9_223_372_036_854_775_808_u64,
        });
        let serde_json::Value::Object(config) = config else {
            unreachable!()
        };
        let p = KmsProvider::Driver(DriverKms {
            name: "acme".into(),
            config: Some(config),
            ..Default::default()
        });
        let fields: Vec<String> = validate_provider(&p, "spec.kms")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "spec.kms.driver.config.nested.ids[1]",
                "spec.kms.driver.config.top"
            ]
        );
    }
}

//! Prometheus metrics: reconciles, failures by reason, reconcile duration, validators by KMS mode,
//! the age of each validator's newest verified identity backup, each validator's conditions and
//! the key rotations in progress (what the chart's alerts and dashboard read).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

mod validators;

use validators::Validators;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RotationLabel {
    namespace: String,
    rotation: String,
    validator: String,
    phase: String,
}

/// The operator's metrics and the registry that exposes them.
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    failures: Family<ReasonLabel, Counter>,
    duration: Histogram,
    failing: Gauge,
    rollout_pending: Gauge,
    rolling_out: Gauge,
    /// The series of each validator, written when scraped.
    validators: Validators,
    rotations: Family<RotationLabel, Gauge>,
    /// The series of each rotation in progress (`namespace/name`).
    rotation_series: Mutex<HashMap<String, RotationLabel>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `canton_operator` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("canton_operator");
        let reconciles = Counter::default();
        let failures = Family::<ReasonLabel, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        let failing = Gauge::default();
        let rollout_pending = Gauge::default();
        let rolling_out = Gauge::default();
        registry.register("reconciles", "Reconciles started", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that failed, by reason",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconcile",
            duration.clone(),
        );
        registry.register(
            "validators_failing",
            "Validators whose last reconcile failed (retried with backoff)",
            failing.clone(),
        );
        registry.register(
            "validators_rollout_pending",
            "Validators whose workloads this operator release renders differently, waiting for a rollout slot",
            rollout_pending.clone(),
        );
        registry.register(
            "validators_rolling_out",
            "Validators holding a rollout slot: an operator-caused change applied, Deployments not yet available",
            rolling_out.clone(),
        );
        let rotations = Family::<RotationLabel, Gauge>::default();
        registry.register(
            "key_rotation_started_timestamp_seconds",
            "When a key rotation still in progress started (unix time; its creation while Pending), by phase",
            rotations.clone(),
        );
        let validators = Validators::default();
        registry.register_collector(Box::new(validators.clone()));
        Self {
            registry,
            reconciles,
            failures,
            duration,
            failing,
            rollout_pending,
            rolling_out,
            validators,
            rotations,
            rotation_series: Mutex::new(HashMap::new()),
        }
    }

    /// Records whether a validator (`namespace/name`) is below the minimum release (`false` also
    /// when it is gone, or no minimum is set).
    pub(crate) fn set_below_minimum(&self, validator: &str, below: bool) {
        self.validators.set_below_minimum(validator, below);
    }

    /// Records a validator's conditions as `(type, True?, reason)`; an empty list forgets them.
    pub(crate) fn set_conditions(&self, validator: &str, conditions: &[(&str, bool, &str)]) {
        self.validators.set_conditions(validator, conditions);
    }

    /// Forgets everything about a validator (`namespace/name`) that is gone.
    pub(crate) fn forget_validator(&self, validator: &str) {
        self.validators.forget(validator);
    }

    /// Records a key rotation (`namespace/name`) in progress: its validator, phase and when it
    /// started; `None` when it finished or is gone.
    pub(crate) fn set_rotation(
        &self,
        rotation: &str,
        progress: Option<(&str, &str, k8s_openapi::jiff::Timestamp)>,
    ) {
        let Ok(mut series) = self.rotation_series.lock() else {
            return;
        };
        if let Some(old) = series.remove(rotation) {
            self.rotations.remove(&old);
        }
        let Some((validator, phase, started)) = progress else {
            return;
        };
        let (namespace, name) = rotation.split_once('/').unwrap_or(("", rotation));
        let label = RotationLabel {
            namespace: namespace.to_string(),
            rotation: name.to_string(),
            validator: validator.to_string(),
            phase: phase.to_string(),
        };
        self.rotations
            .get_or_create(&label)
            .set(started.as_second());
        series.insert(rotation.to_string(), label);
    }

    /// Records the newest verified identity backup of a validator (`None`: none, or the validator
    /// or its backups are gone).
    pub(crate) fn set_backup_success(
        &self,
        validator: &str,
        at: Option<k8s_openapi::jiff::Timestamp>,
    ) {
        self.validators
            .set_backup_success(validator, at.map(|at| at.as_second()));
    }

    /// Records how many validators wait for a rollout slot and how many hold one.
    pub(crate) fn set_rollouts(&self, pending: usize, rolling: usize) {
        self.rollout_pending
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.rolling_out
            .set(i64::try_from(rolling).unwrap_or(i64::MAX));
    }

    /// Records how many validators are failing (backing off) now.
    pub(crate) fn set_failing(&self, validators: usize) {
        self.failing
            .set(i64::try_from(validators).unwrap_or(i64::MAX));
    }

    /// Counts a reconcile.
    pub fn reconciled(&self, took: Duration) {
        self.reconciles.inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// Counts a failure.
    pub fn failed(&self, reason: &str) {
        self.failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Records a validator's KMS summary (`None` when it is gone).
    pub fn set_mode(&self, validator: &str, summary: Option<&str>) {
        self.validators.set_mode(validator, summary);
    }

    /// The validators (`namespace/name`) with series of their own.
    pub(crate) fn validators_known(&self) -> Vec<String> {
        self.validators.known()
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_age_is_reported_per_validator_and_forgotten_with_it() {
        let metrics = Metrics::new();
        let an_hour_ago = k8s_openapi::jiff::Timestamp::now().as_second() - 3600;
        let at = k8s_openapi::jiff::Timestamp::from_second(an_hour_ago).unwrap();
        metrics.set_backup_success("validators/acme", Some(at));
        let text = metrics.encode();
        let age_line = text
            .lines()
            .find(|l| l.starts_with("canton_operator_identity_backup_age_seconds{"))
            .unwrap();
        assert!(age_line.contains(r#"validator="acme""#), "{age_line}");
        let age: i64 = age_line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((3600..3700).contains(&age), "{age_line}");
        metrics.set_backup_success("validators/acme", None);
        assert!(!metrics.encode().contains(r#"validator="acme""#));
    }

    #[test]
    fn validators_below_the_minimum_are_counted_once_and_forgotten() {
        let metrics = Metrics::new();
        let count = |m: &Metrics| {
            m.encode()
                .lines()
                .find_map(|l| l.strip_prefix("canton_operator_validators_below_minimum_release "))
                .map(str::to_string)
        };
        assert_eq!(count(&metrics).as_deref(), Some("0"));
        metrics.set_below_minimum("a/one", true);
        metrics.set_below_minimum("a/one", true);
        metrics.set_below_minimum("b/two", true);
        assert_eq!(count(&metrics).as_deref(), Some("2"));
        metrics.set_below_minimum("a/one", false);
        assert_eq!(count(&metrics).as_deref(), Some("1"));
    }

    #[test]
    fn a_condition_s_series_follows_its_reason_and_goes_with_the_validator() {
        let metrics = Metrics::new();
        metrics.set_conditions("ns/acme", &[("Ready", false, "Progressing")]);
        assert!(metrics.encode().contains(
            r#"canton_operator_validator_condition{namespace="ns",validator="acme",condition="Ready",reason="Progressing"} 0"#
        ));
        metrics.set_conditions("ns/acme", &[("Ready", true, "Ready")]);
        let text = metrics.encode();
        assert!(
            text.contains(r#"condition="Ready",reason="Ready"} 1"#),
            "{text}"
        );
        assert!(
            !text.contains("Progressing"),
            "the old reason's series is gone: {text}"
        );
        metrics.set_conditions("ns/acme", &[]);
        assert!(!metrics.encode().contains(r#"validator="acme""#));
    }

    #[test]
    fn a_rotation_is_shown_while_in_progress() {
        let metrics = Metrics::new();
        let at = k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap();
        metrics.set_rotation("ns/r1", Some(("acme", "AddingKeys", at)));
        metrics.set_rotation("ns/r1", Some(("acme", "AwaitingBackup", at)));
        let text = metrics.encode();
        assert!(text.contains(
            r#"canton_operator_key_rotation_started_timestamp_seconds{namespace="ns",rotation="r1",validator="acme",phase="AwaitingBackup"} 1700000000"#
        ), "{text}");
        assert!(!text.contains("AddingKeys"), "{text}");
        metrics.set_rotation("ns/r1", None);
        assert!(!metrics.encode().contains(r#"rotation="r1""#));
    }
}

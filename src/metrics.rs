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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    kms: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidatorLabel {
    namespace: String,
    validator: String,
}

impl ValidatorLabel {
    /// From the `namespace/name` key the other metrics use.
    fn of(key: &str) -> Self {
        let (namespace, validator) = key.split_once('/').unwrap_or(("", key));
        Self {
            namespace: namespace.to_string(),
            validator: validator.to_string(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabel {
    namespace: String,
    validator: String,
    condition: String,
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
    by_mode: Family<ModeLabel, Gauge>,
    modes: Mutex<HashMap<String, String>>,
    failing: Gauge,
    backup_success: Family<ValidatorLabel, Gauge>,
    backup_age: Family<ValidatorLabel, Gauge>,
    /// Newest verified backup per validator (`namespace/name`), unix seconds: the age is computed
    /// when scraped, so it grows between reconciles as a real age does.
    backups: Mutex<HashMap<String, i64>>,
    rollout_pending: Gauge,
    rolling_out: Gauge,
    below_minimum: Gauge,
    /// The validators (`namespace/name`) below the network's minimum release.
    below: Mutex<std::collections::HashSet<String>>,
    conditions: Family<ConditionLabel, Gauge>,
    /// The condition series of each validator (`namespace/name`), to remove when they change.
    condition_series: Mutex<HashMap<String, Vec<ConditionLabel>>>,
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
        let by_mode = Family::<ModeLabel, Gauge>::default();
        let failing = Gauge::default();
        let rollout_pending = Gauge::default();
        let rolling_out = Gauge::default();
        let below_minimum = Gauge::default();
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
            "validators",
            "Validators by KMS decision (off, aws/external, …)",
            by_mode.clone(),
        );
        registry.register(
            "validators_failing",
            "Validators whose last reconcile failed (retried with backoff)",
            failing.clone(),
        );
        let backup_success = Family::<ValidatorLabel, Gauge>::default();
        let backup_age = Family::<ValidatorLabel, Gauge>::default();
        registry.register(
            "identity_backup_last_success_timestamp_seconds",
            "When the newest verified identity backup of a validator finished (unix time)",
            backup_success.clone(),
        );
        registry.register(
            "identity_backup_age_seconds",
            "Age of the newest verified identity backup of a validator; alert when it exceeds the schedule period",
            backup_age.clone(),
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
        registry.register(
            "validators_below_minimum_release",
            "Validators running a Splice release below the one the network requires (run --minimum-release)",
            below_minimum.clone(),
        );
        let conditions = Family::<ConditionLabel, Gauge>::default();
        registry.register(
            "validator_condition",
            "A validator's status condition: 1 when True, 0 when False, with its reason",
            conditions.clone(),
        );
        let rotations = Family::<RotationLabel, Gauge>::default();
        registry.register(
            "key_rotation_started_timestamp_seconds",
            "When a key rotation still in progress started (unix time; its creation while Pending), by phase",
            rotations.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            by_mode,
            modes: Mutex::new(HashMap::new()),
            failing,
            backup_success,
            backup_age,
            backups: Mutex::new(HashMap::new()),
            rollout_pending,
            rolling_out,
            below_minimum,
            below: Mutex::new(std::collections::HashSet::new()),
            conditions,
            condition_series: Mutex::new(HashMap::new()),
            rotations,
            rotation_series: Mutex::new(HashMap::new()),
        }
    }

    /// Records whether a validator (`namespace/name`) is below the minimum release (`false` also
    /// when it is gone, or no minimum is set).
    pub(crate) fn set_below_minimum(&self, validator: &str, below: bool) {
        let Ok(mut set) = self.below.lock() else {
            return;
        };
        if below {
            set.insert(validator.to_string());
        } else {
            set.remove(validator);
        }
        self.below_minimum
            .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
    }

    /// Records a validator's conditions as `(type, True?, reason)`; an empty list forgets them.
    pub(crate) fn set_conditions(&self, validator: &str, conditions: &[(&str, bool, &str)]) {
        let Ok(mut series) = self.condition_series.lock() else {
            return;
        };
        let ValidatorLabel {
            namespace,
            validator: name,
        } = ValidatorLabel::of(validator);
        let labels: Vec<ConditionLabel> = conditions
            .iter()
            .map(|(condition, _, reason)| ConditionLabel {
                namespace: namespace.clone(),
                validator: name.clone(),
                condition: (*condition).to_string(),
                reason: (*reason).to_string(),
            })
            .collect();
        for old in series.remove(validator).unwrap_or_default() {
            if !labels.contains(&old) {
                self.conditions.remove(&old);
            }
        }
        for (label, (_, status, _)) in labels.iter().zip(conditions) {
            self.conditions.get_or_create(label).set(i64::from(*status));
        }
        if !labels.is_empty() {
            series.insert(validator.to_string(), labels);
        }
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
        let Ok(mut backups) = self.backups.lock() else {
            return;
        };
        let label = ValidatorLabel::of(validator);
        match at {
            Some(at) => {
                backups.insert(validator.to_string(), at.as_second());
                self.backup_success
                    .get_or_create(&label)
                    .set(at.as_second());
            }
            None => {
                backups.remove(validator);
                self.backup_success.remove(&label);
                self.backup_age.remove(&label);
            }
        }
    }

    /// Sets every backup age from the clock, just before the metrics are read.
    fn refresh_backup_ages(&self) {
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        if let Ok(backups) = self.backups.lock() {
            for (validator, at) in backups.iter() {
                self.backup_age
                    .get_or_create(&ValidatorLabel::of(validator))
                    .set(now.saturating_sub(*at).max(0));
            }
        }
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
        let Ok(mut modes) = self.modes.lock() else {
            return;
        };
        let previous = match summary {
            Some(s) => modes.insert(validator.to_string(), s.to_string()),
            None => modes.remove(validator),
        };
        if previous.as_deref() == summary {
            return;
        }
        if let Some(old) = previous {
            self.by_mode.get_or_create(&ModeLabel { kms: old }).dec();
        }
        if let Some(new) = summary {
            self.by_mode
                .get_or_create(&ModeLabel {
                    kms: new.to_string(),
                })
                .inc();
        }
    }

    /// The validators (`namespace/name`) counted in the `validators` gauge.
    pub(crate) fn validators_with_mode(&self) -> Vec<String> {
        self.modes
            .lock()
            .map(|modes| modes.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The validators (`namespace/name`) counted as below the minimum release.
    pub(crate) fn validators_below_minimum(&self) -> Vec<String> {
        self.below
            .lock()
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The validators (`namespace/name`) with series of their own: in the `validators` gauge or
    /// with conditions.
    pub(crate) fn validators_known(&self) -> Vec<String> {
        let mut known = self.validators_with_mode();
        if let Ok(series) = self.condition_series.lock() {
            known.extend(
                series
                    .keys()
                    .filter(|k| !known.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        known
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        self.refresh_backup_ages();
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

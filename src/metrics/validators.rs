//! The per-validator series (`validators` by KMS decision, the identity-backup time and age, the
//! count below the minimum release, each validator's conditions), kept as one small record per
//! validator and written out when scraped.
//!
//! A `Family` of gauges holds every series as its label set (four `String`s each) and a gauge,
//! and needs a copy of the labels to remove a series again: about 4 KiB a validator, a third of
//! the operator's memory at 10,000 validators (docs/performance.md, "Memory"). A record holds the
//! same in a few hundred bytes; labels are only built while a scrape writes them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;

/// One condition of a validator: its type, whether it is True, its reason. The texts are shared
/// with every other validator's (there are a few dozen distinct ones in a fleet).
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    type_: Arc<str>,
    status: bool,
    reason: Arc<str>,
}

/// What the metrics know of one validator.
#[derive(Debug, Default, PartialEq)]
struct Record {
    /// The KMS decision's summary (`off`, `aws/external`, …).
    mode: Option<Arc<str>>,
    /// The newest verified identity backup, unix seconds.
    backup_success: Option<i64>,
    below_minimum: bool,
    conditions: Box<[Condition]>,
}

#[derive(Debug, Default)]
struct State {
    /// By `namespace/name`.
    validators: BTreeMap<Box<str>, Record>,
    /// The texts the records share, and every KMS summary ever counted (a mode's gauge drops to
    /// 0 rather than vanishing).
    texts: BTreeSet<Arc<str>>,
    modes: BTreeSet<Arc<str>>,
}

impl State {
    fn text(&mut self, s: &str) -> Arc<str> {
        if let Some(t) = self.texts.get(s) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(s);
        self.texts.insert(t.clone());
        t
    }
}

/// The per-validator series, registered as a collector.
#[derive(Debug, Clone, Default)]
pub(super) struct Validators(Arc<Mutex<State>>);

impl Validators {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Changes one validator's record; a record left empty is dropped.
    fn update(&self, validator: &str, f: impl FnOnce(&mut State, &mut Record)) {
        self.with(|state| {
            let mut record = state.validators.remove(validator).unwrap_or_default();
            f(state, &mut record);
            if record != Record::default() {
                state.validators.insert(validator.into(), record);
            }
        });
    }

    pub(super) fn set_mode(&self, validator: &str, summary: Option<&str>) {
        self.update(validator, |state, record| {
            record.mode = summary.map(|s| state.text(s));
            if let Some(mode) = &record.mode {
                state.modes.insert(mode.clone());
            }
        });
    }

    pub(super) fn set_backup_success(&self, validator: &str, at: Option<i64>) {
        self.update(validator, |_, record| record.backup_success = at);
    }

    pub(super) fn set_below_minimum(&self, validator: &str, below: bool) {
        self.update(validator, |_, record| record.below_minimum = below);
    }

    pub(super) fn set_conditions(&self, validator: &str, conditions: &[(&str, bool, &str)]) {
        self.update(validator, |state, record| {
            record.conditions = conditions
                .iter()
                .map(|(type_, status, reason)| Condition {
                    type_: state.text(type_),
                    status: *status,
                    reason: state.text(reason),
                })
                .collect();
        });
    }

    pub(super) fn forget(&self, validator: &str) {
        self.with(|state| state.validators.remove(validator));
    }

    /// The validators (`namespace/name`) with a record.
    pub(super) fn known(&self) -> Vec<String> {
        self.with(|state| state.validators.keys().map(|k| k.to_string()).collect())
    }
}

/// `namespace/name` as the `namespace` and `validator` labels.
fn label(key: &str) -> [(&str, &str); 2] {
    let (namespace, validator) = key.split_once('/').unwrap_or(("", key));
    [("namespace", namespace), ("validator", validator)]
}

impl Collector for Validators {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let records = || state.validators.iter();

        let mut family = encoder.encode_descriptor(
            "validators",
            "Validators by KMS decision (off, aws/external, …)",
            None,
            MetricType::Gauge,
        )?;
        for mode in &state.modes {
            let n = records()
                .filter(|(_, r)| r.mode.as_ref() == Some(mode))
                .count();
            let gauge = ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX));
            gauge.encode(family.encode_family(&[("kms", &**mode)])?)?;
        }

        let backups = || records().filter_map(|(k, r)| Some((k, r.backup_success?)));
        let mut family = encoder.encode_descriptor(
            "identity_backup_last_success_timestamp_seconds",
            "When the newest verified identity backup of a validator finished (unix time)",
            None,
            MetricType::Gauge,
        )?;
        for (key, at) in backups() {
            ConstGauge::new(at).encode(family.encode_family(&label(key))?)?;
        }
        // The age is computed when scraped, so it grows between reconciles as a real age does.
        let mut family = encoder.encode_descriptor(
            "identity_backup_age_seconds",
            "Age of the newest verified identity backup of a validator; alert when it exceeds the schedule period",
            None,
            MetricType::Gauge,
        )?;
        for (key, at) in backups() {
            let age = now.saturating_sub(at).max(0);
            ConstGauge::new(age).encode(family.encode_family(&label(key))?)?;
        }

        let below = records().filter(|(_, r)| r.below_minimum).count();
        ConstGauge::new(i64::try_from(below).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                "validators_below_minimum_release",
                "Validators running a Splice release below the one the network requires (run --minimum-release)",
                None,
                MetricType::Gauge,
            )?,
        )?;

        let mut family = encoder.encode_descriptor(
            "validator_condition",
            "A validator's status condition: 1 when True, 0 when False, with its reason",
            None,
            MetricType::Gauge,
        )?;
        for (key, record) in records() {
            let [namespace, validator] = label(key);
            for c in &record.conditions {
                let labels = [
                    namespace,
                    validator,
                    ("condition", &*c.type_),
                    ("reason", &*c.reason),
                ];
                ConstGauge::new(i64::from(c.status)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

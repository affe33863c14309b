//! The Splice releases this operator supports, and what their workloads need, in one table.
//!
//! The renderer looks a validator's `spec.version` up here once and reads the entry; it never
//! compares version strings itself. The workload facts were checked against the 0.7.4 charts and
//! images (`docs/releases.md`); the earlier 0.7 patch releases share that chart and image layout.

use std::fmt;

/// The user and group the 0.7 images run as (`nonroot` in `da-base-image`), owner of `/app`.
pub(crate) const SPLICE_UID: i64 = 1001;

/// One supported Splice release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// The release, such as `0.7.4`: the default image tag of every workload.
    pub version: &'static str,
    /// Whether Canton's session signing keys are supported for KMS participants (0.7.2 and later).
    pub session_signing_keys: bool,
    /// How the workloads of this release are run.
    pub workloads: &'static Workloads,
}

/// What the official charts of a release render for the workloads.
#[derive(Debug, PartialEq, Eq)]
pub struct Workloads {
    /// uid and gid of every container; also the pod's `fsGroup`.
    pub uid: i64,
    pub participant: Workload,
    pub validator_app: Workload,
    /// Resources of the wallet and ANS web UIs (the charts give them no probes).
    pub web_ui: Resources,
    /// Image of the init containers that create the databases.
    pub database_init_image: &'static str,
}

/// One JVM workload's defaults.
#[derive(Debug, PartialEq, Eq)]
pub struct Workload {
    /// The chart's `defaultJvmOptions`.
    pub jvm_options: &'static str,
    /// `LOG_LEVEL_CANTON` when the spec sets none.
    pub log_level: &'static str,
    pub liveness: ProbeTiming,
    pub readiness: ProbeTiming,
    pub resources: Resources,
}

/// A probe's timing, as the chart renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    pub initial_delay_seconds: i32,
    pub period_seconds: i32,
    pub failure_threshold: i32,
    pub timeout_seconds: i32,
}

/// Default container resources; no CPU limit, as the charts have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub cpu_request: &'static str,
    pub memory_request: &'static str,
    pub memory_limit: &'static str,
}

/// The 0.7 line (facts: `../shared/reference/splice-0.7.4-workloads.md`, sections 1, 2 and 4).
static WORKLOADS_0_7: Workloads = Workloads {
    uid: SPLICE_UID,
    participant: Workload {
        jvm_options: "-XX:+UseG1GC -XX:+UseStringDeduplication -XX:MaxRAMPercentage=75 \
            -XX:InitialRAMPercentage=75 -Dscala.concurrent.context.numThreads=12 \
            -XX:ActiveProcessorCount=12 -XX:+HeapDumpOnOutOfMemoryError \
            -XX:HeapDumpPath=/persistent-data/heap-dump-CURRENT_DATE.hprof",
        log_level: "INFO",
        liveness: ProbeTiming {
            initial_delay_seconds: 600,
            period_seconds: 60,
            failure_threshold: 5,
            timeout_seconds: 10,
        },
        readiness: ProbeTiming {
            initial_delay_seconds: 5,
            period_seconds: 5,
            failure_threshold: 3,
            timeout_seconds: 10,
        },
        resources: Resources {
            cpu_request: "2",
            memory_request: "16Gi",
            memory_limit: "32Gi",
        },
    },
    validator_app: Workload {
        jvm_options: "-XX:+UseG1GC -XX:+UseStringDeduplication -XX:MaxRAMPercentage=75 \
            -XX:InitialRAMPercentage=75 -Dscala.concurrent.context.numThreads=8 \
            -XX:ActiveProcessorCount=8 -XX:+HeapDumpOnOutOfMemoryError \
            -XX:HeapDumpPath=/persistent-data/heap-dump-CURRENT_DATE.hprof \
            -Dpekko.http.server.idle-timeout=20m -Dpekko.http.client.idle-timeout=20m",
        log_level: "DEBUG",
        liveness: ProbeTiming {
            initial_delay_seconds: 60,
            period_seconds: 60,
            failure_threshold: 5,
            timeout_seconds: 10,
        },
        readiness: ProbeTiming {
            initial_delay_seconds: 5,
            period_seconds: 5,
            failure_threshold: 5,
            timeout_seconds: 3,
        },
        resources: Resources {
            cpu_request: "1",
            memory_request: "4Gi",
            memory_limit: "8Gi",
        },
    },
    web_ui: Resources {
        cpu_request: "100m",
        memory_request: "240Mi",
        memory_limit: "1536Mi",
    },
    database_init_image: "postgres:17",
};

/// Every supported release, oldest first.
pub static SUPPORTED: [Release; 5] = [
    release("0.7.0", false),
    release("0.7.1", false),
    release("0.7.2", true),
    release("0.7.3", true),
    release("0.7.4", true),
];

const fn release(version: &'static str, session_signing_keys: bool) -> Release {
    Release {
        version,
        session_signing_keys,
        workloads: &WORKLOADS_0_7,
    }
}

/// The newest supported release: what the examples and docs use.
pub(crate) fn newest() -> &'static Release {
    &SUPPORTED[SUPPORTED.len() - 1]
}

/// A version outside the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.version `{version}` is not a Splice release this operator supports; supported: {range}. \
     Set spec.version to one of them (Splice does not support downgrades, so only move forward)"
)]
pub struct UnsupportedVersion {
    pub version: String,
    pub range: SupportedRange,
}

/// The supported releases, for messages: `0.7.0 to 0.7.4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedRange;

impl fmt::Display for SupportedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", SUPPORTED[0].version, newest().version)
    }
}

/// The table entry of `version`.
pub(crate) fn lookup(version: &str) -> Result<&'static Release, UnsupportedVersion> {
    SUPPORTED
        .iter()
        .find(|r| r.version == version)
        .ok_or_else(|| UnsupportedVersion {
            version: version.to_string(),
            range: SupportedRange,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_ordered_and_ends_at_the_network_release() {
        assert_eq!(newest().version, "0.7.4");
        let parsed: Vec<Vec<u32>> = SUPPORTED
            .iter()
            .map(|r| r.version.split('.').map(|p| p.parse().unwrap()).collect())
            .collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{parsed:?}");
    }

    #[test]
    fn session_signing_keys_start_at_0_7_2() {
        assert!(!lookup("0.7.1").unwrap().session_signing_keys);
        assert!(lookup("0.7.2").unwrap().session_signing_keys);
    }

    #[test]
    fn an_unknown_version_names_the_range() {
        let err = lookup("0.4.15").unwrap_err();
        assert!(
            err.to_string().contains("supported: 0.7.0 to 0.7.4"),
            "{err}"
        );
        assert!(lookup("0.7.4-rc1").is_err());
    }

    #[test]
    fn jvm_options_are_the_charts() {
        let w = &newest().workloads;
        assert!(w.participant.jvm_options.contains("numThreads=12"));
        assert!(
            w.validator_app
                .jvm_options
                .ends_with("client.idle-timeout=20m")
        );
        assert!(
            w.participant
                .jvm_options
                .ends_with("heap-dump-CURRENT_DATE.hprof")
        );
        assert!(!w.participant.jvm_options.contains("  "));
    }
}

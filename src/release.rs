//! The Splice releases this operator supports, and what their workloads need, in one table.
//!
//! The renderer looks a validator's `spec.version` up here once and reads the entry; it never
//! compares version strings itself. The workload facts were checked against the 0.7.4 charts and
//! images (`docs/releases.md`); the earlier 0.7 patch releases share that chart and image layout,
//! and what 0.7.5, 0.8.0 and 0.8.1 change comes from their release notes and charts
//! (`docs/releases.md` says, per release, what was read and what is inferred).
//!
//! Release policy: a release in the table renders with its own facts; a patch newer than the
//! table on a minor line it knows (0.8.4 when the line ends at 0.8.1) renders with that line's
//! newest facts and is reported as such; anything else is refused.

use std::fmt;
use std::str::FromStr;

/// The user and group the 0.7 images run as (`nonroot` in `da-base-image`), owner of `/app`.
pub(crate) const SPLICE_UID: i64 = 1001;

/// One supported Splice release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// The release, such as `0.7.4`: the default image tag of every workload.
    pub version: &'static str,
    /// The Canton version it runs, as its release notes say (`3.5.x`: not stated).
    pub canton: &'static str,
    /// Whether Canton's session signing keys are supported for KMS participants (0.7.2 and later).
    pub session_signing_keys: bool,
    /// Configuration keys this release's config readers no longer know: the operator never emits
    /// them, and refuses `additionalEnv` that sets them (full paths, as in `application.conf`).
    pub removed_config_keys: &'static [&'static str],
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

/// Removed from `ValidatorAppBackendConfig` in 0.8.0 (the charts never set it).
pub const DEPRECATED_TRANSFER_COMMAND_SUPPORT: &str =
    "canton.validator-apps.validator_backend.enable-deprecated-transfer-command-support";

/// Keys removed in 0.8.0, still absent in later releases.
const REMOVED_IN_0_8: &[&str] = &[DEPRECATED_TRANSFER_COMMAND_SUPPORT];

/// Every supported release, oldest first.
///
/// 0.7.5, 0.8.0 and 0.8.1 share the 0.7 workloads: their charts' changes (the participant's
/// `CANTON_PARTICIPANT_POSTGRES_USER`, `automountServiceAccountToken: false`, the init
/// containers' admin user and database) are what this operator renders for every release
/// already; `priorityClassName` is unset by default (`spec.pods.priorityClassName` sets it); the
/// charts' init image (`postgres:14`, not known to have changed) is replaced by `postgres:17` for
/// every release (docs/releases.md says why).
pub static SUPPORTED: [Release; 8] = [
    release("0.7.0", "3.5.x", false, &[]),
    release("0.7.1", "3.5.x", false, &[]),
    release("0.7.2", "3.5.x", true, &[]),
    release("0.7.3", "3.5.x", true, &[]),
    release("0.7.4", "3.5.14", true, &[]),
    release("0.7.5", "3.5.15", true, &[]),
    release("0.8.0", "3.5.16", true, REMOVED_IN_0_8),
    release("0.8.1", "3.5.17", true, REMOVED_IN_0_8),
];

const fn release(
    version: &'static str,
    canton: &'static str,
    session_signing_keys: bool,
    removed_config_keys: &'static [&'static str],
) -> Release {
    Release {
        version,
        canton,
        session_signing_keys,
        removed_config_keys,
        workloads: &WORKLOADS_0_7,
    }
}

/// The newest release whose charts *and* images were read (the 0.7.4 facts file): the examples
/// name it. Later entries rest on release notes and charts only (`docs/releases.md`).
pub const VERIFIED: &str = "0.7.4";

/// The newest supported release: the end of the supported range.
pub(crate) fn newest() -> &'static Release {
    &SUPPORTED[SUPPORTED.len() - 1]
}

/// A Splice release number, `MAJOR.MINOR.PATCH` (no pre-release or build suffix: those are not
/// releases a validator runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// The minor line, `0.8` of `0.8.4`.
    fn line(self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

/// Text that is not `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a release number such as 0.8.1 (MAJOR.MINOR.PATCH, digits only)")]
pub struct NotAVersion(pub String);

impl FromStr for Version {
    type Err = NotAVersion;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || NotAVersion(text.to_string());
        let number = |part: &str| -> Result<u32, NotAVersion> {
            let canonical = !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_digit())
                && (part == "0" || !part.starts_with('0'));
            if canonical {
                part.parse().map_err(|_| err())
            } else {
                Err(err())
            }
        };
        let mut parts = text.split('.');
        let (Some(major), Some(minor), Some(patch), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        Ok(Self {
            major: number(major)?,
            minor: number(minor)?,
            patch: number(patch)?,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
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

/// The supported releases, for messages: `0.7.0 to 0.8.1, and later patches of 0.7 and 0.8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedRange;

impl fmt::Display for SupportedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines: Vec<String> = Vec::new();
        for r in &SUPPORTED {
            let line = r.version.rsplit_once('.').map_or(r.version, |(l, _)| l);
            if !lines.iter().any(|l| l == line) {
                lines.push(line.to_string());
            }
        }
        write!(
            f,
            "{} to {}, and later patches of {} (run with the newest facts of their line)",
            SUPPORTED[0].version,
            newest().version,
            lines.join(" and ")
        )
    }
}

/// The facts a `spec.version` renders with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The table entry the workloads are rendered from.
    pub release: &'static Release,
    /// `spec.version` is a patch newer than the table knows on `release`'s line (0.8.4 rendered
    /// with 0.8.1's facts): the Validator says so (`ReleaseKnown=False`, `NewerPatch`).
    pub newer_patch: bool,
}

/// What `version` renders with: its own entry, or, for a patch newer than the table on a known
/// minor line, that line's newest entry.
pub fn resolve(version: &str) -> Result<Resolved, UnsupportedVersion> {
    let unsupported = || UnsupportedVersion {
        version: version.to_string(),
        range: SupportedRange,
    };
    if let Some(release) = SUPPORTED.iter().find(|r| r.version == version) {
        return Ok(Resolved {
            release,
            newer_patch: false,
        });
    }
    let wanted: Version = version.parse().map_err(|_| unsupported())?;
    let newest_of_line = SUPPORTED
        .iter()
        .rev()
        .find(|r| r.number().line() == wanted.line())
        .ok_or_else(unsupported)?;
    if newest_of_line.number() < wanted {
        Ok(Resolved {
            release: newest_of_line,
            newer_patch: true,
        })
    } else {
        Err(unsupported())
    }
}

impl Release {
    /// The release number (every table entry is one; checked by a test).
    pub fn number(&self) -> Version {
        self.version.parse().unwrap_or(Version {
            major: 0,
            minor: 0,
            patch: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_ordered_and_ends_at_0_8_1() {
        assert_eq!(newest().version, "0.8.1");
        let parsed: Vec<Version> = SUPPORTED
            .iter()
            .map(|r| r.version.parse().unwrap())
            .collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{parsed:?}");
        assert!(
            SUPPORTED
                .iter()
                .all(|r| r.number().to_string() == r.version)
        );
    }

    #[test]
    fn session_signing_keys_start_at_0_7_2() {
        assert!(!resolve("0.7.1").unwrap().release.session_signing_keys);
        assert!(resolve("0.7.2").unwrap().release.session_signing_keys);
    }

    #[test]
    fn an_unknown_version_names_the_range() {
        let err = resolve("0.4.15").unwrap_err();
        assert!(
            err.to_string()
                .contains("supported: 0.7.0 to 0.8.1, and later patches of 0.7 and 0.8"),
            "{err}"
        );
        for refused in [
            "0.7.4-rc1",
            "0.9.0",
            "1.0.0",
            "0.6.7",
            "0.8",
            "0.8.01",
            "latest",
        ] {
            assert!(resolve(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_newer_patch_on_a_known_line_renders_with_that_lines_newest_facts() {
        let known = resolve("0.8.1").unwrap();
        assert_eq!((known.release.version, known.newer_patch), ("0.8.1", false));
        let newer = resolve("0.8.4").unwrap();
        assert_eq!((newer.release.version, newer.newer_patch), ("0.8.1", true));
        let newer = resolve("0.7.9").unwrap();
        assert_eq!((newer.release.version, newer.newer_patch), ("0.7.5", true));
    }

    #[test]
    fn versions_compare_as_numbers() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("0.7.10") > v("0.7.9"));
        assert!(v("0.8.0") > v("0.7.99"));
        assert_eq!(v("0.8.1").to_string(), "0.8.1");
        assert!("0.8.1-rc1".parse::<Version>().is_err());
        assert!(" 0.8.1".parse::<Version>().is_err());
    }

    #[test]
    fn the_deprecated_transfer_command_key_is_removed_from_0_8_on() {
        for r in &SUPPORTED {
            let removed = r
                .removed_config_keys
                .contains(&DEPRECATED_TRANSFER_COMMAND_SUPPORT);
            assert_eq!(removed, r.number().minor >= 8, "{}", r.version);
        }
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

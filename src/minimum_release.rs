//! The release a network requires of its validators, and from when: `--minimum-release
//! 0.8.0@2026-12-15`. Splice's 0.8.0 notes say validators must run 0.8.0 or later before the SVs
//! vote to set `svOperationsSwitchOverTimes`; a validator still below then is left behind, so the
//! operator shows which validators are below ahead of the date (condition, Event, metric) and
//! `canton-operator releases below` lists them offline. Pure.

use std::fmt;
use std::str::FromStr;

use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::tz::TimeZone;

use crate::release::{NotAVersion, Version};

/// The condition type: present only when the operator is given a minimum release.
pub(crate) const MINIMUM_RELEASE_MET: &str = "MinimumReleaseMet";
/// Reason: the validator runs the minimum release or a later one.
pub(crate) const AT_OR_ABOVE: &str = "AtOrAboveMinimum";
/// Reason: below the minimum, before the date it is required from.
pub(crate) const BELOW: &str = "BelowMinimumRelease";
/// Reason: below the minimum, and the date has passed (or none was given).
pub(crate) const OVERDUE: &str = "MinimumReleaseOverdue";

/// A release the network requires from a moment on (`None`: already required).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinimumRelease {
    pub version: Version,
    pub from: Option<Timestamp>,
}

/// A `--minimum-release` value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinimumReleaseError {
    #[error("minimum release: {0}")]
    Version(#[from] NotAVersion),
    #[error(
        "minimum release: `{0}` after `@` is neither a date (2026-12-15, midnight UTC) nor an RFC 3339 time (2026-12-15T00:00:00Z)"
    )]
    When(String),
}

impl FromStr for MinimumRelease {
    type Err = MinimumReleaseError;

    /// `0.8.0`, `0.8.0@2026-12-15` or `0.8.0@2026-12-15T12:00:00Z`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (version, when) = match text.trim().split_once('@') {
            Some((v, w)) => (v, Some(w)),
            None => (text.trim(), None),
        };
        let from = when.map(parse_when).transpose()?;
        Ok(Self {
            version: version.parse()?,
            from,
        })
    }
}

fn parse_when(text: &str) -> Result<Timestamp, MinimumReleaseError> {
    let err = || MinimumReleaseError::When(text.to_string());
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    let date: Date = text.parse().map_err(|_| err())?;
    date.to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|_| err())
}

impl fmt::Display for MinimumRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.from {
            Some(from) => write!(f, "{}@{from}", self.version),
            None => write!(f, "{}", self.version),
        }
    }
}

/// Where one validator stands against the minimum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The condition's status: the validator runs the minimum or later.
    pub met: bool,
    pub reason: &'static str,
    pub message: String,
}

impl MinimumRelease {
    /// Whether `version` is below the minimum; `None` when it is not a release number (such a
    /// Validator is refused as `UnsupportedVersion` anyway).
    pub fn is_below(&self, version: &str) -> Option<bool> {
        let running: Version = version.parse().ok()?;
        Some(running < self.version)
    }

    /// The condition for a validator running `version`, at `now`.
    pub fn standing(&self, version: &str, now: Timestamp) -> Option<Standing> {
        let below = self.is_below(version)?;
        let required = match self.from {
            Some(from) => format!("{} or later from {from}", self.version),
            None => format!("{} or later", self.version),
        };
        if !below {
            return Some(Standing {
                met: true,
                reason: AT_OR_ABOVE,
                message: format!("runs {version}; the network requires {required}"),
            });
        }
        let due = self.from.is_none_or(|from| now >= from);
        let (reason, when) = if due {
            (OVERDUE, "now")
        } else {
            (BELOW, "before then")
        };
        Some(Standing {
            met: false,
            reason,
            message: format!(
                "runs {version}, below the release the network requires ({required}): raise spec.version to {} or later {when} (docs/releases.md)",
                self.version
            ),
        })
    }
}

/// One Validator's release, as `releases below` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValidatorRelease {
    pub namespace: String,
    pub name: String,
    pub version: String,
}

/// The Validators running a release below `minimum`, or a version that is not a release number
/// (which cannot be shown to meet it), in the order given.
pub fn below(validators: &[ValidatorRelease], minimum: Version) -> Vec<&ValidatorRelease> {
    validators
        .iter()
        .filter(|v| match v.version.parse::<Version>() {
            Ok(running) => running < minimum,
            Err(_) => true,
        })
        .collect()
}

/// The listing as an aligned table with a header; empty input gives the header only.
pub fn table(validators: &[&ValidatorRelease]) -> String {
    let header = ["NAMESPACE", "NAME", "VERSION"];
    let rows: Vec<[&str; 3]> = validators
        .iter()
        .map(|v| [v.namespace.as_str(), v.name.as_str(), v.version.as_str()])
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].len())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    std::iter::once(header)
        .chain(rows)
        .map(|[ns, name, version]| format!("{ns:<w0$}  {name:<w1$}  {version}\n"))
        .collect()
}

/// Every Validator in `namespace`, or in all namespaces, with its `spec.version`.
pub async fn in_cluster(
    client: kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<ValidatorRelease>, kube::Error> {
    use kube::ResourceExt;
    let api: kube::Api<crate::api::Validator> = match namespace {
        Some(ns) => kube::Api::namespaced(client, ns),
        None => kube::Api::all(client),
    };
    let list = api.list(&kube::api::ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .map(|v| ValidatorRelease {
            namespace: v.namespace().unwrap_or_default(),
            name: v.name_any(),
            version: v.spec.version.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_minimum_reads_with_a_date_a_time_or_nothing() {
        let m: MinimumRelease = "0.8.0@2026-12-15".parse().unwrap();
        assert_eq!(m.version.to_string(), "0.8.0");
        assert_eq!(m.from, Some(at("2026-12-15T00:00:00Z")));
        let m: MinimumRelease = "0.8.0@2026-12-15T12:30:00Z".parse().unwrap();
        assert_eq!(m.from, Some(at("2026-12-15T12:30:00Z")));
        assert_eq!(m.to_string(), "0.8.0@2026-12-15T12:30:00Z");
        let m: MinimumRelease = "0.8.0".parse().unwrap();
        assert_eq!(m.from, None);
        assert!(matches!(
            "0.8@2026-12-15".parse::<MinimumRelease>(),
            Err(MinimumReleaseError::Version(_))
        ));
        assert!(matches!(
            "0.8.0@15.12.2026".parse::<MinimumRelease>(),
            Err(MinimumReleaseError::When(_))
        ));
    }

    #[test]
    fn below_before_the_date_then_overdue_then_met_after_an_upgrade() {
        let m: MinimumRelease = "0.8.0@2026-12-15".parse().unwrap();
        let before = m.standing("0.7.4", at("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!((before.met, before.reason), (false, BELOW));
        assert!(
            before
                .message
                .contains("0.8.0 or later from 2026-12-15T00:00:00Z")
        );
        let after = m.standing("0.7.4", at("2026-12-15T00:00:00Z")).unwrap();
        assert_eq!((after.met, after.reason), (false, OVERDUE));
        let upgraded = m.standing("0.8.1", at("2026-12-01T00:00:00Z")).unwrap();
        assert_eq!((upgraded.met, upgraded.reason), (true, AT_OR_ABOVE));
        assert_eq!(m.standing("latest", at("2026-12-01T00:00:00Z")), None);
        let now: MinimumRelease = "0.8.0".parse().unwrap();
        assert!(now.from.is_none());
        assert_eq!(
            now.standing("0.7.5", at("2026-01-01T00:00:00Z"))
                .unwrap()
                .reason,
            OVERDUE
        );
    }

    fn v(name: &str, version: &str) -> ValidatorRelease {
        ValidatorRelease {
            namespace: "validators".into(),
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn below_lists_older_and_unreadable_releases_in_order() {
        let fleet = [
            v("a", "0.7.4"),
            v("b", "0.8.0"),
            v("c", "latest"),
            v("d", "0.7.10"),
        ];
        let minimum: Version = "0.8.0".parse().unwrap();
        let names: Vec<&str> = below(&fleet, minimum)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["a", "c", "d"]);
        assert_eq!(
            table(&below(&fleet, minimum)[..1]),
            "NAMESPACE   NAME  VERSION\nvalidators  a     0.7.4\n"
        );
    }
}

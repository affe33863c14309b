//! Serde defaults shared by the spec types (a leaf module: the spec files import it, not each other).

/// `#[serde(default = "yes")]`: the fields that are on unless turned off.
pub(crate) fn yes() -> bool {
    true
}

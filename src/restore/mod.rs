//! Restores: `canton-operator restore fetch` (an init container of the validator app's pod while
//! `spec.restore` is being imported) fetches a dump, verifies it as `backup verify` does plus the
//! restore's own checks, and writes it where the validator app's `participant-bootstrapping-dump`
//! points; `restore check-database` refuses a participant database that already holds a node.
//! See docs/backup.md, "Restoring a validator".

pub mod check;
pub mod fetch;
pub mod result;

pub use check::{KeyKind, KmsTarget, Refusal};
pub use result::{RestoreReason, RestoreResult};

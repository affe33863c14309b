//! Identity backups: `canton-operator backup identities` (run by a CronJob per validator) fetches
//! the validator app's node identities dump, verifies it before it counts, uploads it and applies
//! retention, and leaves a one-line [`RunResult`] for the operator. See docs/backup.md.

pub mod commands;
pub(crate) mod dump;
pub mod fetch;
pub mod policy;
pub mod result;
pub mod run;
pub mod store;
pub mod verify;

pub use policy::backup_bucket_policy;
pub use result::{Outcome, Reason, ResultError, RunResult, parse};

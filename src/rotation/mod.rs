//! Rotation of a validator participant's node keys through its Admin API, requested with a
//! `ValidatorKeyRotation` and carried out one resumable step at a time.
//!
//! - [`fingerprint`]: Canton's key fingerprints (pure).
//! - [`plan`]: the next single step, from the request, its status and what the participant shows (pure).
//! - [`admin`]: the Admin API client (tonic) behind [`admin::ParticipantAdmin`].
//! - [`step`]: one step: observe, plan, act, and the status that results (no Kubernetes).
//! - [`keys`]: what `canton-operator keys` shows.
//! - [`schedule`]: when a scheduled rotation is due, its deterministic name, and which finished
//!   rotations fall out of the history (pure).
//! - [`reconcile`]: the Kubernetes controller around it.

pub mod admin;
pub(crate) mod duration;
pub mod fingerprint;
pub mod keys;
pub mod plan;
pub mod reconcile;
pub mod schedule;
pub mod step;

pub use reconcile::{AdminResolver, RotationSettings, Shared, ValidatorLookup, run, run_shared};
/// The participant Admin API messages and services canton-operator uses, generated from `proto/`
/// (a wire-compatible subset of Canton's own files; each names the Canton file it mirrors).
#[allow(clippy::all, clippy::pedantic, missing_docs, rustdoc::all)]
pub mod proto {
    pub(crate) mod com {
        pub(crate) mod digitalasset {
            pub(crate) mod canton {
                pub(crate) mod admin {
                    pub(crate) mod participant {
                        pub mod v30 {
                            tonic::include_proto!("com.digitalasset.canton.admin.participant.v30");
                        }
                    }
                }
                pub(crate) mod crypto {
                    pub mod v30 {
                        tonic::include_proto!("com.digitalasset.canton.crypto.v30");
                    }
                    pub(crate) mod admin {
                        pub mod v30 {
                            tonic::include_proto!("com.digitalasset.canton.crypto.admin.v30");
                        }
                    }
                }
                pub(crate) mod protocol {
                    pub mod v30 {
                        tonic::include_proto!("com.digitalasset.canton.protocol.v30");
                    }
                }
                pub(crate) mod topology {
                    pub(crate) mod admin {
                        pub mod v30 {
                            tonic::include_proto!("com.digitalasset.canton.topology.admin.v30");
                        }
                    }
                }
            }
        }
    }

    pub use com::digitalasset::canton::admin::participant::v30 as participant;
    pub use com::digitalasset::canton::crypto::admin::v30 as vault;
    pub use com::digitalasset::canton::crypto::v30 as crypto;
    pub use com::digitalasset::canton::protocol::v30 as protocol;
    pub use com::digitalasset::canton::topology::admin::v30 as topology;
}

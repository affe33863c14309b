//! canton-operator: provisions Canton Network validators and decides, visibly, where each
//! participant's keys live.

pub mod api;
pub mod hocon;
pub mod kms;

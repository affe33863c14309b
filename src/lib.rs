//! canton-operator: provisions Canton Network validators and decides, visibly, where each
//! participant's keys live.

pub mod api;
pub mod backup;
pub mod config;
pub mod controller;
pub mod decision;
pub mod events;
pub(crate) mod field_manager;
pub mod hocon;
pub mod http;
pub mod iam;
pub mod kms;
pub mod manifest;
pub mod metrics;
pub mod minimum_release;
pub mod names;
pub mod operator;
pub mod reference;
pub mod release;
pub mod render;
pub mod restore;
pub mod rotation;
mod store_ready;
pub mod telemetry;
pub mod verify;

//! canton-operator: provisions Canton Network validators and decides, visibly, where each
//! participant's keys live.

pub mod api;
pub mod config;
pub mod decision;
pub mod hocon;
pub mod kms;
pub mod manifest;
pub mod names;
pub mod render;

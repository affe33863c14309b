//! Shared test support. Each integration test binary compiles this module
//! separately and uses only part of it, hence the blanket `dead_code` allowance.
#![allow(dead_code)]

pub mod fake_api;

//! Compiles the participant Admin API subset in `proto/` with a pure-Rust compiler (protox), so
//! building needs no system `protoc`.

use std::error::Error;

const PROTOS: &[&str] = &[
    "proto/com/digitalasset/canton/crypto/admin/v30/vault_service.proto",
    "proto/com/digitalasset/canton/topology/admin/v30/topology_manager_read_service.proto",
    "proto/com/digitalasset/canton/topology/admin/v30/topology_manager_write_service.proto",
    "proto/com/digitalasset/canton/topology/admin/v30/initialization_service.proto",
    "proto/com/digitalasset/canton/admin/participant/v30/synchronizer_connectivity.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}

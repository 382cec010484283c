//! Compiles `proto/steward/v1/*.proto` into tonic clients and servers, and
//! emits a descriptor set for gRPC server reflection. `protoc` is the vendored
//! binary unless `PROTOC` is set, so a fresh machine needs no manual install.

#[cfg(feature = "server")]
use std::path::PathBuf;

#[cfg(feature = "server")]
const PROTOS: [&str; 6] = [
    "proto/steward/v1/authorization.proto",
    "proto/steward/v1/enforcement.proto",
    "proto/steward/v1/identity.proto",
    "proto/steward/v1/resource_sets.proto",
    "proto/steward/v1/permissions.proto",
    "proto/steward/v1/tokens.proto",
];

/// Without the `server` feature (the guard alone) there is nothing to generate.
#[cfg(not(feature = "server"))]
fn main() {}

#[cfg(feature = "server")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut config = tonic_prost_build::Config::new();
    match std::env::var_os("PROTOC") {
        Some(protoc) => config.protoc_executable(protoc),
        None => config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?),
    };
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("steward_descriptor.bin"))
        .compile_with_config(config, &PROTOS, &["proto"])?;
    println!("cargo:rerun-if-env-changed=PROTOC");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}

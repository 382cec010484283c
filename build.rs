//! Compiles `proto/steward/v1/*.proto` into tonic clients and servers, and
//! emits a descriptor set for gRPC server reflection. `protoc` is the vendored
//! binary unless `PROTOC` is set, so a fresh machine needs no manual install.
//!
//! Envoy's `envoy.service.auth.v3.Authorization` is served from the
//! `envoy-types` crate's generated code; its descriptor set (for reflection,
//! so `grpcurl` can call `Check` without the protos) is built here from the
//! `.proto` files that crate ships, found through `cargo metadata`.

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
    envoy_descriptor(&out_dir.join("envoy_ext_authz_descriptor.bin"))?;
    println!("cargo:rerun-if-env-changed=PROTOC");
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    Ok(())
}

/// Writes the descriptor set of Envoy's `external_auth.proto` (with every
/// import) to `out`.
#[cfg(feature = "server")]
fn envoy_descriptor(out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = envoy_types_protos()?;
    let protoc = match std::env::var_os("PROTOC") {
        Some(protoc) => PathBuf::from(protoc),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut command = std::process::Command::new(protoc);
    command
        .arg("--include_imports")
        .arg(format!("--descriptor_set_out={}", out.display()))
        .arg(format!(
            "-I{}",
            protoc_bin_vendored::include_path()?.display()
        ));
    for dir in [
        "data-plane-api",
        "xds",
        "googleapis",
        "protoc-gen-validate",
        "cel-spec/proto",
    ] {
        command.arg(format!("-I{}", root.join(dir).display()));
    }
    command.arg("envoy/service/auth/v3/external_auth.proto");
    let status = command.status()?;
    if !status.success() {
        return Err(format!("protoc failed on Envoy's external_auth.proto: {status}").into());
    }
    Ok(())
}

/// The `proto/` folder of the `envoy-types` package this build uses.
#[cfg(feature = "server")]
fn envoy_types_protos() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let cargo = std::env::var_os("CARGO").ok_or("CARGO is not set")?;
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    // Only this target's packages: the others were never downloaded.
    let target = std::env::var("TARGET")?;
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &target, "--manifest-path"])
        .arg(&manifest)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let package = metadata["packages"]
        .as_array()
        .and_then(|packages| packages.iter().find(|p| p["name"] == "envoy-types"))
        .ok_or("envoy-types is not among the dependencies")?;
    let manifest_path = package["manifest_path"]
        .as_str()
        .ok_or("envoy-types has no manifest path")?;
    let root = PathBuf::from(manifest_path)
        .parent()
        .ok_or("envoy-types manifest has no folder")?
        .join("proto");
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(root)
}

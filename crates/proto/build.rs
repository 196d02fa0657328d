//! Compiles every file under `proto/` into Rust with tonic-prost-build, using
//! a vendored protoc so no system install is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Edition 2024 marks set_var unsafe; a build script has no other threads.
    unsafe { std::env::set_var("PROTOC", &protoc) };
    // Read at run time, not baked in with env!: a build script compiled in
    // another checkout sharing the target dir must not read that one.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "pantau/events/v1/common.proto",
        "pantau/events/v1/identity.proto",
        "pantau/identity/v1/identity.proto",
        "pantau/events/v1/attendance.proto",
        "pantau/attendance/v1/attendance.proto",
        "pantau/events/v1/activity.proto",
        "pantau/activity/v1/activity.proto",
        "pantau/events/v1/scoring.proto",
        "pantau/scoring/v1/scoring.proto",
        "pantau/events/v1/fraud.proto",
        "pantau/fraud/v1/fraud.proto",
        "pantau/reporting/v1/reporting.proto",
    ];
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    let descriptor = PathBuf::from(std::env::var("OUT_DIR")?).join("pantau_descriptor.bin");
    tonic_prost_build::configure()
        .file_descriptor_set_path(&descriptor)
        // The reporting API is also served as JSON: one set of types.
        .message_attribute(".pantau.reporting.v1", "#[derive(serde::Serialize)]")
        .compile_protos(&paths, std::slice::from_ref(&root))?;
    // Each file as well as the folder: a folder alone is judged by the
    // newest mtime cargo finds in it, and an edited file must always count.
    println!("cargo:rerun-if-changed={}", root.display());
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    Ok(())
}

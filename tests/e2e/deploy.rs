//! The deployment files (deploy/ and k8s/) are checked on every test run, without a cluster or
//! a Docker engine: `deploy/validate.py` renders the kustomize overlays, validates every object
//! against the Kubernetes schemas and the compose file against the Compose specification, and
//! checks them against the services' own code (binaries, ports, settings). See its docstring.
//!
//! Needs the pinned Python packages in `.tools/py` (installed by `make test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

#[test]
fn every_manifest_and_the_compose_file_validate() -> anyhow::Result<()> {
    let root = workspace_root();
    let tools_py = root.join(".tools/py");
    if !tools_py.join("kubernetes_validate").is_dir() || !tools_py.join("jsonschema").is_dir() {
        bail!(
            "{} has no kubernetes-validate / jsonschema: run `make test`, which installs \
             PY_TEST_DEPS there",
            tools_py.display()
        );
    }
    let mut paths = vec![tools_py];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    let mut cmd = Command::new("python3");
    cmd.arg("deploy/validate.py")
        .current_dir(&root)
        .env("PYTHONPATH", std::env::join_paths(paths)?);
    let out = cmd
        .output()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "deploy/validate.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // What was checked, for the test log.
    println!("{stdout}");
    Ok(())
}

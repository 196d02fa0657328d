//! The field app draws the worker's rotating QR code on the phone
//! (`app/src/rotating.ts`) and reads the worker out of a scanned code before
//! the service has judged it (to show "already scanned"). Both must agree
//! with `crates/qr`, which the service verifies with: this test runs the
//! app's own module under Node (`app/tests/rotating.mjs`) on codes the Rust
//! crate made for random workers, versions and steps.

use std::process::Command;

use anyhow::{Context, ensure};
use pantau_qr::{Credential, STEP_SECS, StaticSigner, rotating_code, worker_secret};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::field_app::{repo_root, tool};

const MASTER: &[u8] = b"the deployment's master secret";

#[test]
fn the_apps_rotating_codes_and_code_readers_agree_with_the_qr_crate() -> anyhow::Result<()> {
    let node = tool("PANTAU_NODE", &["node"], "install Node.js 20 or later")?;
    ensure!(
        repo_root().join("app/node_modules/.bin/tsc").is_file(),
        "the field app's packages are not installed: run `make app` (make test does)"
    );
    let signer = StaticSigner::from_secret_bytes([7; 32]);
    // Moments from the epoch to the last step an i64 of seconds can name.
    let moments = [
        0,
        29,
        30,
        1_767_225_615,
        4_102_444_800,
        i64::MAX - STEP_SECS,
    ];
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (i, unix) in moments.iter().enumerate() {
        let credential = Credential {
            worker_id: Uuid::new_v4(),
            version: u32::try_from(i)? * 7 + 1,
        };
        let secret = worker_secret(MASTER, credential);
        let code = rotating_code(&secret, credential, *unix);
        // Every other case reads a printed (PNT1) code instead of the phone's.
        let scanned = if i % 2 == 0 {
            code.clone()
        } else {
            signer.sign(credential)
        };
        cases.push(json!({
            "secret": hex::encode(secret),
            "worker": credential.worker_id.to_string(),
            "version": credential.version,
            "step": (unix / STEP_SECS).to_string(),
            "scanned": scanned,
        }));
        expected.push(json!({ "code": code, "worker": credential.worker_id.simple().to_string() }));
    }
    // Not a code at all, and a code of an unknown kind: no worker.
    for scanned in ["https://example.org/", "PNT9.AgGRyPRaK3w9jk"] {
        let credential = Credential {
            worker_id: Uuid::nil(),
            version: 1,
        };
        cases.push(json!({
            "secret": hex::encode([0u8; 32]),
            "worker": credential.worker_id.to_string(),
            "version": 1,
            "step": "0",
            "scanned": scanned,
        }));
        let secret = [0u8; 32];
        expected.push(json!({ "code": rotating_code(&secret, credential, 0), "worker": null }));
    }
    let out = Command::new(&node)
        .arg(repo_root().join("app/tests/rotating.mjs"))
        .env("PANTAU_ROTATING_CASES", Value::from(cases).to_string())
        .output()
        .context("running app/tests/rotating.mjs")?;
    ensure!(
        out.status.success(),
        "app/tests/rotating.mjs failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))?;
    assert_eq!(answers, Value::from(expected));
    Ok(())
}

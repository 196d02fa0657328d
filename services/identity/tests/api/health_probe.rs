//! `pantau-identity health`, the binary a deployment with gRPC TLS on runs
//! as its probe, against the service serving mutual TLS: SERVING with the
//! service's own settings, refused without them, and failing once the
//! service has stopped. And the images' `pantau-healthcheck`
//! (deploy/docker/healthcheck.sh), which asks over gRPC-Web in plaintext
//! and hands over to that binary beside it when PANTAU_TLS_CERT is set.

use std::process::Output;

use pantau_identity::app;
use pantau_identity::config::Config;
use pantau_platform::Settings;
use pantau_platform::tls::GrpcTls;
use pantau_testkit::pki::{CA, CERT, KEY};
use pantau_testkit::{NatsServer, PgServer, TestPki};

use crate::helpers::ADMIN_PASSWORD;

/// Runs `cmd` with exactly `env` as its PANTAU_* settings.
async fn output_with(
    mut cmd: tokio::process::Command,
    env: &[(String, String)],
) -> anyhow::Result<Output> {
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("PANTAU_")) {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().cloned());
    Ok(cmd.output().await?)
}

/// `pantau-identity health` with exactly `env` as its PANTAU_* settings.
async fn probe(env: &[(String, String)]) -> anyhow::Result<Output> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pantau-identity"));
    cmd.arg("health");
    output_with(cmd, env).await
}

/// deploy/docker/healthcheck.sh as an image has it: `pantau-healthcheck`
/// in a directory beside the service's binary.
fn image_bin(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/docker/healthcheck.sh");
    std::fs::copy(&script, bin.join("pantau-healthcheck"))?;
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_pantau-identity"),
        bin.join("pantau-identity"),
    )?;
    Ok(bin)
}

/// `pantau-healthcheck <port>` with exactly `env` as its PANTAU_* settings.
async fn healthcheck(
    bin: &std::path::Path,
    port: u16,
    env: &[(String, String)],
) -> anyhow::Result<Output> {
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(bin.join("pantau-healthcheck"))
        .arg(port.to_string());
    output_with(cmd, env).await
}

fn said(out: &Output) -> String {
    format!(
        "exit {:?}; stdout {:?}; stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn the_health_command_and_the_image_healthcheck_answer_serving_in_plaintext_and_over_mutual_tls()
-> anyhow::Result<()> {
    pantau_testkit::init_logs();
    // A cluster name only, as a Kubernetes Service's certificate has.
    let pki = TestPki::new(&["identity.pantau.svc"])?;
    let tls: Vec<(String, String)> = vec![
        ("PANTAU_TLS_CERT".into(), pki.file(CERT)),
        ("PANTAU_TLS_KEY".into(), pki.file(KEY)),
        ("PANTAU_TLS_CLIENT_CA".into(), pki.file(CA)),
    ];
    let nats = NatsServer::start().await?;
    let pg = PgServer::start().await?;
    let bin = image_bin(&pki.path("image"))?;

    // In plaintext, the script asks over gRPC-Web itself.
    let plain = app::start(Config::in_process(&nats.url, &pg.url, ADMIN_PASSWORD)).await?;
    let port = plain.addr.port();
    let out = healthcheck(&bin, port, &[]).await?;
    assert!(out.status.success(), "{}", said(&out));
    plain.stop().await;
    let out = healthcheck(&bin, port, &[]).await?;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));

    let running = app::start(Config {
        tls: GrpcTls::from_settings(&Settings::from_sources(&[], &tls)?)?,
        ..Config::in_process(&nats.url, &pg.url, ADMIN_PASSWORD)
    })
    .await?;
    let addr = ("PANTAU_IDENTITY_ADDR".to_owned(), running.addr.to_string());

    let mut settings = tls.clone();
    settings.push(addr.clone());
    let out = probe(&settings).await?;
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "SERVING",
        "{}",
        said(&out)
    );

    // The image's script hands over to the binary, which speaks TLS; without
    // PANTAU_TLS_CERT it asks in plaintext, which the server does not answer.
    let out = healthcheck(&bin, running.addr.port(), &settings).await?;
    assert!(out.status.success(), "{}", said(&out));
    let out = healthcheck(&bin, running.addr.port(), std::slice::from_ref(&addr)).await?;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));

    // In plaintext, the TLS server does not answer it.
    let out = probe(std::slice::from_ref(&addr)).await?;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("pantau-identity health: "),
        "{}",
        said(&out)
    );

    running.stop().await;
    let out = probe(&settings).await?;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{}",
        said(&out)
    );
    Ok(())
}

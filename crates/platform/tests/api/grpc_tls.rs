//! gRPC over TLS: `spawn_server` with a service's `PANTAU_TLS_*` settings,
//! asked for its health by clients with and without the CA and a
//! certificate.

use std::time::Duration;

use pantau_platform::tls::GrpcTls;
use tonic::transport::{Channel, Endpoint};
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::pki::{self, Pki};
use crate::server::Server;

/// The health check through `endpoint`: whether the server said SERVING.
async fn healthy(endpoint: Endpoint) -> anyhow::Result<()> {
    let channel: Channel = endpoint
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "pantau.test.v1.TestService".into(),
        })
        .await?
        .into_inner()
        .status;
    anyhow::ensure!(status == ServingStatus::Serving as i32, "status {status}");
    Ok(())
}

/// A calling service's endpoint for `url`, as its `PANTAU_TLS_*` say.
fn client(pki: &Pki, url: &str, files: &[(&str, &str)]) -> anyhow::Result<Endpoint> {
    GrpcTls::from_settings(&pki.settings(files)?)?.endpoint(url)
}

fn plaintext(port: u16) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?)
}

#[tokio::test]
async fn a_grpc_server_with_a_certificate_answers_clients_trusting_its_ca_and_refuses_plaintext()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let server = Server::start(
        "127.0.0.1:0",
        &pki.settings(&[
            ("PANTAU_TLS_CERT", pki::SERVER),
            ("PANTAU_TLS_KEY", pki::SERVER_KEY),
        ])?,
    )
    .await?;
    let port = server.addr.port();

    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}");
        healthy(client(&pki, &url, &[("PANTAU_TLS_CA", pki::CA)])?).await?;
    }
    let plain = healthy(plaintext(port)?).await;
    assert!(plain.is_err(), "a plaintext client was answered");
    let url = format!("https://localhost:{port}");
    let stranger = healthy(client(&pki, &url, &[("PANTAU_TLS_CA", pki::OTHER_CA)])?).await;
    assert!(
        stranger.is_err(),
        "a client trusting another CA was answered"
    );
    server.stop().await
}

#[tokio::test]
async fn a_grpc_server_with_a_client_ca_answers_only_clients_presenting_a_certificate_it_signed()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let server = Server::start(
        "127.0.0.1:0",
        &pki.settings(&[
            ("PANTAU_TLS_CERT", pki::SERVER),
            ("PANTAU_TLS_KEY", pki::SERVER_KEY),
            ("PANTAU_TLS_CLIENT_CA", pki::CA),
        ])?,
    )
    .await?;
    let url = format!("https://localhost:{}", server.addr.port());

    healthy(client(
        &pki,
        &url,
        &[
            ("PANTAU_TLS_CA", pki::CA),
            ("PANTAU_TLS_CERT", pki::CLIENT),
            ("PANTAU_TLS_KEY", pki::CLIENT_KEY),
        ],
    )?)
    .await?;
    let without = healthy(client(&pki, &url, &[("PANTAU_TLS_CA", pki::CA)])?).await;
    assert!(
        without.is_err(),
        "a client without a certificate was answered"
    );
    let stranger = healthy(client(
        &pki,
        &url,
        &[
            ("PANTAU_TLS_CA", pki::CA),
            ("PANTAU_TLS_CERT", pki::STRANGER),
            ("PANTAU_TLS_KEY", pki::STRANGER_KEY),
        ],
    )?)
    .await;
    assert!(
        stranger.is_err(),
        "a client with another CA's certificate was answered"
    );
    server.stop().await
}

#[test]
fn tls_settings_that_cannot_work_stop_the_start_up_naming_the_setting() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let refused = |pairs: &[(&str, &str)]| -> anyhow::Result<String> {
        match GrpcTls::from_settings(&pki.settings(pairs)?) {
            Err(pantau_platform::ConfigError::Invalid { key, .. }) => Ok(key),
            other => anyhow::bail!("expected a refused setting, got {other:?}"),
        }
    };
    assert_eq!(
        refused(&[("PANTAU_TLS_CERT", pki::SERVER)])?,
        "PANTAU_TLS_KEY"
    );
    assert_eq!(
        refused(&[("PANTAU_TLS_KEY", pki::SERVER_KEY)])?,
        "PANTAU_TLS_CERT"
    );
    assert_eq!(
        refused(&[
            ("PANTAU_TLS_CERT", "missing.pem"),
            ("PANTAU_TLS_KEY", pki::SERVER_KEY)
        ])?,
        "PANTAU_TLS_CERT"
    );
    assert_eq!(
        refused(&[
            ("PANTAU_TLS_CERT", pki::SERVER),
            ("PANTAU_TLS_KEY", pki::CLIENT_KEY)
        ])?,
        "PANTAU_TLS_KEY"
    );
    assert_eq!(
        refused(&[("PANTAU_TLS_CLIENT_CA", pki::CA)])?,
        "PANTAU_TLS_CLIENT_CA"
    );
    // Nothing set: plaintext, as `make run` and the other tests run.
    assert_eq!(
        GrpcTls::from_settings(&pki.settings(&[])?)?,
        GrpcTls::default()
    );
    Ok(())
}

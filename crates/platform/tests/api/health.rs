//! `pantau-<service> health` (`health::probe`): a service's probe of its own
//! server, with the settings the server runs with, against plaintext and
//! TLS servers, with and without client certificates; and what it says when
//! it cannot tell the server is serving.

use std::net::SocketAddr;

use pantau_platform::Settings;
use pantau_platform::health::probe;
use tokio::net::TcpListener;

use crate::pki::{self, Pki};
use crate::server::Server;

const ADDR: &str = "PANTAU_TEST_ADDR";

/// The probe's settings: the server's (`files`) and its listening address.
fn with_addr(pki: &Pki, files: &[(&str, &str)], addr: SocketAddr) -> anyhow::Result<Settings> {
    let addr = addr.to_string();
    let mut pairs = files.to_vec();
    pairs.push((ADDR, &addr));
    pki.settings(&pairs)
}

async fn probe_error(settings: &Settings) -> String {
    match probe(settings, ADDR).await {
        Ok(()) => panic!("the probe said SERVING"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn the_probe_asks_a_plaintext_server_and_a_tls_server_with_the_servers_own_settings()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let plain = Server::start("0.0.0.0:0", &pki.settings(&[])?).await?;
    probe(&with_addr(&pki, &[], plain.addr)?, ADDR).await?;
    plain.stop().await?;

    // TLS, then mutual TLS: the service's certificate is its client
    // certificate too, and its CA setting what it trusts.
    let tls = [
        ("PANTAU_TLS_CERT", pki::SERVER),
        ("PANTAU_TLS_KEY", pki::SERVER_KEY),
        ("PANTAU_TLS_CA", pki::CA),
    ];
    let server = Server::start("0.0.0.0:0", &pki.settings(&tls)?).await?;
    probe(&with_addr(&pki, &tls, server.addr)?, ADDR).await?;
    // A plaintext probe of a TLS server is not answered.
    let e = probe_error(&with_addr(&pki, &[], server.addr)?).await;
    assert!(
        e.contains("health check") || e.contains("cannot reach"),
        "{e}"
    );
    server.stop().await?;

    let mutual = [
        ("PANTAU_TLS_CERT", pki::SERVER),
        ("PANTAU_TLS_KEY", pki::SERVER_KEY),
        ("PANTAU_TLS_CLIENT_CA", pki::CA),
    ];
    let server = Server::start("0.0.0.0:0", &pki.settings(&mutual)?).await?;
    probe(&with_addr(&pki, &mutual, server.addr)?, ADDR).await?;
    server.stop().await?;

    // A certificate naming only `*.pantau.test`: verified as
    // health.pantau.test while connecting to loopback.
    let wildcard = [
        ("PANTAU_TLS_CERT", pki::WILDCARD),
        ("PANTAU_TLS_KEY", pki::WILDCARD_KEY),
        ("PANTAU_TLS_CLIENT_CA", pki::CA),
    ];
    let server = Server::start("0.0.0.0:0", &pki.settings(&wildcard)?).await?;
    probe(&with_addr(&pki, &wildcard, server.addr)?, ADDR).await?;
    server.stop().await
}

#[tokio::test]
async fn the_probe_fails_saying_why_when_nothing_listens_or_it_cannot_trust_the_server()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let closed = TcpListener::bind("127.0.0.1:0").await?.local_addr()?;
    let e = probe_error(&with_addr(&pki, &[], closed)?).await;
    assert!(
        e.contains(&format!("cannot reach the gRPC server on {closed}")),
        "{e}"
    );

    let tls = [
        ("PANTAU_TLS_CERT", pki::SERVER),
        ("PANTAU_TLS_KEY", pki::SERVER_KEY),
    ];
    let server = Server::start("0.0.0.0:0", &pki.settings(&tls)?).await?;
    // No CA to verify the server with: refused before connecting.
    let e = probe_error(&with_addr(&pki, &tls, server.addr)?).await;
    assert!(e.contains("needs PANTAU_TLS_CA"), "{e}");
    // Trusting another CA: the handshake fails.
    let mut stranger = tls.to_vec();
    stranger.push(("PANTAU_TLS_CA", pki::OTHER_CA));
    let e = probe_error(&with_addr(&pki, &stranger, server.addr)?).await;
    assert!(
        e.contains("cannot reach") || e.contains("health check"),
        "{e}"
    );
    // No address setting: named.
    let e = format!(
        "{:#}",
        probe(&pki.settings(&tls)?, ADDR)
            .await
            .expect_err("no address")
    );
    assert!(e.contains(ADDR), "{e}");
    server.stop().await
}

//! NATS over TLS: a nats-server given the test CA's server certificate
//! (and, verifying clients, the CA), and services' clients connecting as
//! their settings say (`PANTAU_NATS_TLS_*`).

use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use pantau_platform::nats::{NatsSettings, connect};

use pantau_testkit::NatsServer;

use crate::pki::{self, Pki};

#[derive(Clone, Copy, PartialEq)]
enum Tls {
    Off,
    On,
    /// Clients must present a certificate the test CA signed.
    VerifyClients,
}

/// A nats-server with JetStream on a free port: TLS with the test CA's
/// server certificate, or plaintext.
async fn nats(pki: &Pki, tls: Tls) -> anyhow::Result<NatsServer> {
    let verify = if tls == Tls::VerifyClients {
        format!(
            "  ca_file: \"{}\"\n  verify: true\n",
            pki.path(pki::CA).display()
        )
    } else {
        String::new()
    };
    match tls {
        Tls::Off => NatsServer::spawn_with("").await,
        Tls::On | Tls::VerifyClients => {
            NatsServer::spawn_with(&format!(
                "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n{verify}  timeout: 2\n}}\n",
                pki.path(pki::SERVER).display(),
                pki.path(pki::SERVER_KEY).display(),
            ))
            .await
        }
    }
}

/// A service's NATS settings, as parsed at its start-up.
fn settings(pki: &Pki, url: &str, files: &[(&str, &str)]) -> anyhow::Result<NatsSettings> {
    let mut pairs = vec![("PANTAU_NATS_URL", url)];
    pairs.extend_from_slice(files);
    Ok(NatsSettings::from_settings(&pki.settings(&pairs)?)?)
}

/// Connects as `settings` say, then appends to a stream and reads the event
/// back (retrying while JetStream starts).
async fn append_and_read(settings: &NatsSettings) -> anyhow::Result<()> {
    let client = connect(settings)
        .await
        .with_context(|| format!("failed to connect to {settings}"))?;
    let js = jetstream::new(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match js
            .get_or_create_stream(jetstream::stream::Config {
                name: "PANTAU_TLS_PROBE".into(),
                subjects: vec!["pantau.tls.>".into()],
                ..Default::default()
            })
            .await
        {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let payload = format!("appended over {}", settings.urls);
    let ack = js
        .publish("pantau.tls.probe", payload.clone().into())
        .await?
        .await?;
    let read = stream.get_raw_message(ack.sequence).await?;
    anyhow::ensure!(read.payload == payload.as_bytes(), "read back {read:?}");
    Ok(())
}

#[tokio::test]
async fn a_service_trusting_the_nats_ca_appends_and_reads_over_tls_and_one_without_it_is_refused()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let nats = nats(&pki, Tls::On).await?;
    let url = nats.url.clone();

    let trusting = settings(&pki, &url, &[("PANTAU_NATS_TLS_CA", pki::CA)])?;
    append_and_read(&trusting).await?;
    // A tls:// URL, by name: the certificate names localhost as well.
    let by_name = format!("tls://localhost:{}", nats.port());
    append_and_read(&settings(
        &pki,
        &by_name,
        &[("PANTAU_NATS_TLS_CA", pki::CA)],
    )?)
    .await?;

    // No CA: the system's CAs do not know the test CA. Another CA than the
    // one that signed the server's certificate neither.
    for files in [vec![], vec![("PANTAU_NATS_TLS_CA", pki::OTHER_CA)]] {
        let err = connect(&settings(&pki, &url, &files)?)
            .await
            .expect_err("a client without the server's CA connects");
        assert!(
            err.to_string()
                .contains("invalid peer certificate: UnknownIssuer"),
            "{files:?}: {err}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_client_given_a_nats_ca_never_falls_back_to_plaintext() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let plain = nats(&pki, Tls::Off).await?;
    append_and_read(&settings(&pki, &plain.url.clone(), &[])?).await?;
    let err = connect(&settings(
        &pki,
        &plain.url.clone(),
        &[("PANTAU_NATS_TLS_CA", pki::CA)],
    )?)
    .await
    .expect_err("a client requiring TLS connects to a plaintext server");
    // rustls reads the plaintext server's answer to its hello.
    assert!(err.to_string().contains("corrupt message"), "{err}");
    Ok(())
}

#[tokio::test]
async fn a_nats_server_verifying_clients_takes_a_service_with_its_certificate_and_refuses_one_without()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let nats = nats(&pki, Tls::VerifyClients).await?;
    let url = nats.url.clone();

    let with_cert = settings(
        &pki,
        &url,
        &[
            ("PANTAU_NATS_TLS_CA", pki::CA),
            ("PANTAU_NATS_TLS_CERT", pki::CLIENT),
            ("PANTAU_NATS_TLS_KEY", pki::CLIENT_KEY),
        ],
    )?;
    append_and_read(&with_cert).await?;

    let without = settings(&pki, &url, &[("PANTAU_NATS_TLS_CA", pki::CA)])?;
    let refused = append_and_read(&without).await;
    assert!(refused.is_err(), "a client without a certificate appended");
    // A certificate from a CA the server does not trust.
    let stranger = settings(
        &pki,
        &url,
        &[
            ("PANTAU_NATS_TLS_CA", pki::CA),
            ("PANTAU_NATS_TLS_CERT", pki::STRANGER),
            ("PANTAU_NATS_TLS_KEY", pki::STRANGER_KEY),
        ],
    )?;
    let refused = append_and_read(&stranger).await;
    assert!(
        refused.is_err(),
        "a client with a stranger's certificate appended"
    );
    Ok(())
}

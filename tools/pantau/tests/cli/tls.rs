//! `pantau` against an identity service serving mutual TLS: with
//! `--tls-ca`, `--tls-cert` and `--tls-key` it signs in and lists agencies;
//! without the CA, without a client certificate, with half a certificate or
//! an unreadable file it says what is missing and calls nothing.

use pantau_testkit::pki::{CA, CERT, KEY};
use pantau_testkit::{NatsServer, PgServer, TestPki};

use crate::{PASSWORD, pantau};

#[tokio::test]
async fn the_cli_calls_services_over_mutual_tls_and_says_which_tls_file_is_missing()
-> anyhow::Result<()> {
    let pki = TestPki::new(&["localhost"])?;
    let (ca, cert, key) = (pki.file(CA), pki.file(CERT), pki.file(KEY));
    let nats = NatsServer::spawn(true).await?;
    let pg = PgServer::spawn().await?;
    let settings = pantau_platform::Settings::from_sources(
        &[],
        &[
            ("PANTAU_TLS_CERT".to_owned(), cert.clone()),
            ("PANTAU_TLS_KEY".to_owned(), key.clone()),
            ("PANTAU_TLS_CLIENT_CA".to_owned(), ca.clone()),
        ],
    )?;
    let identity = pantau_identity::app::start(pantau_identity::config::Config {
        tls: pantau_platform::tls::GrpcTls::from_settings(&settings)?,
        ..pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD)
    })
    .await?;
    let url = format!("https://localhost:{}", identity.addr.port());
    let tls = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];

    let mut args = tls.to_vec();
    args.extend(["agencies", "list"]);
    let out = pantau(&url, PASSWORD, &args).await?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);

    // No CA for an https:// URL.
    let out = pantau(&url, PASSWORD, &["agencies", "list"]).await?;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stderr.contains("--tls-ca"), "{}", out.stderr);
    // The CA but no client certificate: the server refuses the handshake.
    let out = pantau(&url, PASSWORD, &["--tls-ca", &ca, "token"]).await?;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // Half a client certificate: refused before anything is called.
    let out = pantau(
        &url,
        PASSWORD,
        &["--tls-ca", &ca, "--tls-cert", &cert, "token"],
    )
    .await?;
    assert_eq!(out.code, Some(2), "{}", out.stdout);
    assert!(out.stderr.contains("--tls-key"), "{}", out.stderr);
    // An unreadable file is named.
    let missing = pki.file("nowhere.pem");
    let out = pantau(&url, PASSWORD, &["--tls-ca", &missing, "token"]).await?;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(
        out.stderr.contains("PANTAU_TLS_CA") && out.stderr.contains("nowhere.pem"),
        "{}",
        out.stderr
    );

    identity.stop().await;
    Ok(())
}

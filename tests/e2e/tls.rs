//! TLS end to end, set up as a deployment sets it: a NATS server requiring
//! client certificates, identity serving gRPC over mutual TLS, reporting
//! serving TLS and forwarding the field app's calls over TLS, each service
//! given its `PANTAU_NATS_TLS_*` and `PANTAU_TLS_*` settings. Certificates
//! come from a throwaway CA made for the test.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pantau_platform::Settings;
use pantau_platform::nats::NatsSettings;
use pantau_platform::tls::GrpcTls;
use pantau_proto::identity::v1::{self as id, identity_service_client::IdentityServiceClient};
use pantau_testkit::{NatsServer, PgServer, TestPki};
use prost::Message;

use crate::common::{ADMIN_PASSWORD, agency_with_unit};

/// A CA and one certificate it signed for `localhost` and `127.0.0.1`, for
/// servers and clients alike (NATS's and the services').
struct Pki(TestPki);

impl Pki {
    fn new() -> anyhow::Result<Pki> {
        Ok(Pki(TestPki::new(&["localhost", "127.0.0.1"])?))
    }

    fn path(&self, file: &str) -> String {
        self.0.file(file)
    }

    /// Settings as a service reads them from its environment: `(key, value)`
    /// with `*.pem` values naming this PKI's files.
    fn settings(&self, pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                let v = if v.ends_with(".pem") {
                    self.path(v)
                } else {
                    (*v).to_owned()
                };
                ((*k).to_owned(), v)
            })
            .collect();
        Ok(Settings::from_sources(&[], &env)?)
    }
}

/// A nats-server with JetStream speaking only TLS and requiring a client
/// certificate the test CA signed.
struct TlsNats {
    url: String,
    _server: NatsServer,
}

impl TlsNats {
    async fn start(pki: &Pki) -> anyhow::Result<TlsNats> {
        let server = NatsServer::spawn_with(&format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n",
            pki.path("cert.pem"),
            pki.path("key.pem"),
            pki.path("ca.pem"),
        ))
        .await?;
        let nats = TlsNats {
            url: server.url.clone(),
            _server: server,
        };
        // Listening; JetStream answers a client that speaks TLS soon after.
        let settings = nats.settings(pki)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = match pantau_platform::nats::connect(&settings).await {
                Ok(client) => async_nats::jetstream::new(client)
                    .query_account()
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            match ready {
                Ok(()) => return Ok(nats),
                Err(e) if Instant::now() > deadline => {
                    bail!("nats-server with TLS did not become ready at {settings}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// A service's NATS settings: the CA, and its certificate as client.
    fn settings(&self, pki: &Pki) -> anyhow::Result<NatsSettings> {
        Ok(NatsSettings::from_settings(&pki.settings(&[
            ("PANTAU_NATS_URL", self.url.as_str()),
            ("PANTAU_NATS_TLS_CA", "ca.pem"),
            ("PANTAU_NATS_TLS_CERT", "cert.pem"),
            ("PANTAU_NATS_TLS_KEY", "key.pem"),
        ])?)?)
    }
}

async fn login(
    client: &IdentityServiceClient<tonic::transport::Channel>,
) -> Result<String, tonic::Status> {
    Ok(client
        .clone()
        .login(id::LoginRequest {
            login_id: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        })
        .await?
        .into_inner()
        .access_token)
}

/// One gRPC-Web call through reporting's gateway: the message of its data
/// frame, and its trailers.
async fn through_gateway(
    http_addr: std::net::SocketAddr,
    path: &str,
    message: &[u8],
) -> anyhow::Result<(Vec<u8>, String)> {
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    body.extend_from_slice(message);
    let resp = reqwest::Client::new()
        .post(format!("http://{http_addr}/app/rpc/{path}"))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "{path}: HTTP {}", resp.status());
    let headers = format!("{:?}", resp.headers());
    let body = resp.bytes().await?;
    anyhow::ensure!(
        body.first() == Some(&0) && body.len() >= 5,
        "{path}: no data frame ({headers}): {body:?}"
    );
    let len = u32::from_be_bytes(body[1..5].try_into()?) as usize;
    let message = body
        .get(5..5 + len)
        .context("a truncated data frame")?
        .to_vec();
    let trailers =
        String::from_utf8_lossy(body.get(5 + len + 5..).unwrap_or_default()).into_owned();
    Ok((message, trailers))
}

#[tokio::test]
async fn services_reach_nats_and_each_other_over_tls_and_refuse_clients_without_a_certificate()
-> anyhow::Result<()> {
    pantau_testkit::init_logs();
    let pki = Pki::new()?;
    let nats = TlsNats::start(&pki).await?;
    let pg = PgServer::start().await?;

    // Identity appends to its stream over NATS TLS and serves mutual TLS.
    let identity = pantau_identity::app::start(pantau_identity::config::Config {
        nats: nats.settings(&pki)?,
        tls: GrpcTls::from_settings(&pki.settings(&[
            ("PANTAU_TLS_CERT", "cert.pem"),
            ("PANTAU_TLS_KEY", "key.pem"),
            ("PANTAU_TLS_CLIENT_CA", "ca.pem"),
        ])?)?,
        ..pantau_identity::config::Config::in_process(&nats.url, &pg.url, ADMIN_PASSWORD)
    })
    .await
    .context("failed to start identity with TLS")?;
    let identity_url = format!("https://localhost:{}", identity.addr.port());

    // A caller trusting the CA, with its certificate: served.
    let caller = GrpcTls::from_settings(&pki.settings(&[
        ("PANTAU_TLS_CA", "ca.pem"),
        ("PANTAU_TLS_CERT", "cert.pem"),
        ("PANTAU_TLS_KEY", "key.pem"),
    ])?)?;
    let ids = IdentityServiceClient::new(caller.endpoint(&identity_url)?.connect().await?);
    let admin = login(&ids).await?;
    agency_with_unit(&ids, &admin, "DLH").await?;
    // Without a certificate, or in plaintext: refused.
    let no_cert = GrpcTls::from_settings(&pki.settings(&[("PANTAU_TLS_CA", "ca.pem")])?)?;
    if let Ok(channel) = no_cert.endpoint(&identity_url)?.connect().await {
        let refused = login(&IdentityServiceClient::new(channel)).await;
        assert!(refused.is_err(), "a caller without a certificate signed in");
    }
    if let Ok(plain) = IdentityServiceClient::connect(format!("http://{}", identity.addr)).await {
        assert!(login(&plain).await.is_err(), "a plaintext caller signed in");
    }

    // Reporting reads identity's signing keys over NATS TLS (it waits for
    // them to start), serves TLS, and its gateway calls identity and itself
    // over TLS with its certificate.
    let mut config = pantau_reporting::config::Config {
        nats: nats.settings(&pki)?,
        tls: caller.clone(),
        ..pantau_reporting::config::Config::in_process(&nats.url, &pg.url)
    };
    config
        .upstreams
        .0
        .insert("pantau.identity.v1.IdentityService".into(), identity_url);
    let reporting = Box::pin(pantau_reporting::app::start(config))
        .await
        .context("failed to start reporting with TLS")?;

    let (message, trailers) = through_gateway(
        reporting.http_addr,
        "pantau.identity.v1.IdentityService/Login",
        &id::LoginRequest {
            login_id: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        }
        .encode_to_vec(),
    )
    .await?;
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    let token = id::LoginResponse::decode(message.as_slice())?.access_token;
    assert!(!token.is_empty(), "no token through the gateway");
    let (_, trailers) = through_gateway(
        reporting.http_addr,
        "pantau.reporting.v1.ReportingService/ListMonths",
        &[],
    )
    .await?;
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
    reporting.stop().await;
    identity.stop().await;
    Ok(())
}

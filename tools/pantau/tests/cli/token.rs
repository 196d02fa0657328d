//! `pantau token` prints an access token that opens the services for the
//! signed-in account (the dashboard's leader view and curl take it), and a
//! wrong password prints none.

use pantau_proto::identity::v1::ListAgenciesRequest;
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_testkit::{NatsServer, PgServer};

use crate::{PASSWORD, authed, pantau};

#[tokio::test]
async fn the_printed_token_opens_the_services_and_a_wrong_password_prints_none()
-> anyhow::Result<()> {
    let nats = NatsServer::spawn(true).await?;
    let pg = PgServer::spawn().await?;
    let config = pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
    let identity = pantau_identity::app::start(config).await?;
    let url = format!("http://{}", identity.addr);

    let out = pantau(&url, PASSWORD, &["token"]).await?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let token = out.stdout.trim();
    assert_eq!(out.stdout.lines().count(), 1, "one line: {}", out.stdout);
    assert!(!token.is_empty() && !token.starts_with("Bearer"), "{token}");
    let mut client = IdentityServiceClient::connect(url.clone()).await?;
    client
        .list_agencies(authed(token, ListAgenciesRequest {})?)
        .await?;
    let forged = format!("{token}x");
    assert!(
        client
            .list_agencies(authed(&forged, ListAgenciesRequest {})?)
            .await
            .is_err(),
        "an altered token is refused, so the check above means something"
    );

    let out = pantau(&url, "not-the-password", &["token"]).await?;
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    identity.stop().await;
    Ok(())
}

//! NATS users and their permissions (`deploy/nats/auth.conf`): a server
//! running that file's users, each service signed in as its own. A service
//! appends to its own stream only, cannot purge or reconfigure another's, still reads the
//! others' streams, and a wrong password is refused at connect.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use async_nats::jetstream;
use pantau_eventstore::{AppendMode, EventStore, Expected, Metadata, NewEvent};
use pantau_platform::nats::{Credentials, NatsSettings, connect};
use pantau_proto::attendance::v1 as att;
use pantau_proto::attendance::v1::attendance_service_client::AttendanceServiceClient;
use pantau_proto::identity::v1::{self as id, identity_service_client::IdentityServiceClient};
use pantau_testkit::PgServer;
use tonic::Code;

use crate::common::{ADMIN_PASSWORD, agency_with_unit, authed, eventually, worker_request};

/// The users of `deploy/nats/auth.conf`.
const USERS: [&str; 7] = [
    "identity",
    "attendance",
    "activity",
    "scoring",
    "fraud",
    "reporting",
    "analytics",
];
/// How long a refused request is given to (not) answer.
const REFUSED: Duration = Duration::from_secs(3);

fn user(name: &str) -> Credentials {
    Credentials::new(name, format!("test-{name}-nats-password"))
}

/// `url`, signed in as `credentials` when given.
fn signed_in(url: &str, credentials: Option<Credentials>) -> NatsSettings {
    let settings = NatsSettings::new(url);
    match credentials {
        Some(c) => settings.with_credentials(c),
        None => settings,
    }
}

/// A nats-server with JetStream and the shipped users, their passwords in
/// its environment as in a deployment.
struct AuthNats {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for AuthNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AuthNats {
    async fn start() -> anyhow::Result<AuthNats> {
        let root = pantau_testkit::workspace_root();
        let dir = tempfile::tempdir().context("failed to create nats temp dir")?;
        std::fs::copy(
            root.join("deploy/nats/auth.conf"),
            dir.path().join("auth.conf"),
        )
        .context("failed to copy deploy/nats/auth.conf")?;
        let port = pantau_testkit::free_port();
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\ninclude ./auth.conf\n",
                dir.path().join("js").display()
            ),
        )?;
        let bin = std::env::var("PANTAU_NATS_SERVER_BIN")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| root.join(".tools/bin/nats-server"));
        let mut cmd = Command::new(&bin);
        cmd.arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for name in USERS {
            cmd.env(
                format!("PANTAU_NATS_{}_PASSWORD", name.to_uppercase()),
                user(name).password,
            );
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("failed to start {}", bin.display()))?;
        let url = format!("nats://127.0.0.1:{port}");
        let server = AuthNats {
            url: url.clone(),
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(client) = connect(&signed_in(&url, Some(user("identity")))).await
                && jetstream::new(client).query_account().await.is_ok()
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("nats-server with deploy/nats/auth.conf did not become ready on {url}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn client(&self, name: &str) -> anyhow::Result<async_nats::Client> {
        connect(&signed_in(&self.url, Some(user(name))))
            .await
            .with_context(|| format!("{name} could not sign in to NATS"))
    }
}

fn event(subject: &str) -> NewEvent {
    NewEvent {
        subject: subject.into(),
        event_type: "PermissionProbe".into(),
        schema_version: 1,
        payload: bytes::Bytes::from_static(b"probe"),
        expected: Expected::Any,
        msg_id: None,
        metadata: Metadata::default(),
    }
}

#[tokio::test]
async fn a_service_appends_only_to_its_own_stream_and_cannot_purge_anothers() -> anyhow::Result<()>
{
    let nats = AuthNats::start().await?;
    let mode = AppendMode::from_batching(true);
    let identity_nats = nats.client("identity").await?;
    let identity = EventStore::open_context(&identity_nats, "identity", mode).await?;
    identity
        .append(event("pantau.identity.agency.probe"))
        .await
        .context("identity appends to its own stream")?;

    let attendance_nats = nats.client("attendance").await?;
    let attendance = EventStore::open_context(&attendance_nats, "attendance", mode).await?;
    attendance
        .append(event("pantau.attendance.x"))
        .await
        .context("attendance appends to its own stream")?;

    // A JetStream publish to identity's subjects: the server refuses it, so
    // no ack ever comes.
    let js = jetstream::new(attendance_nats.clone());
    let refused = match js
        .publish("pantau.identity.worker.x", "forged".into())
        .await
    {
        Err(_) => true,
        Ok(ack) => !matches!(tokio::time::timeout(REFUSED, ack).await, Ok(Ok(_))),
    };
    assert!(refused, "attendance published onto identity's stream");

    // Nor may it purge identity's stream.
    let identity_stream = js.get_stream("PANTAU_IDENTITY").await?;
    let purged = tokio::time::timeout(REFUSED, identity_stream.purge().into_future()).await;
    assert!(
        !matches!(purged, Ok(Ok(_))),
        "attendance purged identity's stream: {purged:?}"
    );

    // Nor reconfigure it (a reader takes it as identity configured it)...
    let mut config = identity_stream.cached_info().config.clone();
    config.max_messages = 1;
    let updated = tokio::time::timeout(REFUSED, js.update_stream(config).into_future()).await;
    assert!(
        !matches!(updated, Ok(Ok(_))),
        "attendance updated identity's stream: {updated:?}"
    );
    // ...while opening it as a reader, as the service does, still works.
    EventStore::open_context_as_reader(&attendance_nats, "identity", 1)
        .await
        .context("attendance opens identity's stream to read it")?;

    let info = jetstream::new(identity_nats)
        .get_stream("PANTAU_IDENTITY")
        .await?
        .get_info()
        .await?;
    assert_eq!(info.config.max_messages, -1, "identity's limits changed");
    assert_eq!(
        info.state.messages, 1,
        "identity's stream holds only identity's own event"
    );
    let forged = identity_stream
        .get_last_raw_message_by_subject("pantau.identity.worker.x")
        .await;
    assert!(forged.is_err(), "the forged event is on identity's stream");
    Ok(())
}

#[tokio::test]
async fn a_wrong_nats_password_is_refused_at_connect() -> anyhow::Result<()> {
    let nats = AuthNats::start().await?;
    let wrong = Credentials::new("attendance", "not-the-password");
    let err = connect(&signed_in(&nats.url, Some(wrong)))
        .await
        .expect_err("a wrong password connects");
    assert_eq!(
        err.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "{err}"
    );
    let anonymous = connect(&signed_in(&nats.url, None)).await;
    assert!(anonymous.is_err(), "an anonymous client connects");
    Ok(())
}

#[tokio::test]
async fn services_run_as_their_own_nats_users_and_still_read_each_others_streams()
-> anyhow::Result<()> {
    pantau_testkit::init_logs();
    let nats = AuthNats::start().await?;
    let pg = PgServer::start().await?;
    let identity = pantau_identity::app::start(pantau_identity::config::Config {
        nats: signed_in(&nats.url, Some(user("identity"))),
        ..pantau_identity::config::Config::in_process(&nats.url, &pg.url, ADMIN_PASSWORD)
    })
    .await
    .context("failed to start identity as its NATS user")?;
    let mut registry = IdentityServiceClient::connect(format!("http://{}", identity.addr)).await?;
    let admin = registry
        .login(id::LoginRequest {
            login_id: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        })
        .await?
        .into_inner()
        .access_token;
    let (agency_id, unit_id) = agency_with_unit(&registry, &admin, "DLH").await?;
    let worker_id = registry
        .register_worker(authed(
            &admin,
            worker_request("Budi", 1, &agency_id, &unit_id),
        ))
        .await?
        .into_inner()
        .worker_id;

    let attendance = pantau_attendance::app::start(pantau_attendance::config::Config {
        nats: signed_in(&nats.url, Some(user("attendance"))),
        ..pantau_attendance::config::Config::in_process(&nats.url, &pg.url)
    })
    .await
    .context("failed to start attendance as its NATS user")?;
    let client = AttendanceServiceClient::connect(format!("http://{}", attendance.addr)).await?;
    let credential = eventually(
        "attendance learns the worker from identity's stream",
        || {
            let mut client = client.clone();
            let req = authed(
                &admin,
                att::GetCredentialRequest {
                    worker_id: worker_id.clone(),
                },
            );
            async move { client.get_credential(req).await }
        },
        |r| !matches!(r, Err(s) if matches!(s.code(), Code::NotFound | Code::Unauthenticated)),
    )
    .await?;
    assert!(
        !credential?.into_inner().code.is_empty(),
        "attendance issued no printed code"
    );
    drop(attendance);
    drop(identity);
    Ok(())
}

//! What the cross-service scenarios share: identity in-process on a
//! throwaway NATS and PostgreSQL (the other services join it there), the
//! registry written through its API, the tokens it issues, and waiting for
//! the other services to hear of it through the PANTAU_IDENTITY stream.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Makassar;
use pantau_proto::identity::v1::{
    self as id, Role, WorkerKind, identity_service_client::IdentityServiceClient,
};
use pantau_testkit::{NatsServer, PgServer};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

pub const ADMIN_PASSWORD: &str = "province-admin-password";
pub const PASSWORD: &str = "a-good-password";
/// Samarinda's town square: the workers' site, and where they stand.
pub const SQUARE: (f64, f64) = (-0.5022, 117.1536);
/// How long another service may take to hear what identity wrote.
pub const SETTLE: Duration = Duration::from_secs(15);

/// A worker as identity registered them.
pub struct Registered {
    pub worker_id: String,
    pub employee_id: String,
}

pub fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

/// A check-in standing on the town square, claimed now by phone
/// `device_id`, with its own request id.
pub fn square_check_in(device_id: &str) -> pantau_proto::attendance::v1::CheckInRequest {
    pantau_proto::attendance::v1::CheckInRequest {
        request_id: rid(),
        kind: pantau_proto::attendance::v1::CheckKind::In as i32,
        latitude: SQUARE.0,
        longitude: SQUARE.1,
        accuracy_m: 10.0,
        device_id: device_id.into(),
        photo_sha256: String::new(),
        claimed_at: Some(pantau_proto::events::v1::Timestamp {
            seconds: Utc::now().timestamp(),
            nanos: 0,
        }),
    }
}

pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A valid NIK: Jakarta region, born 15 May 1990, male, serial `serial`.
pub fn nik(serial: u32) -> String {
    format!("317101150590{serial:04}")
}

pub fn today_in_makassar() -> NaiveDate {
    Utc::now().with_timezone(&Makassar).date_naive()
}

/// Waits out the turn of the day in Makassar, so that "today" and
/// "yesterday" name the same days to the test and to the services
/// throughout, and a little of today (five minutes) has passed to report on.
pub async fn away_from_midnight() {
    const DAY: u32 = 24 * 60 * 60;
    const MARGIN: u32 = 5 * 60;
    let now = Utc::now()
        .with_timezone(&Makassar)
        .time()
        .num_seconds_from_midnight();
    let wait = if now >= DAY - MARGIN {
        DAY - now + MARGIN
    } else {
        MARGIN.saturating_sub(now)
    };
    tokio::time::sleep(Duration::from_secs(u64::from(wait))).await;
}

/// The other services learn the registry from identity's stream a moment
/// after identity answers: calls `call` until `done` accepts what it returns.
pub async fn eventually<T, F, Fut>(
    what: &str,
    mut call: F,
    done: impl Fn(&T) -> bool,
) -> anyhow::Result<T>
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + SETTLE;
    loop {
        let out = call().await;
        if done(&out) {
            return Ok(out);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {SETTLE:?}; last answer: {out:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether an answer shows that a service has heard of what it was asked
/// about: identity's signing key (else UNAUTHENTICATED) and the registry
/// entries (else NOT_FOUND).
pub fn heard<T>(r: &Result<T, Status>) -> bool {
    !matches!(r, Err(s) if matches!(s.code(), Code::NotFound | Code::Unauthenticated))
}

/// A contract worker at the town square (radius 150 m) who can log in
/// with `PASSWORD`; callers fill in the rest (supervisor, joining date).
pub fn worker_request(
    name: &str,
    serial: u32,
    agency_id: &str,
    unit_id: &str,
) -> id::RegisterWorkerRequest {
    id::RegisterWorkerRequest {
        request_id: rid(),
        kind: WorkerKind::Phl as i32,
        nik: nik(serial),
        name: name.into(),
        agency_id: agency_id.into(),
        unit_id: unit_id.into(),
        sites: vec![id::WorkSite {
            site_id: String::new(),
            name: "Taman Samarendah".into(),
            latitude: SQUARE.0,
            longitude: SQUARE.1,
            radius_m: 150,
        }],
        initial_password: PASSWORD.into(),
        ..Default::default()
    }
}

/// Identity in-process on its own NATS and PostgreSQL, which the other
/// services of a scenario share. Declare it after them in a struct, so they
/// stop before the servers do.
pub struct Registry {
    pub client: IdentityServiceClient<Channel>,
    /// Identity's gRPC address.
    pub addr: std::net::SocketAddr,
    /// The province admin's token, from identity.
    pub admin: String,
    _identity: pantau_identity::app::Running,
    pub nats: NatsServer,
    pub pg: PgServer,
}

impl Registry {
    pub async fn start() -> anyhow::Result<Registry> {
        pantau_testkit::init_logs();
        let nats = NatsServer::start().await?;
        let pg = PgServer::start().await?;
        let running = pantau_identity::app::start(pantau_identity::config::Config::in_process(
            &nats.url,
            &pg.url,
            ADMIN_PASSWORD,
        ))
        .await
        .context("failed to start identity")?;
        let client = IdentityServiceClient::connect(format!("http://{}", running.addr)).await?;
        let mut registry = Registry {
            client,
            addr: running.addr,
            admin: String::new(),
            _identity: running,
            nats,
            pg,
        };
        registry.admin = registry.login("admin", ADMIN_PASSWORD).await?;
        Ok(registry)
    }

    /// An access token for `login_id`.
    pub async fn login(&self, login_id: &str, password: &str) -> anyhow::Result<String> {
        Ok(self
            .client
            .clone()
            .login(id::LoginRequest {
                login_id: login_id.into(),
                password: password.into(),
            })
            .await
            .with_context(|| format!("{login_id} could not log in at identity"))?
            .into_inner()
            .access_token)
    }

    /// An agency in Asia/Makassar with one unit: (agency_id, unit_id).
    pub async fn agency(&self, code: &str) -> anyhow::Result<(String, String)> {
        agency_with_unit(&self.client, &self.admin, code).await
    }

    /// Registers a worker (see [`worker_request`]) as the province admin.
    pub async fn register(&self, req: id::RegisterWorkerRequest) -> anyhow::Result<Registered> {
        let r = self
            .client
            .clone()
            .register_worker(authed(&self.admin, req))
            .await?
            .into_inner();
        Ok(Registered {
            worker_id: r.worker_id,
            employee_id: r.employee_id,
        })
    }

    /// Creates a staff account with `role` in `agency_id` (linked to
    /// `worker_id` unless empty) and logs it in.
    pub async fn staff(
        &self,
        login_id: &str,
        role: Role,
        agency_id: &str,
        worker_id: &str,
    ) -> anyhow::Result<String> {
        self.client
            .clone()
            .create_account(authed(
                &self.admin,
                id::CreateAccountRequest {
                    request_id: rid(),
                    login_id: login_id.into(),
                    password: PASSWORD.into(),
                    roles: vec![role as i32],
                    agency_id: agency_id.into(),
                    worker_id: worker_id.into(),
                },
            ))
            .await?;
        self.login(login_id, PASSWORD).await
    }

    /// Makes `supervisor_id` the worker's supervisor from `effective_on`.
    pub async fn assign_supervisor(
        &self,
        worker_id: &str,
        supervisor_id: &str,
        effective_on: NaiveDate,
    ) -> anyhow::Result<()> {
        self.client
            .clone()
            .assign_supervisor(authed(
                &self.admin,
                id::AssignSupervisorRequest {
                    request_id: rid(),
                    worker_id: worker_id.into(),
                    supervisor_id: supervisor_id.into(),
                    effective_on: effective_on.to_string(),
                },
            ))
            .await?;
        Ok(())
    }
}

/// An agency in Asia/Makassar with one unit, created by `admin` through
/// `client`: (agency_id, unit_id).
pub async fn agency_with_unit(
    client: &IdentityServiceClient<Channel>,
    admin: &str,
    code: &str,
) -> anyhow::Result<(String, String)> {
    let mut client = client.clone();
    let agency_id = client
        .create_agency(authed(
            admin,
            id::CreateAgencyRequest {
                request_id: rid(),
                code: code.into(),
                name: format!("Dinas {code}"),
                time_zone: "Asia/Makassar".into(),
            },
        ))
        .await?
        .into_inner()
        .agency_id;
    let unit_id = client
        .create_unit(authed(
            admin,
            id::CreateUnitRequest {
                request_id: rid(),
                agency_id: agency_id.clone(),
                code: "SEKSI-1".into(),
                name: "Seksi Kebersihan".into(),
            },
        ))
        .await?
        .into_inner()
        .unit_id;
    Ok((agency_id, unit_id))
}

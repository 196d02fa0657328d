//! spawn_app(): a real identity service on throwaway NATS and PostgreSQL.

use pantau_identity::app::{self, Running};
use pantau_identity::config::Config;
use pantau_proto::identity::v1::{self as api, identity_service_client::IdentityServiceClient};
use pantau_testkit::{NatsServer, PgServer};
use tonic::transport::Channel;
use tonic::{Request, Status};

pub struct App {
    pub running: Running,
    pub _nats: NatsServer,
    pub _pg: PgServer,
    pub client: IdentityServiceClient<Channel>,
    pub admin: String,
}

pub const ADMIN_PASSWORD: &str = "province-admin-password";

pub async fn spawn_app() -> anyhow::Result<App> {
    spawn_app_with(|_| {}).await
}

/// `spawn_app` with the service's config adjusted by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> anyhow::Result<App> {
    pantau_testkit::init_logs();
    let nats = NatsServer::start().await?;
    let pg = PgServer::start().await?;
    let mut config = Config::in_process(&nats.url, &pg.url, ADMIN_PASSWORD);
    config.token_ttl_secs = 600;
    tweak(&mut config);
    let running = app::start(config).await?;
    let mut client = IdentityServiceClient::connect(format!("http://{}", running.addr)).await?;
    let admin = client
        .login(api::LoginRequest {
            login_id: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        })
        .await?
        .into_inner()
        .access_token;
    Ok(App {
        running,
        _nats: nats,
        _pg: pg,
        client,
        admin,
    })
}

pub fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl App {
    pub async fn agency(&mut self, code: &str, tz: &str) -> anyhow::Result<(String, String)> {
        let agency_id = self
            .client
            .create_agency(authed(
                &self.admin,
                api::CreateAgencyRequest {
                    request_id: rid(),
                    code: code.into(),
                    name: format!("Dinas {code}"),
                    time_zone: tz.into(),
                },
            ))
            .await?
            .into_inner()
            .agency_id;
        let unit_id = self
            .client
            .create_unit(authed(
                &self.admin,
                api::CreateUnitRequest {
                    request_id: rid(),
                    agency_id: agency_id.clone(),
                    code: "SEKSI-1".into(),
                    name: "Seksi Satu".into(),
                },
            ))
            .await?
            .into_inner()
            .unit_id;
        Ok((agency_id, unit_id))
    }

    /// Creates an account with `role` in `agency` and logs it in.
    pub async fn token(
        &mut self,
        login: &str,
        role: api::Role,
        agency: &str,
        worker: &str,
    ) -> anyhow::Result<String> {
        self.client
            .create_account(authed(
                &self.admin,
                api::CreateAccountRequest {
                    request_id: rid(),
                    login_id: login.into(),
                    password: "a-good-password".into(),
                    roles: vec![role as i32],
                    agency_id: agency.into(),
                    worker_id: worker.into(),
                },
            ))
            .await?;
        Ok(self
            .client
            .login(api::LoginRequest {
                login_id: login.into(),
                password: "a-good-password".into(),
            })
            .await?
            .into_inner()
            .access_token)
    }

    pub async fn register(
        &mut self,
        token: &str,
        req: api::RegisterWorkerRequest,
    ) -> Result<api::RegisterWorkerResponse, Status> {
        self.client
            .register_worker(authed(token, req))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn get(&mut self, token: &str, worker_id: &str) -> Result<api::Worker, Status> {
        Ok(self
            .client
            .get_worker(authed(
                token,
                api::GetWorkerRequest {
                    worker_id: worker_id.into(),
                },
            ))
            .await?
            .into_inner()
            .worker
            .unwrap_or_default())
    }
}

/// A contract worker; `n` varies NIK, phone and bank account.
pub fn phl(agency: &str, unit: &str, n: u32) -> api::RegisterWorkerRequest {
    api::RegisterWorkerRequest {
        request_id: rid(),
        kind: api::WorkerKind::Phl as i32,
        nik: format!("317101150590{:04}", n + 1),
        name: format!("Pekerja {n}"),
        agency_id: agency.into(),
        unit_id: unit.into(),
        phone: format!("0812{:08}", n),
        email: format!("w{n}@example.id"),
        bank_account: format!("1234{:06}", n),
        address: "Jl. Merdeka 1".into(),
        sites: vec![api::WorkSite {
            name: "Taman Suropati".into(),
            latitude: -6.1991,
            longitude: 106.8327,
            radius_m: 150,
            site_id: String::new(),
        }],
        joined_on: "2024-01-02".into(),
        ..Default::default()
    }
}

/// A civil servant: NIP consistent with the NIK (born 15 May 1990, male).
pub fn pns(agency: &str, unit: &str, n: u32) -> api::RegisterWorkerRequest {
    api::RegisterWorkerRequest {
        kind: api::WorkerKind::Pns as i32,
        nip: format!("19900515201501{}{:03}", 1, n + 1),
        ..phl(agency, unit, 5000 + n)
    }
}

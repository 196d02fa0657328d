//! Identity and attendance together: the registry written through identity's
//! API reaches attendance only through the PANTAU_IDENTITY stream, and the
//! access tokens identity issues are the ones attendance accepts.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Makassar;
use pantau_proto::attendance::v1::{
    self as att, CheckKind, DayStatus, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::events::v1::{RejectionReason, Timestamp};
use pantau_proto::identity::v1::{
    self as id, DeactivationReason, Role, WorkerKind,
    identity_service_client::IdentityServiceClient,
};
use pantau_testkit::{NatsServer, PgServer};
use tonic::transport::Channel;
use tonic::{Code, Request};

const ADMIN_PASSWORD: &str = "province-admin-password";
const PASSWORD: &str = "a-good-password";
/// Samarinda's town square: the worker's site, and where they stand.
const SQUARE: (f64, f64) = (-0.5022, 117.1536);
/// How long attendance may take to hear what identity wrote.
const SETTLE: Duration = Duration::from_secs(15);

/// Both services in-process on one NATS and one PostgreSQL.
struct Cluster {
    identity: IdentityServiceClient<Channel>,
    attendance: AttendanceServiceClient<Channel>,
    /// The province admin's token, from identity.
    admin: String,
    _identity: pantau_identity::app::Running,
    _attendance: pantau_attendance::app::Running,
    _nats: NatsServer,
    _pg: PgServer,
}

/// A worker as identity registered them.
struct Registered {
    worker_id: String,
    employee_id: String,
}

fn authed<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A valid NIK: Jakarta region, born 15 May 1990, male, serial `serial`.
fn nik(serial: u32) -> String {
    format!("317101150590{serial:04}")
}

fn today_in_makassar() -> NaiveDate {
    Utc::now().with_timezone(&Makassar).date_naive()
}

fn timestamp(at: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// A check-in standing on the town square, claimed now by the phone.
fn check_in_at_the_square() -> att::CheckInRequest {
    att::CheckInRequest {
        request_id: rid(),
        kind: CheckKind::In as i32,
        latitude: SQUARE.0,
        longitude: SQUARE.1,
        accuracy_m: 10.0,
        device_id: "android-7f3a".into(),
        photo_sha256: String::new(),
        claimed_at: Some(timestamp(Utc::now())),
    }
}

/// Attendance learns the registry from identity's stream a moment after
/// identity answers: calls `call` until `done` accepts what it returns.
async fn eventually<T, F, Fut>(
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

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        pantau_testkit::init_logs();
        let nats = NatsServer::start().await?;
        let pg = PgServer::start().await?;
        let identity_running = pantau_identity::app::start(
            pantau_identity::config::Config::in_process(&nats.url, &pg.url, ADMIN_PASSWORD),
        )
        .await
        .context("failed to start identity")?;
        let attendance_running = pantau_attendance::app::start(
            pantau_attendance::config::Config::in_process(&nats.url, &pg.url),
        )
        .await
        .context("failed to start attendance")?;
        let mut identity =
            IdentityServiceClient::connect(format!("http://{}", identity_running.addr)).await?;
        let attendance =
            AttendanceServiceClient::connect(format!("http://{}", attendance_running.addr)).await?;
        let admin = login(&mut identity, "admin", ADMIN_PASSWORD).await?;
        Ok(Cluster {
            identity,
            attendance,
            admin,
            _identity: identity_running,
            _attendance: attendance_running,
            _nats: nats,
            _pg: pg,
        })
    }

    /// An agency in Asia/Makassar with one unit: (agency_id, unit_id).
    async fn agency(&mut self, code: &str) -> anyhow::Result<(String, String)> {
        let agency_id = self
            .identity
            .create_agency(authed(
                &self.admin,
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
        let unit_id = self
            .identity
            .create_unit(authed(
                &self.admin,
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

    /// A contract worker at the town square (radius 150 m) who can log in
    /// with `PASSWORD`.
    async fn worker(
        &mut self,
        name: &str,
        serial: u32,
        agency_id: &str,
        unit_id: &str,
    ) -> anyhow::Result<Registered> {
        let r = self
            .identity
            .register_worker(authed(
                &self.admin,
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
                },
            ))
            .await?
            .into_inner();
        Ok(Registered {
            worker_id: r.worker_id,
            employee_id: r.employee_id,
        })
    }

    /// Creates a staff account with `role` in `agency_id` and logs it in.
    async fn staff(
        &mut self,
        login_id: &str,
        role: Role,
        agency_id: &str,
        worker_id: &str,
    ) -> anyhow::Result<String> {
        self.identity
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
        login(&mut self.identity, login_id, PASSWORD).await
    }

    /// The worker's printed code, once attendance knows the worker.
    async fn printed_code(&self, token: &str, worker_id: &str) -> anyhow::Result<String> {
        let answer = eventually(
            "attendance learns the worker",
            || {
                let mut client = self.attendance.clone();
                let req = authed(
                    token,
                    att::GetCredentialRequest {
                        worker_id: worker_id.into(),
                    },
                );
                async move { client.get_credential(req).await }
            },
            |r| !matches!(r, Err(s) if s.code() == Code::NotFound),
        )
        .await?;
        Ok(answer?.into_inner().code)
    }

    async fn verify(&mut self, token: &str, code: &str) -> anyhow::Result<att::VerifyCodeResponse> {
        Ok(self
            .attendance
            .verify_code(authed(token, att::VerifyCodeRequest { code: code.into() }))
            .await?
            .into_inner())
    }

    async fn month(
        &mut self,
        token: &str,
        worker_id: &str,
        month: &str,
    ) -> Result<att::GetWorkerMonthResponse, tonic::Status> {
        self.attendance
            .get_worker_month(authed(
                token,
                att::GetWorkerMonthRequest {
                    worker_id: worker_id.into(),
                    month: month.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}

async fn login(
    client: &mut IdentityServiceClient<Channel>,
    login_id: &str,
    password: &str,
) -> anyhow::Result<String> {
    Ok(client
        .login(id::LoginRequest {
            login_id: login_id.into(),
            password: password.into(),
        })
        .await
        .with_context(|| format!("{login_id} could not log in at identity"))?
        .into_inner()
        .access_token)
}

#[tokio::test]
async fn a_worker_registered_in_identity_checks_in_at_attendance_with_identitys_token()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start().await?;
    let (agency_id, unit_id) = cluster.agency("DLH").await?;
    let siti = cluster
        .worker("Siti Aminah", 1, &agency_id, &unit_id)
        .await?;
    let site_id = cluster
        .identity
        .get_worker(authed(
            &cluster.admin,
            id::GetWorkerRequest {
                worker_id: siti.worker_id.clone(),
            },
        ))
        .await?
        .into_inner()
        .worker
        .and_then(|w| w.sites.into_iter().next())
        .map(|s| s.site_id)
        .context("identity lists the worker's site")?;
    let agency_admin = cluster
        .staff("admin-dlh", Role::AgencyAdmin, &agency_id, "")
        .await?;
    // The worker logs in with the id identity generated for them.
    let phone = login(&mut cluster.identity, &siti.employee_id, PASSWORD).await?;
    let code = cluster.printed_code(&agency_admin, &siti.worker_id).await?;

    let checked_in = cluster
        .attendance
        .check_in(authed(&phone, check_in_at_the_square()))
        .await
        .context("the worker checks in with identity's token")?
        .into_inner();
    assert!(checked_in.inside, "{checked_in:?}");
    assert_eq!(checked_in.site_id, site_id, "{checked_in:?}");
    let recorded_at = checked_in
        .recorded_at
        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .context("the check-in has a server time")?;
    let today = recorded_at.with_timezone(&Makassar).date_naive();
    assert_eq!(checked_in.local_date, today.to_string(), "a day in WITA");

    let month = cluster
        .month(&phone, &siti.worker_id, &today.format("%Y-%m").to_string())
        .await?;
    let day = month
        .days
        .iter()
        .find(|d| d.date == checked_in.local_date)
        .context("the month lists today")?;
    assert_eq!(day.status(), DayStatus::Present, "{day:?}");

    let verified = cluster.verify(&agency_admin, &code).await?;
    assert!(verified.valid, "{verified:?}");
    assert_eq!(
        verified.worker.as_ref().map(|w| w.name.as_str()),
        Some("Siti Aminah"),
        "{verified:?}"
    );

    cluster
        .identity
        .deactivate_worker(authed(
            &cluster.admin,
            id::DeactivateWorkerRequest {
                request_id: rid(),
                worker_id: siti.worker_id.clone(),
                reason: DeactivationReason::Resigned as i32,
                effective_on: today_in_makassar().to_string(),
                note: String::new(),
            },
        ))
        .await?;
    // Read-only until attendance has heard: scanning the card is harmless.
    let refused = eventually(
        "attendance learns of the deactivation",
        || {
            let mut client = cluster.attendance.clone();
            let req = authed(&agency_admin, att::VerifyCodeRequest { code: code.clone() });
            async move {
                client
                    .verify_code(req)
                    .await
                    .map(tonic::Response::into_inner)
            }
        },
        |r| matches!(r, Ok(v) if !v.valid),
    )
    .await??;
    assert_eq!(
        refused.reason(),
        RejectionReason::WorkerInactive,
        "{refused:?}"
    );
    let status = cluster
        .attendance
        .check_in(authed(&phone, check_in_at_the_square()))
        .await
        .err()
        .context("an inactive worker's check-in is refused")?;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    Ok(())
}

#[tokio::test]
async fn a_supervisor_assigned_in_identity_reads_their_workers_month_at_attendance()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start().await?;
    let (agency_id, unit_id) = cluster.agency("DLH").await?;
    let budi = cluster
        .worker("Budi Santoso", 1, &agency_id, &unit_id)
        .await?;
    let mandor = cluster
        .worker("Mandor Yusuf", 2, &agency_id, &unit_id)
        .await?;
    let supervisor = cluster
        .staff(
            "mandor-yusuf",
            Role::Supervisor,
            &agency_id,
            &mandor.worker_id,
        )
        .await?;
    let month = today_in_makassar().format("%Y-%m").to_string();
    // Known to attendance, but not yet his supervisor there.
    cluster
        .printed_code(&cluster.admin, &budi.worker_id)
        .await?;
    let before = cluster.month(&supervisor, &budi.worker_id, &month).await;
    ensure!(
        matches!(&before, Err(s) if s.code() == Code::PermissionDenied),
        "a supervisor of nobody reads a worker's month: {before:?}"
    );

    cluster
        .identity
        .assign_supervisor(authed(
            &cluster.admin,
            id::AssignSupervisorRequest {
                request_id: rid(),
                worker_id: budi.worker_id.clone(),
                supervisor_id: mandor.worker_id.clone(),
                effective_on: today_in_makassar().to_string(),
            },
        ))
        .await?;
    let read = eventually(
        "attendance learns who supervises the worker",
        || {
            let mut client = cluster.attendance.clone();
            let req = authed(
                &supervisor,
                att::GetWorkerMonthRequest {
                    worker_id: budi.worker_id.clone(),
                    month: month.clone(),
                },
            );
            async move { client.get_worker_month(req).await }
        },
        |r| !matches!(r, Err(s) if s.code() == Code::PermissionDenied),
    )
    .await??
    .into_inner();
    ensure!(!read.days.is_empty(), "a month has days: {read:?}");
    Ok(())
}

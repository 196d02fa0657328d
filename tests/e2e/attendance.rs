//! Identity and attendance together: the registry written through identity's
//! API reaches attendance only through the PANTAU_IDENTITY stream, and the
//! access tokens identity issues are the ones attendance accepts.

use anyhow::{Context, ensure};
use chrono::DateTime;
use chrono_tz::Asia::Makassar;
use pantau_proto::attendance::v1::{
    self as att, DayStatus, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::events::v1::RejectionReason;
use pantau_proto::identity::v1::{self as id, DeactivationReason, Role};
use tonic::Code;
use tonic::transport::Channel;

use crate::common::{
    PASSWORD, Registered, Registry, authed, eventually, rid, square_check_in, today_in_makassar,
    worker_request,
};

/// Identity and attendance in-process on one NATS and one PostgreSQL.
struct Cluster {
    attendance: AttendanceServiceClient<Channel>,
    _attendance: pantau_attendance::app::Running,
    registry: Registry,
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        let registry = Registry::start().await?;
        let running = pantau_attendance::app::start(pantau_attendance::config::Config::in_process(
            &registry.nats.url,
            &registry.pg.url,
        ))
        .await
        .context("failed to start attendance")?;
        let attendance =
            AttendanceServiceClient::connect(format!("http://{}", running.addr)).await?;
        Ok(Cluster {
            attendance,
            _attendance: running,
            registry,
        })
    }

    /// A contract worker at the town square who can log in with `PASSWORD`.
    async fn worker(
        &self,
        name: &str,
        serial: u32,
        agency_id: &str,
        unit_id: &str,
    ) -> anyhow::Result<Registered> {
        self.registry
            .register(worker_request(name, serial, agency_id, unit_id))
            .await
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

#[tokio::test]
async fn a_worker_registered_in_identity_checks_in_at_attendance_with_identitys_token()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start().await?;
    let (agency_id, unit_id) = cluster.registry.agency("DLH").await?;
    let siti = cluster
        .worker("Siti Aminah", 1, &agency_id, &unit_id)
        .await?;
    let site_id = cluster
        .registry
        .client
        .get_worker(authed(
            &cluster.registry.admin,
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
        .registry
        .staff("admin-dlh", Role::AgencyAdmin, &agency_id, "")
        .await?;
    // The worker logs in with the id identity generated for them.
    let phone = cluster.registry.login(&siti.employee_id, PASSWORD).await?;
    let code = cluster.printed_code(&agency_admin, &siti.worker_id).await?;

    let checked_in = cluster
        .attendance
        .check_in(authed(&phone, square_check_in("android-7f3a")))
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
        .registry
        .client
        .deactivate_worker(authed(
            &cluster.registry.admin,
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
        .check_in(authed(&phone, square_check_in("android-7f3a")))
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
    let (agency_id, unit_id) = cluster.registry.agency("DLH").await?;
    let budi = cluster
        .worker("Budi Santoso", 1, &agency_id, &unit_id)
        .await?;
    let mandor = cluster
        .worker("Mandor Yusuf", 2, &agency_id, &unit_id)
        .await?;
    let supervisor = cluster
        .registry
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
        .printed_code(&cluster.registry.admin, &budi.worker_id)
        .await?;
    let before = cluster.month(&supervisor, &budi.worker_id, &month).await;
    ensure!(
        matches!(&before, Err(s) if s.code() == Code::PermissionDenied),
        "a supervisor of nobody reads a worker's month: {before:?}"
    );

    cluster
        .registry
        .assign_supervisor(&budi.worker_id, &mandor.worker_id, today_in_makassar())
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

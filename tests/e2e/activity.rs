//! Identity and activity together: activity learns agencies, workers and
//! who supervises them from the PANTAU_IDENTITY stream, accepts identity's
//! tokens, and routes each report to whoever supervised the worker on the
//! day of the work.

use anyhow::{Context, ensure};
use chrono::{Days, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Makassar;
use pantau_proto::activity::v1::{
    self as act, ReportStatus, ReviewDecision, activity_service_client::ActivityServiceClient,
};
use pantau_proto::events::v1::CatalogActivity;
use pantau_proto::identity::v1::{self as id, Role};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::common::{
    PASSWORD, Registered, Registry, authed, away_from_midnight, eventually, heard, rid,
    today_in_makassar, worker_request,
};

/// Identity and activity in-process on one NATS and one PostgreSQL.
struct Cluster {
    activity: ActivityServiceClient<Channel>,
    _activity: pantau_activity::app::Running,
    registry: Registry,
}

fn hhmm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// A stretch of today in Makassar that is already over: the last half hour
/// (from midnight, early in the day).
fn earlier_today() -> (String, String) {
    let now = Utc::now().with_timezone(&Makassar).time();
    let end = now.hour() * 60 + now.minute();
    (hhmm(end.saturating_sub(30)), hhmm(end))
}

/// A report of `DRAIN` (25 m) on `date` from `start` to `end`.
fn drain(date: NaiveDate, start: &str, end: &str) -> act::ReportActivityRequest {
    act::ReportActivityRequest {
        request_id: rid(),
        code: "DRAIN".into(),
        quantity: 25.0,
        date: date.to_string(),
        start_time: start.into(),
        end_time: end.into(),
        description: "Membersihkan saluran air".into(),
        ..Default::default()
    }
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        let registry = Registry::start().await?;
        let running = pantau_activity::app::start(pantau_activity::config::Config::in_process(
            &registry.nats.url,
            &registry.pg.url,
        ))
        .await
        .context("failed to start activity")?;
        let activity = ActivityServiceClient::connect(format!("http://{}", running.addr)).await?;
        Ok(Cluster {
            activity,
            _activity: running,
            registry,
        })
    }

    /// A worker who joined long ago, supervised by `supervisor_id` unless
    /// empty.
    async fn worker(
        &self,
        name: &str,
        serial: u32,
        (agency_id, unit_id): (&str, &str),
        supervisor_id: &str,
    ) -> anyhow::Result<Registered> {
        self.registry
            .register(id::RegisterWorkerRequest {
                supervisor_id: supervisor_id.into(),
                joined_on: "2024-01-02".into(),
                ..worker_request(name, serial, agency_id, unit_id)
            })
            .await
    }

    /// Publishes the agency's catalog with `DRAIN`, once activity knows the
    /// agency: its version.
    async fn publish_catalog(&self, token: &str, agency_id: &str) -> anyhow::Result<u32> {
        let request_id = rid();
        let published = eventually(
            "activity learns the agency",
            || {
                let mut client = self.activity.clone();
                let req = authed(
                    token,
                    act::PublishCatalogRequest {
                        request_id: request_id.clone(),
                        agency_id: agency_id.into(),
                        effective_from: "2025-01-01".into(),
                        activities: vec![CatalogActivity {
                            code: "DRAIN".into(),
                            name: "Pembersihan drainase".into(),
                            unit: "meter".into(),
                            photo_required: false,
                            location_required: false,
                        }],
                    },
                );
                async move { client.publish_catalog(req).await }
            },
            heard,
        )
        .await??;
        Ok(published.into_inner().version)
    }

    /// Approves a report as the holder of `token`: its status after.
    async fn approval(&self, token: &str, report_id: &str) -> Result<ReportStatus, Status> {
        let reviewed = self
            .activity
            .clone()
            .review_activity(authed(
                token,
                act::ReviewActivityRequest {
                    request_id: rid(),
                    report_id: report_id.into(),
                    decision: ReviewDecision::Approve as i32,
                    reason: String::new(),
                },
            ))
            .await?;
        Ok(reviewed.into_inner().status())
    }

    async fn approve(&self, token: &str, report_id: &str) -> anyhow::Result<()> {
        let status = self.approval(token, report_id).await?;
        ensure!(status == ReportStatus::Approved, "{report_id}: {status:?}");
        Ok(())
    }

    /// Checks that `who` (holding `token`) may not approve the report.
    async fn may_not_approve(&self, who: &str, token: &str, report_id: &str) -> anyhow::Result<()> {
        let answer = self.approval(token, report_id).await;
        ensure!(denied(&answer), "{who} approved {report_id}: {answer:?}");
        Ok(())
    }

    /// The ids of the reports waiting in the caller's review queue.
    async fn queue(&self, token: &str) -> anyhow::Result<Vec<String>> {
        let queue = self
            .activity
            .clone()
            .get_review_queue(authed(token, act::GetReviewQueueRequest::default()))
            .await?
            .into_inner();
        Ok(queue
            .items
            .into_iter()
            .filter_map(|i| i.report)
            .map(|r| r.report_id)
            .collect())
    }

    async fn day(
        &self,
        token: &str,
        worker_id: &str,
        date: NaiveDate,
    ) -> Result<Vec<act::Report>, Status> {
        let day = self
            .activity
            .clone()
            .get_worker_day(authed(
                token,
                act::GetWorkerDayRequest {
                    worker_id: worker_id.into(),
                    date: date.to_string(),
                },
            ))
            .await?;
        Ok(day.into_inner().reports)
    }
}

fn denied<T: std::fmt::Debug>(r: &Result<T, Status>) -> bool {
    matches!(r, Err(s) if s.code() == Code::PermissionDenied)
}

#[tokio::test]
async fn a_report_goes_to_whoever_supervised_the_worker_on_the_day_of_the_work()
-> anyhow::Result<()> {
    away_from_midnight().await;
    let cluster = Cluster::start().await?;
    let registry = &cluster.registry;
    let (agency_id, unit_id) = registry.agency("DLH").await?;
    let agency = (agency_id.as_str(), unit_id.as_str());
    let yusuf = cluster.worker("Mandor Yusuf", 1, agency, "").await?;
    let rahmat = cluster.worker("Mandor Rahmat", 2, agency, "").await?;
    let budi = cluster
        .worker("Budi Santoso", 3, agency, &yusuf.worker_id)
        .await?;
    let agency_admin = registry
        .staff("admin-dlh", Role::AgencyAdmin, &agency_id, "")
        .await?;
    let mandor_yusuf = registry
        .staff(
            "mandor-yusuf",
            Role::Supervisor,
            &agency_id,
            &yusuf.worker_id,
        )
        .await?;
    let mandor_rahmat = registry
        .staff(
            "mandor-rahmat",
            Role::Supervisor,
            &agency_id,
            &rahmat.worker_id,
        )
        .await?;
    // The worker logs in with the id identity generated for them.
    let phone = registry.login(&budi.employee_id, PASSWORD).await?;
    let today = today_in_makassar();
    let yesterday = today
        .checked_sub_days(Days::new(1))
        .context("today has a yesterday")?;

    let version = cluster.publish_catalog(&agency_admin, &agency_id).await?;
    assert_eq!(version, 1, "the agency's first catalog");
    let filed = crate::drains::file(
        &cluster.activity,
        &phone,
        drain(yesterday, "08:00", "10:00"),
    )
    .await
    .context("the worker reports yesterday's work with identity's token")?;
    assert_eq!(filed.status(), ReportStatus::Submitted, "{filed:?}");
    assert_eq!(filed.catalog_version, 1, "{filed:?}");

    // It waits for Yusuf, who supervised Budi yesterday; not for Rahmat.
    let yusufs_queue = cluster.queue(&mandor_yusuf).await?;
    assert_eq!(
        yusufs_queue,
        std::slice::from_ref(&filed.report_id),
        "Yusuf's queue"
    );
    let rahmats_queue = cluster.queue(&mandor_rahmat).await?;
    assert!(
        rahmats_queue.is_empty(),
        "Rahmat's queue: {rahmats_queue:?}"
    );
    cluster
        .may_not_approve(
            "Rahmat, who does not supervise Budi",
            &mandor_rahmat,
            &filed.report_id,
        )
        .await?;
    cluster.approve(&mandor_yusuf, &filed.report_id).await?;

    let day = cluster.day(&phone, &budi.worker_id, yesterday).await?;
    let [report] = day.as_slice() else {
        anyhow::bail!("one report yesterday: {day:?}");
    };
    assert_eq!(report.report_id, filed.report_id, "{report:?}");
    assert_eq!(report.status(), ReportStatus::Approved, "{report:?}");
    assert_eq!(report.reviewer, yusuf.worker_id, "{report:?}");
    assert_eq!(report.supervisor_id, yusuf.worker_id, "{report:?}");
    assert_eq!(report.reported_by, budi.worker_id, "{report:?}");
    assert_eq!(report.agency_id, agency_id, "{report:?}");
    assert_eq!(report.unit_id, unit_id, "{report:?}");
    assert_eq!(
        (report.code.as_str(), report.unit.as_str(), report.quantity),
        ("DRAIN", "meter", 25.0),
        "{report:?}"
    );
    assert_eq!(
        (report.start_time.as_str(), report.end_time.as_str()),
        ("08:00", "10:00"),
        "{report:?}"
    );
    assert!(cluster.queue(&mandor_yusuf).await?.is_empty(), "reviewed");

    // A second report of yesterday, still waiting when Budi moves to Rahmat.
    let pending = crate::drains::file(
        &cluster.activity,
        &phone,
        drain(yesterday, "13:00", "14:00"),
    )
    .await?;
    registry
        .assign_supervisor(&budi.worker_id, &rahmat.worker_id, today)
        .await?;
    // Rahmat may read Budi's days once activity has heard he supervises him.
    let read = eventually(
        "activity learns who supervises the worker",
        || cluster.day(&mandor_rahmat, &budi.worker_id, yesterday),
        |r| !denied(r),
    )
    .await??;
    assert_eq!(read.len(), 2, "{read:?}");
    // Yesterday was still Yusuf's.
    cluster
        .may_not_approve(
            "Rahmat, Budi's supervisor only from today,",
            &mandor_rahmat,
            &pending.report_id,
        )
        .await?;
    assert_eq!(
        cluster.queue(&mandor_yusuf).await?,
        std::slice::from_ref(&pending.report_id),
        "yesterday's reports stay in Yusuf's queue"
    );
    assert!(cluster.queue(&mandor_rahmat).await?.is_empty());

    // Today's go to Rahmat.
    let (start, end) = earlier_today();
    let todays = crate::drains::file(&cluster.activity, &phone, drain(today, &start, &end)).await?;
    assert_eq!(
        cluster.queue(&mandor_rahmat).await?,
        std::slice::from_ref(&todays.report_id),
        "today's report waits for Rahmat"
    );
    assert_eq!(
        cluster.queue(&mandor_yusuf).await?,
        std::slice::from_ref(&pending.report_id),
        "Yusuf's queue holds only yesterday's"
    );
    cluster
        .may_not_approve(
            "Yusuf, Budi's supervisor until yesterday,",
            &mandor_yusuf,
            &todays.report_id,
        )
        .await?;
    cluster.approve(&mandor_rahmat, &todays.report_id).await?;
    let today_reports = cluster.day(&phone, &budi.worker_id, today).await?;
    let reviewers: Vec<(&str, &str)> = today_reports
        .iter()
        .map(|r| (r.supervisor_id.as_str(), r.reviewer.as_str()))
        .collect();
    assert_eq!(
        reviewers,
        [(rahmat.worker_id.as_str(), rahmat.worker_id.as_str())],
        "{today_reports:?}"
    );
    Ok(())
}

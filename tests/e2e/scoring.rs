//! Identity, activity and scoring together: scoring learns agencies and
//! workers from the PANTAU_IDENTITY stream and approved work from the
//! PANTAU_ACTIVITY stream, accepts identity's tokens, and turns a report
//! into points once, and only once, the worker's supervisor approves it.

use anyhow::{Context, ensure};
use chrono::{Datelike, Days, NaiveDate};
use pantau_proto::activity::v1::{
    self as act, ReportStatus, ReviewDecision, activity_service_client::ActivityServiceClient,
};
use pantau_proto::events::v1::{Category, MonthFigures};
use pantau_proto::identity::v1::{self as id, Role};
use pantau_proto::scoring::v1::{self as sc, scoring_service_client::ScoringServiceClient};
use tonic::transport::Channel;

use crate::common::{
    PASSWORD, Registry, authed, away_from_midnight, rid, today_in_makassar, worker_request,
};
use crate::drains::{DRAIN, POINTS_PER_METRE};

/// Identity, activity and scoring in-process on one NATS and one PostgreSQL.
struct Cluster {
    activity: ActivityServiceClient<Channel>,
    scoring: ScoringServiceClient<Channel>,
    _scoring: pantau_scoring::app::Running,
    _activity: pantau_activity::app::Running,
    registry: Registry,
}

/// A month as scoring names it (YYYY-MM).
fn month_of(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        let registry = Registry::start().await?;
        let (nats, pg) = (&registry.nats.url, &registry.pg.url);
        let activity =
            pantau_activity::app::start(pantau_activity::config::Config::in_process(nats, pg))
                .await
                .context("failed to start activity")?;
        let scoring =
            pantau_scoring::app::start(pantau_scoring::config::Config::in_process(nats, pg))
                .await
                .context("failed to start scoring")?;
        Ok(Cluster {
            activity: ActivityServiceClient::connect(format!("http://{}", activity.addr)).await?,
            scoring: ScoringServiceClient::connect(format!("http://{}", scoring.addr)).await?,
            _scoring: scoring,
            _activity: activity,
            registry,
        })
    }

    async fn approve(&self, token: &str, report_id: &str) -> anyhow::Result<()> {
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
            .await?
            .into_inner();
        ensure!(
            reviewed.status() == ReportStatus::Approved,
            "{report_id}: {reviewed:?}"
        );
        Ok(())
    }

    /// The caller's own month (no worker id: the token's worker), once
    /// scoring knows the worker. Its reads wait for its projections, so
    /// everything activity recorded before the call counts.
    async fn own_month(
        &self,
        token: &str,
        month: &str,
    ) -> anyhow::Result<sc::GetWorkerMonthResponse> {
        crate::drains::own_month(&self.scoring, token, month).await
    }
}

/// Points of a month's live figures (none yet: nothing earned).
fn live_points(month: &sc::GetWorkerMonthResponse) -> f64 {
    month.live.as_ref().map_or(0.0, |f| f.points)
}

#[tokio::test]
async fn an_approved_report_earns_the_worker_points_by_the_rule_set() -> anyhow::Result<()> {
    away_from_midnight().await;
    let cluster = Cluster::start().await?;
    let registry = &cluster.registry;
    let (agency_id, unit_id) = registry.agency("DLH").await?;
    let long_ago = |name: &str, serial: u32, supervisor_id: &str| id::RegisterWorkerRequest {
        supervisor_id: supervisor_id.into(),
        joined_on: "2024-01-02".into(),
        ..worker_request(name, serial, &agency_id, &unit_id)
    };
    let yusuf = registry.register(long_ago("Mandor Yusuf", 1, "")).await?;
    let budi = registry
        .register(long_ago("Budi Santoso", 2, &yusuf.worker_id))
        .await?;
    let agency_admin = registry
        .staff("admin-dlh", Role::AgencyAdmin, &agency_id, "")
        .await?;
    let mandor = registry
        .staff(
            "mandor-yusuf",
            Role::Supervisor,
            &agency_id,
            &yusuf.worker_id,
        )
        .await?;
    let phone = registry.login(&budi.employee_id, PASSWORD).await?;

    assert_eq!(
        crate::drains::publish_catalog(&cluster.activity, &cluster.registry.admin, false).await?,
        1,
        "the first general catalog"
    );
    let rule_set =
        crate::drains::publish_rule_set(&cluster.scoring, &cluster.registry.admin).await?;
    assert_eq!(rule_set.version, 1, "{rule_set:?}");
    let stored = rule_set.rule_set.context("the rule set as stored")?;
    assert_eq!(
        (stored.agency_id.as_str(), stored.effective_from.as_str()),
        ("", "2026-01-01"),
        "for every agency: {stored:?}"
    );

    // Yesterday's work, within activity's grace period.
    let yesterday = today_in_makassar()
        .checked_sub_days(Days::new(1))
        .context("today has a yesterday")?;
    let month = month_of(yesterday);
    let filed = crate::drains::file(
        &cluster.activity,
        &phone,
        act::ReportActivityRequest {
            request_id: rid(),
            code: DRAIN.into(),
            quantity: 25.0,
            date: yesterday.to_string(),
            start_time: "08:00".into(),
            end_time: "10:00".into(),
            description: "Membersihkan saluran air".into(),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(filed.status(), ReportStatus::Submitted, "{filed:?}");

    // Waiting for review, it earns nothing.
    let pending = cluster.own_month(&phone, &month).await?;
    assert_eq!(pending.worker_id, budi.worker_id, "the caller's own month");
    assert_eq!(live_points(&pending), 0.0, "before approval: {pending:?}");

    cluster.approve(&mandor, &filed.report_id).await?;
    let approved = cluster.own_month(&phone, &month).await?;
    let expected = 25.0 * POINTS_PER_METRE;
    let live: &MonthFigures = approved.live.as_ref().context("live figures")?;
    assert_eq!(
        live.points, expected,
        "25 m x {POINTS_PER_METRE}: {approved:?}"
    );
    let by_code: Vec<(&str, f64, f64)> = live
        .by_code
        .iter()
        .map(|c| (c.code.as_str(), c.quantity, c.points))
        .collect();
    assert_eq!(by_code, [(DRAIN, 25.0, expected)], "{approved:?}");
    assert_eq!(live.minutes_reported, 120, "08:00-10:00: {approved:?}");
    assert_eq!(
        (approved.agency_id.as_str(), approved.unit_id.as_str()),
        (agency_id.as_str(), unit_id.as_str()),
        "{approved:?}"
    );
    assert!(!approved.closed, "the month is open: {approved:?}");

    // The agency's month counts Budi, and Yusuf with an empty month.
    let agency = cluster
        .scoring
        .clone()
        .get_agency_month(authed(
            &agency_admin,
            sc::GetAgencyMonthRequest {
                agency_id: agency_id.clone(),
                month: month.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(agency.workers, 2, "{agency:?}");
    assert_eq!(agency.average_points, expected / 2.0, "{agency:?}");
    let units: Vec<(&str, u32, f64)> = agency
        .units
        .iter()
        .map(|u| (u.unit_id.as_str(), u.workers, u.points_per_worker))
        .collect();
    assert_eq!(units, [(unit_id.as_str(), 2, expected / 2.0)], "{agency:?}");
    let counted: u32 = agency.categories.iter().map(|c| c.workers).sum();
    assert_eq!(counted, 2, "every worker has a category: {agency:?}");
    let kurang_sekali = agency
        .categories
        .iter()
        .find(|c| c.category() == Category::KurangSekali)
        .map(|c| c.workers);
    assert_eq!(
        kurang_sekali,
        Some(2),
        "a score of {} and an empty month: {agency:?}",
        live.score
    );
    assert!(!agency.closed && !agency.finalized, "{agency:?}");
    Ok(())
}

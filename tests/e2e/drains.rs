//! The work the scenarios report and pay for: one catalog activity, drain
//! cleaning by the metre, the province's rule set paying for it, and filing
//! a report once activity knows the worker.

use pantau_proto::activity::v1::{self as act, activity_service_client::ActivityServiceClient};
use pantau_proto::events::v1::{CatalogActivity, CodeRule, Rules};
use pantau_proto::scoring::v1::{self as sc, scoring_service_client::ScoringServiceClient};
use tonic::transport::Channel;

use crate::common::{authed, eventually, heard, rid};

/// The activity the catalog lists and the rule set pays for.
pub const DRAIN: &str = "DRAIN";
pub const POINTS_PER_METRE: f64 = 4.0;

/// The general catalog with [`DRAIN`] (metres), from 2025, published by the
/// province `admin` once activity accepts identity's tokens; `evidence`
/// makes a photo and a location required. Answers the catalog's version.
pub async fn publish_catalog(
    activity: &ActivityServiceClient<Channel>,
    admin: &str,
    evidence: bool,
) -> anyhow::Result<u32> {
    let request_id = rid();
    let published = eventually(
        "activity learns identity's signing key",
        || {
            let mut client = activity.clone();
            let req = authed(
                admin,
                act::PublishCatalogRequest {
                    request_id: request_id.clone(),
                    agency_id: String::new(),
                    effective_from: "2025-01-01".into(),
                    activities: vec![CatalogActivity {
                        code: DRAIN.into(),
                        name: "Pembersihan drainase".into(),
                        unit: "meter".into(),
                        photo_required: evidence,
                        location_required: evidence,
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

/// The rule set for every agency, paying [`POINTS_PER_METRE`] for
/// [`DRAIN`] from 2026, published by the province `admin` once scoring
/// accepts identity's tokens.
pub async fn publish_rule_set(
    scoring: &ScoringServiceClient<Channel>,
    admin: &str,
) -> anyhow::Result<sc::PublishRuleSetResponse> {
    let request_id = rid();
    let published = eventually(
        "scoring learns identity's signing key",
        || {
            let mut client = scoring.clone();
            let req = authed(
                admin,
                sc::PublishRuleSetRequest {
                    request_id: request_id.clone(),
                    agency_id: String::new(),
                    effective_from: "2026-01-01".into(),
                    decree: "Keputusan Gubernur 800/17/2026".into(),
                    rules: Some(Rules {
                        activities: vec![CodeRule {
                            code: DRAIN.into(),
                            points_per_unit: POINTS_PER_METRE,
                            daily_cap: 0.0,
                            monthly_cap: 0.0,
                        }],
                        ..Default::default()
                    }),
                },
            );
            async move { client.publish_rule_set(req).await }
        },
        heard,
    )
    .await??;
    Ok(published.into_inner())
}

/// Files `req` as the holder of `token`, once activity knows the worker.
pub async fn file(
    activity: &ActivityServiceClient<Channel>,
    token: &str,
    req: act::ReportActivityRequest,
) -> anyhow::Result<act::ReportActivityResponse> {
    let filed = eventually(
        "activity learns the worker",
        || {
            let mut client = activity.clone();
            let req = authed(token, req.clone());
            async move { client.report_activity(req).await }
        },
        heard,
    )
    .await??;
    Ok(filed.into_inner())
}

/// The month (YYYY-MM) of the holder of `token` at scoring, once scoring
/// knows the worker.
pub async fn own_month(
    scoring: &ScoringServiceClient<Channel>,
    token: &str,
    month: &str,
) -> anyhow::Result<sc::GetWorkerMonthResponse> {
    let answer = eventually(
        "scoring learns the worker",
        || {
            let mut client = scoring.clone();
            let req = authed(
                token,
                sc::GetWorkerMonthRequest {
                    worker_id: String::new(),
                    month: month.into(),
                },
            );
            async move { client.get_worker_month(req).await }
        },
        heard,
    )
    .await??;
    Ok(answer.into_inner())
}

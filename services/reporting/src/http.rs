//! The HTTP front door: the dashboard at `/` (its files are built into the
//! binary), the reports as JSON under `/api/v1/` (the gRPC messages, same
//! field names), open data as CSV, and the OpenAPI document.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pantau_platform::{DomainError, ServiceError};
use pantau_proto::reporting::v1 as api;
use serde::Deserialize;
use serde_json::json;
use tonic::metadata::MetadataMap;

use crate::core::Reporting;

type Shared = State<Arc<Reporting>>;

/// A refusal as JSON: `{"error": ..., "field": ...}` with the status the
/// gRPC code maps to.
pub struct Refusal(ServiceError);

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        Refusal(e)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, field) = match &self.0 {
            ServiceError::Domain(d) => (
                match d {
                    DomainError::Invalid { .. } => StatusCode::BAD_REQUEST,
                    DomainError::NotFound(_) => StatusCode::NOT_FOUND,
                    DomainError::PermissionDenied(_) => StatusCode::FORBIDDEN,
                    DomainError::AlreadyExists { .. } | DomainError::FailedPrecondition(_) => {
                        StatusCode::CONFLICT
                    }
                },
                d.field().map(str::to_owned),
            ),
            ServiceError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, None),
            ServiceError::Unavailable(_) | ServiceError::Aborted(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, None)
            }
            ServiceError::ResourceExhausted(_) => (StatusCode::TOO_MANY_REQUESTS, None),
            ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        let mut body = json!({ "error": self.0.to_string() });
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        (status, axum::Json(body)).into_response()
    }
}

type Answer = Result<Response, Refusal>;

fn json_of<T: serde::Serialize>(v: &T) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=10"),
    );
    r
}

fn csv_of(name: &str, header_row: &[&str], rows: Vec<Vec<String>>) -> Answer {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Refusal(ServiceError::Internal(format!("csv: {e}")));
    w.write_record(header_row).map_err(fail)?;
    for r in rows {
        w.write_record(&r).map_err(fail)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| Refusal(ServiceError::Internal(format!("csv: {e}"))))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Q {
    month: String,
    agency_id: String,
    unit_id: String,
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn figure_columns() -> Vec<&'static str> {
    vec![
        "workers",
        "suppressed",
        "workdays",
        "presence",
        "ceremony_scans",
        "activities_reported",
        "activities_approved",
        "scored",
        "scored_workers",
        "average_score",
        "points_per_worker",
        "sangat_baik",
        "baik",
        "cukup",
        "kurang",
        "kurang_sekali",
        "findings_raised",
        "findings_confirmed",
    ]
}

fn figure_cells(f: &api::Figures) -> Vec<String> {
    let c = f.categories;
    let cat = |g: fn(&api::CategoryCounts) -> u32| {
        c.as_ref().map(|c| g(c).to_string()).unwrap_or_default()
    };
    vec![
        f.workers.to_string(),
        f.suppressed.to_string(),
        f.workdays.to_string(),
        opt(f.presence),
        f.ceremony_scans.to_string(),
        f.activities_reported.to_string(),
        f.activities_approved.to_string(),
        f.scored.to_string(),
        f.scored_workers.to_string(),
        opt(f.average_score),
        opt(f.points_per_worker),
        cat(|c| c.sangat_baik),
        cat(|c| c.baik),
        cat(|c| c.cukup),
        cat(|c| c.kurang),
        cat(|c| c.kurang_sekali),
        f.findings_raised.to_string(),
        f.findings_confirmed.to_string(),
    ]
}

async fn months(State(s): Shared) -> Answer {
    Ok(json_of(&s.reports.months().await?))
}

async fn league(State(s): Shared, Query(q): Query<Q>) -> Answer {
    Ok(json_of(&s.reports.league(&q.month).await?))
}

async fn league_csv(State(s): Shared, Query(q): Query<Q>) -> Answer {
    let l = s.reports.league(&q.month).await?;
    let mut head = vec!["month", "rank", "agency_id", "code", "name"];
    head.extend(figure_columns());
    let rows = l
        .agencies
        .iter()
        .map(|r| {
            let a = r.agency.clone().unwrap_or_default();
            let mut row = vec![
                l.month.clone(),
                r.rank.to_string(),
                a.agency_id,
                a.code,
                a.name,
            ];
            row.extend(figure_cells(&r.figures.unwrap_or_default()));
            row
        })
        .collect();
    csv_of(&format!("pantau-league-{}.csv", l.month), &head, rows)
}

async fn agency_month(State(s): Shared, Path(id): Path<String>, Query(q): Query<Q>) -> Answer {
    Ok(json_of(&s.reports.agency_month(&id, &q.month).await?))
}

async fn days_csv(State(s): Shared, Path(id): Path<String>, Query(q): Query<Q>) -> Answer {
    let a = s.reports.agency_month(&id, &q.month).await?;
    let rows = a
        .days
        .iter()
        .map(|d| {
            vec![
                d.date.clone(),
                d.employed.to_string(),
                d.on_leave.to_string(),
                d.present.to_string(),
            ]
        })
        .collect();
    csv_of(
        &format!("pantau-presence-{}.csv", a.month),
        &["date", "employed", "on_leave", "present"],
        rows,
    )
}

async fn activities_csv(State(s): Shared, Path(id): Path<String>, Query(q): Query<Q>) -> Answer {
    let a = s.reports.agency_month(&id, &q.month).await?;
    let rows = a
        .activities
        .iter()
        .map(|c| {
            vec![
                c.code.clone(),
                c.reported.to_string(),
                c.approved.to_string(),
                c.rejected.to_string(),
            ]
        })
        .collect();
    csv_of(
        &format!("pantau-activities-{}.csv", a.month),
        &["code", "reported", "approved", "rejected"],
        rows,
    )
}

async fn map(State(s): Shared, Query(q): Query<Q>) -> Answer {
    Ok(json_of(&s.reports.map(&q.month, &q.agency_id).await?))
}

async fn map_csv(State(s): Shared, Query(q): Query<Q>) -> Answer {
    let m = s.reports.map(&q.month, &q.agency_id).await?;
    let rows = m
        .cells
        .iter()
        .map(|c| {
            vec![
                c.latitude.to_string(),
                c.longitude.to_string(),
                c.workers.to_string(),
                c.check_ins.to_string(),
            ]
        })
        .collect();
    csv_of(
        &format!("pantau-map-{}.csv", m.month),
        &["latitude", "longitude", "workers", "check_ins"],
        rows,
    )
}

async fn trends(State(s): Shared, Query(q): Query<Q>) -> Answer {
    Ok(json_of(&s.reports.trends(&q.agency_id).await?))
}

async fn trends_csv(State(s): Shared, Query(q): Query<Q>) -> Answer {
    let t = s.reports.trends(&q.agency_id).await?;
    let mut head = vec!["month"];
    head.extend(figure_columns());
    let rows = t
        .months
        .iter()
        .map(|m| {
            let mut row = vec![m.month.clone()];
            row.extend(figure_cells(&m.figures.unwrap_or_default()));
            row
        })
        .collect();
    csv_of("pantau-trends.csv", &head, rows)
}

async fn leader(
    s: &Reporting,
    headers: &HeaderMap,
) -> Result<pantau_platform::authz::Principal, Refusal> {
    Ok(s.principal(&MetadataMap::from_headers(headers.clone()))
        .await?)
}

async fn units(
    State(s): Shared,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    h: HeaderMap,
) -> Answer {
    let who = leader(&s, &h).await?;
    let r = s.reports.units(&who, &id, &q.month).await?;
    Ok(axum::Json(r).into_response())
}

async fn workers(
    State(s): Shared,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    h: HeaderMap,
) -> Answer {
    let who = leader(&s, &h).await?;
    let r = s.reports.workers(&who, &id, &q.month, &q.unit_id).await?;
    Ok(axum::Json(r).into_response())
}

async fn positions(State(s): Shared, Path(id): Path<String>, h: HeaderMap) -> Answer {
    let who = leader(&s, &h).await?;
    let r = s.reports.positions(&who, &id).await?;
    Ok(axum::Json(r).into_response())
}

async fn config(State(s): Shared) -> Response {
    json_of(&json!({ "tile_url": s.tile_url, "tile_attribution": s.tile_attribution }))
}

/// Each projection's stream, its last sequence and what has been applied.
async fn status(State(s): Shared) -> Response {
    let streams: Vec<_> = s
        .progress()
        .await
        .into_iter()
        .map(
            |(stream, last, applied)| json!({ "stream": stream, "last": last, "applied": applied }),
        )
        .collect();
    axum::Json(json!({ "streams": streams })).into_response()
}

async fn fallback() -> Refusal {
    Refusal(ServiceError::Domain(DomainError::NotFound(
        "no such page; the API is under /api/v1/ (see /api/openapi.yaml)".into(),
    )))
}

pub fn router(reporting: Arc<Reporting>) -> Router {
    Router::new()
        .merge(crate::web::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/config", get(config))
        .route("/api/v1/status", get(status))
        .route("/api/v1/months", get(months))
        .route("/api/v1/league", get(league))
        .route("/api/v1/league.csv", get(league_csv))
        .route("/api/v1/map", get(map))
        .route("/api/v1/map.csv", get(map_csv))
        .route("/api/v1/trends", get(trends))
        .route("/api/v1/trends.csv", get(trends_csv))
        .route("/api/v1/agencies/{id}", get(agency_month))
        .route("/api/v1/agencies/{id}/days.csv", get(days_csv))
        .route("/api/v1/agencies/{id}/activities.csv", get(activities_csv))
        .route("/api/v1/agencies/{id}/units", get(units))
        .route("/api/v1/agencies/{id}/workers", get(workers))
        .route("/api/v1/agencies/{id}/positions", get(positions))
        .fallback(fallback)
        .with_state(reporting)
}

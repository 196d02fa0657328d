//! The figures, read from the five projections' schemas. Everything is
//! computed per group (the province, each agency, or each unit of one
//! agency) in a handful of grouped statements; [`crate::privacy`] decides
//! what of it a public caller sees.

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate, Utc};
use pantau_platform::time::Month;
use pantau_proto::reporting::v1 as api;
use sqlx::{AssertSqlSafe, PgPool, Row};

/// What the figures are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// One group, keyed "".
    All,
    Agency,
    Unit,
}

impl By {
    /// The grouping expression over a table aliased `t` with agency_id and
    /// unit_id columns.
    fn key(self) -> &'static str {
        match self {
            By::All => "''::text",
            By::Agency => "t.agency_id",
            By::Unit => "t.unit_id",
        }
    }
}

/// The last day whose attendance is complete: yesterday in the province's
/// westernmost zone (WIB, UTC+7), so every zone's yesterday has ended.
pub fn last_complete_day() -> NaiveDate {
    let wib = Utc::now()
        .with_timezone(&chrono_tz::Asia::Jakarta)
        .date_naive();
    wib - Duration::days(1)
}

/// Every figure of `month` for the groups of `by` among `agencies` (None:
/// every agency), none withheld.
pub async fn figures(
    pool: &PgPool,
    month: Month,
    agencies: Option<&[String]>,
    by: By,
) -> Result<BTreeMap<String, api::Figures>, sqlx::Error> {
    let first = month.first_day();
    let last = month.last_day();
    let through = last.min(last_complete_day());
    let m = month.to_string();
    let filter = agencies.map(<[String]>::to_vec);
    let key = by.key();
    let mut out: BTreeMap<String, api::Figures> = BTreeMap::new();

    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key} AS g, count(DISTINCT t.worker_id) AS n FROM reporting_identity.stints t
         WHERE t.from_day <= $1 AND (t.until_day IS NULL OR t.until_day > $2)
           AND ($3::text[] IS NULL OR t.agency_id = ANY($3))
         GROUP BY 1"
    )))
    .bind(last)
    .bind(first)
    .bind(&filter)
    .fetch_all(pool)
    .await?;
    for r in rows {
        out.entry(r.get("g")).or_default().workers = to_u32(r.get::<i64, _>("n"));
    }

    for (g, days) in presence_days(pool, first, through, filter.as_deref(), by).await? {
        let f = out.entry(g).or_default();
        let shares: Vec<f64> = days
            .iter()
            .filter(|d| d.employed > d.on_leave)
            .map(|d| f64::from(d.present) / f64::from(d.employed - d.on_leave))
            .collect();
        f.workdays = u32::try_from(shares.len()).unwrap_or(u32::MAX);
        if !shares.is_empty() {
            #[allow(clippy::cast_precision_loss)]
            let mean = shares.iter().sum::<f64>() / shares.len() as f64;
            f.presence = Some(round(mean, 4));
        }
    }

    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key} AS g, sum(t.scans)::bigint AS n FROM reporting_attendance.ceremony_scans t
         WHERE t.month = $1 AND ($2::text[] IS NULL OR t.agency_id = ANY($2)) GROUP BY 1"
    )))
    .bind(&m)
    .bind(&filter)
    .fetch_all(pool)
    .await?;
    for r in rows {
        out.entry(r.get("g")).or_default().ceremony_scans = to_u32(r.get("n"));
    }

    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key} AS g, sum(t.n)::bigint AS reported,
                coalesce(sum(t.n) FILTER (WHERE t.state = 1), 0)::bigint AS approved
         FROM reporting_activity.counts t
         WHERE t.month = $1 AND ($2::text[] IS NULL OR t.agency_id = ANY($2)) GROUP BY 1"
    )))
    .bind(&m)
    .bind(&filter)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let f = out.entry(r.get("g")).or_default();
        f.activities_reported = to_u32(r.get("reported"));
        f.activities_approved = to_u32(r.get("approved"));
    }

    // Closed months: the published revision's scores.
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key} AS g, count(*) AS n, avg(t.score) AS score, avg(t.points) AS points,
                count(*) FILTER (WHERE t.category = 'sangat_baik') AS sangat_baik,
                count(*) FILTER (WHERE t.category = 'baik') AS baik,
                count(*) FILTER (WHERE t.category = 'cukup') AS cukup,
                count(*) FILTER (WHERE t.category = 'kurang') AS kurang,
                count(*) FILTER (WHERE t.category = 'kurang_sekali') AS kurang_sekali
         FROM reporting_scoring.scores t
         JOIN reporting_scoring.months m
           ON m.agency_id = t.agency_id AND m.month = t.month AND m.revision = t.revision
         WHERE t.month = $1 AND ($2::text[] IS NULL OR t.agency_id = ANY($2)) GROUP BY 1"
    )))
    .bind(&m)
    .bind(&filter)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let f = out.entry(r.get("g")).or_default();
        f.scored = true;
        f.scored_workers = to_u32(r.get("n"));
        f.average_score = r.get::<Option<f64>, _>("score").map(|x| round(x, 2));
        f.points_per_worker = r.get::<Option<f64>, _>("points").map(|x| round(x, 2));
        f.categories = Some(api::CategoryCounts {
            sangat_baik: to_u32(r.get("sangat_baik")),
            baik: to_u32(r.get("baik")),
            cukup: to_u32(r.get("cukup")),
            kurang: to_u32(r.get("kurang")),
            kurang_sekali: to_u32(r.get("kurang_sekali")),
        });
    }
    // A closed month with no scored worker is still closed.
    let closed: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT DISTINCT {} FROM reporting_scoring.months m
         {} WHERE m.month = $1 AND ($2::text[] IS NULL OR m.agency_id = ANY($2))",
        match by {
            By::All => "''::text",
            By::Agency => "m.agency_id",
            By::Unit => "t.unit_id",
        },
        if by == By::Unit {
            "JOIN reporting_identity.units t ON t.agency_id = m.agency_id"
        } else {
            ""
        }
    )))
    .bind(&m)
    .bind(&filter)
    .fetch_all(pool)
    .await?;
    for g in closed {
        out.entry(g).or_default().scored = true;
    }

    // Findings belong to an agency; for units, to the subject's unit.
    let unit_of_subject = "LEFT JOIN LATERAL (
             SELECT s.unit_id FROM reporting_identity.stints s
             WHERE s.worker_id = f.subject_id AND s.agency_id = f.agency_id
             ORDER BY s.n DESC LIMIT 1) t ON true";
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} AS g, count(*) AS raised,
                count(*) FILTER (WHERE f.resolution IN (1, 2)) AS confirmed
         FROM reporting_fraud.findings f {}
         WHERE f.month = $1 AND ($2::text[] IS NULL OR f.agency_id = ANY($2)) GROUP BY 1",
        match by {
            By::All => "''::text",
            By::Agency => "f.agency_id",
            By::Unit => "coalesce(t.unit_id, '')",
        },
        if by == By::Unit { unit_of_subject } else { "" }
    )))
    .bind(&m)
    .bind(&filter)
    .fetch_all(pool)
    .await?;
    for r in rows {
        let f = out.entry(r.get("g")).or_default();
        f.findings_raised = to_u32(r.get("raised"));
        f.findings_confirmed = to_u32(r.get("confirmed"));
    }
    if by == By::All {
        out.entry(String::new()).or_default();
    }
    Ok(out)
}

/// Employed and present workers on each workday from `first` through
/// `through`, per group: a worker counts on a day their stint covers, in
/// the group of that stint, on the weekdays of their agency's schedule
/// (Monday to Friday unless it set others). Approved leave is joined as a
/// set of worker days, not looked up per employed day: a lookup per row
/// grew with workers × days × leaves (2.2 s at 3,000 workers).
pub async fn presence_days(
    pool: &PgPool,
    first: NaiveDate,
    through: NaiveDate,
    agencies: Option<&[String]>,
    by: By,
) -> Result<HashMap<String, Vec<api::DayPresence>>, sqlx::Error> {
    let mut out: HashMap<String, Vec<api::DayPresence>> = HashMap::new();
    if through < first {
        return Ok(out);
    }
    let key = by.key();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "WITH days AS (
             SELECT d::date AS day FROM generate_series($1::date, $2::date, interval '1 day') d
         ), leave_days AS (
             SELECT DISTINCT l.worker_id, d.day
             FROM reporting_attendance.leaves l
             JOIN days d ON l.first_day <= d.day AND l.last_day >= d.day
             WHERE l.approved
         ), employed AS (
             SELECT {key} AS g, d.day, t.worker_id, ld.worker_id IS NOT NULL AS on_leave
             FROM reporting_identity.stints t
             JOIN days d ON t.from_day <= d.day AND (t.until_day IS NULL OR t.until_day > d.day)
             LEFT JOIN reporting_attendance.schedules sc ON sc.agency_id = t.agency_id
             LEFT JOIN leave_days ld ON ld.worker_id = t.worker_id AND ld.day = d.day
             WHERE ($3::text[] IS NULL OR t.agency_id = ANY($3))
               AND extract(isodow FROM d.day)::int = ANY(coalesce(sc.work_days, ARRAY[1, 2, 3, 4, 5]))
         )
         SELECT e.g, e.day, count(*) AS employed, count(*) FILTER (WHERE e.on_leave) AS on_leave,
                count(p.worker_id) FILTER (WHERE NOT e.on_leave) AS present
         FROM employed e
         LEFT JOIN reporting_attendance.present_days p ON p.worker_id = e.worker_id AND p.day = e.day
         GROUP BY 1, 2 ORDER BY 1, 2"
    )))
    .bind(first)
    .bind(through)
    .bind(agencies.map(<[String]>::to_vec))
    .fetch_all(pool)
    .await?;
    for r in rows {
        out.entry(r.get("g")).or_default().push(api::DayPresence {
            date: r.get::<NaiveDate, _>("day").to_string(),
            employed: to_u32(r.get("employed")),
            present: to_u32(r.get("present")),
            on_leave: to_u32(r.get("on_leave")),
        });
    }
    Ok(out)
}

pub async fn agencies(pool: &PgPool) -> Result<Vec<api::Agency>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT agency_id, code, name, time_zone FROM reporting_identity.agencies ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| api::Agency {
            agency_id: r.get("agency_id"),
            code: r.get("code"),
            name: r.get("name"),
            time_zone: r.get("time_zone"),
        })
        .collect())
}

/// Months with any data, newest first.
pub async fn months(pool: &PgPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT m FROM (
             SELECT DISTINCT to_char(day, 'YYYY-MM') AS m FROM reporting_attendance.present_days
             UNION SELECT DISTINCT month FROM reporting_activity.counts
             UNION SELECT DISTINCT month FROM reporting_scoring.months
             UNION SELECT DISTINCT month FROM reporting_fraud.findings
         ) x ORDER BY m DESC",
    )
    .fetch_all(pool)
    .await
}

pub async fn activity_counts(
    pool: &PgPool,
    month: Month,
    agency_id: &str,
) -> Result<Vec<api::ActivityCount>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT code, sum(n)::bigint AS reported,
                coalesce(sum(n) FILTER (WHERE state = 1), 0)::bigint AS approved,
                coalesce(sum(n) FILTER (WHERE state = 2), 0)::bigint AS rejected
         FROM reporting_activity.counts WHERE month = $1 AND agency_id = $2
         GROUP BY code HAVING sum(n) > 0 ORDER BY 2 DESC, code",
    )
    .bind(month.to_string())
    .bind(agency_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| api::ActivityCount {
            code: r.get("code"),
            reported: to_u32(r.get("reported")),
            approved: to_u32(r.get("approved")),
            rejected: to_u32(r.get("rejected")),
        })
        .collect())
}

/// A cell of one agency (cells of several agencies in one place are
/// separate rows): distinct workers and check-ins.
pub struct Cell {
    pub lat: i32,
    pub lon: i32,
    pub workers: u32,
    pub check_ins: u32,
}

pub async fn cells(
    pool: &PgPool,
    month: Month,
    agency_id: Option<&str>,
) -> Result<Vec<Cell>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT agency_id, cell_lat, cell_lon, count(*) AS workers, sum(check_ins)::bigint AS check_ins
         FROM reporting_attendance.cells
         WHERE month = $1 AND ($2::text IS NULL OR agency_id = $2)
         GROUP BY 1, 2, 3 ORDER BY 2, 3, 1",
    )
    .bind(month.to_string())
    .bind(agency_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Cell {
            lat: r.get("cell_lat"),
            lon: r.get("cell_lon"),
            workers: to_u32(r.get("workers")),
            check_ins: to_u32(r.get("check_ins")),
        })
        .collect())
}

pub async fn units(
    pool: &PgPool,
    agency_id: &str,
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT unit_id, code, name FROM reporting_identity.units WHERE agency_id = $1 ORDER BY name",
    )
    .bind(agency_id)
    .fetch_all(pool)
    .await
}

/// The named workers of an agency's month (leaders only).
pub async fn workers(
    pool: &PgPool,
    month: Month,
    agency_id: &str,
    unit_id: Option<&str>,
) -> Result<Vec<api::WorkerRow>, sqlx::Error> {
    let rows = sqlx::query(
        "WITH w AS (
             SELECT DISTINCT ON (s.worker_id) s.worker_id, s.unit_id
             FROM reporting_identity.stints s
             WHERE s.agency_id = $2 AND s.from_day <= $4 AND (s.until_day IS NULL OR s.until_day > $3)
               AND ($5::text IS NULL OR s.unit_id = $5)
             ORDER BY s.worker_id, s.n DESC
         )
         SELECT w.worker_id, w.unit_id, coalesce(i.name, '') AS name,
                coalesce(i.employee_id, '') AS employee_id, coalesce(i.kind, '') AS kind,
                (SELECT count(*) FROM reporting_attendance.present_days p
                  WHERE p.worker_id = w.worker_id AND p.day BETWEEN $3 AND $4) AS days_present,
                (SELECT count(*) FROM reporting_activity.reports r
                  WHERE r.agency_id = $2 AND r.month = $1 AND r.worker_id = w.worker_id
                    AND r.state = 1) AS approved,
                sc.score, coalesce(sc.category, '') AS category,
                (SELECT count(*) FROM reporting_fraud.findings f
                  WHERE f.subject_id = w.worker_id AND f.month = $1 AND f.resolution = 0) AS open
         FROM w
         LEFT JOIN reporting_identity.workers i ON i.worker_id = w.worker_id
         LEFT JOIN reporting_scoring.months m ON m.agency_id = $2 AND m.month = $1
         LEFT JOIN reporting_scoring.scores sc ON sc.agency_id = $2 AND sc.month = $1
              AND sc.revision = m.revision AND sc.worker_id = w.worker_id
         ORDER BY name, w.worker_id",
    )
    .bind(month.to_string())
    .bind(agency_id)
    .bind(month.first_day())
    .bind(month.last_day())
    .bind(unit_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| api::WorkerRow {
            worker_id: r.get("worker_id"),
            name: r.get("name"),
            employee_id: r.get("employee_id"),
            kind: r.get("kind"),
            unit_id: r.get("unit_id"),
            days_present: to_u32(r.get("days_present")),
            activities_approved: to_u32(r.get("approved")),
            score: r.get::<Option<f64>, _>("score").map(|x| round(x, 2)),
            category: r.get("category"),
            findings_open: to_u32(r.get("open")),
        })
        .collect())
}

/// Where each of an agency's workers last was on `day` (leaders only).
pub async fn positions(
    pool: &PgPool,
    agency_id: &str,
    day: NaiveDate,
) -> Result<Vec<api::Position>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT l.worker_id, coalesce(w.name, '') AS name, l.unit_id, l.latitude, l.longitude,
                l.at, l.inside, l.site_id
         FROM reporting_attendance.last_positions l
         LEFT JOIN reporting_identity.workers w ON w.worker_id = l.worker_id
         WHERE l.agency_id = $1 AND l.local_date = $2 ORDER BY name, l.worker_id",
    )
    .bind(agency_id)
    .bind(day)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| api::Position {
            worker_id: r.get("worker_id"),
            name: r.get("name"),
            unit_id: r.get("unit_id"),
            latitude: r.get("latitude"),
            longitude: r.get("longitude"),
            at: r
                .get::<chrono::DateTime<Utc>, _>("at")
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            inside: r.get("inside"),
            site_id: r.get("site_id"),
        })
        .collect())
}

fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

//! `pantau scores ...`: an agency's monthly scores from the scoring service.
//! This module reads months and closes them; `rebuild` recomputes closed
//! ones. Agencies are named by id or code and units are shown by code,
//! both looked up in identity.

use anyhow::Context;
use pantau_proto::events::v1::Category;
use pantau_proto::identity::v1::Agency;
use pantau_proto::scoring::v1::{
    CloseMonthRequest, GetAgencyMonthRequest, GetWorkloadDisparityRequest,
};

use crate::cli::{self, AgencyMonth};
use crate::client::{Client, Scoring, Session, rpc_error};
use crate::{list, rebuild, table};

/// The two services a `scores` command talks to.
pub struct Scores {
    pub identity: Client,
    pub scoring: Scoring,
}

impl Scores {
    /// The agency whose id or code is `key`.
    pub async fn agency(&mut self, key: &str) -> anyhow::Result<Agency> {
        let agencies = list::all_agencies(&mut self.identity).await?;
        list::find_agency(&agencies, key).cloned()
    }
}

pub async fn run(session: Session, url: &str, command: cli::Scores) -> anyhow::Result<()> {
    let scoring = session.scoring(url).await?;
    let mut s = Scores {
        identity: session.identity,
        scoring,
    };
    match command {
        cli::Scores::Rebuild {
            month,
            accept,
            request_id,
        } => rebuild::rebuild(&mut s, &month, accept, request_id).await,
        cli::Scores::Accept {
            rebuild_id,
            request_id,
        } => rebuild::accept(&mut s.scoring, &rebuild_id, request_id).await,
        cli::Scores::Discard { rebuild_id } => rebuild::discard(&mut s.scoring, &rebuild_id).await,
        cli::Scores::Close { month, request_id } => close(&mut s, &month, request_id).await,
        cli::Scores::Month { month } => agency_month(&mut s, &month).await,
        cli::Scores::Disparity { month } => disparity(&mut s, &month).await,
    }
}

/// `given`, or a fresh UUID.
pub fn request_id(given: Option<String>) -> String {
    given.unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// A `--month` value: `YYYY-MM`, checked here so a typo fails before any call.
pub fn parse_month(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    let ok = b.len() == 7
        && b[4] == b'-'
        && digits(&b[..4])
        && digits(&b[5..])
        && (1..=12).contains(&((b[5] - b'0') * 10 + (b[6] - b'0')));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not a month: use YYYY-MM, e.g. 2026-10"))
    }
}

/// A category as the decrees name it.
pub fn category(value: i32) -> &'static str {
    match Category::try_from(value) {
        Ok(Category::SangatBaik) => "sangat baik",
        Ok(Category::Baik) => "baik",
        Ok(Category::Cukup) => "cukup",
        Ok(Category::Kurang) => "kurang",
        Ok(Category::KurangSekali) => "kurang sekali",
        Ok(Category::Unspecified) | Err(_) => "-",
    }
}

/// Points and scores are kept in hundredths.
pub fn number(v: f64) -> String {
    format!("{v:.2}")
}

/// A unit of `agency` by its code; its id when identity does not know it.
fn unit_name(agency: &Agency, unit_id: &str) -> String {
    if unit_id.is_empty() {
        return "(no unit)".to_owned();
    }
    agency
        .units
        .iter()
        .find(|u| u.unit_id == unit_id)
        .map_or_else(|| unit_id.to_owned(), |u| u.code.clone())
}

pub async fn close(
    s: &mut Scores,
    args: &AgencyMonth,
    request_id: Option<String>,
) -> anyhow::Result<()> {
    let agency = s.agency(&args.agency).await?;
    let closed = s
        .scoring
        .close_month(CloseMonthRequest {
            request_id: self::request_id(request_id),
            agency_id: agency.agency_id.clone(),
            month: args.month.clone(),
        })
        .await
        .map_err(|e| rpc_error(&format!("closing {} of {}", args.month, agency.code), &e))?
        .into_inner();
    let noun = if closed.workers == 1 {
        "worker"
    } else {
        "workers"
    };
    println!(
        "closed {} of {}: revision {}, {} {noun} finalized",
        args.month, agency.code, closed.revision, closed.workers
    );
    Ok(())
}

async fn agency_month(s: &mut Scores, args: &AgencyMonth) -> anyhow::Result<()> {
    let agency = s.agency(&args.agency).await?;
    let m = s
        .scoring
        .get_agency_month(GetAgencyMonthRequest {
            agency_id: agency.agency_id.clone(),
            month: args.month.clone(),
        })
        .await
        .map_err(|e| rpc_error(&format!("reading {} of {}", args.month, agency.code), &e))?
        .into_inner();
    let status = match (m.closed, m.finalized) {
        (true, true) => format!("closed, revision {} (finalized figures)", m.revision),
        (true, false) => format!("closed, revision {} (live figures)", m.revision),
        (false, _) => "open (live figures)".to_owned(),
    };
    println!("agency:         {} ({})", agency.code, agency.name);
    println!("month:          {}", args.month);
    println!("status:         {status}");
    println!("workers:        {}", m.workers);
    println!("average points: {}", number(m.average_points));
    println!("average score:  {}", number(m.average_score));
    println!();
    let rows: Vec<Vec<String>> = m
        .categories
        .iter()
        .map(|c| vec![category(c.category).to_owned(), c.workers.to_string()])
        .collect();
    table::print(&["category", "workers"], &rows)?;
    println!();
    let rows: Vec<Vec<String>> = m
        .units
        .iter()
        .map(|u| {
            vec![
                unit_name(&agency, &u.unit_id),
                u.workers.to_string(),
                number(u.points_per_worker),
                number(u.average_score),
            ]
        })
        .collect();
    table::print(
        &["unit", "workers", "points per worker", "average score"],
        &rows,
    )
    .context("failed to write the report")
}

async fn disparity(s: &mut Scores, args: &AgencyMonth) -> anyhow::Result<()> {
    let agency = s.agency(&args.agency).await?;
    let d = s
        .scoring
        .get_workload_disparity(GetWorkloadDisparityRequest {
            agency_id: agency.agency_id.clone(),
            month: args.month.clone(),
        })
        .await
        .map_err(|e| {
            let what = format!(
                "reading the workload disparity of {} of {}",
                args.month, agency.code
            );
            rpc_error(&what, &e)
        })?
        .into_inner();
    let rows: Vec<Vec<String>> = d
        .units
        .iter()
        .map(|u| {
            vec![
                unit_name(&agency, &u.unit_id),
                u.workers.to_string(),
                number(u.points_per_worker),
                number(u.hours_per_worker),
                number(u.min_points),
                number(u.max_points),
            ]
        })
        .collect();
    table::print(
        &[
            "unit",
            "workers",
            "points per worker",
            "hours per worker",
            "min points",
            "max points",
        ],
        &rows,
    )?;
    // The service sends 0 when the lowest unit has nothing to divide by.
    let ratio = |r: f64| {
        if r > 0.0 { number(r) } else { "n/a".to_owned() }
    };
    println!();
    println!(
        "points ratio: {} (highest unit's points per worker over the lowest's)",
        ratio(d.points_ratio)
    );
    println!(
        "hours ratio:  {} (the same for hours reported)",
        ratio(d.hours_ratio)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_year_dash_month() {
        assert_eq!(parse_month("2026-10").as_deref(), Ok("2026-10"));
        for bad in [
            "2026-13", "2026-00", "2026-1", "26-10", "2026/10", "2026-1é", "",
        ] {
            assert!(parse_month(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn categories_read_as_the_decrees_name_them() {
        assert_eq!(category(Category::SangatBaik as i32), "sangat baik");
        assert_eq!(category(Category::KurangSekali as i32), "kurang sekali");
        assert_eq!(category(0), "-");
        assert_eq!(category(42), "-");
    }
}

//! The reports both front doors serve (gRPC and HTTP): the public figures,
//! with what must not leave withheld, and the leaders' drill-down.
//!
//! Privacy rules of every public answer:
//! - no worker's id, name, employee id, NIK, phone, address or position:
//!   the public answers are built from counts and averages only;
//! - a group of fewer than [`MIN_WORKERS`] workers is withheld (its figures
//!   zeroed, `suppressed` set), and so is a map cell;
//! - totals are built from what is published, so no withheld figure can be
//!   recovered by subtracting published ones (the province's figures are
//!   those of its published agencies; the province map adds up the
//!   agencies' published cells).

use std::collections::BTreeMap;

use chrono::Utc;
use pantau_platform::authz::Principal;
use pantau_platform::time::Month;
use pantau_platform::{DomainError, ServiceError};
use pantau_proto::reporting::v1 as api;
use sqlx::PgPool;

use crate::cache::Cache;
use crate::projections::{cell_centre, cell_size_m};
use crate::queries::{self, By};

/// The smallest group a public answer shows.
pub const MIN_WORKERS: u32 = 5;

pub struct Reports {
    pool: PgPool,
    agencies: Cache<Vec<api::Agency>>,
    months: Cache<api::ListMonthsResponse>,
    league: Cache<api::GetLeagueResponse>,
    agency_month: Cache<api::GetAgencyMonthResponse>,
    map: Cache<api::GetMapResponse>,
    trends: Cache<api::GetTrendsResponse>,
}

/// A public group's figures as they may be shown.
fn published(f: api::Figures) -> api::Figures {
    if f.workers >= MIN_WORKERS {
        return f;
    }
    api::Figures {
        workers: f.workers,
        suppressed: true,
        ..Default::default()
    }
}

fn parse_month(s: &str) -> Result<Month, ServiceError> {
    Ok(Month::parse(s.trim(), "month")?)
}

fn current_month() -> Month {
    Month::of(
        Utc::now()
            .with_timezone(&chrono_tz::Asia::Jakarta)
            .date_naive(),
    )
}

/// Ranked: published agencies by average score, then presence, then name;
/// withheld ones last.
fn rank(rows: &mut [api::AgencyRow]) {
    let key = |r: &api::AgencyRow| {
        let f = r.figures.unwrap_or_default();
        (
            f.suppressed,
            -f.average_score.unwrap_or(-1.0),
            -f.presence.unwrap_or(-1.0),
            r.agency
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_default(),
        )
    };
    rows.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(ka.3.cmp(&kb.3))
    });
    for (i, r) in rows.iter_mut().enumerate() {
        r.rank = u32::try_from(i + 1).unwrap_or(u32::MAX);
    }
}

impl Reports {
    pub fn new(pool: PgPool, ttl: std::time::Duration) -> Reports {
        Reports {
            pool,
            agencies: Cache::new(ttl),
            months: Cache::new(ttl),
            league: Cache::new(ttl),
            agency_month: Cache::new(ttl),
            map: Cache::new(ttl),
            trends: Cache::new(ttl),
        }
    }

    pub async fn months(&self) -> Result<api::ListMonthsResponse, ServiceError> {
        self.months
            .get(String::new(), || async {
                Ok(api::ListMonthsResponse {
                    months: queries::months(&self.pool).await?,
                })
            })
            .await
    }

    /// `month`, or the newest with data (this month when there is none).
    async fn month_or_latest(&self, month: &str) -> Result<Month, ServiceError> {
        if !month.trim().is_empty() {
            return parse_month(month);
        }
        match self.months().await?.months.first() {
            Some(m) => parse_month(m),
            None => Ok(current_month()),
        }
    }

    async fn known_agency(&self, agency_id: &str) -> Result<api::Agency, ServiceError> {
        if agency_id.trim().is_empty() {
            return Err(DomainError::invalid("agency_id", "is required").into());
        }
        self.agencies()
            .await?
            .into_iter()
            .find(|a| a.agency_id == agency_id)
            .ok_or_else(|| DomainError::NotFound(format!("agency {agency_id}")).into())
    }

    /// Every agency, by name (asked on every request naming one: cached).
    async fn agencies(&self) -> Result<Vec<api::Agency>, ServiceError> {
        self.agencies
            .get(String::new(), || async {
                Ok(queries::agencies(&self.pool).await?)
            })
            .await
    }

    /// Every agency's published figures and the province's, over the
    /// published agencies only.
    async fn public_month(
        &self,
        month: Month,
    ) -> Result<(api::Figures, Vec<api::AgencyRow>), ServiceError> {
        let agencies = self.agencies().await?;
        let mut by_agency = queries::figures(&self.pool, month, None, By::Agency).await?;
        let mut rows: Vec<api::AgencyRow> = agencies
            .into_iter()
            .map(|a| api::AgencyRow {
                figures: Some(published(
                    by_agency.remove(&a.agency_id).unwrap_or_default(),
                )),
                agency: Some(a),
                rank: 0,
            })
            .collect();
        rank(&mut rows);
        let shown: Vec<String> = rows
            .iter()
            .filter(|r| r.figures.as_ref().is_some_and(|f| !f.suppressed))
            .filter_map(|r| r.agency.as_ref().map(|a| a.agency_id.clone()))
            .collect();
        let province = if shown.is_empty() {
            api::Figures {
                suppressed: true,
                ..Default::default()
            }
        } else {
            published(
                queries::figures(&self.pool, month, Some(&shown), By::All)
                    .await?
                    .remove("")
                    .unwrap_or_default(),
            )
        };
        Ok((province, rows))
    }

    pub async fn league(&self, month: &str) -> Result<api::GetLeagueResponse, ServiceError> {
        let month = self.month_or_latest(month).await?;
        self.league
            .get(month.to_string(), || async {
                let (province, agencies) = self.public_month(month).await?;
                Ok(api::GetLeagueResponse {
                    month: month.to_string(),
                    province: Some(province),
                    agencies,
                })
            })
            .await
    }

    pub async fn agency_month(
        &self,
        agency_id: &str,
        month: &str,
    ) -> Result<api::GetAgencyMonthResponse, ServiceError> {
        let agency = self.known_agency(agency_id).await?;
        let month = self.month_or_latest(month).await?;
        self.agency_month
            .get(format!("{agency_id}/{month}"), || async {
                let league = self.league(&month.to_string()).await?;
                let row = league
                    .agencies
                    .into_iter()
                    .find(|r| {
                        r.agency
                            .as_ref()
                            .is_some_and(|a| a.agency_id == agency.agency_id)
                    })
                    .unwrap_or(api::AgencyRow {
                        agency: Some(agency.clone()),
                        figures: Some(published(api::Figures::default())),
                        rank: 0,
                    });
                let withheld = row.figures.as_ref().is_none_or(|f| f.suppressed);
                let (days, activities) = if withheld {
                    (Vec::new(), Vec::new())
                } else {
                    let through = month.last_day().min(queries::last_complete_day());
                    let one = [agency.agency_id.clone()];
                    let mut days = queries::presence_days(
                        &self.pool,
                        month.first_day(),
                        through,
                        Some(&one),
                        By::Agency,
                    )
                    .await?;
                    (
                        days.remove(&agency.agency_id).unwrap_or_default(),
                        queries::activity_counts(&self.pool, month, &agency.agency_id).await?,
                    )
                };
                Ok(api::GetAgencyMonthResponse {
                    month: month.to_string(),
                    agency: Some(row),
                    days,
                    activities,
                })
            })
            .await
    }

    pub async fn map(
        &self,
        month: &str,
        agency_id: &str,
    ) -> Result<api::GetMapResponse, ServiceError> {
        if !agency_id.is_empty() {
            self.known_agency(agency_id).await?;
        }
        let month = self.month_or_latest(month).await?;
        self.map
            .get(format!("{agency_id}/{month}"), || async {
                let filter = (!agency_id.is_empty()).then_some(agency_id);
                let mut shown: BTreeMap<(i32, i32), (u32, u32)> = BTreeMap::new();
                let mut withheld = 0u32;
                // Each agency's cell on its own: a province cell is the sum
                // of the agencies' published cells, never more.
                for c in queries::cells(&self.pool, month, filter).await? {
                    if c.workers < MIN_WORKERS {
                        withheld += 1;
                        continue;
                    }
                    let e = shown.entry((c.lat, c.lon)).or_default();
                    e.0 += c.workers;
                    e.1 += c.check_ins;
                }
                Ok(api::GetMapResponse {
                    month: month.to_string(),
                    agency_id: agency_id.to_owned(),
                    cell_size_m: cell_size_m(),
                    min_workers: MIN_WORKERS,
                    cells: shown
                        .into_iter()
                        .map(|((lat, lon), (workers, check_ins))| api::MapCell {
                            latitude: cell_centre(lat),
                            longitude: cell_centre(lon),
                            workers,
                            check_ins,
                        })
                        .collect(),
                    withheld_cells: withheld,
                })
            })
            .await
    }

    pub async fn trends(&self, agency_id: &str) -> Result<api::GetTrendsResponse, ServiceError> {
        if !agency_id.is_empty() {
            self.known_agency(agency_id).await?;
        }
        self.trends
            .get(agency_id.to_owned(), || async {
                let mut months = Vec::new();
                for m in self.months().await?.months.iter().rev() {
                    let league = self.league(m).await?;
                    let figures = if agency_id.is_empty() {
                        league.province
                    } else {
                        league
                            .agencies
                            .into_iter()
                            .find(|r| r.agency.as_ref().is_some_and(|a| a.agency_id == agency_id))
                            .and_then(|r| r.figures)
                    };
                    months.push(api::MonthFigures {
                        month: m.clone(),
                        figures,
                    });
                }
                Ok(api::GetTrendsResponse {
                    agency_id: agency_id.to_owned(),
                    months,
                })
            })
            .await
    }

    /// Leaders: province admins, and an agency's own admins.
    fn leader_of(who: &Principal, agency_id: &str) -> Result<(), ServiceError> {
        Ok(who.must_manage(agency_id)?)
    }

    pub async fn units(
        &self,
        who: &Principal,
        agency_id: &str,
        month: &str,
    ) -> Result<api::ListUnitsResponse, ServiceError> {
        let agency = self.known_agency(agency_id).await?;
        Self::leader_of(who, &agency.agency_id)?;
        let month = self.month_or_latest(month).await?;
        let one = [agency.agency_id.clone()];
        let mut figures = queries::figures(&self.pool, month, Some(&one), By::Unit).await?;
        let units = queries::units(&self.pool, &agency.agency_id).await?;
        Ok(api::ListUnitsResponse {
            month: month.to_string(),
            units: units
                .into_iter()
                .map(|(unit_id, code, name)| api::UnitRow {
                    figures: Some(figures.remove(&unit_id).unwrap_or_default()),
                    unit_id,
                    code,
                    name,
                })
                .collect(),
        })
    }

    pub async fn workers(
        &self,
        who: &Principal,
        agency_id: &str,
        month: &str,
        unit_id: &str,
    ) -> Result<api::ListWorkersResponse, ServiceError> {
        let agency = self.known_agency(agency_id).await?;
        Self::leader_of(who, &agency.agency_id)?;
        let month = self.month_or_latest(month).await?;
        let unit = unit_id.trim();
        if !unit.is_empty()
            && !queries::units(&self.pool, &agency.agency_id)
                .await?
                .iter()
                .any(|u| u.0 == unit)
        {
            return Err(DomainError::NotFound(format!("unit {unit} of agency {agency_id}")).into());
        }
        Ok(api::ListWorkersResponse {
            month: month.to_string(),
            workers: queries::workers(
                &self.pool,
                month,
                &agency.agency_id,
                (!unit.is_empty()).then_some(unit),
            )
            .await?,
        })
    }

    pub async fn positions(
        &self,
        who: &Principal,
        agency_id: &str,
    ) -> Result<api::GetPositionsResponse, ServiceError> {
        let agency = self.known_agency(agency_id).await?;
        Self::leader_of(who, &agency.agency_id)?;
        let tz: chrono_tz::Tz = agency.time_zone.parse().unwrap_or(chrono_tz::Asia::Jakarta);
        let today = Utc::now().with_timezone(&tz).date_naive();
        Ok(api::GetPositionsResponse {
            date: today.to_string(),
            positions: queries::positions(&self.pool, &agency.agency_id, today).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, workers: u32, score: Option<f64>, presence: Option<f64>) -> api::AgencyRow {
        api::AgencyRow {
            agency: Some(api::Agency {
                name: name.into(),
                ..Default::default()
            }),
            figures: Some(published(api::Figures {
                workers,
                average_score: score,
                presence,
                findings_raised: 2,
                ..Default::default()
            })),
            rank: 0,
        }
    }

    #[test]
    fn fewer_than_five_workers_are_withheld_but_for_their_number() {
        let f = published(api::Figures {
            workers: 4,
            average_score: Some(77.0),
            findings_raised: 1,
            ..Default::default()
        });
        assert!(f.suppressed);
        assert_eq!(
            (f.workers, f.average_score, f.findings_raised),
            (4, None, 0)
        );
        let f = published(api::Figures {
            workers: 5,
            average_score: Some(77.0),
            ..Default::default()
        });
        assert!(!f.suppressed && f.average_score == Some(77.0));
    }

    #[test]
    fn the_league_ranks_by_score_then_presence_and_withheld_agencies_last() {
        let mut rows = vec![
            row("Tiny", 3, None, None),
            row("B", 10, Some(80.0), Some(0.9)),
            row("A", 10, Some(80.0), Some(0.95)),
            row("Open month", 10, None, Some(0.99)),
            row("Best", 10, Some(90.0), Some(0.5)),
        ];
        rank(&mut rows);
        let order: Vec<_> = rows
            .iter()
            .map(|r| (r.rank, r.agency.as_ref().unwrap().name.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                (1, "Best"),
                (2, "A"),
                (3, "B"),
                (4, "Open month"),
                (5, "Tiny")
            ]
        );
    }
}

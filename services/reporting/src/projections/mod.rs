//! The reporting read model: five projections, one per stream, each with
//! its own schema and checkpoint (exactly once, see `pantau-projection`).
//! They keep only what the reports need; personal data never enters
//! (identity's sealed fields are not even decrypted here), and a worker's
//! name is kept for leaders only, forgotten when the worker is erased.
//!
//! - `reporting_identity`: agencies, units, workers (kind, name, employee
//!   id) and employment stints (agency and unit from a day until a day);
//! - `reporting_attendance`: schedules, days present, check-ins counted on a
//!   ~500 m grid per worker and month, each worker's last position, ceremony
//!   scans by agency, unit and month;
//! - `reporting_activity`: reports (code and state) and counts by agency,
//!   unit, month, code and state;
//! - `reporting_scoring`: each month's published revision and the scores of
//!   every revision (adjusted in place);
//! - `reporting_fraud`: findings with their resolution.

pub mod activity;
pub mod attendance;
pub mod fraud;
pub mod identity;
pub mod scoring;

use chrono::{DateTime, NaiveDate, Utc};
use pantau_eventstore::RecordedEvent;
use pantau_projection::ProjectionError;
use pantau_proto::events::v1 as ev;

/// Cells per degree: 1/225° is about 494 m of latitude (and of longitude
/// near the equator, where the province is).
pub const CELLS_PER_DEGREE: f64 = 225.0;

/// A cell's edge in metres (a degree of the equator is 40,075 km / 360).
pub fn cell_size_m() -> f64 {
    (40_075_000.0 / 360.0 / CELLS_PER_DEGREE).round()
}

/// The grid cell holding a position.
pub fn cell_of(latitude: f64, longitude: f64) -> Option<(i32, i32)> {
    // A NaN is in no range.
    let on_earth = (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude);
    if !on_earth {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    let index = |x: f64| (x * CELLS_PER_DEGREE).floor() as i32;
    Some((index(latitude), index(longitude)))
}

/// The centre of a cell: all the map ever shows of a position.
pub fn cell_centre(index: i32) -> f64 {
    (f64::from(index) + 0.5) / CELLS_PER_DEGREE
}

/// `YYYY-MM` of a `YYYY-MM-DD`.
pub fn month_of(date: &str) -> Option<String> {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m").to_string())
}

pub fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

pub fn time(t: Option<&ev::Timestamp>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
}

pub fn poison(r: &RecordedEvent) -> ProjectionError {
    ProjectionError::Poison(format!(
        "undecodable event {} at seq {} on {}",
        r.event_type, r.sequence, r.subject
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_about_500_m_and_its_centre_lies_inside_it() {
        let (lat, lon) = cell_of(-6.2001, 106.8167).unwrap();
        assert!((cell_centre(lat) - -6.2001).abs() < 1.0 / CELLS_PER_DEGREE);
        assert!((cell_centre(lon) - 106.8167).abs() < 1.0 / CELLS_PER_DEGREE);
        assert_eq!(
            cell_of(cell_centre(lat), cell_centre(lon)),
            Some((lat, lon))
        );
        let metres = cell_size_m();
        assert!((490.0..500.0).contains(&metres), "{metres}");
        // Two points 100 m apart mostly share a cell; 1 km apart never.
        assert_ne!(cell_of(-6.2, 106.8), cell_of(-6.209, 106.8));
        for bad in [(f64::NAN, 0.0), (91.0, 0.0), (0.0, 181.0)] {
            assert_eq!(cell_of(bad.0, bad.1), None);
        }
    }

    #[test]
    fn months_of_dates() {
        assert_eq!(month_of("2026-11-30").as_deref(), Some("2026-11"));
        assert_eq!(month_of("2026-11"), None);
    }
}

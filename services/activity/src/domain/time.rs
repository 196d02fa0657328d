//! Local dates, months and times of day as the API spells them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use pantau_proto::events::v1 as ev;

use super::DomainError;

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str, field: &str) -> Result<NaiveDate, DomainError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| DomainError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// `HH:MM` (00:00-24:00) as minutes after local midnight.
pub fn parse_time(s: &str, field: &str) -> Result<u32, DomainError> {
    let bad = || DomainError::invalid(field, "must be a time HH:MM");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn format_time(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The events' timestamp of a moment.
pub fn timestamp(t: DateTime<Utc>) -> ev::Timestamp {
    ev::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn parse(s: &str, field: &str) -> Result<Month, DomainError> {
        let bad = || DomainError::invalid(field, "must be a month YYYY-MM");
        let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").map_err(|_| bad())?;
        if s.len() != 7 {
            return Err(bad());
        }
        Ok(Month::of(first))
    }

    pub fn of(day: NaiveDate) -> Month {
        Month {
            year: day.year(),
            month: day.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn last_day(self) -> NaiveDate {
        let next = if self.month == 12 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, self.month + 1, 1)
        };
        next.and_then(|d| d.pred_opt()).unwrap_or(NaiveDate::MAX)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(parse_time("07:30", "t").unwrap(), 450);
        assert_eq!(parse_time("00:00", "t").unwrap(), 0);
        assert_eq!(parse_time("24:00", "t").unwrap(), 1440);
        for bad in [
            "7:30", "07:60", "24:01", "25:00", "0730", "ab:cd", "", "07:3",
        ] {
            let err = parse_time(bad, "start_time").unwrap_err();
            assert_eq!(err.field(), Some("start_time"), "{bad}");
        }
        assert_eq!(format_time(450), "07:30");
        assert_eq!(format_time(1440), "24:00");
    }

    #[test]
    fn months_know_their_first_and_last_days() {
        let feb = Month::parse("2024-02", "month").unwrap();
        assert_eq!(feb.first_day().to_string(), "2024-02-01");
        assert_eq!(feb.last_day().to_string(), "2024-02-29");
        let dec = Month::parse("2026-12", "month").unwrap();
        assert_eq!(dec.last_day().to_string(), "2026-12-31");
        assert_eq!(dec.to_string(), "2026-12");
        for bad in ["2026-13", "2026-1", "2026/01", "", "2026-01-01"] {
            assert!(Month::parse(bad, "month").is_err(), "{bad}");
        }
        assert!(parse_date("2026-02-30", "date").is_err());
    }
}

//! Local dates, months and event timestamps as every service's API and
//! events spell them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use pantau_proto::events::v1 as ev;

use crate::DomainError;

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str, field: &str) -> Result<NaiveDate, DomainError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| DomainError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// The events' timestamp of a moment.
pub fn timestamp(t: DateTime<Utc>) -> ev::Timestamp {
    ev::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// Every day of the month, in order.
    pub fn days(self) -> impl Iterator<Item = NaiveDate> {
        let last = self.last_day();
        self.first_day().iter_days().take_while(move |d| *d <= last)
    }

    pub fn contains(self, day: NaiveDate) -> bool {
        Month::of(day) == self
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        Month::of(self.last_day().succ_opt().unwrap_or(NaiveDate::MAX))
    }

    /// `YYYYMM`, as subjects spell it.
    pub fn token(self) -> String {
        format!("{:04}{:02}", self.year, self.month)
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
    fn months_know_their_first_and_last_days() {
        let feb = Month::parse("2024-02", "month").expect("parses");
        assert_eq!(feb.first_day().to_string(), "2024-02-01");
        assert_eq!(feb.last_day().to_string(), "2024-02-29");
        let dec = Month::parse("2026-12", "month").expect("parses");
        assert_eq!(dec.last_day().to_string(), "2026-12-31");
        assert_eq!(dec.to_string(), "2026-12");
        assert_eq!(dec.token(), "202612");
        assert_eq!(dec.next().to_string(), "2027-01");
        assert_eq!(feb.days().count(), 29);
        assert!(feb.contains(feb.last_day()) && !feb.contains(dec.first_day()));
        for bad in ["2026-13", "2026-1", "2026/01", "", "2026-01-01"] {
            assert!(Month::parse(bad, "month").is_err(), "{bad}");
        }
        assert!(parse_date("2026-02-30", "date").is_err());
    }
}

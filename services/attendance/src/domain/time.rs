//! Local days and working schedules. An agency's day runs midnight to
//! midnight in its own zone (WIB, WITA or WIT), so a check-in at 23:30 WITA
//! and one at 00:30 WITA fall on different days whatever UTC says.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use pantau_proto::events::v1 as ev;

use super::DomainError;

/// Where a moment falls in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMoment {
    pub date: NaiveDate,
    /// Minutes after local midnight.
    pub minute: u32,
}

pub fn local_moment(at: DateTime<Utc>, tz: Tz) -> LocalMoment {
    let local = at.with_timezone(&tz);
    LocalMoment {
        date: local.date_naive(),
        minute: local.hour() * 60 + local.minute(),
    }
}

/// An IANA zone name; Indonesian agencies use Asia/Jakarta, Asia/Makassar
/// or Asia/Jayapura, but any valid zone is accepted.
pub fn parse_zone(s: &str, field: &str) -> Result<Tz, DomainError> {
    s.parse::<Tz>()
        .map_err(|_| DomainError::invalid(field, format!("{s:?} is not an IANA time zone")))
}

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str, field: &str) -> Result<NaiveDate, DomainError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| DomainError::invalid(field, format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// `YYYY-MM`: the first and last day of the month.
pub fn parse_month(s: &str, field: &str) -> Result<(NaiveDate, NaiveDate), DomainError> {
    let first = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d")
        .map_err(|_| DomainError::invalid(field, format!("{s:?} is not a month (YYYY-MM)")))?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    let last = next
        .and_then(|n| n.pred_opt())
        .ok_or_else(|| DomainError::invalid(field, "is out of range"))?;
    Ok((first, last))
}

/// `HH:MM` as minutes after midnight.
pub fn parse_clock(s: &str, field: &str) -> Result<u32, DomainError> {
    let t = NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| DomainError::invalid(field, format!("{s:?} is not a time (HH:MM)")))?;
    Ok(t.hour() * 60 + t.minute())
}

pub fn format_minute(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// `YYYY-MM-DDTHH:MM` in `tz` as an instant. A local time that does not
/// exist or is ambiguous (DST; not in Indonesia) is refused.
pub fn parse_local_datetime(s: &str, tz: Tz, field: &str) -> Result<DateTime<Utc>, DomainError> {
    let naive = NaiveDateTime::parse_from_str(s, LOCAL_DATETIME).map_err(|_| {
        DomainError::invalid(
            field,
            format!("{s:?} is not a local time (YYYY-MM-DDTHH:MM)"),
        )
    })?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| DomainError::invalid(field, "does not exist once in this time zone"))
}

/// `at` as `YYYY-MM-DDTHH:MM` in `tz`: what [`parse_local_datetime`] reads.
pub fn format_local_datetime(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format(LOCAL_DATETIME).to_string()
}

const LOCAL_DATETIME: &str = "%Y-%m-%dT%H:%M";

pub fn timestamp(at: DateTime<Utc>) -> ev::Timestamp {
    ev::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn from_timestamp(t: &ev::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// When an agency works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub starts_minute: u32,
    pub ends_minute: u32,
    pub grace_minutes: u32,
    /// ISO weekdays, 1 = Monday.
    pub work_days: Vec<u32>,
}

impl Default for Schedule {
    /// The civil-service default: Monday to Friday, 07:30 to 16:00.
    fn default() -> Self {
        Schedule {
            starts_minute: 7 * 60 + 30,
            ends_minute: 16 * 60,
            grace_minutes: 0,
            work_days: vec![1, 2, 3, 4, 5],
        }
    }
}

impl Schedule {
    pub fn parse(
        starts: &str,
        ends: &str,
        grace_minutes: u32,
        work_days: &[u32],
    ) -> Result<Schedule, DomainError> {
        let starts_minute = parse_clock(starts, "starts")?;
        let ends_minute = parse_clock(ends, "ends")?;
        if ends_minute <= starts_minute {
            return Err(DomainError::invalid("ends", "must be after starts"));
        }
        if grace_minutes > 240 {
            return Err(DomainError::invalid("grace_minutes", "must be at most 240"));
        }
        let mut days = work_days.to_vec();
        days.sort_unstable();
        days.dedup();
        if days.is_empty() || days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(DomainError::invalid(
                "work_days",
                "give 1 to 7 ISO weekdays (1 = Monday .. 7 = Sunday)",
            ));
        }
        Ok(Schedule {
            starts_minute,
            ends_minute,
            grace_minutes,
            work_days: days,
        })
    }

    pub fn from_event(e: &ev::ScheduleSet) -> Schedule {
        Schedule {
            starts_minute: e.starts_minute,
            ends_minute: e.ends_minute,
            grace_minutes: e.grace_minutes,
            work_days: e.work_days.clone(),
        }
    }

    pub fn is_work_day(&self, date: NaiveDate) -> bool {
        self.work_days
            .contains(&date.weekday().number_from_monday())
    }

    /// Minutes late for a first check-in at `minute` (0 when on time).
    pub fn late_minutes(&self, minute: u32) -> u32 {
        minute.saturating_sub(self.starts_minute + self.grace_minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn half_past_eleven_and_half_past_midnight_wita_are_different_days() {
        let wita: Tz = "Asia/Makassar".parse().unwrap();
        // 23:30 WITA on the 4th is 15:30 UTC; 00:30 WITA on the 5th is 16:30 UTC
        // of the same UTC day.
        let late = local_moment(utc("2026-11-04T15:30:00Z"), wita);
        let early = local_moment(utc("2026-11-04T16:30:00Z"), wita);
        assert_eq!(late.date.to_string(), "2026-11-04");
        assert_eq!(late.minute, 23 * 60 + 30);
        assert_eq!(early.date.to_string(), "2026-11-05");
        assert_eq!(early.minute, 30);
    }

    #[test]
    fn the_same_instant_is_a_different_local_time_in_each_zone() {
        let at = utc("2026-08-17T00:30:00Z");
        let wib = local_moment(at, "Asia/Jakarta".parse().unwrap());
        let wit = local_moment(at, "Asia/Jayapura".parse().unwrap());
        assert_eq!(wib.minute, 7 * 60 + 30);
        assert_eq!(wit.minute, 9 * 60 + 30);
    }

    #[test]
    fn lateness_counts_from_start_plus_grace() {
        let s = Schedule::parse("07:30", "16:00", 15, &[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(s.late_minutes(7 * 60 + 40), 0);
        assert_eq!(s.late_minutes(7 * 60 + 50), 5);
        assert!(s.is_work_day(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()));
        assert!(!s.is_work_day(NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()));
    }

    #[test]
    fn schedules_name_the_bad_field() {
        let field = |r: Result<Schedule, DomainError>| r.unwrap_err().field().map(str::to_owned);
        assert_eq!(
            field(Schedule::parse("7.30", "16:00", 0, &[1])).as_deref(),
            Some("starts")
        );
        assert_eq!(
            field(Schedule::parse("16:00", "07:30", 0, &[1])).as_deref(),
            Some("ends")
        );
        assert_eq!(
            field(Schedule::parse("07:30", "16:00", 0, &[0])).as_deref(),
            Some("work_days")
        );
        assert_eq!(
            field(Schedule::parse("07:30", "16:00", 999, &[1])).as_deref(),
            Some("grace_minutes")
        );
    }

    #[test]
    fn months_and_local_times_parse() {
        let (first, last) = parse_month("2028-02", "month").unwrap();
        assert_eq!(
            (first.to_string(), last.to_string()),
            ("2028-02-01".into(), "2028-02-29".into())
        );
        assert!(parse_month("2028-13", "month").is_err());
        let wita: Tz = "Asia/Makassar".parse().unwrap();
        let t = parse_local_datetime("2026-08-17T07:00", wita, "starts_at").unwrap();
        assert_eq!(t, utc("2026-08-16T23:00:00Z"));
        assert_eq!(format_local_datetime(t, wita), "2026-08-17T07:00");
        assert_eq!(
            format_local_datetime(t, "Asia/Jayapura".parse().unwrap()),
            "2026-08-17T08:00"
        );
        assert_eq!(
            parse_local_datetime("17/08/2026", wita, "starts_at")
                .unwrap_err()
                .field(),
            Some("starts_at")
        );
    }
}

//! Local dates, months and times of day as the API spells them.

pub use pantau_platform::time::{Month, parse_date, timestamp};

use super::DomainError;

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
}

//! NIP (Nomor Induk Pegawai), the 18-digit civil-servant number. Its digits
//! carry the birth date, appointment month and sex, which lets the registry
//! cross-check a NIP against the NIK of the same person.

use std::fmt;

use chrono::NaiveDate;

use super::error::DomainError;
use super::values::Sex;

const FIELD: &str = "nip";

/// A parsed NIP: `YYYYMMDD` birth date, `YYYYMM` appointment, sex digit,
/// 3-digit serial.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nip {
    digits: String,
    birth_date: NaiveDate,
    appointment: (i32, u32),
    sex: Sex,
}

impl Nip {
    /// Earliest and latest appointment years accepted; outside this range a
    /// NIP is a typo, not a civil servant.
    pub const APPOINTMENT_YEARS: std::ops::RangeInclusive<i32> = 1950..=2100;

    pub fn parse(s: &str) -> Result<Nip, DomainError> {
        let invalid = |reason: String| DomainError::invalid(FIELD, reason);
        if s.len() != 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "must be exactly 18 digits, got {:?}",
                truncate(s)
            )));
        }
        let birth_date =
            NaiveDate::from_ymd_opt(num(&s[0..4]) as i32, num(&s[4..6]), num(&s[6..8]))
                .ok_or_else(|| invalid(format!("digits 1-8 ({}) are not a real date", &s[0..8])))?;

        let year = num(&s[8..12]) as i32;
        let month = num(&s[12..14]);
        if !(1..=12).contains(&month) {
            return Err(invalid(format!(
                "digits 13-14 ({month:02}) are not an appointment month"
            )));
        }
        if !Self::APPOINTMENT_YEARS.contains(&year) {
            return Err(invalid(format!(
                "appointment year {year} is outside {}..={}",
                Self::APPOINTMENT_YEARS.start(),
                Self::APPOINTMENT_YEARS.end()
            )));
        }
        use chrono::Datelike;
        if (year, month) < (birth_date.year(), birth_date.month()) {
            return Err(invalid(format!(
                "appointment {year}-{month:02} is before the birth date {birth_date}"
            )));
        }
        let sex = match &s[14..15] {
            "1" => Sex::Male,
            "2" => Sex::Female,
            other => {
                return Err(invalid(format!(
                    "digit 15 ({other}) must be 1 (male) or 2 (female)"
                )));
            }
        };
        Ok(Nip {
            digits: s.to_owned(),
            birth_date,
            appointment: (year, month),
            sex,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.digits
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Appointment year and month (1-12).
    pub fn appointment(&self) -> (i32, u32) {
        self.appointment
    }

    pub fn sex(&self) -> Sex {
        self.sex
    }

    /// The 3-digit serial that tells apart people sharing the other digits.
    pub fn serial(&self) -> &str {
        &self.digits[15..18]
    }
}

impl fmt::Display for Nip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

/// Parses a run of ASCII digits already checked by the caller; cannot overflow
/// for the at most 4 digits used here.
pub(crate) fn num(digits: &str) -> u32 {
    digits
        .bytes()
        .fold(0, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// Keeps error messages short when someone pastes a whole CSV line.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> String {
        match Nip::parse(s) {
            Err(DomainError::Invalid { field, reason }) => {
                assert_eq!(field, "nip");
                reason
            }
            other => panic!("expected invalid nip, got {other:?}"),
        }
    }

    #[test]
    fn a_well_formed_nip_exposes_its_encoded_facts() {
        let nip = Nip::parse("198503122010011002").expect("valid");
        assert_eq!(
            nip.birth_date(),
            NaiveDate::from_ymd_opt(1985, 3, 12).expect("date")
        );
        assert_eq!(nip.appointment(), (2010, 1));
        assert_eq!(nip.sex(), Sex::Male);
        assert_eq!(nip.serial(), "002");
        assert_eq!(nip.to_string(), "198503122010011002");
    }

    #[test]
    fn a_woman_is_read_from_digit_fifteen() {
        let nip = Nip::parse("199002282015032001").expect("valid");
        assert_eq!(nip.sex(), Sex::Female);
    }

    #[test]
    fn a_nip_of_the_wrong_length_is_rejected() {
        assert!(reason("19850312201001100").contains("18 digits"));
        assert!(reason("1985031220100110023").contains("18 digits"));
        assert!(reason("").contains("18 digits"));
    }

    #[test]
    fn a_nip_with_non_digits_is_rejected() {
        assert!(reason("19850312201001100A").contains("18 digits"));
        // Non-ASCII digits must not sneak through a byte-length check.
        assert!(reason("١٩٨٥٠٣١٢٢٠١٠").contains("18 digits"));
    }

    #[test]
    fn an_impossible_birth_date_is_rejected() {
        assert!(reason("198502302010011002").contains("not a real date"));
        assert!(reason("198513012010011002").contains("not a real date"));
        assert!(reason("198500122010011002").contains("not a real date"));
    }

    #[test]
    fn a_leap_day_birth_date_is_accepted_only_in_leap_years() {
        assert!(Nip::parse("198402292010011002").is_ok());
        assert!(reason("198502292010011002").contains("not a real date"));
    }

    #[test]
    fn an_appointment_month_outside_one_to_twelve_is_rejected() {
        assert!(reason("198503122010131002").contains("appointment month"));
        assert!(reason("198503122010001002").contains("appointment month"));
    }

    #[test]
    fn an_appointment_year_outside_the_plausible_range_is_rejected() {
        assert!(reason("194003121949011002").contains("outside"));
        assert!(reason("198503122101011002").contains("outside"));
    }

    #[test]
    fn an_appointment_before_birth_is_rejected() {
        assert!(reason("198503121985021002").contains("before the birth date"));
        // The birth month itself is allowed: only earlier months are impossible.
        assert!(Nip::parse("198503121985031002").is_ok());
    }

    #[test]
    fn a_sex_digit_other_than_one_or_two_is_rejected() {
        assert!(reason("198503122010013002").contains("digit 15"));
        assert!(reason("198503122010010002").contains("digit 15"));
    }
}

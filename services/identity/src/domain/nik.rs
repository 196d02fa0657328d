//! NIK (Nomor Induk Kependudukan), the 16-digit national ID. Digits 7-12 hold
//! the birth date as DDMMYY with 40 added to the day for women, which is how a
//! NIK and a NIP of the same person can be checked against each other.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::error::DomainError;
use super::nip::{Nip, num, truncate};
use super::values::Sex;

const FIELD: &str = "nik";

/// A parsed NIK: 6-digit region, DDMMYY birth date (+40 on DD for women),
/// 4-digit serial.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nik {
    digits: String,
    birth_date: NaiveDate,
    sex: Sex,
}

impl Nik {
    /// Parses a NIK. `today` picks the century of the two-digit birth year
    /// without reading a clock: a year after today's two-digit year must be
    /// last century (YY=90 in 2025 is 1990, YY=05 is 2005). A birth date after
    /// `today` is refused.
    pub fn parse(s: &str, today: NaiveDate) -> Result<Nik, DomainError> {
        let invalid = |reason: String| DomainError::invalid(FIELD, reason);
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!(
                "must be exactly 16 digits, got {:?}",
                truncate(s)
            )));
        }
        if &s[0..6] == "000000" {
            return Err(invalid(
                "region code (digits 1-6) must not be 000000".into(),
            ));
        }
        if &s[12..16] == "0000" {
            return Err(invalid("serial (digits 13-16) must not be 0000".into()));
        }

        let encoded_day = num(&s[6..8]);
        let (day, sex) = match encoded_day {
            1..=31 => (encoded_day, Sex::Male),
            41..=71 => (encoded_day - 40, Sex::Female),
            _ => {
                return Err(invalid(format!(
                    "digits 7-8 ({encoded_day:02}) are neither a day (01-31) nor a day + 40 (41-71)"
                )));
            }
        };
        let month = num(&s[8..10]);
        let yy = num(&s[10..12]) as i32;
        let today_yy = today.year().rem_euclid(100);
        let century = today.year() - today_yy;
        let year = if yy > today_yy {
            century - 100 + yy
        } else {
            century + yy
        };
        let birth_date = NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
            invalid(format!(
                "digits 7-12 ({}) are not a real birth date",
                &s[6..12]
            ))
        })?;
        if birth_date > today {
            return Err(invalid(format!("birth date {birth_date} is in the future")));
        }
        Ok(Nik {
            digits: s.to_owned(),
            birth_date,
            sex,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.digits
    }

    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    pub fn sex(&self) -> Sex {
        self.sex
    }

    /// The 6-digit province/regency/district code of the issuing office.
    pub fn region_code(&self) -> &str {
        &self.digits[0..6]
    }
}

impl fmt::Display for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

/// How a NIP and a NIK that should describe one person disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("birth date differs: NIP says {nip}, NIK says {nik}")]
    BirthDate { nip: NaiveDate, nik: NaiveDate },
    #[error("sex differs: NIP says {nip}, NIK says {nik}")]
    Sex { nip: Sex, nik: Sex },
    #[error(
        "birth date and sex differ: NIP says {nip_date} {nip_sex}, NIK says {nik_date} {nik_sex}"
    )]
    BirthDateAndSex {
        nip_date: NaiveDate,
        nik_date: NaiveDate,
        nip_sex: Sex,
        nik_sex: Sex,
    },
}

impl Mismatch {
    /// The `ImportAnomaly.kind` a legacy import records instead of refusing.
    pub const ANOMALY_KIND: &'static str = "nip_nik_mismatch";
}

/// A direct registration refuses a mismatch on the `nik` field: the NIP is
/// the civil-service record of truth, the NIK is what was typed alongside it.
impl From<Mismatch> for DomainError {
    fn from(m: Mismatch) -> Self {
        DomainError::invalid(FIELD, format!("does not match the nip: {m}"))
    }
}

/// Checks that a NIP and a NIK agree on birth date and sex.
pub fn nip_nik_consistent(nip: &Nip, nik: &Nik) -> Result<(), Mismatch> {
    let date_ok = nip.birth_date() == nik.birth_date();
    let sex_ok = nip.sex() == nik.sex();
    match (date_ok, sex_ok) {
        (true, true) => Ok(()),
        (false, true) => Err(Mismatch::BirthDate {
            nip: nip.birth_date(),
            nik: nik.birth_date(),
        }),
        (true, false) => Err(Mismatch::Sex {
            nip: nip.sex(),
            nik: nik.sex(),
        }),
        (false, false) => Err(Mismatch::BirthDateAndSex {
            nip_date: nip.birth_date(),
            nik_date: nik.birth_date(),
            nip_sex: nip.sex(),
            nik_sex: nik.sex(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    fn today() -> NaiveDate {
        day(2025, 6, 15)
    }

    fn reason(s: &str) -> String {
        match Nik::parse(s, today()) {
            Err(DomainError::Invalid { field, reason }) => {
                assert_eq!(field, "nik");
                reason
            }
            other => panic!("expected invalid nik, got {other:?}"),
        }
    }

    #[test]
    fn a_man_s_nik_gives_the_day_as_written() {
        let nik = Nik::parse("3171011203850001", today()).expect("valid");
        assert_eq!(nik.birth_date(), day(1985, 3, 12));
        assert_eq!(nik.sex(), Sex::Male);
        assert_eq!(nik.region_code(), "317101");
    }

    #[test]
    fn a_woman_s_nik_has_forty_added_to_the_day() {
        let nik = Nik::parse("3171015202900003", today()).expect("valid");
        assert_eq!(nik.birth_date(), day(1990, 2, 12));
        assert_eq!(nik.sex(), Sex::Female);
    }

    #[test]
    fn a_two_digit_year_after_today_s_is_last_century() {
        assert_eq!(
            Nik::parse("3171010101260001", today())
                .expect("valid")
                .birth_date(),
            day(1926, 1, 1)
        );
        assert_eq!(
            Nik::parse("3171010101250001", today())
                .expect("valid")
                .birth_date(),
            day(2025, 1, 1)
        );
        assert_eq!(
            Nik::parse("3171010101000001", today())
                .expect("valid")
                .birth_date(),
            day(2000, 1, 1)
        );
    }

    #[test]
    fn a_birth_date_later_this_year_is_in_the_future() {
        assert!(reason("3171010112250001").contains("future"));
    }

    #[test]
    fn a_nik_of_the_wrong_shape_is_rejected() {
        assert!(reason("317101120385000").contains("16 digits"));
        assert!(reason("31710112038500011").contains("16 digits"));
        assert!(reason("31710112038500O1").contains("16 digits"));
    }

    #[test]
    fn an_all_zero_region_is_rejected() {
        assert!(reason("0000001203850001").contains("region"));
    }

    #[test]
    fn an_all_zero_serial_is_rejected() {
        assert!(reason("3171011203850000").contains("serial"));
    }

    #[test]
    fn a_day_between_thirty_two_and_forty_is_neither_sex() {
        assert!(reason("3171013503850001").contains("digits 7-8"));
        assert!(reason("3171010003850001").contains("digits 7-8"));
        assert!(reason("3171017203850001").contains("digits 7-8"));
    }

    #[test]
    fn an_impossible_date_is_rejected_for_women_too() {
        assert!(reason("3171017102850001").contains("not a real birth date"));
        assert!(reason("3171013102850001").contains("not a real birth date"));
        assert!(reason("3171011213850001").contains("not a real birth date"));
    }

    #[test]
    fn a_matching_nip_and_nik_are_consistent() {
        let nip = Nip::parse("198503122010011002").expect("nip");
        let nik = Nik::parse("3171011203850001", today()).expect("nik");
        assert_eq!(nip_nik_consistent(&nip, &nik), Ok(()));
    }

    #[test]
    fn a_different_birth_date_is_named_as_the_mismatch() {
        let nip = Nip::parse("198503122010011002").expect("nip");
        let nik = Nik::parse("3171011303850001", today()).expect("nik");
        assert!(matches!(
            nip_nik_consistent(&nip, &nik),
            Err(Mismatch::BirthDate { .. })
        ));
    }

    #[test]
    fn a_different_sex_is_named_as_the_mismatch() {
        let nip = Nip::parse("198503122010011002").expect("nip");
        let nik = Nik::parse("3171015203850001", today()).expect("nik");
        let err = nip_nik_consistent(&nip, &nik).expect_err("mismatch");
        assert!(matches!(
            err,
            Mismatch::Sex {
                nip: Sex::Male,
                nik: Sex::Female
            }
        ));
        let domain: DomainError = err.into();
        assert_eq!(domain.field(), Some("nik"));
    }

    #[test]
    fn both_differences_are_reported_together() {
        let nip = Nip::parse("198503122010011002").expect("nip");
        let nik = Nik::parse("3171015303850001", today()).expect("nik");
        assert!(matches!(
            nip_nik_consistent(&nip, &nik),
            Err(Mismatch::BirthDateAndSex { .. })
        ));
    }
}

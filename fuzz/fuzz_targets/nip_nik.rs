//! Text into identity's NIP and NIK parsers (a fixed "today"), and, when both parse, the
//! NIP/NIK cross-check. The first line is read as the NIP and the rest as the NIK; each
//! parser also gets the whole text.
//!
//! Properties, beyond "never panics":
//! * a parsed value's text is the input, and parses back to the same value;
//! * what a parse reports is what the digits say: birth date and sex (NIK days of women are
//!   +40), the appointment month not before the birth month, the NIK's birth date not after
//!   today and less than a hundred years before it;
//! * the cross-check agrees exactly when birth date and sex agree, names the fields that
//!   differ, and refuses on the `nik` field.
#![no_main]

use chrono::{Datelike, NaiveDate};
use libfuzzer_sys::fuzz_target;
use pantau_identity::domain::{DomainError, Mismatch, Nik, Nip, Sex, nip_nik_consistent};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 15).expect("a real date")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (nip_text, nik_text) = text.split_once('\n').unwrap_or((text, text));
    check_nip(text);
    check_nik(text);
    if let (Some(nip), Some(nik)) = (check_nip(nip_text), check_nik(nik_text)) {
        check_pair(&nip, &nik);
    }
});

fn digits(s: &str, range: std::ops::Range<usize>) -> u32 {
    s[range].parse().expect("parsed digits")
}

fn check_nip(text: &str) -> Option<Nip> {
    let nip = match Nip::parse(text) {
        Ok(nip) => nip,
        Err(e) => {
            assert_invalid(&e, "nip");
            return None;
        }
    };
    assert_eq!(nip.as_str(), text);
    assert_eq!(nip.to_string(), text);
    assert_eq!(Nip::parse(nip.as_str()).as_ref(), Ok(&nip));

    let s = nip.as_str();
    assert_eq!(s.len(), 18);
    let birth = nip.birth_date();
    assert_eq!(
        (birth.year(), birth.month(), birth.day()),
        (digits(s, 0..4) as i32, digits(s, 4..6), digits(s, 6..8))
    );
    let (year, month) = nip.appointment();
    assert_eq!((year, month), (digits(s, 8..12) as i32, digits(s, 12..14)));
    assert!((1..=12).contains(&month));
    assert!(Nip::APPOINTMENT_YEARS.contains(&year));
    assert!((year, month) >= (birth.year(), birth.month()));
    assert_eq!(nip.sex().code(), digits(s, 14..15));
    assert_eq!(nip.serial(), &s[15..18]);
    Some(nip)
}

fn check_nik(text: &str) -> Option<Nik> {
    let today = today();
    let nik = match Nik::parse(text, today) {
        Ok(nik) => nik,
        Err(e) => {
            assert_invalid(&e, "nik");
            return None;
        }
    };
    assert_eq!(nik.as_str(), text);
    assert_eq!(nik.to_string(), text);
    assert_eq!(Nik::parse(nik.as_str(), today).as_ref(), Ok(&nik));

    let s = nik.as_str();
    assert_eq!(s.len(), 16);
    assert_eq!(nik.region_code(), &s[0..6]);
    assert_ne!(nik.region_code(), "000000");
    assert_ne!(&s[12..16], "0000");
    let birth = nik.birth_date();
    let encoded_day = match nik.sex() {
        Sex::Male => birth.day(),
        Sex::Female => birth.day() + 40,
    };
    assert_eq!(encoded_day, digits(s, 6..8));
    assert_eq!(birth.month(), digits(s, 8..10));
    assert_eq!(birth.year().rem_euclid(100) as u32, digits(s, 10..12));
    assert!(birth <= today, "a NIK born after today parsed");
    assert!(
        birth.year() > today.year() - 100,
        "the two-digit year went back more than a century"
    );
    Some(nik)
}

fn check_pair(nip: &Nip, nik: &Nik) {
    let same_date = nip.birth_date() == nik.birth_date();
    let same_sex = nip.sex() == nik.sex();
    let result = nip_nik_consistent(nip, nik);
    match (same_date, same_sex, result) {
        (true, true, Ok(())) => {}
        (false, true, Err(Mismatch::BirthDate { nip: a, nik: b })) => {
            assert_eq!((a, b), (nip.birth_date(), nik.birth_date()));
        }
        (true, false, Err(Mismatch::Sex { nip: a, nik: b })) => {
            assert_eq!((a, b), (nip.sex(), nik.sex()));
        }
        (false, false, Err(Mismatch::BirthDateAndSex { .. })) => {}
        (date, sex, result) => {
            panic!("same date {date}, same sex {sex}, but the cross-check said {result:?}")
        }
    }
    if let Err(mismatch) = nip_nik_consistent(nip, nik) {
        let refused: DomainError = mismatch.into();
        assert_eq!(refused.field(), Some("nik"));
    }
}

fn assert_invalid(e: &DomainError, field: &str) {
    assert_eq!(e.field(), Some(field), "{e:?} names the wrong field");
}

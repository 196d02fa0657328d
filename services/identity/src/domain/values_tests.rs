//! Tests for the value types in `values.rs`.

use super::*;

fn field_of(r: Result<impl fmt::Debug, DomainError>) -> String {
    match r {
        Err(DomainError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn an_agency_code_of_capitals_digits_and_dashes_is_accepted() {
    for ok in ["DISPERTAMAN", "DTA-01", "B2", "A".repeat(32).as_str()] {
        assert_eq!(AgencyCode::parse(ok).expect(ok).as_str(), ok);
    }
}

#[test]
fn a_lower_case_agency_code_is_rejected_with_a_clear_reason() {
    match AgencyCode::parse("dispertaman") {
        Err(DomainError::Invalid { field, reason }) => {
            assert_eq!(field, "code");
            assert!(reason.contains("upper case"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_agency_code_of_bad_length_start_or_characters_is_rejected() {
    for bad in [
        "A",
        "",
        "1DINAS",
        "-DINAS",
        "DINAS_TATA",
        "DINAS TATA",
        "DÍNAS",
        &"A".repeat(33),
    ] {
        assert_eq!(field_of(AgencyCode::parse(bad)), "code", "{bad}");
    }
}

#[test]
fn an_import_can_rename_the_code_field() {
    let err = AgencyCode::parse("x")
        .expect_err("bad")
        .for_field("agency_code");
    assert_eq!(err.field(), Some("agency_code"));
    assert_eq!(field_of(UnitCode::parse("seksi")), "code");
}

#[test]
fn only_the_three_indonesian_time_zones_are_accepted() {
    assert_eq!(
        TimeZone::parse("Asia/Jakarta").expect("wib").tz(),
        chrono_tz::Asia::Jakarta
    );
    assert_eq!(
        TimeZone::parse("Asia/Makassar").expect("wita").name(),
        "Asia/Makassar"
    );
    assert_eq!(
        TimeZone::parse("Asia/Jayapura").expect("wit").name(),
        "Asia/Jayapura"
    );
    for bad in ["Asia/Pontianak", "UTC", "asia/jakarta", "WIB", ""] {
        assert_eq!(field_of(TimeZone::parse(bad)), "time_zone", "{bad}");
    }
}

#[test]
fn a_person_name_is_trimmed_and_must_not_be_blank() {
    assert_eq!(
        PersonName::parse("  Siti Nurhaliza ").expect("ok").as_str(),
        "Siti Nurhaliza"
    );
    assert_eq!(field_of(PersonName::parse("   ")), "name");
}

#[test]
fn a_person_name_allows_two_hundred_characters_counted_as_characters() {
    assert!(PersonName::parse(&"é".repeat(200)).is_ok());
    assert_eq!(field_of(PersonName::parse(&"é".repeat(201))), "name");
}

#[test]
fn a_name_with_a_control_character_is_rejected() {
    assert_eq!(field_of(PersonName::parse("Budi\u{0}Santoso")), "name");
    assert_eq!(
        field_of(DisplayName::parse("title", "Re-registrasi\n2025")),
        "title"
    );
}

#[test]
fn a_local_date_must_be_a_real_yyyy_mm_dd() {
    let d = LocalDate::parse("joined_on", "2024-02-29").expect("leap day");
    assert_eq!(d.to_string(), "2024-02-29");
    for bad in [
        "2023-02-29",
        "2024-2-29",
        "29-02-2024",
        "2024/02/29",
        "2024-02-29T00:00",
        "",
        "+024-02-29",
    ] {
        assert_eq!(
            field_of(LocalDate::parse("joined_on", bad)),
            "joined_on",
            "{bad}"
        );
    }
}

#[test]
fn a_request_id_is_one_to_one_hundred_twenty_eight_safe_characters() {
    assert!(RequestId::parse("import:2025-06-01_batch.3").is_ok());
    assert!(RequestId::parse(&"a".repeat(128)).is_ok());
    for bad in ["", "has space", "slash/no", "ünï", &"a".repeat(129)] {
        assert_eq!(field_of(RequestId::parse(bad)), "request_id", "{bad}");
    }
}

#[test]
fn worker_kinds_round_trip_through_both_proto_enums() {
    for kind in [
        WorkerKind::Pns,
        WorkerKind::Phl,
        WorkerKind::Thl,
        WorkerKind::Tjp,
    ] {
        let api_kind: api::WorkerKind = kind.into();
        assert_eq!(WorkerKind::try_from(api_kind).expect("known"), kind);
        assert_eq!(WorkerKind::from_api(api_kind as i32).expect("known"), kind);
        let ev_kind: ev::WorkerKind = kind.into();
        assert_eq!(WorkerKind::from_event(ev_kind as i32), Some(kind));
    }
}

#[test]
fn an_unspecified_or_unknown_worker_kind_is_rejected() {
    assert_eq!(field_of(WorkerKind::from_api(0)), "kind");
    assert_eq!(field_of(WorkerKind::from_api(99)), "kind");
    assert_eq!(WorkerKind::from_event(0), None);
    assert!(WorkerKind::Pns.requires_nip());
    assert!(!WorkerKind::Phl.requires_nip());
}

#[test]
fn deactivation_reasons_round_trip_and_unspecified_is_rejected() {
    for r in [
        DeactivationReason::Resigned,
        DeactivationReason::Terminated,
        DeactivationReason::Deceased,
    ] {
        assert_eq!(
            DeactivationReason::from_api(r.to_api() as i32).expect("known"),
            r
        );
        assert_eq!(DeactivationReason::from_event(r.to_event() as i32), Some(r));
    }
    assert_eq!(field_of(DeactivationReason::from_api(0)), "reason");
}

#[test]
fn sex_codes_match_the_nip_digit() {
    assert_eq!(Sex::Male.code(), 1);
    assert_eq!(Sex::from_code(2), Some(Sex::Female));
    assert_eq!(Sex::from_code(3), None);
}

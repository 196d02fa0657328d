//! Test fixtures shared by the deciders' tests: valid commands and a tiny
//! given/when/then vocabulary.

use chrono::NaiveDate;
use pantau_proto::events::v1::{self as ev, identity_event::Event};

use super::nik::Nik;
use super::nip::Nip;
use super::update::{SealedPersonalData, UpdateMask, WorkerUpdate};
use super::values::{LocalDate, PersonName, WorkerKind};
use super::worker::{
    EmployeeId, RegisterWorker, RegistrationSource, WorkerCommand, WorkerState, evolve,
};

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

pub fn today() -> NaiveDate {
    day(2025, 6, 15)
}

pub fn date(s: &str) -> LocalDate {
    LocalDate::parse("effective_on", s).expect("test date")
}

pub fn sealed(tag: &str) -> SealedPersonalData {
    SealedPersonalData {
        data: ev::EncryptedPersonalData {
            key_id: "key-w1".into(),
            nonce: vec![7; 24],
            ciphertext: tag.as_bytes().to_vec(),
        },
        fingerprints: ev::Fingerprints {
            nik: "fp-nik".into(),
            phone: format!("fp-phone-{tag}"),
            email: String::new(),
            bank_account: String::new(),
        },
    }
}

/// A PNS born 1985-03-12, male, appointed 2010-01, joined 2010-01-04.
pub fn register_pns() -> RegisterWorker {
    RegisterWorker {
        worker_id: "w1".into(),
        kind: WorkerKind::Pns,
        employee_id: EmployeeId::Nip(Nip::parse("198503122010011002").expect("nip")),
        nik: Nik::parse("3171011203850001", today()).expect("nik"),
        name: PersonName::parse("Budi Santoso").expect("name"),
        agency_id: "agency-dta".into(),
        unit_id: "unit-1".into(),
        supervisor_id: Some("sup-1".into()),
        photo_ref: "photos/w1.jpg".into(),
        sites: Vec::new(),
        personal: sealed("v1"),
        source: RegistrationSource::Direct,
        anomalies: Vec::new(),
        joined_on: date("2010-01-04"),
    }
}

/// A daily-paid worker (PHL) born 1990-02-12, female.
pub fn register_phl() -> RegisterWorker {
    RegisterWorker {
        worker_id: "w2".into(),
        kind: WorkerKind::Phl,
        employee_id: EmployeeId::Generated("PHL-000123".into()),
        nik: Nik::parse("3171015202900003", today()).expect("nik"),
        supervisor_id: None,
        ..register_pns()
    }
}

pub fn update_phone(tag: &str) -> WorkerUpdate {
    WorkerUpdate {
        mask: UpdateMask::parse(&["phone".to_owned()]).expect("mask"),
        name: None,
        photo_ref: None,
        sites: None,
        personal: Some(sealed(tag)),
    }
}

pub fn update_name(name: &str) -> WorkerUpdate {
    WorkerUpdate {
        mask: UpdateMask::parse(&["name".to_owned()]).expect("mask"),
        name: Some(PersonName::parse(name).expect("name")),
        photo_ref: None,
        sites: None,
        personal: None,
    }
}

pub fn register_cmd(cmd: RegisterWorker) -> WorkerCommand {
    WorkerCommand::Register(Box::new(cmd))
}

/// Folds a history into a worker state.
pub fn given(history: &[Event]) -> WorkerState {
    history.iter().fold(WorkerState::default(), evolve)
}

/// The events of a freshly registered PNS worker.
pub fn registered_pns() -> Vec<Event> {
    super::worker::decide(&WorkerState::default(), register_cmd(register_pns())).expect("register")
}

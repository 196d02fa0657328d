//! Given/when/then tests of the worker decider.

use pantau_proto::events::v1::{self as ev, identity_event::Event};

use super::*;
use crate::domain::fixtures::*;

fn when(history: &[Event], command: WorkerCommand) -> Result<Vec<Event>, DomainError> {
    decide(&given(history), command)
}

/// History after applying `command` to `history`, which must succeed.
fn then_ok(mut history: Vec<Event>, command: WorkerCommand) -> Vec<Event> {
    let events = when(&history, command).expect("command accepted");
    history.extend(events);
    history
}

fn deactivate(on: &str) -> WorkerCommand {
    WorkerCommand::Deactivate {
        reason: DeactivationReason::Resigned,
        effective_on: date(on),
        note: "pindah kerja".into(),
    }
}

fn transfer(agency: &str, unit: &str) -> WorkerCommand {
    WorkerCommand::Transfer {
        to_agency: agency.into(),
        to_unit: unit.into(),
        effective_on: date("2024-01-01"),
    }
}

fn assign(supervisor: &str) -> WorkerCommand {
    WorkerCommand::AssignSupervisor {
        supervisor_id: supervisor.into(),
        effective_on: date("2024-01-01"),
    }
}

fn reverify(campaign: &str) -> WorkerCommand {
    WorkerCommand::Reverify {
        campaign_id: campaign.into(),
        correction: None,
    }
}

fn erase() -> WorkerCommand {
    WorkerCommand::Erase {
        requested_by: "admin-1".into(),
    }
}

fn missed(campaign: &str) -> WorkerCommand {
    WorkerCommand::RecordMissedReverification {
        campaign_id: campaign.into(),
    }
}

fn is_precondition(r: Result<Vec<Event>, DomainError>) -> bool {
    matches!(r, Err(DomainError::FailedPrecondition(_)))
}

fn invalid_field(r: Result<Vec<Event>, DomainError>) -> String {
    match r {
        Err(DomainError::Invalid { field, .. }) => field,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn registering_a_pns_records_birth_date_and_sex_from_the_nik() {
    let events = when(&[], register_cmd(register_pns())).expect("registered");
    let [Event::WorkerRegistered(e)] = events.as_slice() else {
        panic!("expected one WorkerRegistered, got {events:?}");
    };
    assert_eq!(e.worker_id, "w1");
    assert_eq!(e.employee_id, "198503122010011002");
    assert_eq!(e.kind, ev::WorkerKind::Pns as i32);
    assert_eq!(e.birth_date, "1985-03-12");
    assert_eq!(e.sex, 1);
    assert_eq!(e.joined_on, "2010-01-04");
    assert_eq!(e.supervisor_id, "sup-1");
    assert_eq!(e.source, ev::RegistrationSource::Direct as i32);
    assert!(e.personal.is_some() && e.fingerprints.is_some());
    assert!(e.anomalies.is_empty());
}

#[test]
fn registering_a_contract_worker_uses_the_generated_id() {
    let events = when(&[], register_cmd(register_phl())).expect("registered");
    let [Event::WorkerRegistered(e)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(e.employee_id, "PHL-000123");
    assert_eq!(e.sex, 2);
    assert_eq!(e.supervisor_id, "");
}

#[test]
fn registering_an_existing_worker_already_exists() {
    let r = when(&registered_pns(), register_cmd(register_pns()));
    assert!(matches!(r, Err(DomainError::AlreadyExists { field, .. }) if field == "worker_id"));
}

#[test]
fn a_pns_needs_a_nip_and_a_contract_worker_must_not_have_one() {
    let mut cmd = register_pns();
    cmd.employee_id = EmployeeId::Generated("X".into());
    assert_eq!(invalid_field(when(&[], register_cmd(cmd))), "nip");

    let mut cmd = register_phl();
    cmd.employee_id = register_pns().employee_id;
    assert_eq!(invalid_field(when(&[], register_cmd(cmd))), "nip");
}

#[test]
fn a_direct_registration_refuses_a_nip_that_contradicts_the_nik() {
    let mut cmd = register_pns();
    cmd.nik = register_phl().nik;
    assert_eq!(invalid_field(when(&[], register_cmd(cmd))), "nik");
}

#[test]
fn a_legacy_import_accepts_a_contradicting_nip_and_records_the_anomaly() {
    let mut cmd = register_pns();
    cmd.nik = register_phl().nik;
    cmd.source = RegistrationSource::LegacyImport;
    let events = when(&[], register_cmd(cmd)).expect("imported");
    let [Event::WorkerRegistered(e)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(e.source, ev::RegistrationSource::LegacyImport as i32);
    assert_eq!(e.anomalies.len(), 1);
    assert_eq!(e.anomalies[0].kind, "nip_nik_mismatch");
    assert!(e.anomalies[0].detail.contains("birth date and sex"));
    // The NIK is the person; the NIP may be the typo.
    assert_eq!(e.birth_date, "1990-02-12");
}

#[test]
fn a_worker_cannot_be_registered_as_their_own_supervisor() {
    let mut cmd = register_pns();
    cmd.supervisor_id = Some("w1".into());
    assert_eq!(invalid_field(when(&[], register_cmd(cmd))), "supervisor_id");
}

#[test]
fn joining_on_or_before_the_birth_date_is_invalid() {
    let mut cmd = register_pns();
    cmd.joined_on = date("1985-03-12");
    assert_eq!(invalid_field(when(&[], register_cmd(cmd))), "joined_on");
}

#[test]
fn every_change_to_an_unregistered_worker_is_not_found() {
    for cmd in [
        WorkerCommand::Update(update_name("X")),
        transfer("a2", "u2"),
        assign("sup-2"),
        deactivate("2024-01-01"),
        erase(),
        reverify("c1"),
        missed("c1"),
    ] {
        assert!(matches!(when(&[], cmd), Err(DomainError::NotFound(_))));
    }
}

#[test]
fn an_update_names_the_changed_fields() {
    let events = when(&registered_pns(), WorkerCommand::Update(update_phone("v2"))).expect("ok");
    let [Event::WorkerUpdated(e)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(e.changed, vec!["phone".to_owned()]);
    assert_eq!(
        e.personal.as_ref().map(|p| p.ciphertext.clone()),
        Some(b"v2".to_vec())
    );
    assert_eq!(e.name, "");
}

#[test]
fn an_update_whose_mask_and_values_disagree_is_invalid() {
    let mut update = update_name("Budi S.");
    update.name = None;
    let r = when(&registered_pns(), WorkerCommand::Update(update));
    assert_eq!(invalid_field(r), "update_mask");
}

#[test]
fn changes_to_an_inactive_worker_fail_their_precondition() {
    let history = then_ok(registered_pns(), deactivate("2024-01-01"));
    for cmd in [
        WorkerCommand::Update(update_name("X")),
        transfer("a2", "u2"),
        assign("sup-2"),
        deactivate("2024-02-01"),
        reverify("c1"),
        missed("c1"),
    ] {
        assert!(is_precondition(when(&history, cmd)));
    }
}

#[test]
fn an_inactive_worker_can_still_be_erased() {
    let history = then_ok(registered_pns(), deactivate("2024-01-01"));
    let events = when(&history, erase()).expect("erased");
    assert!(matches!(events.as_slice(), [Event::WorkerErased(e)] if e.requested_by == "admin-1"));
}

#[test]
fn erasing_twice_fails_as_already_erased() {
    let history = then_ok(registered_pns(), erase());
    match when(&history, erase()) {
        Err(DomainError::FailedPrecondition(m)) => assert!(m.contains("already erased")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_erased_worker_cannot_change_but_can_still_be_deactivated() {
    let history = then_ok(registered_pns(), erase());
    assert!(is_precondition(when(
        &history,
        WorkerCommand::Update(update_phone("v2"))
    )));
    assert!(is_precondition(when(&history, transfer("a2", "u2"))));
    assert!(is_precondition(when(&history, reverify("c1"))));
    assert!(when(&history, deactivate("2024-01-01")).is_ok());
}

#[test]
fn a_transfer_records_where_the_worker_came_from() {
    let history = then_ok(registered_pns(), transfer("agency-dta", "unit-2"));
    let Some(Event::WorkerTransferred(e)) = history.last() else {
        panic!("{history:?}");
    };
    assert_eq!(
        (e.from_agency_id.as_str(), e.from_unit_id.as_str()),
        ("agency-dta", "unit-1")
    );
    assert_eq!(
        (e.to_agency_id.as_str(), e.to_unit_id.as_str()),
        ("agency-dta", "unit-2")
    );
    let w = given(&history);
    assert_eq!(w.worker().map(|w| w.unit_id.as_str()), Some("unit-2"));
}

#[test]
fn a_transfer_to_the_same_agency_and_unit_fails_its_precondition() {
    assert!(is_precondition(when(
        &registered_pns(),
        transfer("agency-dta", "unit-1")
    )));
}

#[test]
fn a_transfer_effective_before_joining_is_invalid() {
    let cmd = WorkerCommand::Transfer {
        to_agency: "a2".into(),
        to_unit: "u2".into(),
        effective_on: date("2009-12-31"),
    };
    assert_eq!(invalid_field(when(&registered_pns(), cmd)), "effective_on");
}

#[test]
fn a_worker_may_not_supervise_themself() {
    assert_eq!(
        invalid_field(when(&registered_pns(), assign("w1"))),
        "supervisor_id"
    );
}

#[test]
fn assigning_the_current_supervisor_again_fails_its_precondition() {
    assert!(is_precondition(when(&registered_pns(), assign("sup-1"))));
    let history = then_ok(registered_pns(), assign("sup-2"));
    assert_eq!(
        given(&history)
            .worker()
            .and_then(|w| w.supervisor_id.clone()),
        Some("sup-2".into())
    );
}

#[test]
fn a_deactivation_effective_before_joining_is_invalid() {
    assert_eq!(
        invalid_field(when(&registered_pns(), deactivate("2010-01-03"))),
        "effective_on"
    );
    assert!(when(&registered_pns(), deactivate("2010-01-04")).is_ok());
}

#[test]
fn a_deactivation_records_reason_and_date() {
    let history = then_ok(registered_pns(), deactivate("2024-01-01"));
    let state = given(&history);
    let w = state.worker().expect("registered");
    assert_eq!(
        w.status,
        WorkerStatus::Inactive {
            reason: Some(DeactivationReason::Resigned),
            effective_on: "2024-01-01".into()
        }
    );
}

#[test]
fn reverifying_twice_in_one_campaign_fails_but_another_campaign_is_fine() {
    let history = then_ok(registered_pns(), reverify("c1"));
    assert!(is_precondition(when(&history, reverify("c1"))));
    assert!(when(&history, reverify("c2")).is_ok());
}

#[test]
fn a_correction_is_written_before_the_reverification_that_names_it() {
    let cmd = WorkerCommand::Reverify {
        campaign_id: "c1".into(),
        correction: Some(update_phone("v2")),
    };
    let events = when(&registered_pns(), cmd).expect("ok");
    let [Event::WorkerUpdated(u), Event::WorkerReverified(r)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(u.changed, vec!["phone".to_owned()]);
    assert_eq!(r.corrected, vec!["phone".to_owned()]);
    assert_eq!(r.campaign_id, "c1");
}

#[test]
fn a_missed_campaign_is_recorded_once_with_the_worker_s_agency() {
    let events = when(&registered_pns(), missed("c1")).expect("ok");
    assert!(matches!(events.as_slice(),
        [Event::ReverificationMissed(e)] if e.agency_id == "agency-dta" && e.campaign_id == "c1"));
    let history = then_ok(registered_pns(), missed("c1"));
    assert_eq!(when(&history, missed("c1")), Ok(Vec::new()));
}

#[test]
fn a_worker_who_reverified_cannot_be_marked_missed_nor_the_reverse() {
    let history = then_ok(registered_pns(), reverify("c1"));
    assert!(is_precondition(when(&history, missed("c1"))));
    let history = then_ok(registered_pns(), missed("c1"));
    assert!(is_precondition(when(&history, reverify("c1"))));
}

#[test]
fn an_empty_campaign_id_is_invalid() {
    assert_eq!(
        invalid_field(when(&registered_pns(), reverify(""))),
        "campaign_id"
    );
}

#[test]
fn evolve_ignores_other_aggregates_and_changes_before_registration() {
    let unit = Event::UnitCreated(ev::UnitCreated::default());
    let erased = Event::WorkerErased(ev::WorkerErased::default());
    assert_eq!(given(&[unit.clone(), erased]), WorkerState::NotRegistered);
    let mut history = registered_pns();
    history.push(unit);
    assert_eq!(given(&history).worker().map(|w| w.version), Some(1));
    let history = then_ok(history, WorkerCommand::Update(update_name("Budi S.")));
    assert_eq!(given(&history).worker().map(|w| w.version), Some(2));
}

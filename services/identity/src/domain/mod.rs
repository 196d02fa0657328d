//! The identity domain, pure: value types parsed from requests, and the
//! worker, agency and campaign aggregates as deciders over the proto events.
//! Nothing here does I/O, reads a clock or draws randomness; the gRPC adapter
//! passes those in and persists what comes out.

pub mod agency;
pub mod authz;
pub mod campaign;
pub mod contact;
pub mod error;
pub mod nik;
pub mod nip;
pub mod site;
pub mod update;
pub mod values;
pub mod worker;

#[cfg(test)]
mod fixtures;

pub use agency::{Agency, AgencyCommand, AgencyState};
pub use authz::{Action, Principal, Role, authorize};
pub use campaign::{Campaign, CampaignCommand, CampaignState, check_reverification};
pub use contact::{BankAccount, Email, Phone};
pub use error::DomainError;
pub use nik::{Mismatch, Nik, nip_nik_consistent};
pub use nip::Nip;
pub use site::{AssignedSite, Coordinates, WorkSite, parse_sites};
pub use update::{SealedPersonalData, UpdateField, UpdateMask, WorkerUpdate};
pub use values::{
    AgencyCode, DeactivationReason, DisplayName, LocalDate, PersonName, RequestId, Sex, TimeZone,
    UnitCode, WorkerKind,
};
pub use worker::{
    EmployeeId, RegisterWorker, RegistrationSource, Worker, WorkerCommand, WorkerState,
    WorkerStatus,
};

#[cfg(test)]
mod replay_law {
    //! Folding is associative over a history: replaying from a snapshot gives
    //! the same state as replaying from scratch, which is what lets the store
    //! cache states and resume.

    use pantau_proto::events::v1::identity_event::Event;
    use proptest::prelude::*;

    use super::fixtures::*;
    use super::*;

    /// Builds a command from random numbers; many will be refused, which is
    /// fine: only accepted commands produce history.
    fn worker_command(op: u8, n: u8, flag: bool) -> WorkerCommand {
        let campaign = format!("c{}", n % 3);
        match op {
            0 => register_cmd(register_pns()),
            1 => WorkerCommand::Update(update_name(&format!("Budi {n}"))),
            2 => WorkerCommand::Update(update_phone(&format!("v{n}"))),
            3 => WorkerCommand::Transfer {
                to_agency: format!("agency-{}", n % 2),
                to_unit: format!("unit-{}", n % 3),
                effective_on: date("2020-01-01"),
            },
            4 => WorkerCommand::AssignSupervisor {
                supervisor_id: if flag {
                    "w1".into()
                } else {
                    format!("sup-{}", n % 4)
                },
                effective_on: date("2020-01-01"),
            },
            5 => WorkerCommand::Deactivate {
                reason: DeactivationReason::Terminated,
                effective_on: date(if flag { "2009-01-01" } else { "2021-01-01" }),
                note: String::new(),
            },
            6 => WorkerCommand::Erase {
                requested_by: "province".into(),
            },
            7 => WorkerCommand::Reverify {
                campaign_id: campaign,
                correction: flag.then(|| update_phone(&format!("r{n}"))),
            },
            _ => WorkerCommand::RecordMissedReverification {
                campaign_id: campaign,
            },
        }
    }

    fn worker_history(ops: &[(u8, u8, bool)]) -> Vec<Event> {
        let mut history = Vec::new();
        let mut state = WorkerState::default();
        for &(op, n, flag) in ops {
            if let Ok(events) = worker::decide(&state, worker_command(op, n, flag)) {
                state = events.iter().fold(state, worker::evolve);
                history.extend(events);
            }
        }
        history
    }

    fn agency_history(ops: &[(bool, u8)]) -> Vec<Event> {
        let mut history = Vec::new();
        let mut state = AgencyState::default();
        for &(create_agency, n) in ops {
            let command = if create_agency {
                AgencyCommand::CreateAgency {
                    agency_id: "a1".into(),
                    code: AgencyCode::parse("DTA").expect("code"),
                    name: DisplayName::parse("name", "Dinas Tata Air").expect("name"),
                    time_zone: TimeZone::parse("Asia/Makassar").expect("tz"),
                }
            } else {
                AgencyCommand::CreateUnit {
                    unit_id: format!("u{}", n % 5),
                    code: UnitCode::parse(&format!("SEKSI-{}", n % 7)).expect("code"),
                    name: DisplayName::parse("name", "Seksi").expect("name"),
                }
            };
            if let Ok(events) = agency::decide(&state, command) {
                state = events.iter().fold(state, agency::evolve);
                history.extend(events);
            }
        }
        history
    }

    proptest! {
        #[test]
        fn a_worker_folded_in_two_halves_equals_one_fold(
            ops in prop::collection::vec((0u8..9, any::<u8>(), any::<bool>()), 0..40),
            split in any::<prop::sample::Index>(),
        ) {
            // Registration first, so most histories are more than one event.
            let mut all = vec![(0, 0, false)];
            all.extend(ops);
            let history = worker_history(&all);
            let k = split.index(history.len() + 1);
            let whole = history.iter().fold(WorkerState::default(), worker::evolve);
            let first = history[..k].iter().fold(WorkerState::default(), worker::evolve);
            let halves = history[k..].iter().fold(first, worker::evolve);
            prop_assert_eq!(whole, halves);
        }

        #[test]
        fn an_agency_folded_in_two_halves_equals_one_fold(
            ops in prop::collection::vec((any::<bool>(), any::<u8>()), 0..30),
            split in any::<prop::sample::Index>(),
        ) {
            let history = agency_history(&ops);
            let k = split.index(history.len() + 1);
            let whole = history.iter().fold(AgencyState::default(), agency::evolve);
            let first = history[..k].iter().fold(AgencyState::default(), agency::evolve);
            let halves = history[k..].iter().fold(first, agency::evolve);
            prop_assert_eq!(whole, halves);
        }
    }
}

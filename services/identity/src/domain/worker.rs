//! The worker aggregate as a decider: `decide` turns a command and the
//! current state into events, `evolve` folds events into state. Encryption,
//! id generation and clocks stay in the adapter; their results arrive inside
//! the command.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use pantau_proto::events::v1::{self as ev, identity_event::Event};

use super::error::DomainError;
use super::nik::{Mismatch, Nik, nip_nik_consistent};
use super::nip::Nip;
use super::site::AssignedSite;
use super::update::{SealedPersonalData, WorkerUpdate};
use super::values::{DeactivationReason, LocalDate, PersonName, WorkerKind};

/// What a worker is known by on the payroll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmployeeId {
    /// Civil servants: their NIP.
    Nip(Nip),
    /// Contract workers: an ID the adapter generated (e.g. `PHL-…`).
    Generated(String),
}

impl EmployeeId {
    pub fn as_str(&self) -> &str {
        match self {
            EmployeeId::Nip(nip) => nip.as_str(),
            EmployeeId::Generated(id) => id,
        }
    }
}

/// How a registration reached us; a legacy import records anomalies that a
/// direct registration refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationSource {
    Direct,
    LegacyImport,
}

/// Everything a `WorkerRegistered` event needs, already parsed and sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterWorker {
    pub worker_id: String,
    pub kind: WorkerKind,
    pub employee_id: EmployeeId,
    /// Read only for its birth date and sex; the value itself travels sealed
    /// in `personal`.
    pub nik: Nik,
    pub name: PersonName,
    pub agency_id: String,
    pub unit_id: String,
    pub supervisor_id: Option<String>,
    pub photo_ref: String,
    pub sites: Vec<AssignedSite>,
    pub personal: SealedPersonalData,
    pub source: RegistrationSource,
    /// Duplicates the adapter found (it can query other workers; we cannot).
    pub anomalies: Vec<ev::ImportAnomaly>,
    pub joined_on: LocalDate,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerCommand {
    Register(Box<RegisterWorker>),
    Update(WorkerUpdate),
    Transfer {
        to_agency: String,
        to_unit: String,
        effective_on: LocalDate,
    },
    AssignSupervisor {
        supervisor_id: String,
        effective_on: LocalDate,
    },
    Deactivate {
        reason: DeactivationReason,
        effective_on: LocalDate,
        note: String,
    },
    Erase {
        requested_by: String,
    },
    /// The worker confirmed their record, optionally correcting personal
    /// fields; the correction and the confirmation are written together.
    Reverify {
        campaign_id: String,
        correction: Option<WorkerUpdate>,
    },
    /// Closing a campaign records each active worker who did not re-verify.
    RecordMissedReverification {
        campaign_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerStatus {
    Active,
    Inactive {
        reason: Option<DeactivationReason>,
        effective_on: String,
    },
}

/// A registered worker as far as the decider needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    pub worker_id: String,
    /// `None` when the event carries a kind this build does not know.
    pub kind: Option<WorkerKind>,
    pub employee_id: String,
    pub agency_id: String,
    pub unit_id: String,
    pub supervisor_id: Option<String>,
    /// `None` only for a malformed historical event; checks then pass.
    pub joined_on: Option<NaiveDate>,
    pub status: WorkerStatus,
    pub erased: bool,
    pub reverified_in: BTreeSet<String>,
    pub missed_in: BTreeSet<String>,
    /// Number of events applied, starting at 1 with the registration.
    pub version: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WorkerState {
    #[default]
    NotRegistered,
    Registered(Box<Worker>),
}

impl WorkerState {
    pub fn worker(&self) -> Option<&Worker> {
        match self {
            WorkerState::NotRegistered => None,
            WorkerState::Registered(w) => Some(w),
        }
    }
}

/// Folds one event into the state. Total: events that do not apply (another
/// aggregate's, or a change before registration) leave the state unchanged.
pub fn evolve(state: WorkerState, event: &Event) -> WorkerState {
    let mut w = match (state, event) {
        (_, Event::WorkerRegistered(e)) => {
            return WorkerState::Registered(Box::new(Worker {
                worker_id: e.worker_id.clone(),
                kind: WorkerKind::from_event(e.kind),
                employee_id: e.employee_id.clone(),
                agency_id: e.agency_id.clone(),
                unit_id: e.unit_id.clone(),
                supervisor_id: non_empty(&e.supervisor_id),
                joined_on: NaiveDate::parse_from_str(&e.joined_on, "%Y-%m-%d").ok(),
                status: WorkerStatus::Active,
                erased: false,
                reverified_in: BTreeSet::new(),
                missed_in: BTreeSet::new(),
                version: 1,
            }));
        }
        (WorkerState::Registered(w), _) => w,
        (state @ WorkerState::NotRegistered, _) => return state,
    };
    match event {
        Event::WorkerUpdated(_) => {}
        Event::WorkerTransferred(e) => {
            w.agency_id.clone_from(&e.to_agency_id);
            w.unit_id.clone_from(&e.to_unit_id);
        }
        Event::SupervisorAssigned(e) => w.supervisor_id = non_empty(&e.supervisor_id),
        Event::WorkerDeactivated(e) => {
            w.status = WorkerStatus::Inactive {
                reason: DeactivationReason::from_event(e.reason),
                effective_on: e.effective_on.clone(),
            };
        }
        Event::WorkerErased(_) => w.erased = true,
        Event::WorkerReverified(e) => {
            w.reverified_in.insert(e.campaign_id.clone());
        }
        Event::ReverificationMissed(e) => {
            w.missed_in.insert(e.campaign_id.clone());
        }
        _ => return WorkerState::Registered(w),
    }
    w.version += 1;
    WorkerState::Registered(w)
}

/// Decides which events a command produces, or why it is refused.
pub fn decide(state: &WorkerState, command: WorkerCommand) -> Result<Vec<Event>, DomainError> {
    let w = match state {
        WorkerState::NotRegistered => {
            return match command {
                WorkerCommand::Register(cmd) => register(*cmd),
                _ => Err(DomainError::NotFound("worker is not registered".into())),
            };
        }
        WorkerState::Registered(w) => w,
    };
    match command {
        WorkerCommand::Register(_) => Err(DomainError::already_exists(
            "worker_id",
            w.worker_id.clone(),
        )),
        WorkerCommand::Erase { requested_by } => {
            if w.erased {
                return Err(DomainError::precondition(format!(
                    "worker {} is already erased",
                    w.worker_id
                )));
            }
            Ok(vec![Event::WorkerErased(ev::WorkerErased {
                worker_id: w.worker_id.clone(),
                requested_by,
            })])
        }
        WorkerCommand::Deactivate {
            reason,
            effective_on,
            note,
        } => {
            // Erased workers may still be deactivated: stopping pay matters
            // more than the missing personal data.
            require_active(w)?;
            not_before_joining(w, effective_on)?;
            Ok(vec![Event::WorkerDeactivated(ev::WorkerDeactivated {
                worker_id: w.worker_id.clone(),
                reason: reason.to_event() as i32,
                effective_on: effective_on.to_string(),
                note,
            })])
        }
        WorkerCommand::Update(update) => {
            require_active(w)?;
            require_not_erased(w)?;
            update.check()?;
            Ok(vec![Event::WorkerUpdated(update.to_event(&w.worker_id))])
        }
        WorkerCommand::Transfer {
            to_agency,
            to_unit,
            effective_on,
        } => {
            require_active(w)?;
            require_not_erased(w)?;
            if to_agency.is_empty() {
                return Err(DomainError::invalid("to_agency_id", "must not be empty"));
            }
            if to_agency == w.agency_id && to_unit == w.unit_id {
                return Err(DomainError::precondition(format!(
                    "worker {} is already in agency {} unit {}",
                    w.worker_id, to_agency, to_unit
                )));
            }
            not_before_joining(w, effective_on)?;
            Ok(vec![Event::WorkerTransferred(ev::WorkerTransferred {
                worker_id: w.worker_id.clone(),
                from_agency_id: w.agency_id.clone(),
                from_unit_id: w.unit_id.clone(),
                to_agency_id: to_agency,
                to_unit_id: to_unit,
                effective_on: effective_on.to_string(),
            })])
        }
        WorkerCommand::AssignSupervisor {
            supervisor_id,
            effective_on,
        } => {
            require_active(w)?;
            require_not_erased(w)?;
            check_supervisor(&w.worker_id, &supervisor_id)?;
            if w.supervisor_id.as_deref() == Some(supervisor_id.as_str()) {
                return Err(DomainError::precondition(format!(
                    "worker {} is already supervised by {supervisor_id}",
                    w.worker_id
                )));
            }
            not_before_joining(w, effective_on)?;
            Ok(vec![Event::SupervisorAssigned(ev::SupervisorAssigned {
                worker_id: w.worker_id.clone(),
                supervisor_id,
                effective_on: effective_on.to_string(),
            })])
        }
        WorkerCommand::Reverify {
            campaign_id,
            correction,
        } => {
            require_campaign_id(&campaign_id)?;
            require_active(w)?;
            require_not_erased(w)?;
            if w.reverified_in.contains(&campaign_id) {
                return Err(DomainError::precondition(format!(
                    "worker {} already re-verified in campaign {campaign_id}",
                    w.worker_id
                )));
            }
            if w.missed_in.contains(&campaign_id) {
                return Err(DomainError::precondition(format!(
                    "campaign {campaign_id} is closed and worker {} missed it",
                    w.worker_id
                )));
            }
            let mut events = Vec::with_capacity(2);
            let mut corrected = Vec::new();
            if let Some(update) = correction {
                update.check()?;
                corrected = update.mask.names();
                events.push(Event::WorkerUpdated(update.to_event(&w.worker_id)));
            }
            events.push(Event::WorkerReverified(ev::WorkerReverified {
                worker_id: w.worker_id.clone(),
                campaign_id,
                corrected,
            }));
            Ok(events)
        }
        WorkerCommand::RecordMissedReverification { campaign_id } => {
            require_campaign_id(&campaign_id)?;
            require_active(w)?;
            if w.reverified_in.contains(&campaign_id) {
                return Err(DomainError::precondition(format!(
                    "worker {} re-verified in campaign {campaign_id}",
                    w.worker_id
                )));
            }
            if w.missed_in.contains(&campaign_id) {
                // A retried close must not fail halfway through the list.
                return Ok(Vec::new());
            }
            Ok(vec![Event::ReverificationMissed(
                ev::ReverificationMissed {
                    worker_id: w.worker_id.clone(),
                    campaign_id,
                    agency_id: w.agency_id.clone(),
                },
            )])
        }
    }
}

fn register(cmd: RegisterWorker) -> Result<Vec<Event>, DomainError> {
    let mut anomalies = cmd.anomalies;
    match (&cmd.employee_id, cmd.kind.requires_nip()) {
        (EmployeeId::Nip(nip), true) => {
            if let Err(mismatch) = nip_nik_consistent(nip, &cmd.nik) {
                record_or_refuse(cmd.source, mismatch, &mut anomalies)?;
            }
        }
        (EmployeeId::Generated(_), true) => {
            return Err(DomainError::invalid("nip", "is required for PNS"));
        }
        (EmployeeId::Nip(_), false) => {
            return Err(DomainError::invalid(
                "nip",
                "must be empty for contract workers (PHL, THL, TJP)",
            ));
        }
        (EmployeeId::Generated(id), false) if id.is_empty() => {
            return Err(DomainError::invalid("employee_id", "must not be empty"));
        }
        (EmployeeId::Generated(_), false) => {}
    }
    if cmd.worker_id.is_empty() {
        return Err(DomainError::invalid("worker_id", "must not be empty"));
    }
    if cmd.agency_id.is_empty() {
        return Err(DomainError::invalid("agency_id", "must not be empty"));
    }
    if let Some(sup) = &cmd.supervisor_id {
        check_supervisor(&cmd.worker_id, sup)?;
    }
    if cmd.joined_on.date() <= cmd.nik.birth_date() {
        return Err(DomainError::invalid(
            "joined_on",
            format!("{} is not after the birth date in the nik", cmd.joined_on),
        ));
    }
    let source = match cmd.source {
        RegistrationSource::Direct => ev::RegistrationSource::Direct,
        RegistrationSource::LegacyImport => ev::RegistrationSource::LegacyImport,
    };
    Ok(vec![Event::WorkerRegistered(ev::WorkerRegistered {
        worker_id: cmd.worker_id,
        kind: cmd.kind.to_event() as i32,
        employee_id: cmd.employee_id.as_str().to_owned(),
        name: cmd.name.as_str().to_owned(),
        agency_id: cmd.agency_id,
        unit_id: cmd.unit_id,
        supervisor_id: cmd.supervisor_id.unwrap_or_default(),
        photo_ref: cmd.photo_ref,
        sites: cmd.sites.iter().map(AssignedSite::to_event).collect(),
        personal: Some(cmd.personal.data),
        fingerprints: Some(cmd.personal.fingerprints),
        source: source as i32,
        anomalies,
        joined_on: cmd.joined_on.to_string(),
        birth_date: cmd.nik.birth_date().format("%Y-%m-%d").to_string(),
        sex: cmd.nik.sex().code(),
    })])
}

/// A legacy payroll carries years of typos: importing with an audit trail
/// beats rejecting a worker who is being paid today.
fn record_or_refuse(
    source: RegistrationSource,
    mismatch: Mismatch,
    anomalies: &mut Vec<ev::ImportAnomaly>,
) -> Result<(), DomainError> {
    match source {
        RegistrationSource::Direct => Err(mismatch.into()),
        RegistrationSource::LegacyImport => {
            if !anomalies.iter().any(|a| a.kind == Mismatch::ANOMALY_KIND) {
                anomalies.push(ev::ImportAnomaly {
                    kind: Mismatch::ANOMALY_KIND.to_owned(),
                    detail: mismatch.to_string(),
                    other_worker_id: String::new(),
                });
            }
            Ok(())
        }
    }
}

fn require_active(w: &Worker) -> Result<(), DomainError> {
    match &w.status {
        WorkerStatus::Active => Ok(()),
        WorkerStatus::Inactive { effective_on, .. } => Err(DomainError::precondition(format!(
            "worker {} is inactive since {effective_on}",
            w.worker_id
        ))),
    }
}

fn require_not_erased(w: &Worker) -> Result<(), DomainError> {
    if w.erased {
        return Err(DomainError::precondition(format!(
            "worker {} is erased; their record can no longer change",
            w.worker_id
        )));
    }
    Ok(())
}

fn require_campaign_id(campaign_id: &str) -> Result<(), DomainError> {
    if campaign_id.is_empty() {
        return Err(DomainError::invalid("campaign_id", "must not be empty"));
    }
    Ok(())
}

fn check_supervisor(worker_id: &str, supervisor_id: &str) -> Result<(), DomainError> {
    if supervisor_id.is_empty() {
        return Err(DomainError::invalid("supervisor_id", "must not be empty"));
    }
    if supervisor_id == worker_id {
        // Self-supervision lets a worker approve their own reports.
        return Err(DomainError::invalid(
            "supervisor_id",
            "a worker cannot supervise themself",
        ));
    }
    Ok(())
}

fn not_before_joining(w: &Worker, effective_on: LocalDate) -> Result<(), DomainError> {
    match w.joined_on {
        Some(joined) if effective_on.date() < joined => Err(DomainError::invalid(
            "effective_on",
            format!("{effective_on} is before the worker joined on {joined}"),
        )),
        _ => Ok(()),
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;

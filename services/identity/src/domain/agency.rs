//! The agency aggregate (SKPD/OPD) and its units. Uniqueness of the agency
//! code across agencies spans aggregates, so the adapter enforces it with the
//! read model; unit codes are unique inside one agency, which we decide here.

use std::collections::BTreeMap;

use pantau_proto::events::v1::{self as ev, identity_event::Event};

use super::error::DomainError;
use super::values::{AgencyCode, DisplayName, TimeZone, UnitCode};

#[derive(Debug, Clone, PartialEq)]
pub enum AgencyCommand {
    CreateAgency {
        agency_id: String,
        code: AgencyCode,
        name: DisplayName,
        time_zone: TimeZone,
    },
    CreateUnit {
        unit_id: String,
        code: UnitCode,
        name: DisplayName,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agency {
    pub agency_id: String,
    pub code: String,
    pub name: String,
    pub time_zone: String,
    /// Unit code to unit id.
    pub units: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AgencyState {
    #[default]
    NotCreated,
    Created(Agency),
}

impl AgencyState {
    pub fn agency(&self) -> Option<&Agency> {
        match self {
            AgencyState::NotCreated => None,
            AgencyState::Created(a) => Some(a),
        }
    }
}

/// Folds one event; events of other aggregates leave the state unchanged.
pub fn evolve(state: AgencyState, event: &Event) -> AgencyState {
    match (state, event) {
        (_, Event::AgencyCreated(e)) => AgencyState::Created(Agency {
            agency_id: e.agency_id.clone(),
            code: e.code.clone(),
            name: e.name.clone(),
            time_zone: e.time_zone.clone(),
            units: BTreeMap::new(),
        }),
        (AgencyState::Created(mut a), Event::UnitCreated(e)) => {
            a.units.insert(e.code.clone(), e.unit_id.clone());
            AgencyState::Created(a)
        }
        (state, _) => state,
    }
}

pub fn decide(state: &AgencyState, command: AgencyCommand) -> Result<Vec<Event>, DomainError> {
    match (state, command) {
        (
            AgencyState::NotCreated,
            AgencyCommand::CreateAgency {
                agency_id,
                code,
                name,
                time_zone,
            },
        ) => {
            if agency_id.is_empty() {
                return Err(DomainError::invalid("agency_id", "must not be empty"));
            }
            Ok(vec![Event::AgencyCreated(ev::AgencyCreated {
                agency_id,
                code: code.as_str().to_owned(),
                name: name.as_str().to_owned(),
                time_zone: time_zone.name().to_owned(),
            })])
        }
        (AgencyState::Created(a), AgencyCommand::CreateAgency { .. }) => Err(
            DomainError::already_exists("agency_id", a.agency_id.clone()),
        ),
        (AgencyState::NotCreated, AgencyCommand::CreateUnit { .. }) => {
            Err(DomainError::NotFound("agency does not exist".into()))
        }
        (
            AgencyState::Created(a),
            AgencyCommand::CreateUnit {
                unit_id,
                code,
                name,
            },
        ) => {
            if unit_id.is_empty() {
                return Err(DomainError::invalid("unit_id", "must not be empty"));
            }
            if a.units.contains_key(code.as_str()) {
                return Err(DomainError::already_exists("code", code.as_str()));
            }
            if a.units.values().any(|id| *id == unit_id) {
                return Err(DomainError::already_exists("unit_id", unit_id));
            }
            Ok(vec![Event::UnitCreated(ev::UnitCreated {
                agency_id: a.agency_id.clone(),
                unit_id,
                code: code.as_str().to_owned(),
                name: name.as_str().to_owned(),
            })])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(history: &[Event]) -> AgencyState {
        history.iter().fold(AgencyState::default(), evolve)
    }

    fn create_agency(id: &str) -> AgencyCommand {
        AgencyCommand::CreateAgency {
            agency_id: id.into(),
            code: AgencyCode::parse("DTA").expect("code"),
            name: DisplayName::parse("name", "Dinas Tata Air").expect("name"),
            time_zone: TimeZone::parse("Asia/Jakarta").expect("tz"),
        }
    }

    fn create_unit(id: &str, code: &str) -> AgencyCommand {
        AgencyCommand::CreateUnit {
            unit_id: id.into(),
            code: UnitCode::parse(code).expect("code"),
            name: DisplayName::parse("name", "Seksi Pemeliharaan").expect("name"),
        }
    }

    fn created() -> Vec<Event> {
        decide(&AgencyState::default(), create_agency("a1")).expect("created")
    }

    #[test]
    fn creating_an_agency_records_code_name_and_time_zone() {
        let events = created();
        let [Event::AgencyCreated(e)] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(
            (
                e.agency_id.as_str(),
                e.code.as_str(),
                e.name.as_str(),
                e.time_zone.as_str()
            ),
            ("a1", "DTA", "Dinas Tata Air", "Asia/Jakarta")
        );
    }

    #[test]
    fn creating_an_agency_twice_already_exists() {
        let r = decide(&given(&created()), create_agency("a1"));
        assert!(matches!(r, Err(DomainError::AlreadyExists { field, .. }) if field == "agency_id"));
    }

    #[test]
    fn a_unit_of_a_missing_agency_is_not_found() {
        let r = decide(&AgencyState::default(), create_unit("u1", "SEKSI-1"));
        assert!(matches!(r, Err(DomainError::NotFound(_))));
    }

    #[test]
    fn a_unit_is_created_under_its_agency() {
        let events = decide(&given(&created()), create_unit("u1", "SEKSI-1")).expect("ok");
        assert!(matches!(events.as_slice(),
            [Event::UnitCreated(e)] if e.agency_id == "a1" && e.unit_id == "u1" && e.code == "SEKSI-1"));
    }

    #[test]
    fn a_unit_code_is_unique_within_its_agency() {
        let mut history = created();
        history.extend(decide(&given(&history), create_unit("u1", "SEKSI-1")).expect("first"));
        let r = decide(&given(&history), create_unit("u2", "SEKSI-1"));
        assert!(
            matches!(r, Err(DomainError::AlreadyExists { field, value }) if field == "code" && value == "SEKSI-1")
        );
        let r = decide(&given(&history), create_unit("u1", "SEKSI-2"));
        assert!(matches!(r, Err(DomainError::AlreadyExists { field, .. }) if field == "unit_id"));
        assert!(decide(&given(&history), create_unit("u2", "SEKSI-2")).is_ok());
    }
}

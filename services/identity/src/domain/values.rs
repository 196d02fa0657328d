//! Small value types read from requests: codes, names, dates, enums. Each is
//! built only by a `parse` that names the offending request field, so code
//! holding one never re-checks it.

use std::fmt;

use chrono::NaiveDate;
use pantau_proto::{events::v1 as ev, identity::v1 as api};

use super::error::DomainError;
use super::nip::truncate;

/// Sex as encoded in NIP and NIK (1 male, 2 female).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// The digit used by NIP and by `WorkerRegistered.sex`.
    pub fn code(self) -> u32 {
        match self {
            Sex::Male => 1,
            Sex::Female => 2,
        }
    }

    pub fn from_code(code: u32) -> Option<Sex> {
        match code {
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            _ => None,
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sex::Male => "male",
            Sex::Female => "female",
        })
    }
}

/// The kind of worker: civil servant (PNS) or one of the contract kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkerKind {
    Pns,
    Phl,
    Thl,
    Tjp,
}

impl WorkerKind {
    /// Only civil servants have a NIP; everyone else gets a generated ID.
    pub fn requires_nip(self) -> bool {
        self == WorkerKind::Pns
    }

    /// Upper-case label, also the prefix of generated employee IDs.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Pns => "PNS",
            WorkerKind::Phl => "PHL",
            WorkerKind::Thl => "THL",
            WorkerKind::Tjp => "TJP",
        }
    }

    /// Reads the raw `kind` field of an API request.
    pub fn from_api(raw: i32) -> Result<WorkerKind, DomainError> {
        api::WorkerKind::try_from(raw)
            .ok()
            .and_then(|k| WorkerKind::try_from(k).ok())
            .ok_or_else(|| DomainError::invalid("kind", "must be PNS, PHL, THL or TJP"))
    }

    /// Reads the raw `kind` field of a stored event; `None` for values this
    /// build does not know, which the caller decides how to treat.
    pub fn from_event(raw: i32) -> Option<WorkerKind> {
        match ev::WorkerKind::try_from(raw).ok()? {
            ev::WorkerKind::Pns => Some(WorkerKind::Pns),
            ev::WorkerKind::Phl => Some(WorkerKind::Phl),
            ev::WorkerKind::Thl => Some(WorkerKind::Thl),
            ev::WorkerKind::Tjp => Some(WorkerKind::Tjp),
            ev::WorkerKind::Unspecified => None,
        }
    }

    pub fn to_event(self) -> ev::WorkerKind {
        match self {
            WorkerKind::Pns => ev::WorkerKind::Pns,
            WorkerKind::Phl => ev::WorkerKind::Phl,
            WorkerKind::Thl => ev::WorkerKind::Thl,
            WorkerKind::Tjp => ev::WorkerKind::Tjp,
        }
    }
}

impl TryFrom<api::WorkerKind> for WorkerKind {
    type Error = DomainError;

    fn try_from(k: api::WorkerKind) -> Result<Self, Self::Error> {
        match k {
            api::WorkerKind::Pns => Ok(WorkerKind::Pns),
            api::WorkerKind::Phl => Ok(WorkerKind::Phl),
            api::WorkerKind::Thl => Ok(WorkerKind::Thl),
            api::WorkerKind::Tjp => Ok(WorkerKind::Tjp),
            api::WorkerKind::Unspecified => {
                Err(DomainError::invalid("kind", "must be PNS, PHL, THL or TJP"))
            }
        }
    }
}

impl From<WorkerKind> for api::WorkerKind {
    fn from(k: WorkerKind) -> Self {
        match k {
            WorkerKind::Pns => api::WorkerKind::Pns,
            WorkerKind::Phl => api::WorkerKind::Phl,
            WorkerKind::Thl => api::WorkerKind::Thl,
            WorkerKind::Tjp => api::WorkerKind::Tjp,
        }
    }
}

impl From<WorkerKind> for ev::WorkerKind {
    fn from(k: WorkerKind) -> Self {
        k.to_event()
    }
}

/// Why a worker stopped working for the government.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeactivationReason {
    Resigned,
    Terminated,
    Deceased,
}

impl DeactivationReason {
    /// Reads the raw `reason` field of a `DeactivateWorkerRequest`.
    pub fn from_api(raw: i32) -> Result<DeactivationReason, DomainError> {
        match api::DeactivationReason::try_from(raw) {
            Ok(api::DeactivationReason::Resigned) => Ok(DeactivationReason::Resigned),
            Ok(api::DeactivationReason::Terminated) => Ok(DeactivationReason::Terminated),
            Ok(api::DeactivationReason::Deceased) => Ok(DeactivationReason::Deceased),
            _ => Err(DomainError::invalid(
                "reason",
                "must be RESIGNED, TERMINATED or DECEASED",
            )),
        }
    }

    pub fn from_event(raw: i32) -> Option<DeactivationReason> {
        match ev::DeactivationReason::try_from(raw).ok()? {
            ev::DeactivationReason::Resigned => Some(DeactivationReason::Resigned),
            ev::DeactivationReason::Terminated => Some(DeactivationReason::Terminated),
            ev::DeactivationReason::Deceased => Some(DeactivationReason::Deceased),
            ev::DeactivationReason::Unspecified => None,
        }
    }

    pub fn to_event(self) -> ev::DeactivationReason {
        match self {
            DeactivationReason::Resigned => ev::DeactivationReason::Resigned,
            DeactivationReason::Terminated => ev::DeactivationReason::Terminated,
            DeactivationReason::Deceased => ev::DeactivationReason::Deceased,
        }
    }

    pub fn to_api(self) -> api::DeactivationReason {
        match self {
            DeactivationReason::Resigned => api::DeactivationReason::Resigned,
            DeactivationReason::Terminated => api::DeactivationReason::Terminated,
            DeactivationReason::Deceased => api::DeactivationReason::Deceased,
        }
    }
}

/// An agency code such as `DISPERTAMAN`: 2-32 chars of `A-Z`, `0-9`, `-`,
/// starting with a letter. Lower case is refused rather than folded so the
/// code in the registry is exactly what the admin typed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgencyCode(String);

impl AgencyCode {
    /// Field `code`; use [`DomainError::for_field`] for `agency_code`.
    pub fn parse(s: &str) -> Result<AgencyCode, DomainError> {
        parse_code("code", s).map(AgencyCode)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unit code within an agency, with the same grammar as [`AgencyCode`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitCode(String);

impl UnitCode {
    /// Field `code`; use [`DomainError::for_field`] for `unit_code`.
    pub fn parse(s: &str) -> Result<UnitCode, DomainError> {
        parse_code("code", s).map(UnitCode)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_code(field: &'static str, s: &str) -> Result<String, DomainError> {
    let invalid = |reason: &str| DomainError::invalid(field, reason);
    let len = s.chars().count();
    if !(2..=32).contains(&len) {
        return Err(invalid("must be 2-32 characters"));
    }
    if s.chars().any(|c| c.is_ascii_lowercase()) {
        return Err(invalid("must be upper case (A-Z, 0-9 and '-')"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid("may contain only A-Z, 0-9 and '-'"));
    }
    if !s.starts_with(|c: char| c.is_ascii_uppercase()) {
        return Err(invalid("must start with a letter"));
    }
    Ok(s.to_owned())
}

/// One of Indonesia's three time zones; agencies count days and months in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub const ALLOWED: [&'static str; 3] = ["Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura"];

    /// Field `time_zone`. Only the IANA names of WIB, WITA and WIT; aliases
    /// such as `Asia/Pontianak` are refused so every agency uses one of three.
    pub fn parse(s: &str) -> Result<TimeZone, DomainError> {
        match s {
            "Asia/Jakarta" => Ok(TimeZone(chrono_tz::Asia::Jakarta)),
            "Asia/Makassar" => Ok(TimeZone(chrono_tz::Asia::Makassar)),
            "Asia/Jayapura" => Ok(TimeZone(chrono_tz::Asia::Jayapura)),
            _ => Err(DomainError::invalid(
                "time_zone",
                format!("must be one of {}", Self::ALLOWED.join(", ")),
            )),
        }
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// A worker's full name: trimmed, 1-200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Field `name`.
    pub fn parse(s: &str) -> Result<PersonName, DomainError> {
        parse_text("name", s, 200).map(PersonName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of an agency or unit, or a campaign title: trimmed, 1-200
/// characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &'static str, s: &str) -> Result<DisplayName, DomainError> {
        parse_text(field, s, 200).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Trims, then checks length in characters (not bytes, names are often
/// non-ASCII) and refuses control characters that break CSV exports.
pub(crate) fn parse_text(field: &str, s: &str, max: usize) -> Result<String, DomainError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

/// A calendar date in an agency's local time, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalDate(NaiveDate);

impl LocalDate {
    /// Strict `YYYY-MM-DD`; the field differs per request (`joined_on`,
    /// `effective_on`), so the caller names it.
    pub fn parse(field: &str, s: &str) -> Result<LocalDate, DomainError> {
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shaped {
            return Err(DomainError::invalid(
                field,
                format!("must be a date as YYYY-MM-DD, got {:?}", truncate(s)),
            ));
        }
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(LocalDate)
            .map_err(|_| DomainError::invalid(field, format!("{s} is not a real date")))
    }

    pub fn date(self) -> NaiveDate {
        self.0
    }
}

impl From<NaiveDate> for LocalDate {
    fn from(d: NaiveDate) -> Self {
        LocalDate(d)
    }
}

impl fmt::Display for LocalDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

/// The client-chosen idempotency key of a mutating request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    /// Field `request_id`: 1-128 chars of `A-Z a-z 0-9 . _ : -`, safe to use
    /// verbatim in a `Nats-Msg-Id` header.
    pub fn parse(s: &str) -> Result<RequestId, DomainError> {
        Ok(RequestId(
            pantau_platform::authz::parse_request_id(s)?.to_owned(),
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;

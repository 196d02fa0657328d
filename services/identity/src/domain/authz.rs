//! Who may do what: a pure check of a token's principal against an action.
//! Agency scoping lives here, so every RPC asks one function and the rules
//! can be read (and tested) as one table.

use std::fmt;

use pantau_proto::identity::v1 as api;

use super::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Worker,
    Supervisor,
    AgencyAdmin,
    ProvinceAdmin,
    Auditor,
    Scanner,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Worker,
        Role::Supervisor,
        Role::AgencyAdmin,
        Role::ProvinceAdmin,
        Role::Auditor,
        Role::Scanner,
    ];

    /// The name used in token claims and `AccountCreated.roles`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Supervisor => "supervisor",
            Role::AgencyAdmin => "agency_admin",
            Role::ProvinceAdmin => "province_admin",
            Role::Auditor => "auditor",
            Role::Scanner => "scanner",
        }
    }

    /// Reads a claim; unknown names give `None` so a token minted by a newer
    /// release is not rejected outright, it just grants nothing extra.
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Reads one raw entry of `CreateAccountRequest.roles`.
    pub fn from_api(raw: i32) -> Result<Role, DomainError> {
        let role = match api::Role::try_from(raw) {
            Ok(api::Role::Worker) => Role::Worker,
            Ok(api::Role::Supervisor) => Role::Supervisor,
            Ok(api::Role::AgencyAdmin) => Role::AgencyAdmin,
            Ok(api::Role::ProvinceAdmin) => Role::ProvinceAdmin,
            Ok(api::Role::Auditor) => Role::Auditor,
            Ok(api::Role::Scanner) => Role::Scanner,
            Ok(api::Role::Unspecified) | Err(_) => {
                return Err(DomainError::invalid("roles", format!("unknown role {raw}")));
            }
        };
        Ok(role)
    }

    pub fn to_api(self) -> api::Role {
        match self {
            Role::Worker => api::Role::Worker,
            Role::Supervisor => api::Role::Supervisor,
            Role::AgencyAdmin => api::Role::AgencyAdmin,
            Role::ProvinceAdmin => api::Role::ProvinceAdmin,
            Role::Auditor => api::Role::Auditor,
            Role::Scanner => api::Role::Scanner,
        }
    }

    /// Roles that see or act across every agency; only a province admin may
    /// hand them out.
    pub fn is_province_wide(self) -> bool {
        matches!(self, Role::ProvinceAdmin | Role::Auditor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller, as read from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub roles: Vec<Role>,
    pub agency_id: Option<String>,
    pub worker_id: Option<String>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    fn is_province_admin(&self) -> bool {
        self.has(Role::ProvinceAdmin)
    }

    fn in_agency(&self, role: Role, agency: &str) -> bool {
        self.has(role) && self.agency_id.as_deref() == Some(agency)
    }

    fn is_admin_of(&self, agency: &str) -> bool {
        self.in_agency(Role::AgencyAdmin, agency)
    }

    /// A worker acting on their own record. Supervisors are workers too; a
    /// scanner account is a shared device and never "themself".
    fn is_worker(&self, worker_id: &str) -> bool {
        self.worker_id.as_deref() == Some(worker_id)
            && (self.has(Role::Worker) || self.has(Role::Supervisor))
    }
}

/// What the caller wants to do, with the agency (and worker) it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    ManageAgencies,
    ManageUnits {
        agency: &'a str,
    },
    RegisterWorker {
        agency: &'a str,
    },
    /// Update, transfer, assign a supervisor, deactivate. A transfer is
    /// checked twice: once for the source, once for the target agency.
    ChangeWorker {
        agency: &'a str,
    },
    EraseWorker {
        agency: &'a str,
    },
    ReadWorker {
        agency: &'a str,
        worker_id: &'a str,
    },
    /// `None`: all agencies.
    ListWorkers {
        agency: Option<&'a str>,
    },
    /// `None`: a campaign for every agency.
    OpenCampaign {
        agency: Option<&'a str>,
    },
    Reverify {
        agency: &'a str,
        worker_id: &'a str,
    },
    ReadCampaign,
    CreateAccount {
        agency: Option<&'a str>,
        roles: &'a [Role],
    },
    /// Storing a portrait. It belongs to no agency: a registration or
    /// update, authorized for the worker's agency, then names it as the
    /// worker's photo_ref.
    UploadPhoto,
}

/// Allows the action or says why not.
pub fn authorize(p: &Principal, action: &Action<'_>) -> Result<(), DomainError> {
    check(p, action).map_err(|why| DomainError::PermissionDenied(format!("{}: {why}", p.subject)))
}

fn check(p: &Principal, action: &Action<'_>) -> Result<(), String> {
    let province = p.is_province_admin();
    let auditor = p.has(Role::Auditor);
    let allow = |ok: bool, why: String| if ok { Ok(()) } else { Err(why) };
    match *action {
        Action::ManageAgencies => {
            allow(province, "creating agencies requires province_admin".into())
        }
        Action::ManageUnits { agency } => allow(
            province || p.is_admin_of(agency),
            format!(
                "managing units of agency {agency} requires its agency_admin or province_admin"
            ),
        ),
        Action::RegisterWorker { agency } => allow(
            province || p.is_admin_of(agency),
            format!(
                "registering workers in agency {agency} requires its agency_admin or province_admin"
            ),
        ),
        Action::ChangeWorker { agency } => allow(
            province || p.is_admin_of(agency),
            format!(
                "changing workers of agency {agency} requires its agency_admin or province_admin"
            ),
        ),
        Action::EraseWorker { .. } => {
            allow(province, "erasing a worker requires province_admin".into())
        }
        Action::ReadWorker { agency, worker_id } => allow(
            province
                || auditor
                || p.is_admin_of(agency)
                || p.in_agency(Role::Supervisor, agency)
                || p.is_worker(worker_id),
            format!(
                "reading worker {worker_id} requires being that worker, or staff of agency {agency}, or province-wide access"
            ),
        ),
        Action::ListWorkers { agency: None } => allow(
            province || auditor,
            "listing workers of all agencies requires province_admin or auditor".into(),
        ),
        Action::ListWorkers {
            agency: Some(agency),
        } => allow(
            province || auditor || p.is_admin_of(agency) || p.in_agency(Role::Supervisor, agency),
            format!(
                "listing workers of agency {agency} requires its agency_admin or supervisor, or province-wide access"
            ),
        ),
        Action::OpenCampaign { agency: None } => allow(
            province,
            "opening a campaign for every agency requires province_admin".into(),
        ),
        Action::OpenCampaign {
            agency: Some(agency),
        } => allow(
            province || p.is_admin_of(agency),
            format!(
                "opening a campaign for agency {agency} requires its agency_admin or province_admin"
            ),
        ),
        Action::Reverify { agency, worker_id } => allow(
            province || p.is_admin_of(agency) || p.is_worker(worker_id),
            format!(
                "re-verifying worker {worker_id} requires being that worker, the agency_admin of {agency} or province_admin"
            ),
        ),
        Action::ReadCampaign => allow(
            province || auditor || p.has(Role::AgencyAdmin),
            "reading campaign progress requires an admin or auditor role".into(),
        ),
        Action::CreateAccount { agency, roles } => create_account(p, agency, roles),
        Action::UploadPhoto => allow(
            province || p.has(Role::AgencyAdmin),
            "uploading a portrait requires agency_admin or province_admin".into(),
        ),
    }
}

fn create_account(p: &Principal, agency: Option<&str>, roles: &[Role]) -> Result<(), String> {
    if p.is_province_admin() {
        return Ok(());
    }
    if !p.has(Role::AgencyAdmin) {
        return Err("creating accounts requires agency_admin or province_admin".into());
    }
    match agency {
        Some(a) if p.is_admin_of(a) => {}
        Some(a) => {
            return Err(format!(
                "an agency_admin may create accounts only in their own agency, not {a}"
            ));
        }
        None => return Err("an agency_admin may create accounts only in their own agency".into()),
    }
    if let Some(r) = roles.iter().find(|r| r.is_province_wide()) {
        return Err(format!("only a province_admin may grant the {r} role"));
    }
    Ok(())
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;

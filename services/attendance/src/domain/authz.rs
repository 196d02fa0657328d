//! Who may do what. Roles come from identity's access tokens; scopes
//! (agency, unit, supervised workers) from the registry.

use super::DomainError;
use super::registry::Worker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Supervisor,
    AgencyAdmin,
    ProvinceAdmin,
    Auditor,
    Scanner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "worker" => Role::Worker,
            "supervisor" => Role::Supervisor,
            "agency_admin" => Role::AgencyAdmin,
            "province_admin" => Role::ProvinceAdmin,
            "auditor" => Role::Auditor,
            "scanner" => Role::Scanner,
            _ => return None,
        })
    }
}

/// The caller of a request.
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

    pub fn is_province_admin(&self) -> bool {
        self.has(Role::ProvinceAdmin)
    }

    /// Province admins manage every agency; agency admins their own.
    pub fn manages_agency(&self, agency_id: &str) -> bool {
        self.is_province_admin()
            || (self.has(Role::AgencyAdmin) && self.agency_id.as_deref() == Some(agency_id))
    }

    pub fn is_worker(&self, worker_id: &str) -> bool {
        self.worker_id.as_deref() == Some(worker_id)
    }

    pub fn supervises(&self, worker: &Worker) -> bool {
        self.has(Role::Supervisor)
            && !worker.supervisor_id.is_empty()
            && self.worker_id.as_deref() == Some(worker.supervisor_id.as_str())
    }

    /// Reading a worker's attendance: the worker, their supervisor, their
    /// agency's admins, province admins and auditors.
    pub fn may_read(&self, worker: &Worker) -> Result<(), DomainError> {
        if self.is_worker(&worker.id)
            || self.supervises(worker)
            || self.manages_agency(&worker.agency_id)
            || self.has(Role::Auditor)
        {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(
                "only the worker, their supervisor, their agency's admins and auditors may see this"
                    .into(),
            ))
        }
    }

    /// Reading an agency's figures.
    pub fn may_read_agency(&self, agency_id: &str) -> Result<(), DomainError> {
        if self.manages_agency(agency_id) || self.has(Role::Auditor) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "only agency {agency_id}'s admins, province admins and auditors may see this"
            )))
        }
    }

    pub fn must_manage(&self, agency_id: &str) -> Result<(), DomainError> {
        if self.manages_agency(agency_id) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "only agency {agency_id}'s admins and province admins may do this"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker() -> Worker {
        Worker {
            id: "w1".into(),
            name: "Budi".into(),
            employee_id: "PHL-1".into(),
            agency_id: "a1".into(),
            unit_id: "u1".into(),
            supervisor_id: "s1".into(),
            photo_ref: String::new(),
            sites: vec![],
            active: true,
            joined_on: None,
        }
    }

    fn principal(roles: &[Role], agency: Option<&str>, worker: Option<&str>) -> Principal {
        Principal {
            subject: "acc".into(),
            roles: roles.to_vec(),
            agency_id: agency.map(str::to_owned),
            worker_id: worker.map(str::to_owned),
        }
    }

    #[test]
    fn reading_a_worker_is_limited_to_those_responsible() {
        let w = worker();
        assert!(
            principal(&[Role::Worker], Some("a1"), Some("w1"))
                .may_read(&w)
                .is_ok()
        );
        assert!(
            principal(&[Role::Supervisor], Some("a1"), Some("s1"))
                .may_read(&w)
                .is_ok()
        );
        assert!(
            principal(&[Role::AgencyAdmin], Some("a1"), None)
                .may_read(&w)
                .is_ok()
        );
        assert!(principal(&[Role::Auditor], None, None).may_read(&w).is_ok());
        assert!(
            principal(&[Role::ProvinceAdmin], None, None)
                .may_read(&w)
                .is_ok()
        );
        assert!(
            principal(&[Role::Worker], Some("a1"), Some("w2"))
                .may_read(&w)
                .is_err()
        );
        assert!(
            principal(&[Role::Supervisor], Some("a1"), Some("s2"))
                .may_read(&w)
                .is_err()
        );
        assert!(
            principal(&[Role::AgencyAdmin], Some("a2"), None)
                .may_read(&w)
                .is_err()
        );
        // A worker account linked to the supervisor's worker id is not a
        // supervisor without the role.
        assert!(
            principal(&[Role::Worker], Some("a1"), Some("s1"))
                .may_read(&w)
                .is_err()
        );
    }
}

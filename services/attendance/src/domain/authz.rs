//! Who may do what. Roles come from identity's access tokens (the caller is
//! the shared `pantau_platform::authz::Principal`); scopes (agency, unit,
//! supervised workers) from the registry.

pub use pantau_platform::authz::{Principal, Role};

use super::DomainError;
use super::registry::Worker;

/// What a caller may do to a particular worker's attendance.
pub trait WorkerAccess {
    /// A supervisor account whose worker record supervises `worker`.
    fn supervises(&self, worker: &Worker) -> bool;

    /// Reading a worker's attendance: the worker, their supervisor, their
    /// agency's admins, province admins and auditors.
    fn may_read(&self, worker: &Worker) -> Result<(), DomainError>;
}

impl WorkerAccess for Principal {
    fn supervises(&self, worker: &Worker) -> bool {
        self.is_supervisor(&worker.supervisor_id)
    }

    fn may_read(&self, worker: &Worker) -> Result<(), DomainError> {
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

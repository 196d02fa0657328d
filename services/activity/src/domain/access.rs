//! Who may do what to a worker's reports and ratings. The roles come from
//! identity's token; the supervision from the registry as of the day of the
//! work.

use chrono::NaiveDate;

use super::registry::Worker;
use super::{DomainError, Principal, Role};

/// Filing a report for `worker` on `day`: the worker, or on their behalf
/// the supervisor they had that day. Returns whether it is on their behalf.
pub fn may_report(p: &Principal, worker: &Worker, day: NaiveDate) -> Result<bool, DomainError> {
    if p.is_worker(&worker.id) {
        Ok(false)
    } else if p.is_supervisor(worker.supervisor_on(day)) {
        Ok(true)
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only worker {} or their supervisor on {day} may report their activities",
            worker.id
        )))
    }
}

/// Reviewing a report of `worker`: the supervisor recorded on it (who
/// supervised the worker on the day of the work when it was filed — the
/// review queue lists it under them, so a later, backdated reassignment
/// does not strand it), or the worker's agency admins; never the worker.
pub fn may_review(p: &Principal, worker: &Worker, supervisor_id: &str) -> Result<(), DomainError> {
    if p.is_worker(&worker.id) {
        return Err(DomainError::PermissionDenied(
            "nobody reviews their own reports".into(),
        ));
    }
    if p.is_supervisor(supervisor_id) || p.manages_agency(&worker.agency_id) {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only the supervisor the report was filed with or worker {}'s agency admins may review it",
            worker.id
        )))
    }
}

/// Rating a worker's behaviour: their current supervisor or their agency's
/// admins.
pub fn may_rate(p: &Principal, worker: &Worker) -> Result<(), DomainError> {
    if p.is_worker(&worker.id) {
        return Err(DomainError::PermissionDenied(
            "nobody rates their own behaviour".into(),
        ));
    }
    if p.is_supervisor(worker.current_supervisor()) || p.manages_agency(&worker.agency_id) {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only the supervisor of worker {} or their agency's admins may rate them",
            worker.id
        )))
    }
}

/// Reading a worker's reports: the worker, any supervisor they have had,
/// their agency's admins, province admins and auditors.
pub fn may_read(p: &Principal, worker: &Worker) -> Result<(), DomainError> {
    if p.is_worker(&worker.id)
        || worker.supervisors.iter().any(|(_, s)| p.is_supervisor(s))
        || p.manages_agency(&worker.agency_id)
        || p.has(Role::Auditor)
    {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only worker {}, their supervisors, their agency's admins and auditors may see this",
            worker.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn worker() -> Worker {
        Worker {
            id: "w1".into(),
            agency_id: "a1".into(),
            unit_id: "u1".into(),
            active: true,
            supervisors: vec![
                (Some(d("2026-01-01")), "s1".into()),
                (Some(d("2026-06-01")), "s2".into()),
            ],
            ..Worker::default()
        }
    }

    fn who(roles: &[Role], agency: &str, worker: Option<&str>) -> Principal {
        Principal {
            subject: "acc".into(),
            roles: roles.to_vec(),
            agency_id: Some(agency.into()),
            worker_id: worker.map(str::to_owned),
        }
    }

    #[test]
    fn reports_are_filed_by_the_worker_or_that_days_supervisor() {
        let w = worker();
        let may = |p: &Principal, day| may_report(p, &w, d(day));
        assert!(!may(&who(&[Role::Worker], "a1", Some("w1")), "2026-03-01").unwrap());
        assert!(may(&who(&[Role::Supervisor], "a1", Some("s1")), "2026-03-01").unwrap());
        assert!(may(&who(&[Role::Supervisor], "a1", Some("s1")), "2026-06-02").is_err());
        assert!(may(&who(&[Role::Supervisor], "a1", Some("s2")), "2026-06-02").unwrap());
        assert!(may(&who(&[Role::Worker], "a1", Some("w2")), "2026-03-01").is_err());
        // Agency admins review, but do not report work they did not see.
        assert!(may(&who(&[Role::AgencyAdmin], "a1", None), "2026-03-01").is_err());
    }

    #[test]
    fn reviews_are_by_the_reports_supervisor_or_an_agency_admin() {
        let w = worker();
        let may = |p: &Principal, recorded: &str| may_review(p, &w, recorded).is_ok();
        assert!(may(&who(&[Role::Supervisor], "a1", Some("s1")), "s1"));
        assert!(!may(&who(&[Role::Supervisor], "a1", Some("s2")), "s1"));
        assert!(may(&who(&[Role::AgencyAdmin], "a1", None), "s1"));
        assert!(may(&who(&[Role::AgencyAdmin], "a1", None), ""));
        assert!(!may(&who(&[Role::AgencyAdmin], "a2", None), "s1"));
        // A supervisor of another unit, or without the role.
        assert!(!may(&who(&[Role::Supervisor], "a1", Some("s9")), "s1"));
        assert!(!may(&who(&[Role::Worker], "a1", Some("s1")), "s1"));
        // Filed without a supervisor: only the agency's admins.
        assert!(!may(&who(&[Role::Supervisor], "a1", Some("s1")), ""));
        // Nobody approves their own work, even an admin.
        assert!(!may(
            &who(&[Role::AgencyAdmin, Role::Worker], "a1", Some("w1")),
            "s1"
        ));
    }

    #[test]
    fn ratings_and_reading_follow_supervision() {
        let w = worker();
        assert!(may_rate(&who(&[Role::Supervisor], "a1", Some("s2")), &w).is_ok());
        assert!(may_rate(&who(&[Role::Supervisor], "a1", Some("s1")), &w).is_err());
        assert!(may_rate(&who(&[Role::AgencyAdmin], "a1", None), &w).is_ok());
        assert!(may_rate(&who(&[Role::Worker], "a1", Some("w1")), &w).is_err());
        assert!(may_read(&who(&[Role::Supervisor], "a1", Some("s1")), &w).is_ok());
        assert!(may_read(&who(&[Role::Worker], "a1", Some("w1")), &w).is_ok());
        assert!(may_read(&who(&[Role::Auditor], "a9", None), &w).is_ok());
        assert!(may_read(&who(&[Role::Worker], "a1", Some("w2")), &w).is_err());
    }
}

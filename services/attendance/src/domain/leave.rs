//! Leave and official travel ("dinas luar"): the aggregate on
//! `pantau.attendance.leave.<id>`. A worker asks, the supervisor (or an
//! agency admin) decides once.

use chrono::NaiveDate;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};

use super::DomainError;
use super::geo::Point;
use super::registry::{LeaveStatus, Worker};
use super::time::parse_date;

/// Longest single request: maternity leave is three months.
const MAX_DAYS: i64 = 120;

#[derive(Debug, Clone, Default)]
pub struct LeaveState {
    pub request: Option<ev::LeaveRequested>,
    pub status: Option<LeaveStatus>,
}

pub fn evolve(mut s: LeaveState, e: &Event) -> LeaveState {
    match e {
        Event::LeaveRequested(r) => {
            s.request = Some(r.clone());
            s.status = Some(LeaveStatus::Requested);
        }
        Event::LeaveApproved(_) => s.status = Some(LeaveStatus::Approved),
        Event::LeaveRejected(_) => s.status = Some(LeaveStatus::Rejected),
        _ => {}
    }
    s
}

/// Parses a request into its event.
pub fn request(
    leave_id: &str,
    worker: &Worker,
    req: &pantau_proto::attendance::v1::RequestLeaveRequest,
) -> Result<ev::LeaveRequested, DomainError> {
    let kind = match ev::LeaveKind::try_from(req.kind) {
        Ok(ev::LeaveKind::Unspecified) | Err(_) => {
            return Err(DomainError::invalid("kind", "choose a leave kind"));
        }
        Ok(k) => k,
    };
    let first: NaiveDate = parse_date(&req.first_day, "first_day")?;
    let last: NaiveDate = parse_date(&req.last_day, "last_day")?;
    if last < first {
        return Err(DomainError::invalid("last_day", "is before first_day"));
    }
    if (last - first).num_days() + 1 > MAX_DAYS {
        return Err(DomainError::invalid(
            "last_day",
            format!("a request covers at most {MAX_DAYS} days"),
        ));
    }
    if req.reason.chars().count() > 500 {
        return Err(DomainError::invalid("reason", "at most 500 characters"));
    }
    if kind == ev::LeaveKind::Sick && req.document_ref.trim().is_empty() {
        return Err(DomainError::invalid(
            "document_ref",
            "sick leave needs the doctor's letter's reference",
        ));
    }
    let destination = if kind == ev::LeaveKind::OfficialTravel {
        let Some(d) = &req.destination else {
            return Err(DomainError::invalid(
                "destination",
                "official travel needs a destination",
            ));
        };
        if d.name.trim().is_empty() {
            return Err(DomainError::invalid("destination.name", "is required"));
        }
        let c = d
            .center
            .as_ref()
            .ok_or_else(|| DomainError::invalid("destination.center", "is required"))?;
        let center = Point::parse(c.latitude, c.longitude, "destination.center.")?;
        if !(50..=50_000).contains(&d.radius_m) {
            return Err(DomainError::invalid(
                "destination.radius_m",
                "must be 50 to 50,000 metres",
            ));
        }
        Some(ev::TravelDestination {
            name: d.name.trim().to_owned(),
            center: Some(center.to_event()),
            radius_m: d.radius_m,
        })
    } else {
        None
    };
    Ok(ev::LeaveRequested {
        leave_id: leave_id.to_owned(),
        worker_id: worker.id.clone(),
        agency_id: worker.agency_id.clone(),
        unit_id: worker.unit_id.clone(),
        kind: kind as i32,
        first_day: first.to_string(),
        last_day: last.to_string(),
        reason: req.reason.trim().to_owned(),
        document_ref: req.document_ref.trim().to_owned(),
        destination,
    })
}

/// Approves or rejects a pending request. `decided_by` is the deciding
/// account; `by_worker` the decider's own worker id, if any.
pub fn decide(
    s: &LeaveState,
    approve: bool,
    decided_by: &str,
    by_worker: Option<&str>,
    note: &str,
) -> Result<Vec<Event>, DomainError> {
    let Some(req) = &s.request else {
        return Err(DomainError::NotFound("no such leave request".into()));
    };
    if by_worker == Some(req.worker_id.as_str()) {
        return Err(DomainError::PermissionDenied(
            "nobody may decide their own leave".into(),
        ));
    }
    match s.status {
        Some(LeaveStatus::Requested) => {}
        _ => {
            return Err(DomainError::precondition(
                "the request has already been decided",
            ));
        }
    }
    Ok(vec![if approve {
        Event::LeaveApproved(ev::LeaveApproved {
            leave_id: req.leave_id.clone(),
            worker_id: req.worker_id.clone(),
            decided_by: decided_by.to_owned(),
        })
    } else {
        Event::LeaveRejected(ev::LeaveRejected {
            leave_id: req.leave_id.clone(),
            worker_id: req.worker_id.clone(),
            decided_by: decided_by.to_owned(),
            note: note.to_owned(),
        })
    }])
}

#[cfg(test)]
mod tests {
    use pantau_proto::attendance::v1::RequestLeaveRequest;

    use super::*;

    fn worker() -> Worker {
        Worker {
            id: "w1".into(),
            name: "Siti".into(),
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

    fn req(kind: ev::LeaveKind) -> RequestLeaveRequest {
        RequestLeaveRequest {
            request_id: "r".into(),
            kind: kind as i32,
            first_day: "2026-11-24".into(),
            last_day: "2026-11-25".into(),
            reason: "keluarga".into(),
            document_ref: String::new(),
            destination: None,
        }
    }

    #[test]
    fn sick_leave_needs_a_document_and_travel_a_destination() {
        let e = request("l1", &worker(), &req(ev::LeaveKind::Sick)).unwrap_err();
        assert_eq!(e.field(), Some("document_ref"));
        let e = request("l1", &worker(), &req(ev::LeaveKind::OfficialTravel)).unwrap_err();
        assert_eq!(e.field(), Some("destination"));
        assert!(request("l1", &worker(), &req(ev::LeaveKind::Annual)).is_ok());
        let backwards = RequestLeaveRequest {
            last_day: "2026-11-01".into(),
            ..req(ev::LeaveKind::Annual)
        };
        assert_eq!(
            request("l1", &worker(), &backwards).unwrap_err().field(),
            Some("last_day")
        );
    }

    #[test]
    fn a_request_is_decided_once_and_never_by_the_worker() {
        let requested = request("l1", &worker(), &req(ev::LeaveKind::Annual)).unwrap();
        let s = evolve(LeaveState::default(), &Event::LeaveRequested(requested));
        assert!(matches!(
            decide(&s, true, "acc-w1", Some("w1"), ""),
            Err(DomainError::PermissionDenied(_))
        ));
        let events = decide(&s, true, "acc-s1", Some("s1"), "").unwrap();
        let s = events.iter().fold(s, evolve);
        assert_eq!(s.status, Some(LeaveStatus::Approved));
        assert!(matches!(
            decide(&s, false, "acc-s1", Some("s1"), ""),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert!(matches!(
            decide(&LeaveState::default(), true, "x", None, ""),
            Err(DomainError::NotFound(_))
        ));
    }
}

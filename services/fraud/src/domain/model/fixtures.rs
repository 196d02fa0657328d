//! Builders of events and provinces for the unit tests of the domain.

use super::*;
use ev::activity_event::Event as Act;
use ev::attendance_event::Event as Att;
use ev::identity_event::Event as Id;

/// Monas, central Jakarta: where test workers work.
pub const SITE: (f64, f64) = (-6.175392, 106.827153);

pub fn d(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

pub fn m(s: &str) -> Month {
    Month::parse(s, "month").expect("a month")
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("a time")
        .with_timezone(&Utc)
}

pub fn ts(s: &str) -> Option<ev::Timestamp> {
    Some(pantau_platform::time::timestamp(utc(s)))
}

/// A PHL of agency dlh, male, born 1990-05-17, joined 2020-01-06, with
/// fingerprints of its own and one site at [`SITE`].
pub fn registered(id: &str) -> ev::WorkerRegistered {
    ev::WorkerRegistered {
        worker_id: id.into(),
        kind: ev::WorkerKind::Phl as i32,
        employee_id: format!("PHL-{id}"),
        agency_id: "dlh".into(),
        unit_id: "u1".into(),
        supervisor_id: "kasi-1".into(),
        sites: vec![ev::WorkSite {
            site_id: "s1".into(),
            name: "Monas".into(),
            latitude: SITE.0,
            longitude: SITE.1,
            radius_m: 150,
        }],
        fingerprints: Some(ev::Fingerprints {
            nik: format!("nik-{id}"),
            phone: format!("phone-{id}"),
            email: format!("email-{id}"),
            bank_account: format!("bank-{id}"),
        }),
        joined_on: "2020-01-06".into(),
        birth_date: "1990-05-17".into(),
        sex: 1,
        ..Default::default()
    }
}

/// A check-in at `at` (RFC 3339) on its Jakarta day, inside site s1,
/// from the worker's own phone `phone-<worker>`.
pub fn presence(worker: &str, at: &str, lat: f64, lon: f64) -> ev::Presence {
    let local = utc(at).with_timezone(&DEFAULT_TIME_ZONE);
    ev::Presence {
        worker_id: worker.into(),
        agency_id: "dlh".into(),
        unit_id: "u1".into(),
        at: ts(at),
        position: Some(ev::GeoPoint {
            latitude: lat,
            longitude: lon,
        }),
        accuracy_m: 8.0,
        device_id: format!("phone-{worker}"),
        local_date: local.date_naive().to_string(),
        time_zone: "Asia/Jakarta".into(),
        inside: true,
        site_id: "s1".into(),
        ..Default::default()
    }
}

/// A province under construction; every event gets the next sequence.
#[derive(Debug, Default)]
pub struct Given {
    pub p: Province,
    seq: u64,
}

impl Given {
    pub fn new() -> Given {
        Given::default()
    }

    pub fn identity(&mut self, e: Id) -> EventRef {
        self.seq += 1;
        let at = EventRef::identity(self.seq);
        self.p.apply_identity(&e, at);
        at
    }

    pub fn attendance(&mut self, e: Att) -> EventRef {
        self.seq += 1;
        let at = EventRef::attendance(self.seq);
        self.p.apply_attendance(&e, at);
        at
    }

    pub fn activity(&mut self, e: Act) -> EventRef {
        self.seq += 1;
        let at = EventRef::activity(self.seq);
        self.p.apply_activity(&e, at);
        at
    }

    pub fn register(&mut self, w: ev::WorkerRegistered) -> EventRef {
        self.identity(Id::WorkerRegistered(w))
    }

    pub fn worker(&mut self, id: &str) -> EventRef {
        self.register(registered(id))
    }

    pub fn deactivate(&mut self, id: &str, effective_on: &str) -> EventRef {
        self.identity(Id::WorkerDeactivated(ev::WorkerDeactivated {
            worker_id: id.into(),
            reason: ev::DeactivationReason::Terminated as i32,
            effective_on: effective_on.into(),
            note: String::new(),
        }))
    }

    pub fn scanner(&mut self, id: &str) -> EventRef {
        self.attendance(Att::ScannerRegistered(ev::ScannerRegistered {
            scanner_id: id.into(),
            name: format!("HR desk {id}"),
            ..Default::default()
        }))
    }

    pub fn presence(&mut self, p: ev::Presence) -> EventRef {
        self.attendance(Att::CheckedIn(ev::CheckedIn { presence: Some(p) }))
    }

    pub fn check_in(&mut self, worker: &str, at: &str, lat: f64, lon: f64) -> EventRef {
        self.presence(presence(worker, at, lat, lon))
    }

    pub fn session(&mut self, id: &str, starts_at: &str, lat: f64, lon: f64) -> EventRef {
        self.attendance(Att::SessionOpened(ev::SessionOpened {
            session_id: id.into(),
            title: format!("apel {id}"),
            starts_at: ts(starts_at),
            ends_at: Some(pantau_platform::time::timestamp(
                utc(starts_at) + chrono::Duration::hours(2),
            )),
            time_zone: "Asia/Jakarta".into(),
            place: format!("place of {id}"),
            geofence: Some(ev::Geofence {
                center: Some(ev::GeoPoint {
                    latitude: lat,
                    longitude: lon,
                }),
                radius_m: 300,
                polygon: vec![],
            }),
            ..Default::default()
        }))
    }

    pub fn scan(
        &mut self,
        session: &str,
        worker: &str,
        scanner: &str,
        scanned_at: Option<&str>,
    ) -> EventRef {
        self.attendance(Att::ScanAccepted(ev::ScanAccepted {
            session_id: session.into(),
            scan: Some(ev::ScanReport {
                scanner_id: scanner.into(),
                device_seq: self.seq,
                scanned_at: scanned_at.and_then(ts),
                position: Some(ev::GeoPoint {
                    latitude: SITE.0,
                    longitude: SITE.1,
                }),
                accuracy_m: 5.0,
            }),
            worker_id: worker.into(),
            agency_id: "dlh".into(),
            ..Default::default()
        }))
    }

    pub fn report(
        &mut self,
        id: &str,
        worker: &str,
        date: &str,
        description: &str,
        evidence: &[&str],
    ) -> EventRef {
        self.activity(Act::ActivityReported(ev::ActivityReported {
            report_id: id.into(),
            worker_id: worker.into(),
            agency_id: "dlh".into(),
            unit_id: "u1".into(),
            local_date: date.into(),
            details: Some(ev::ActivityDetails {
                code: "DLH-DRAIN".into(),
                description: description.into(),
                evidence: evidence
                    .iter()
                    .map(|r| ev::Evidence {
                        kind: ev::EvidenceKind::Photo as i32,
                        r#ref: (*r).into(),
                    })
                    .collect(),
                ..Default::default()
            }),
            reported_by: worker.into(),
            reported_at: DateTime::parse_from_rfc3339(&format!("{date}T09:00:00Z"))
                .ok()
                .map(|t| pantau_platform::time::timestamp(t.with_timezone(&Utc))),
            supervisor_id: "kasi-1".into(),
            ..Default::default()
        }))
    }

    pub fn review(&mut self, id: &str, reviewer: &str, at: &str, decision: Decision) -> EventRef {
        let worker_id = self
            .p
            .report(id)
            .map(|r| r.worker_id.clone())
            .unwrap_or_default();
        let (report_id, reviewer, at) = (id.to_owned(), reviewer.to_owned(), ts(at));
        self.activity(match decision {
            Decision::Approved => Act::ActivityApproved(ev::ActivityApproved {
                report_id,
                worker_id,
                reviewer,
                at,
            }),
            Decision::Rejected => Act::ActivityRejected(ev::ActivityRejected {
                report_id,
                worker_id,
                reviewer,
                reason: "no photo".into(),
                at,
            }),
            Decision::Returned => Act::ActivityReturned(ev::ActivityReturned {
                report_id,
                worker_id,
                reviewer,
                reason: "fix the quantity".into(),
                at,
            }),
        })
    }
}

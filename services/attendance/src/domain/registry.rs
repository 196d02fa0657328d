//! What attendance knows about the registry (learned from the identity
//! stream) and about its own long-lived records, as plain data.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use pantau_proto::events::v1 as ev;

use super::geo::Point;

#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub center: Point,
    pub radius_m: u32,
}

impl Site {
    pub fn from_event(s: &ev::WorkSite) -> Site {
        Site {
            id: s.site_id.clone(),
            name: s.name.clone(),
            center: Point {
                lat: s.latitude,
                lon: s.longitude,
            },
            radius_m: s.radius_m,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Worker {
    pub id: String,
    pub name: String,
    pub employee_id: String,
    pub agency_id: String,
    pub unit_id: String,
    /// Worker id of the supervisor; empty when none.
    pub supervisor_id: String,
    pub photo_ref: String,
    pub sites: Vec<Site>,
    pub active: bool,
    pub joined_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agency {
    pub id: String,
    pub code: String,
    pub name: String,
    pub tz: Tz,
    /// unit id -> name
    pub units: HashMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveStatus {
    Requested,
    Approved,
    Rejected,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TravelDestination {
    pub name: String,
    pub center: Point,
    pub radius_m: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Leave {
    pub id: String,
    pub worker_id: String,
    pub kind: ev::LeaveKind,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub status: LeaveStatus,
    pub destination: Option<TravelDestination>,
}

impl Leave {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.first_day <= day && day <= self.last_day
    }

    pub fn is_approved_travel_on(&self, day: NaiveDate) -> bool {
        self.status == LeaveStatus::Approved
            && self.kind == ev::LeaveKind::OfficialTravel
            && self.covers(day)
    }
}

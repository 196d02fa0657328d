//! Daily self check-in and check-out by field workers. The server's clock
//! stamps the event; the phone's clock is kept only as a claim. A position
//! outside the worker's sites is recorded and flagged, never refused: the
//! supervisor decides what it means.

use chrono::{DateTime, Utc};
use pantau_proto::events::v1 as ev;

use super::DomainError;
use super::geo::{Point, parse_accuracy};
use super::registry::{Agency, Leave, Worker};
use super::time::{Schedule, from_timestamp, local_moment, timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    In,
    Out,
}

/// Limits a deployment sets on what a phone may report.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_accuracy_m: f32,
    pub max_clock_skew_secs: i64,
}

/// A check-in request, parsed.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub kind: Kind,
    pub position: Point,
    pub accuracy_m: f32,
    pub device_id: String,
    pub photo_sha256: String,
    pub claimed_at: DateTime<Utc>,
}

impl CheckInput {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        kind: i32,
        latitude: f64,
        longitude: f64,
        accuracy_m: f32,
        device_id: &str,
        photo_sha256: &str,
        claimed_at: Option<&ev::Timestamp>,
        now: DateTime<Utc>,
        limits: Limits,
    ) -> Result<CheckInput, DomainError> {
        use pantau_proto::attendance::v1::CheckKind;
        let kind = match CheckKind::try_from(kind) {
            Ok(CheckKind::In) => Kind::In,
            Ok(CheckKind::Out) => Kind::Out,
            _ => {
                return Err(DomainError::invalid(
                    "kind",
                    "must be CHECK_KIND_IN or CHECK_KIND_OUT",
                ));
            }
        };
        let position = Point::parse(latitude, longitude, "")?;
        let accuracy_m = parse_accuracy(accuracy_m, limits.max_accuracy_m, "accuracy_m")?;
        if device_id.is_empty() || device_id.len() > 128 {
            return Err(DomainError::invalid(
                "device_id",
                "must be 1-128 characters",
            ));
        }
        if !photo_sha256.is_empty()
            && (photo_sha256.len() != 64 || !photo_sha256.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(DomainError::invalid(
                "photo_sha256",
                "must be 64 hex digits (SHA-256) or empty",
            ));
        }
        let claimed_at = claimed_at
            .and_then(from_timestamp)
            .ok_or_else(|| DomainError::invalid("claimed_at", "is required"))?;
        let skew = (claimed_at - now).num_seconds().abs();
        if skew > limits.max_clock_skew_secs {
            return Err(DomainError::invalid(
                "claimed_at",
                format!(
                    "the phone's clock is {skew} s off the server's (at most {} s allowed)",
                    limits.max_clock_skew_secs
                ),
            ));
        }
        Ok(CheckInput {
            kind,
            position,
            accuracy_m,
            device_id: device_id.to_owned(),
            photo_sha256: photo_sha256.to_ascii_lowercase(),
            claimed_at,
        })
    }
}

/// How much GPS inaccuracy a site forgives.
const MAX_SLACK_M: f32 = 50.0;

/// Decides where a check-in stands. Refuses only a worker who is not active;
/// everything else is recorded with its verdict.
pub fn decide(
    worker: &Worker,
    agency: &Agency,
    schedule: &Schedule,
    leave: &[Leave],
    input: &CheckInput,
    now: DateTime<Utc>,
) -> Result<ev::Presence, DomainError> {
    if !worker.active {
        return Err(DomainError::precondition(format!(
            "worker {} is not active",
            worker.id
        )));
    }
    let local = local_moment(now, agency.tz);
    let slack = f64::from(input.accuracy_m.clamp(0.0, MAX_SLACK_M));
    let travel = leave.iter().find(|l| l.is_approved_travel_on(local.date));
    // (site or destination id, distance, radius)
    let nearest: Option<(String, f64, u32)> = match travel {
        Some(l) => l.destination.as_ref().map(|d| {
            (
                format!("travel:{}", l.id),
                d.center.distance_m(input.position),
                d.radius_m,
            )
        }),
        None => worker
            .sites
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.center.distance_m(input.position),
                    s.radius_m,
                )
            })
            .min_by(|a, b| {
                (a.1 - f64::from(a.2))
                    .partial_cmp(&(b.1 - f64::from(b.2)))
                    .unwrap_or(std::cmp::Ordering::Equal)
            }),
    };
    let (site_id, distance, inside) = match nearest {
        Some((id, d, r)) => (id, d, d <= f64::from(r) + slack),
        None => (String::new(), 0.0, false),
    };
    let late_minutes = match input.kind {
        Kind::In if schedule.is_work_day(local.date) && travel.is_none() => {
            schedule.late_minutes(local.minute)
        }
        _ => 0,
    };
    Ok(ev::Presence {
        worker_id: worker.id.clone(),
        agency_id: worker.agency_id.clone(),
        unit_id: worker.unit_id.clone(),
        at: Some(timestamp(now)),
        claimed_at: Some(timestamp(input.claimed_at)),
        position: Some(input.position.to_event()),
        accuracy_m: input.accuracy_m,
        device_id: input.device_id.clone(),
        photo_sha256: input.photo_sha256.clone(),
        local_date: local.date.to_string(),
        local_minute: local.minute,
        time_zone: agency.tz.name().to_owned(),
        inside,
        site_id,
        distance_m: distance.round().clamp(0.0, f64::from(u32::MAX)) as u32,
        judged_against: if travel.is_some() {
            ev::PositionSource::Travel as i32
        } else {
            ev::PositionSource::WorkSite as i32
        },
        late_minutes,
        leave_id: travel.map(|l| l.id.clone()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::registry::{LeaveStatus, Site, TravelDestination};

    fn now() -> DateTime<Utc> {
        // Monday 2026-11-23, 08:10 WITA.
        "2026-11-23T00:10:00Z".parse().unwrap()
    }

    fn agency() -> Agency {
        Agency {
            id: "a1".into(),
            code: "DLH".into(),
            name: "Dinas Lingkungan Hidup".into(),
            tz: "Asia/Makassar".parse().unwrap(),
            units: HashMap::new(),
        }
    }

    fn park() -> Point {
        Point {
            lat: -0.4950,
            lon: 117.1500,
        }
    }

    fn worker() -> Worker {
        Worker {
            id: "w1".into(),
            name: "Siti".into(),
            employee_id: "PHL-1".into(),
            agency_id: "a1".into(),
            unit_id: "u1".into(),
            supervisor_id: String::new(),
            photo_ref: String::new(),
            sites: vec![
                Site {
                    id: "far".into(),
                    name: "Far".into(),
                    center: Point {
                        lat: -0.6,
                        lon: 117.3,
                    },
                    radius_m: 100,
                },
                Site {
                    id: "park".into(),
                    name: "Taman".into(),
                    center: park(),
                    radius_m: 150,
                },
            ],
            active: true,
            joined_on: None,
        }
    }

    fn input(at: Point) -> CheckInput {
        CheckInput {
            kind: Kind::In,
            position: at,
            accuracy_m: 10.0,
            device_id: "phone-1".into(),
            photo_sha256: String::new(),
            claimed_at: now(),
        }
    }

    #[test]
    fn a_check_in_at_a_site_is_inside_and_stamped_with_the_local_day_and_lateness() {
        let p = decide(
            &worker(),
            &agency(),
            &Schedule::default(),
            &[],
            &input(park()),
            now(),
        )
        .unwrap();
        assert!(p.inside);
        assert_eq!(p.site_id, "park");
        assert_eq!(p.local_date, "2026-11-23");
        assert_eq!(p.local_minute, 8 * 60 + 10);
        assert_eq!(p.late_minutes, 40);
        assert_eq!(p.time_zone, "Asia/Makassar");
    }

    #[test]
    fn a_check_in_away_from_every_site_is_recorded_as_outside() {
        let elsewhere = Point {
            lat: -0.45,
            lon: 117.15,
        };
        let p = decide(
            &worker(),
            &agency(),
            &Schedule::default(),
            &[],
            &input(elsewhere),
            now(),
        )
        .unwrap();
        assert!(!p.inside);
        assert_eq!(p.site_id, "park");
        assert!(p.distance_m > 4_000, "{}", p.distance_m);
    }

    #[test]
    fn during_approved_travel_the_destination_is_the_yardstick() {
        let samarinda = Point {
            lat: -0.5022,
            lon: 117.1536,
        };
        let travel = Leave {
            id: "l1".into(),
            worker_id: "w1".into(),
            kind: ev::LeaveKind::OfficialTravel,
            first_day: "2026-11-22".parse().unwrap(),
            last_day: "2026-11-24".parse().unwrap(),
            status: LeaveStatus::Approved,
            destination: Some(TravelDestination {
                name: "Samarinda".into(),
                center: samarinda,
                radius_m: 500,
            }),
        };
        let p = decide(
            &worker(),
            &agency(),
            &Schedule::default(),
            std::slice::from_ref(&travel),
            &input(samarinda),
            now(),
        )
        .unwrap();
        assert!(p.inside);
        assert_eq!(p.site_id, "travel:l1");
        assert_eq!(p.judged_against, ev::PositionSource::Travel as i32);
        assert_eq!(p.late_minutes, 0);
        // Merely requested travel changes nothing.
        let pending = Leave {
            status: LeaveStatus::Requested,
            ..travel
        };
        let p = decide(
            &worker(),
            &agency(),
            &Schedule::default(),
            &[pending],
            &input(samarinda),
            now(),
        )
        .unwrap();
        assert_eq!(p.judged_against, ev::PositionSource::WorkSite as i32);
    }

    #[test]
    fn an_inactive_worker_cannot_check_in() {
        let w = Worker {
            active: false,
            ..worker()
        };
        let err = decide(
            &w,
            &agency(),
            &Schedule::default(),
            &[],
            &input(park()),
            now(),
        )
        .unwrap_err();
        assert!(matches!(err, DomainError::FailedPrecondition(_)));
    }

    #[test]
    fn requests_are_parsed_field_by_field() {
        let limits = Limits {
            max_accuracy_m: 100.0,
            max_clock_skew_secs: 300,
        };
        let ts = timestamp(now());
        let parse = |kind, lat, acc, ts: &ev::Timestamp| {
            CheckInput::parse(kind, lat, 117.15, acc, "phone", "", Some(ts), now(), limits)
        };
        assert!(parse(1, -0.49, 10.0, &ts).is_ok());
        assert_eq!(
            parse(0, -0.49, 10.0, &ts).unwrap_err().field(),
            Some("kind")
        );
        assert_eq!(
            parse(1, 48.85, 10.0, &ts).unwrap_err().field(),
            Some("latitude")
        );
        assert_eq!(
            parse(1, -0.49, 500.0, &ts).unwrap_err().field(),
            Some("accuracy_m")
        );
        let stale = timestamp(now() - chrono::Duration::hours(2));
        assert_eq!(
            parse(1, -0.49, 10.0, &stale).unwrap_err().field(),
            Some("claimed_at")
        );
    }
}

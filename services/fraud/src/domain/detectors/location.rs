//! Proxy attendance and fake GPS, found in where and from what device
//! workers check in: one phone checking in many workers, many workers at
//! one exact spot, one credential at two ceremonies at once, coordinates
//! that jump faster than a car or never wander like real GPS does, and
//! check-ins that are nearly always outside the fence.
//!
//! Positions and device ids of registered scanners are the scanner's, not
//! the worker's: they never count as shared personal devices or as
//! suspiciously identical positions.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};

use super::{Detector, Signal, list};
use crate::domain::Month;
use crate::domain::model::{CheckIn, EventRef, Position, Province};

pub const SHARED_DEVICE_MIN_WORKERS: usize = 3;
pub const SAME_COORDINATES_MIN_WORKERS: usize = 3;
pub const SAME_COORDINATES_MIN_DAYS: usize = 2;
/// Coordinates are "the same" when equal once rounded to this many degrees.
pub const COORDINATE_PRECISION_DEG: f64 = 1e-6;
pub const TWO_PLACES_MIN_DISTANCE_M: f64 = 1_000.0;
pub const TWO_PLACES_WINDOW_SECS: i64 = 30 * 60;
pub const MAX_TRAVEL_KMH: f64 = 150.0;
/// Shorter hops are GPS noise; closer server times are an offline batch
/// syncing at once, not travel.
pub const TRAVEL_MIN_DISTANCE_M: f64 = 1_000.0;
pub const TRAVEL_MIN_SECS: i64 = 60;
pub const NO_JITTER_MAX_DISTANCE_M: f64 = 1.0;
pub const NO_JITTER_MIN_DAYS: usize = 5;
pub const ALWAYS_OUTSIDE_MIN_SHARE: f64 = 0.8;
pub const ALWAYS_OUTSIDE_MIN_CHECK_INS: usize = 5;

/// The month's check-ins by worker, in event order.
fn by_worker(p: &Province, month: Month) -> BTreeMap<&str, Vec<&CheckIn>> {
    let mut by: BTreeMap<&str, Vec<&CheckIn>> = BTreeMap::new();
    for c in p.check_ins_in(month) {
        by.entry(c.worker_id.as_str()).or_default().push(c);
    }
    by
}

/// A device's or a spot's workers: each gets a signal naming the others,
/// with its own events and the first event of every other worker.
fn crowd(
    detector: Detector,
    workers: &BTreeMap<&str, Vec<EventRef>>,
    explain: impl Fn(&str, usize, &[&str]) -> String,
) -> Vec<Signal> {
    let names: Vec<&str> = workers.keys().copied().collect();
    let firsts = workers.values().filter_map(|refs| refs.first().copied());
    let firsts: Vec<EventRef> = firsts.collect();
    workers
        .iter()
        .map(|(w, refs)| {
            let others: Vec<&str> = names.iter().copied().filter(|n| n != w).collect();
            let evidence = refs.iter().chain(&firsts).copied();
            let related = others.iter().map(|o| (*o).to_owned());
            let explanation = explain(w, refs.len(), &others);
            Signal::new(
                detector,
                *w,
                explanation,
                evidence.collect::<Vec<_>>(),
                related,
            )
        })
        .collect()
}

/// `shared_device`: one personal device (not a registered scanner) that
/// checked in [`SHARED_DEVICE_MIN_WORKERS`]+ distinct workers in the month.
pub fn shared_device(p: &Province, month: Month) -> Vec<Signal> {
    let mut devices: BTreeMap<&str, BTreeMap<&str, Vec<EventRef>>> = BTreeMap::new();
    for c in p.check_ins_in(month) {
        if c.device_id.is_empty() || p.is_scanner(&c.device_id) {
            continue;
        }
        let device = devices.entry(&c.device_id).or_default();
        device.entry(&c.worker_id).or_default().push(c.event);
    }
    let mut out = Vec::new();
    for (device, workers) in devices {
        if workers.len() < SHARED_DEVICE_MIN_WORKERS {
            continue;
        }
        out.extend(crowd(Detector::SharedDevice, &workers, |w, n, others| {
            format!(
                "device {device} checked in {} different workers in {month}; {w} used it {n} \
                 time(s), as did {}.",
                others.len() + 1,
                list(others)
            )
        }));
    }
    out
}

fn grid(degrees: f64) -> i64 {
    // A saturating cast: positions are finite, so this is exact rounding.
    (degrees / COORDINATE_PRECISION_DEG).round() as i64
}

/// `same_coordinates`: a worker who, on [`SAME_COORDINATES_MIN_DAYS`]+
/// days of the month, checked in on exactly the same coordinates (to
/// [`COORDINATE_PRECISION_DEG`]) as [`SAME_COORDINATES_MIN_WORKERS`]−1+
/// other workers that day. Real phones side by side differ in the sixth
/// decimal; one fake-GPS preset does not, and it does so every day. A
/// province of honest phones does meet exactly by chance (at 100,000
/// workers, about 17 triples of fixes a month), but not again on another
/// day.
pub fn same_coordinates(p: &Province, month: Month) -> Vec<Signal> {
    type Spot = (NaiveDate, i64, i64);
    let mut spots: BTreeMap<Spot, (Position, BTreeMap<&str, Vec<EventRef>>)> = BTreeMap::new();
    for c in p.check_ins_in(month) {
        let Some(pos) = c.position.filter(|_| !p.is_scanner(&c.device_id)) else {
            continue;
        };
        let spot = (c.local_date, grid(pos.lat), grid(pos.lon));
        let (_, workers) = spots.entry(spot).or_insert_with(|| (pos, BTreeMap::new()));
        workers.entry(&c.worker_id).or_default().push(c.event);
    }
    /// One day a worker shared a spot: where, with whom, and the events.
    struct Met<'a> {
        day: NaiveDate,
        pos: Position,
        others: Vec<&'a str>,
        evidence: Vec<EventRef>,
    }
    let mut met: BTreeMap<&str, Vec<Met>> = BTreeMap::new();
    for ((day, _, _), (pos, workers)) in &spots {
        if workers.len() < SAME_COORDINATES_MIN_WORKERS {
            continue;
        }
        let firsts: Vec<EventRef> = workers
            .values()
            .filter_map(|r| r.first().copied())
            .collect();
        for (w, refs) in workers {
            met.entry(w).or_default().push(Met {
                day: *day,
                pos: *pos,
                others: workers.keys().copied().filter(|o| o != w).collect(),
                evidence: refs.iter().chain(&firsts).copied().collect(),
            });
        }
    }
    let mut out = Vec::new();
    for (w, days) in met {
        let distinct: BTreeSet<NaiveDate> = days.iter().map(|m| m.day).collect();
        if distinct.len() < SAME_COORDINATES_MIN_DAYS {
            continue;
        }
        let others: BTreeSet<&str> = days.iter().flat_map(|m| m.others.iter().copied()).collect();
        let others: Vec<&str> = others.into_iter().collect();
        let first = &days[0];
        let explanation = format!(
            "on {} day(s) of {month} {w} checked in at exactly the same coordinates as other \
             workers, first on {} at ({:.6}, {:.6}); together with {}.",
            distinct.len(),
            first.day,
            first.pos.lat,
            first.pos.lon,
            list(&others)
        );
        let evidence = days.iter().flat_map(|m| m.evidence.iter().copied());
        let related = others.iter().map(|o| (*o).to_owned());
        out.push(Signal::new(
            Detector::SameCoordinates,
            w,
            explanation,
            evidence.collect::<Vec<_>>(),
            related,
        ));
    }
    out
}

/// `credential_two_places`: one worker's credential accepted at two
/// different sessions more than [`TWO_PLACES_MIN_DISTANCE_M`] apart within
/// [`TWO_PLACES_WINDOW_SECS`]: a friend carried the QR code.
pub fn credential_two_places(p: &Province, month: Month) -> Vec<Signal> {
    struct At<'a> {
        time: DateTime<Utc>,
        place: Position,
        session: &'a str,
        scan: EventRef,
        opened: Option<EventRef>,
    }
    let mut by: BTreeMap<&str, Vec<At>> = BTreeMap::new();
    for s in p.scans_in(month) {
        let (Some(time), Some(place)) = (p.scan_time(s), p.scan_place(s)) else {
            continue;
        };
        by.entry(&s.worker_id).or_default().push(At {
            time,
            place,
            session: &s.session_id,
            scan: s.event,
            opened: p.session(&s.session_id).map(|x| x.opened_at),
        });
    }
    let mut out = Vec::new();
    for (worker, mut scans) in by {
        scans.sort_by_key(|a| (a.time, a.scan));
        let mut found = Vec::new();
        for (i, a) in scans.iter().enumerate() {
            for b in &scans[i + 1..] {
                let secs = (b.time - a.time).num_seconds();
                if secs > TWO_PLACES_WINDOW_SECS {
                    break;
                }
                let metres = a.place.distance_m(b.place);
                if a.session == b.session || metres <= TWO_PLACES_MIN_DISTANCE_M {
                    continue;
                }
                let explanation = format!(
                    "{worker}'s credential was accepted at session {} and at session {}, \
                     {:.1} km apart, {} minute(s) apart ({} and {}).",
                    a.session,
                    b.session,
                    metres / 1000.0,
                    secs / 60,
                    a.time.format("%Y-%m-%d %H:%M UTC"),
                    b.time.format("%H:%M UTC"),
                );
                let evidence = [a.scan, b.scan].into_iter().chain(a.opened).chain(b.opened);
                found.push((explanation, evidence.collect()));
            }
        }
        out.extend(summarise(
            Detector::CredentialTwoPlaces,
            worker,
            month,
            found,
        ));
    }
    out
}

/// One signal of a worker's cases: the first described, the rest counted,
/// every case's evidence.
fn summarise(
    detector: Detector,
    worker: &str,
    month: Month,
    found: Vec<(String, Vec<EventRef>)>,
) -> Option<Signal> {
    let (first, _) = found.first()?;
    let explanation = match found.len() {
        1 => first.clone(),
        n => format!("{first} {} more such case(s) in {month}.", n - 1),
    };
    let evidence: Vec<EventRef> = found.iter().flat_map(|(_, e)| e.iter().copied()).collect();
    Some(Signal::new(detector, worker, explanation, evidence, []))
}

/// `impossible_travel`: two consecutive check-ins (by server time) of one
/// worker implying more than [`MAX_TRAVEL_KMH`], ignoring hops under
/// [`TRAVEL_MIN_DISTANCE_M`] or [`TRAVEL_MIN_SECS`].
pub fn impossible_travel(p: &Province, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for (worker, check_ins) in by_worker(p, month) {
        let mut timed: Vec<(DateTime<Utc>, Position, &CheckIn)> = check_ins
            .into_iter()
            .filter_map(|c| Some((c.at?, c.position?, c)))
            .collect();
        timed.sort_by_key(|(at, _, c)| (*at, c.event));
        let mut found = Vec::new();
        for pair in timed.windows(2) {
            let [(t1, p1, c1), (t2, p2, c2)] = pair else {
                continue;
            };
            let secs = (*t2 - *t1).num_seconds();
            let metres = p1.distance_m(*p2);
            if secs < TRAVEL_MIN_SECS || metres < TRAVEL_MIN_DISTANCE_M {
                continue;
            }
            let kmh = (metres / 1000.0) / (secs as f64 / 3600.0);
            if kmh <= MAX_TRAVEL_KMH {
                continue;
            }
            let explanation = format!(
                "{worker} checked in {:.1} km apart {} minute(s) apart ({} then {}), \
                 {kmh:.0} km/h, faster than {MAX_TRAVEL_KMH:.0} km/h.",
                metres / 1000.0,
                secs / 60,
                t1.format("%Y-%m-%d %H:%M UTC"),
                t2.format("%Y-%m-%d %H:%M UTC"),
            );
            found.push((kmh, explanation, vec![c1.event, c2.event]));
        }
        // The fastest hop is the one to describe.
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        let found = found
            .into_iter()
            .map(|(_, text, refs)| (text, refs))
            .collect();
        out.extend(summarise(Detector::ImpossibleTravel, worker, month, found));
    }
    out
}

/// `no_jitter`: a worker's own check-ins within
/// [`NO_JITTER_MAX_DISTANCE_M`] of one position on [`NO_JITTER_MIN_DAYS`]+
/// different days. A real phone's fix wanders by metres from day to day.
pub fn no_jitter(p: &Province, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for (worker, check_ins) in by_worker(p, month) {
        let placed: Vec<(Position, &CheckIn)> = check_ins
            .into_iter()
            .filter(|c| !p.is_scanner(&c.device_id))
            .filter_map(|c| Some((c.position?, c)))
            .collect();
        // The anchor whose 1 m circle holds the most days; first on ties.
        let mut best: Option<(Position, BTreeSet<NaiveDate>, Vec<EventRef>)> = None;
        for (anchor, _) in &placed {
            let near: Vec<&CheckIn> = placed
                .iter()
                .filter(|(pos, _)| anchor.distance_m(*pos) <= NO_JITTER_MAX_DISTANCE_M)
                .map(|(_, c)| *c)
                .collect();
            let days: BTreeSet<NaiveDate> = near.iter().map(|c| c.local_date).collect();
            if best.as_ref().is_none_or(|(_, d, _)| days.len() > d.len()) {
                best = Some((*anchor, days, near.iter().map(|c| c.event).collect()));
            }
        }
        let Some((pos, days, evidence)) = best.filter(|(_, d, _)| d.len() >= NO_JITTER_MIN_DAYS)
        else {
            continue;
        };
        let explanation = format!(
            "{worker} checked in within {NO_JITTER_MAX_DISTANCE_M} m of ({:.6}, {:.6}) on {} \
             different days of {month}; real GPS wanders by metres.",
            pos.lat,
            pos.lon,
            days.len()
        );
        out.push(Signal::new(
            Detector::NoJitter,
            worker,
            explanation,
            evidence,
            [],
        ));
    }
    out
}

/// `always_outside`: at least [`ALWAYS_OUTSIDE_MIN_CHECK_INS`] check-ins in
/// the month, [`ALWAYS_OUTSIDE_MIN_SHARE`] or more of them outside the
/// worker's sites (as judged when they were made).
pub fn always_outside(p: &Province, month: Month) -> Vec<Signal> {
    let mut out = Vec::new();
    for (worker, check_ins) in by_worker(p, month) {
        let outside: Vec<&CheckIn> = check_ins.iter().copied().filter(|c| !c.inside).collect();
        let (n, total) = (outside.len(), check_ins.len());
        // A correctly rounded ratio equals the literal share exactly (4 of 5
        // is 0.8), so the threshold is inclusive as documented.
        if total < ALWAYS_OUTSIDE_MIN_CHECK_INS
            || (n as f64 / total as f64) < ALWAYS_OUTSIDE_MIN_SHARE
        {
            continue;
        }
        let mut distances: Vec<u32> = outside.iter().map(|c| c.distance_m).collect();
        distances.sort_unstable();
        let median = distances.get(distances.len() / 2).copied().unwrap_or(0);
        let explanation = format!(
            "{n} of {worker}'s {total} check-ins in {month} ({:.0}%) were outside the worker's \
             sites, typically {median} m from the nearest.",
            100.0 * n as f64 / total as f64
        );
        let evidence = outside.iter().map(|c| c.event).collect::<Vec<_>>();
        out.push(Signal::new(
            Detector::AlwaysOutside,
            worker,
            explanation,
            evidence,
            [],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::fixtures::*;

    const MARCH: &str = "2026-03";
    /// Roughly 5 km north of [`SITE`].
    const NORTH: (f64, f64) = (SITE.0 + 0.045, SITE.1);
    /// Bandung, about 120 km from Jakarta.
    const BANDUNG: (f64, f64) = (-6.9147, 107.6098);

    fn found(signals: &[Signal]) -> Vec<(&str, Vec<&str>)> {
        signals
            .iter()
            .map(|s| {
                (
                    s.subject.as_str(),
                    s.related.iter().map(String::as_str).collect(),
                )
            })
            .collect()
    }

    fn from_device(g: &mut Given, worker: &str, at: &str, device: &str) -> EventRef {
        let mut p = presence(worker, at, SITE.0, SITE.1);
        p.device_id = device.into();
        g.presence(p)
    }

    /// Check-in at 08:00 WIB on each day of March given.
    fn at_eight(day: u32) -> String {
        format!("2026-03-{day:02}T01:00:00Z")
    }

    #[test]
    fn one_phone_checking_in_three_workers_is_a_shared_device() {
        let mut g = Given::new();
        let a = from_device(&mut g, "w1", &at_eight(2), "shared");
        let a2 = from_device(&mut g, "w1", &at_eight(3), "shared");
        let b = from_device(&mut g, "w2", &at_eight(2), "shared");
        let c = from_device(&mut g, "w3", &at_eight(4), "shared");
        from_device(&mut g, "w4", &at_eight(2), "pair");
        from_device(&mut g, "w5", &at_eight(2), "pair");
        g.check_in("w6", &at_eight(2), SITE.0, SITE.1);
        let signals = shared_device(&g.p, m(MARCH));
        assert_eq!(
            found(&signals),
            [
                ("w1", vec!["w2", "w3"]),
                ("w2", vec!["w1", "w3"]),
                ("w3", vec!["w1", "w2"])
            ]
        );
        assert_eq!(signals[0].evidence, [a, a2, b, c]);
        assert_eq!(signals[1].evidence, [a, b, c]);
        assert!(signals[0].explanation.contains("3 different workers"));
        assert!(signals[0].explanation.contains("used it 2 time(s)"));
        assert!(shared_device(&g.p, m("2026-04")).is_empty());
    }

    #[test]
    fn a_registered_scanner_checking_in_many_workers_is_not_a_shared_device() {
        let mut g = Given::new();
        g.scanner("kiosk");
        for w in ["w1", "w2", "w3", "w4", "w5"] {
            from_device(&mut g, w, &at_eight(2), "kiosk");
        }
        assert!(shared_device(&g.p, m(MARCH)).is_empty());
        // Nor do the kiosk's identical coordinates count.
        assert!(same_coordinates(&g.p, m(MARCH)).is_empty());
    }

    #[test]
    fn three_workers_at_exactly_one_spot_on_two_days_are_same_coordinates() {
        let mut g = Given::new();
        let a = g.check_in("w1", "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        let b = g.check_in("w2", "2026-03-02T01:05:00Z", SITE.0, SITE.1);
        let c = g.check_in("w3", "2026-03-02T09:00:00Z", SITE.0, SITE.1);
        let a2 = g.check_in("w1", "2026-03-09T01:00:00Z", SITE.0, SITE.1);
        let b2 = g.check_in("w2", "2026-03-09T01:02:00Z", SITE.0, SITE.1);
        let d2 = g.check_in("w4", "2026-03-09T01:03:00Z", SITE.0, SITE.1);
        // w3 and w4 met the others on one day only: a chance meeting.
        // The same spot on other days, and neighbours a few decimals apart.
        g.check_in("w5", &at_eight(4), SITE.0, SITE.1);
        g.check_in("w6", &at_eight(5), SITE.0, SITE.1);
        for day in [6, 7] {
            for (i, w) in ["w7", "w8", "w9"].into_iter().enumerate() {
                g.check_in(w, &at_eight(day), SITE.0 + 3e-6 * i as f64, SITE.1);
            }
        }
        let signals = same_coordinates(&g.p, m(MARCH));
        assert_eq!(
            found(&signals),
            [
                ("w1", vec!["w2", "w3", "w4"]),
                ("w2", vec!["w1", "w3", "w4"])
            ]
        );
        assert_eq!(signals[1].evidence, [a, b, c, a2, b2, d2]);
        assert!(signals[0].explanation.contains("on 2 day(s)"));
        assert!(signals[0].explanation.contains("(-6.175392, 106.827153)"));
    }

    #[test]
    fn three_workers_meeting_at_exactly_one_spot_on_one_day_only_are_chance() {
        let mut g = Given::new();
        for w in ["w1", "w2", "w3", "w4"] {
            g.check_in(w, "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        }
        assert!(same_coordinates(&g.p, m(MARCH)).is_empty());
    }

    fn two_sessions(g: &mut Given) -> (EventRef, EventRef) {
        let a = g.session("monas", "2026-03-17T01:00:00Z", SITE.0, SITE.1);
        let b = g.session("north", "2026-03-17T01:00:00Z", NORTH.0, NORTH.1);
        g.session("near", "2026-03-17T01:00:00Z", SITE.0 + 0.0027, SITE.1);
        (a, b)
    }

    #[test]
    fn one_credential_at_two_distant_sessions_within_half_an_hour_is_two_places() {
        let mut g = Given::new();
        let (a, b) = two_sessions(&mut g);
        let x = g.scan("monas", "w1", "scn-1", Some("2026-03-17T01:05:00Z"));
        let y = g.scan("north", "w1", "scn-2", Some("2026-03-17T01:25:00Z"));
        // No scanner clock: both at the sessions' start.
        g.scan("monas", "w2", "scn-1", None);
        g.scan("north", "w2", "scn-2", None);
        let signals = credential_two_places(&g.p, m(MARCH));
        let found: Vec<&str> = signals.iter().map(|s| s.subject.as_str()).collect();
        assert_eq!(found, ["w1", "w2"]);
        assert_eq!(signals[0].evidence, [a, b, x, y]);
        assert_eq!(signals[0].weight, 0.8);
        assert!(
            signals[0]
                .explanation
                .contains("5.0 km apart, 20 minute(s) apart")
        );
    }

    #[test]
    fn scans_far_apart_in_time_or_close_in_space_or_in_one_session_are_fine() {
        let mut g = Given::new();
        two_sessions(&mut g);
        g.scan("monas", "w1", "scn-1", Some("2026-03-17T01:00:00Z"));
        g.scan("north", "w1", "scn-2", Some("2026-03-17T01:31:00Z"));
        g.scan("monas", "w2", "scn-1", Some("2026-03-17T01:00:00Z"));
        g.scan("near", "w2", "scn-3", Some("2026-03-17T01:05:00Z"));
        g.scan("monas", "w3", "scn-1", Some("2026-03-17T01:00:00Z"));
        g.scan("monas", "w3", "scn-4", Some("2026-03-17T01:01:00Z"));
        assert!(credential_two_places(&g.p, m(MARCH)).is_empty());
    }

    #[test]
    fn check_ins_faster_than_a_car_are_impossible_travel() {
        let mut g = Given::new();
        let a = g.check_in("w1", "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        let b = g.check_in("w1", "2026-03-02T01:30:00Z", BANDUNG.0, BANDUNG.1);
        let c = g.check_in("w1", "2026-03-02T01:50:00Z", SITE.0, SITE.1);
        // By car: two hours.
        g.check_in("w2", "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        g.check_in("w2", "2026-03-02T03:00:00Z", BANDUNG.0, BANDUNG.1);
        // An offline batch synced at once, and GPS noise.
        g.check_in("w3", "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        g.check_in("w3", "2026-03-02T01:00:30Z", BANDUNG.0, BANDUNG.1);
        g.check_in("w4", "2026-03-02T01:00:00Z", SITE.0, SITE.1);
        g.check_in("w4", "2026-03-02T01:01:01Z", SITE.0 + 0.008, SITE.1);
        let signals = impossible_travel(&g.p, m(MARCH));
        assert_eq!(found(&signals), [("w1", vec![])]);
        // One signal for both hops, describing the fastest.
        assert_eq!(signals[0].evidence, [a, b, c]);
        let text = &signals[0].explanation;
        assert!(text.contains("20 minute(s) apart"), "{text}");
        assert!(text.ends_with("1 more such case(s) in 2026-03."), "{text}");
    }

    #[test]
    fn the_same_position_to_the_metre_on_five_days_has_no_jitter() {
        let mut g = Given::new();
        let mut exact = Vec::new();
        for day in 2..=6 {
            // Within half a metre, every day.
            let lat = SITE.0 + 4e-6 * f64::from(day % 2);
            exact.push(g.check_in("w1", &at_eight(day), lat, SITE.1));
            g.check_in("w2", &at_eight(day), SITE.0, SITE.1 + 1e-6);
            // A real phone: metres apart each day.
            let lat = SITE.0 + 4.5e-5 * f64::from(day);
            g.check_in("w3", &at_eight(day), lat, SITE.1);
        }
        // Four days only.
        for day in 2..=5 {
            g.check_in("w4", &at_eight(day), SITE.0, SITE.1);
        }
        let signals = no_jitter(&g.p, m(MARCH));
        assert_eq!(found(&signals), [("w1", vec![]), ("w2", vec![])]);
        assert_eq!(signals[0].evidence, exact);
        assert!(signals[0].explanation.contains("on 5 different days"));
    }

    #[test]
    fn a_kiosk_scanner_reporting_one_position_every_day_is_not_no_jitter() {
        let mut g = Given::new();
        g.scanner("kiosk");
        for day in 2..=8 {
            from_device(&mut g, "w1", &at_eight(day), "kiosk");
        }
        assert!(no_jitter(&g.p, m(MARCH)).is_empty());
    }

    #[test]
    fn four_in_five_check_ins_outside_the_sites_is_always_outside() {
        let mut g = Given::new();
        let outside = |g: &mut Given, w: &str, day: u32, inside: bool| {
            let mut p = presence(w, &at_eight(day), BANDUNG.0, BANDUNG.1);
            p.inside = inside;
            p.distance_m = if inside { 0 } else { 1200 + day };
            g.presence(p)
        };
        let mut evidence = Vec::new();
        for day in 2..=6 {
            evidence.push(outside(&mut g, "w1", day, false));
            outside(&mut g, "w2", day, day == 6);
            outside(&mut g, "w3", day, day >= 5);
        }
        for day in 2..=5 {
            outside(&mut g, "w4", day, false);
        }
        let signals = always_outside(&g.p, m(MARCH));
        assert_eq!(found(&signals), [("w1", vec![]), ("w2", vec![])]);
        assert_eq!(signals[0].evidence, evidence);
        assert!(signals[0].explanation.contains("5 of w1's 5 check-ins"));
        assert!(signals[1].explanation.contains("(80%)"));
        assert!(signals[0].explanation.contains("typically 1204 m"));
    }
}

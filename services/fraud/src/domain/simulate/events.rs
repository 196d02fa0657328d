//! The month of events a [`Population`] produces: registrations, daily
//! check-ins and reports, reviews, leave and ceremonies, each stamped with
//! server time so the streams interleave as in life.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use pantau_platform::time::timestamp;
use pantau_proto::events::v1 as ev;

use super::SimEvent;
use super::people::{AGENCIES, Person, Population, SITE_RADIUS_M, Stamp, UNITS_PER_AGENCY, offset};
use super::rng::{Rng, mix};
use crate::domain::Month;
use crate::domain::detectors::reports::normalise;
use crate::domain::model::Position;
use ev::activity_event::Event as Act;
use ev::attendance_event::Event as Att;
use ev::identity_event::Event as Id;

mod ceremonies;
mod registry;
mod reviews;

enum Raw {
    Id(Id),
    Att(Att),
    Act(Act),
}

const CAMPAIGN: &str = "pupns-2026";

const STREETS: [&str; 16] = [
    "Jl. Merdeka",
    "Jl. Sudirman",
    "Jl. Diponegoro",
    "Jl. Ahmad Yani",
    "Jl. Gatot Subroto",
    "Jl. Pattimura",
    "Jl. Hasanuddin",
    "Jl. Cendrawasih",
    "Jl. Kartini",
    "Jl. Imam Bonjol",
    "Jl. Veteran",
    "Jl. Pemuda",
    "Jl. Mawar",
    "Jl. Kenanga",
    "Jl. Nusantara",
    "Jl. Samratulangi",
];
const PLACES: [&str; 10] = [
    "Taman Kota",
    "Pasar Induk",
    "Terminal",
    "Lapangan Merdeka",
    "Pantai",
    "Kantor Kelurahan",
    "Puskesmas",
    "Sekolah Dasar",
    "Masjid Raya",
    "Gereja",
];

struct Out {
    items: Vec<(DateTime<Utc>, Raw)>,
}

impl Out {
    fn id(&mut self, t: DateTime<Utc>, e: Id) {
        self.items.push((t, Raw::Id(e)));
    }
    fn att(&mut self, t: DateTime<Utc>, e: Att) {
        self.items.push((t, Raw::Att(e)));
    }
    fn act(&mut self, t: DateTime<Utc>, e: Act) {
        self.items.push((t, Raw::Act(e)));
    }
}

/// The local moment `minute` after midnight of `day` in agency `a`.
fn at(a: usize, day: NaiveDate, minute: i64) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    midnight + Duration::minutes(minute) - Duration::hours(AGENCIES[a].utc_offset_h)
}

fn ts(t: DateTime<Utc>) -> Option<ev::Timestamp> {
    Some(timestamp(t))
}

fn geo((lat, lon): (f64, f64)) -> Option<ev::GeoPoint> {
    Some(ev::GeoPoint {
        latitude: lat,
        longitude: lon,
    })
}

/// A phone's fix: several to tens of metres from `p`, never twice alike.
fn jitter(rng: &mut Rng, (lat, lon): (f64, f64)) -> (f64, f64) {
    let r = 4.0 + 26.0 * rng.unit().sqrt();
    let angle = rng.range(0.0, std::f64::consts::TAU);
    offset(lat, lon, r * angle.cos(), r * angle.sin())
}

pub struct Generated {
    pub events: Vec<SimEvent>,
    pub times: Vec<DateTime<Utc>>,
    pub scanners: Vec<String>,
}

struct Gen<'a> {
    rng: &'a mut Rng,
    pop: &'a Population,
    month: Month,
    out: Out,
    texts: BTreeSet<String>,
    files: u64,
    reports: u64,
    /// (reviewer, review day) -> reports to decide.
    queue: BTreeMap<(String, NaiveDate), Vec<(String, usize)>>,
}

pub fn generate(rng: &mut Rng, pop: &Population, month: Month) -> Generated {
    let mut g = Gen {
        rng,
        pop,
        month,
        out: Out { items: Vec::new() },
        texts: BTreeSet::new(),
        files: 0,
        reports: 0,
        queue: BTreeMap::new(),
    };
    g.registry();
    let scanners = g.scanners();
    let leaves = g.leaves();
    for i in 0..pop.people.len() {
        g.days(i, &leaves);
    }
    g.ceremonies();
    g.reviews();
    let mut items = g.out.items;
    items.sort_by_key(|(t, _)| *t);
    let mut seq = [0u64; 3];
    let times = items.iter().map(|(t, _)| *t).collect();
    let events = items
        .into_iter()
        .map(|(_, raw)| match raw {
            Raw::Id(event) => {
                seq[0] += 1;
                SimEvent::Identity { seq: seq[0], event }
            }
            Raw::Att(event) => {
                seq[1] += 1;
                SimEvent::Attendance { seq: seq[1], event }
            }
            Raw::Act(event) => {
                seq[2] += 1;
                SimEvent::Activity { seq: seq[2], event }
            }
        })
        .collect();
    Generated {
        events,
        times,
        scanners,
    }
}

fn workdays(month: Month) -> Vec<NaiveDate> {
    month
        .days()
        .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        .collect()
}

fn next_workday(day: NaiveDate) -> NaiveDate {
    let mut d = day + Duration::days(1);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += Duration::days(1);
    }
    d
}

impl Gen<'_> {
    fn site(&self, s: usize) -> (f64, f64) {
        let s = &self.pop.sites[s];
        (s.lat, s.lon)
    }

    fn presence(
        &mut self,
        i: usize,
        out: bool,
        day: NaiveDate,
        minute: i64,
        pos: (f64, f64),
        device: &str,
    ) {
        let p = &self.pop.people[i];
        let here = Position {
            lat: pos.0,
            lon: pos.1,
        };
        let (site, metres) = p
            .sites
            .iter()
            .map(|&s| {
                let (lat, lon) = self.site(s);
                (s, here.distance_m(Position { lat, lon }))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let inside = metres <= f64::from(SITE_RADIUS_M);
        let t = at(p.agency, day, minute);
        let presence = ev::Presence {
            worker_id: p.id.clone(),
            agency_id: AGENCIES[p.agency].id.into(),
            unit_id: format!("{}-u{}", AGENCIES[p.agency].id, p.unit + 1),
            at: ts(t),
            claimed_at: ts(t - Duration::seconds(self.rng.int(0, 20) as i64)),
            position: geo(pos),
            accuracy_m: self.rng.range(3.0, 25.0) as f32,
            device_id: device.into(),
            photo_sha256: format!(
                "{:016x}{:016x}",
                self.rng.next_u64(),
                mix(t.timestamp() as u64 ^ i as u64)
            ),
            local_date: day.to_string(),
            local_minute: minute as u32,
            time_zone: AGENCIES[p.agency].zone.into(),
            inside,
            site_id: self.pop.sites[site].id.clone(),
            distance_m: if inside { 0 } else { metres as u32 },
            judged_against: ev::PositionSource::WorkSite as i32,
            late_minutes: if out { 0 } else { (minute - 450).max(0) as u32 },
            ..Default::default()
        };
        let e = if out {
            Att::CheckedOut(ev::CheckedOut {
                presence: Some(presence),
            })
        } else {
            Att::CheckedIn(ev::CheckedIn {
                presence: Some(presence),
            })
        };
        self.out.att(t, e);
    }

    /// Where a worker's phone says it is at site `s`.
    fn fix(&mut self, i: usize, s: usize) -> (f64, f64) {
        let p = &self.pop.people[i];
        let first = self.site(p.sites[0]);
        if let Some((north, east)) = p.preset {
            return offset(first.0, first.1, north, east);
        }
        if p.home {
            let home = offset(first.0, first.1, 2_600.0, 1_900.0);
            return jitter(self.rng, home);
        }
        let site = self.site(s);
        jitter(self.rng, site)
    }

    fn days(&mut self, i: usize, leaves: &BTreeMap<usize, (NaiveDate, NaiveDate)>) {
        let p = &self.pop.people[i];
        if !p.present || p.full_leave {
            return;
        }
        let (sites, deactivated, keeps) =
            (p.sites.clone(), p.deactivated, p.works_after_deactivation);
        let own = p.device.clone();
        let proxy = p.proxied_by.map(|l| self.pop.people[l].device.clone());
        let teleports = p.teleports;
        for (n, day) in workdays(self.month).into_iter().enumerate() {
            if deactivated.is_some_and(|d| day >= d) && !keeps {
                break;
            }
            let on_leave = leaves
                .get(&i)
                .is_some_and(|(f, l)| (*f..=*l).contains(&day));
            if on_leave || self.rng.chance(0.03) {
                continue;
            }
            let device = match &proxy {
                Some(d) if self.rng.chance(0.75) => d.clone(),
                _ => own.clone(),
            };
            let s = *self.rng.pick(&sites);
            let minute = if self.rng.chance(0.12) {
                7 * 60 + 35 + self.rng.int(0, 80) as i64
            } else {
                6 * 60 + 50 + self.rng.int(0, 40) as i64
            };
            let pos = self.fix(i, s);
            self.presence(i, false, day, minute, pos, &device);
            if teleports && (n == 3 || n == 11) {
                // Fake GPS set to a far town, then switched off again.
                let far = offset(pos.0, pos.1, 60_000.0, 45_000.0);
                self.presence(i, false, day, minute + 18, far, &device);
            }
            if self.rng.chance(0.95) {
                let s = if self.rng.chance(0.8) {
                    s
                } else {
                    *self.rng.pick(&sites)
                };
                let pos = self.fix(i, s);
                let minute = 16 * 60 + self.rng.int(0, 75) as i64;
                self.presence(i, true, day, minute, pos, &device);
            }
            if self.rng.chance(0.92) {
                let count = *self.rng.pick(&[1, 2, 2, 2, 3]);
                let mut minute = 9 * 60 + self.rng.int(0, 60) as i64;
                for k in 0..count {
                    self.report(i, day, minute, s, k == 0 && n % 7 == 0);
                    minute += 60 + self.rng.int(0, 150) as i64;
                }
            }
        }
    }

    fn description(&mut self, i: usize, site: usize) -> String {
        let p = &self.pop.people[i];
        if p.copy_text {
            return format!(
                "Melaksanakan tugas sesuai arahan pimpinan di {}",
                self.pop.sites[p.sites[0]].name
            );
        }
        loop {
            let n = self.rng.int(3, 450);
            let street = *self.rng.pick(&STREETS);
            let place = *self.rng.pick(&PLACES);
            let rt = self.rng.int(1, 15);
            let text = match self.rng.int(0, 7) {
                0 => format!("Membersihkan saluran air sepanjang {n} m di {street} RT {rt:02}"),
                1 => format!("Menyapu jalan {street} sepanjang {n} m bersama tim"),
                2 => format!(
                    "Mengangkut {} karung sampah dari {place} ke TPS {rt}",
                    n % 60 + 2
                ),
                3 => format!("Memangkas {} pohon peneduh di {street}", n % 25 + 1),
                4 => format!(
                    "Patroli kebersihan {place} {street}, {} titik diperiksa",
                    n % 40 + 3
                ),
                5 => format!("Input data {n} berkas kepegawaian seksi {}", rt % 4 + 1),
                6 => format!("Mengecat {n} m trotoar di {street} dekat {place}"),
                _ => format!(
                    "Memperbaiki {} lubang jalan di {street} RT {rt:02}",
                    n % 12 + 1
                ),
            };
            let text = format!("{text} ({})", self.pop.sites[site].name);
            if self.texts.insert(normalise(&text)) {
                return text;
            }
        }
    }

    fn report(&mut self, i: usize, day: NaiveDate, minute: i64, site: usize, share: bool) {
        self.reports += 1;
        let description = self.description(i, site);
        let p = &self.pop.people[i];
        let mut evidence = Vec::new();
        for _ in 0..self.rng.int(1, 2) {
            self.files += 1;
            let r#ref = format!(
                "sha256:{:016x}{:016x}",
                self.rng.next_u64(),
                mix(self.files)
            );
            evidence.push(ev::Evidence {
                kind: ev::EvidenceKind::Photo as i32,
                r#ref,
            });
        }
        if let (Some(h), true) = (&p.shared_photo, share) {
            evidence[0].r#ref = h.clone();
        }
        let agency = AGENCIES[p.agency].id;
        let report_id = format!("rpt-{:07}", self.reports);
        let reviewer = match p.supervisor {
            Some(s) => self.pop.people[s].id.clone(),
            None => format!("kadis-{agency}"),
        };
        let t = at(p.agency, day, minute);
        self.out.act(
            t,
            Act::ActivityReported(ev::ActivityReported {
                report_id: report_id.clone(),
                worker_id: p.id.clone(),
                agency_id: agency.into(),
                unit_id: format!("{agency}-u{}", p.unit + 1),
                local_date: day.to_string(),
                details: Some(ev::ActivityDetails {
                    code: "KEBERSIHAN".into(),
                    description,
                    evidence,
                    start_minute: minute as u32,
                    end_minute: minute as u32 + 45,
                    ..Default::default()
                }),
                reported_by: p.id.clone(),
                reported_at: ts(t),
                supervisor_id: reviewer.clone(),
                ..Default::default()
            }),
        );
        self.queue
            .entry((reviewer, next_workday(day)))
            .or_default()
            .push((report_id, i));
    }
}

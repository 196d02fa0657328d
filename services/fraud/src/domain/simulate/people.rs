//! Who is in the synthetic province: agencies, sites, workers with their
//! identities, and the frauds planted among them (behaviour flags the day
//! generator reads, and the ground truth).

use chrono::{Datelike, NaiveDate};

use super::rng::Rng;
use super::{Planted, SimConfig};

mod frauds;

pub struct Agency {
    pub id: &'static str,
    pub name: &'static str,
    pub zone: &'static str,
    pub utc_offset_h: i64,
    pub nik_prefix: &'static str,
    pub centre: (f64, f64),
}

pub const AGENCIES: [Agency; 3] = [
    Agency {
        id: "dlh-jkt",
        name: "Dinas Lingkungan Hidup DKI Jakarta",
        zone: "Asia/Jakarta",
        utc_offset_h: 7,
        nik_prefix: "3171",
        centre: (-6.1754, 106.8272),
    },
    Agency {
        id: "dpu-mks",
        name: "Dinas Pekerjaan Umum Kota Makassar",
        zone: "Asia/Makassar",
        utc_offset_h: 8,
        nik_prefix: "7371",
        centre: (-5.1477, 119.4327),
    },
    Agency {
        id: "bkpsdm-jyp",
        name: "BKPSDM Kota Jayapura",
        zone: "Asia/Jayapura",
        utc_offset_h: 9,
        nik_prefix: "9171",
        centre: (-2.5337, 140.7181),
    },
];

pub const UNITS_PER_AGENCY: usize = 4;
pub const SITES_PER_AGENCY: usize = 60;
pub const TEAM: usize = 20;
pub const SITE_RADIUS_M: u32 = 150;

pub struct SiteDef {
    pub id: String,
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

/// How a supervisor fakes review.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    Honest,
    /// Approves everything, at a human pace.
    Rate,
    /// Approves everything, a whole day's reports in seconds.
    SpeedAndRate,
}

pub struct Person {
    pub id: String,
    pub agency: usize,
    pub unit: usize,
    pub pns: bool,
    pub employee_id: String,
    pub sex: u32,
    pub birth: NaiveDate,
    pub joined: NaiveDate,
    pub nik: String,
    pub bank: String,
    pub phone: String,
    pub email: String,
    pub supervisor: Option<usize>,
    pub is_supervisor: bool,
    pub officer: bool,
    pub sites: Vec<usize>,
    pub device: String,
    // Behaviour.
    pub present: bool,
    pub deactivated: Option<NaiveDate>,
    pub works_after_deactivation: bool,
    pub full_leave: bool,
    pub missed_reverification: bool,
    /// Another worker's phone checks this one in on most days.
    pub proxied_by: Option<usize>,
    /// A fake-GPS preset: every check-in at exactly this offset (metres
    /// north, east) from the first site.
    pub preset: Option<(f64, f64)>,
    /// Checks in from home, kilometres from every site.
    pub home: bool,
    pub teleports: bool,
    pub copy_text: bool,
    pub shared_photo: Option<String>,
    pub two_places: bool,
    pub stamp: Stamp,
}

pub struct Population {
    pub sites: Vec<SiteDef>,
    pub people: Vec<Person>,
    pub truth: Vec<Planted>,
}

/// Metres to degrees of latitude and longitude at `lat`.
pub fn offset(lat: f64, lon: f64, north_m: f64, east_m: f64) -> (f64, f64) {
    let dlat = north_m / 111_320.0;
    let dlon = east_m / (111_320.0 * lat.to_radians().cos());
    (lat + dlat, lon + dlon)
}

const FIRST: [&str; 12] = [
    "agus", "budi", "siti", "dewi", "eko", "rina", "yusuf", "maria", "hendra", "nur", "yohanes",
    "ani",
];
const MAIL: [&str; 3] = ["gmail.com", "yahoo.co.id", "mail.go.id"];

/// `nik` with its DDMMYY birth digits (40 added to the day for women)
/// rewritten for `birth`.
pub(super) fn nik_with_birth(nik: &str, birth: NaiveDate, sex: u32) -> String {
    let day = birth.day() + if sex == 2 { 40 } else { 0 };
    let (Some(region), Some(serial)) = (nik.get(..6), nik.get(12..)) else {
        return nik.to_owned();
    };
    format!(
        "{region}{day:02}{:02}{:02}{serial}",
        birth.month(),
        birth.year() % 100
    )
}

pub(super) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

fn person(rng: &mut Rng, i: usize, agency: usize, j: usize) -> Person {
    let a = &AGENCIES[agency];
    let sex = 1 + (rng.next_u64() % 2) as u32;
    let birth = date(
        1966 + rng.int(0, 36) as i32,
        rng.int(1, 12) as u32,
        rng.int(1, 28) as u32,
    );
    let earliest = (birth.year() + 19).max(2000);
    let joined = date(
        rng.int(earliest as u64, 2025) as i32,
        rng.int(1, 12) as u32,
        rng.int(1, 28) as u32,
    );
    let pns = rng.chance(0.4);
    let day = birth.day() + if sex == 2 { 40 } else { 0 };
    let nik = format!(
        "{}{:02}{day:02}{:02}{:02}{:04}",
        a.nik_prefix,
        rng.int(1, 30),
        birth.month(),
        birth.year() % 100,
        i + 1
    );
    let employee_id = if pns {
        format!(
            "{}{:02}{:02}{}{:02}{sex}{:03}",
            birth.year(),
            birth.month(),
            birth.day(),
            joined.year(),
            joined.month(),
            i % 1000
        )
    } else {
        format!("PHL-{}-{:05}", a.nik_prefix, i + 1)
    };
    let first = *rng.pick(&FIRST);
    Person {
        id: format!("w{:05}", i + 1),
        agency,
        unit: (j / TEAM) % UNITS_PER_AGENCY,
        pns,
        employee_id,
        sex,
        birth,
        joined,
        nik,
        bank: format!("{:03}{:07}", rng.int(2, 9) * 100 + 8, i * 7 + 3),
        phone: format!(
            "08{:02}{:08}",
            rng.int(11, 99),
            (i as u64 * 48_271) % 100_000_000
        ),
        email: format!("{first}.{}@{}", i + 1, rng.pick(&MAIL)),
        supervisor: None,
        is_supervisor: j.is_multiple_of(TEAM),
        officer: false,
        sites: Vec::new(),
        device: format!("phone-{:016x}", rng.next_u64()),
        present: true,
        deactivated: None,
        works_after_deactivation: false,
        full_leave: false,
        missed_reverification: false,
        proxied_by: None,
        preset: None,
        home: false,
        teleports: false,
        copy_text: false,
        shared_photo: None,
        two_places: false,
        stamp: Stamp::Honest,
    }
}

pub fn populate(rng: &mut Rng, c: &SimConfig) -> Population {
    let mut sites = Vec::new();
    for agency in &AGENCIES {
        for s in 0..SITES_PER_AGENCY {
            let (lat, lon) = offset(
                agency.centre.0,
                agency.centre.1,
                rng.range(-9_000.0, 9_000.0),
                rng.range(-9_000.0, 9_000.0),
            );
            sites.push(SiteDef {
                id: format!("{}-s{:02}", agency.id, s + 1),
                name: format!("Lokasi {} {}", s + 1, agency.id),
                lat,
                lon,
            });
        }
    }
    let n = c.workers;
    let mut people = Vec::with_capacity(n);
    let mut seen = [0usize; 3];
    let mut leads: [Vec<usize>; 3] = Default::default();
    for i in 0..n {
        let share = i * 100 / n.max(1);
        let agency = if share < 45 {
            0
        } else if share < 80 {
            1
        } else {
            2
        };
        let j = seen[agency];
        seen[agency] += 1;
        let mut p = person(rng, i, agency, j);
        let base = agency * SITES_PER_AGENCY;
        p.sites
            .push(base + rng.int(0, SITES_PER_AGENCY as u64 - 1) as usize);
        if rng.chance(0.35) {
            p.sites
                .push(base + rng.int(0, SITES_PER_AGENCY as u64 - 1) as usize);
            p.sites.dedup();
        }
        if p.is_supervisor {
            // The agency's first supervisor heads the others.
            p.supervisor = leads[agency].first().copied();
            leads[agency].push(i);
        } else {
            p.supervisor = leads[agency].last().copied();
        }
        // Officers holding the ceremony scanners: two in the largest agency.
        p.officer = !p.is_supervisor && (j == 1 || (agency == 0 && j == 2));
        people.push(p);
    }
    // Honest oddities: maternity leave all month, a resignation.
    let mut honest: Vec<usize> = (0..n)
        .filter(|&i| !people[i].is_supervisor && !people[i].officer)
        .collect();
    rng.shuffle(&mut honest);
    let mut pool = honest.split_off(honest.len().min(6));
    for (k, &i) in honest.iter().enumerate() {
        if k < 2 {
            people[i].full_leave = true;
        } else {
            people[i].deactivated = Some(date(c.month.year, c.month.month, 9 + k as u32));
        }
    }
    let mut truth = Vec::new();
    let budget = ((n as f64) * c.fraud_rate).round() as usize;
    let mut used = 0;
    let mut k = 0;
    while used < budget && !pool.is_empty() && k < 10 * frauds::SCHEMES.len() {
        let scheme = frauds::SCHEMES[k % frauds::SCHEMES.len()];
        k += 1;
        used += frauds::plant(rng, scheme, &mut people, &mut pool, &mut truth, c, k);
    }
    Population {
        sites,
        people,
        truth,
    }
}

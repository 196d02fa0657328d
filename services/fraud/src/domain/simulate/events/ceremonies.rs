//! Ceremonies (apel): sessions opened, credentials scanned by the
//! officers' scanner phones, hundreds of workers each.

use chrono::Duration;
use pantau_proto::events::v1 as ev;

use super::{AGENCIES, Att, Gen, at, geo, jitter, offset, ts, workdays};

impl Gen<'_> {
    /// Two apel per agency; on the first, the largest agency gathers at
    /// its main office and at a branch at the same hour.
    pub(super) fn ceremonies(&mut self) {
        let days = workdays(self.month);
        let (first, late) = (days[0], days[days.len().saturating_sub(3)]);
        let devices = self.scanner_devices();
        for (a, agency) in AGENCIES.iter().enumerate() {
            let mine: Vec<&(String, usize, usize)> = devices.iter().filter(|d| d.2 == a).collect();
            let branch = offset(agency.centre.0, agency.centre.1, 0.0, 9_000.0);
            let mut sessions = vec![(format!("apel-{}-{first}", agency.id), first, agency.centre)];
            if mine.len() > 1 {
                sessions.push((format!("apel-{}-{first}-cabang", agency.id), first, branch));
            }
            sessions.push((format!("apel-{}-{late}", agency.id), late, agency.centre));
            for (id, day, centre) in &sessions {
                let starts = at(a, *day, 6 * 60 + 30);
                self.out.att(
                    starts - Duration::hours(1),
                    Att::SessionOpened(ev::SessionOpened {
                        session_id: id.clone(),
                        title: "Apel pagi".into(),
                        starts_at: ts(starts),
                        ends_at: ts(starts + Duration::hours(2)),
                        time_zone: agency.zone.into(),
                        place: if id.ends_with("cabang") {
                            "Kantor cabang"
                        } else {
                            "Halaman kantor"
                        }
                        .into(),
                        geofence: Some(ev::Geofence {
                            center: geo(*centre),
                            radius_m: 300,
                            polygon: vec![],
                        }),
                        invited: vec![ev::Invitation {
                            agency_id: agency.id.into(),
                            unit_id: String::new(),
                        }],
                        scanner_ids: mine.iter().map(|d| d.0.clone()).collect(),
                    }),
                );
            }
            // Per scanner: the phone's scan counter, and how far into each
            // session its officer is (scans start as the apel does).
            let mut seq = vec![0u64; mine.len().max(1)];
            let mut clock = vec![vec![0i64; mine.len().max(1)]; sessions.len()];
            for i in 0..self.pop.people.len() {
                let p = &self.pop.people[i];
                if p.agency != a || !p.present || p.full_leave || p.officer {
                    continue;
                }
                for (s, (id, day, centre)) in sessions.iter().enumerate() {
                    let gone =
                        p.deactivated.is_some_and(|d| *day >= d) && !p.works_after_deactivation;
                    let branch_day = sessions.len() == 3 && s < 2;
                    let mine_here = !branch_day || (p.unit < 2) == (s == 0);
                    if gone
                        || !(mine_here || p.two_places)
                        || !self.rng.chance(0.85) && !p.two_places
                    {
                        continue;
                    }
                    let k = if branch_day { s } else { i % mine.len().max(1) };
                    let Some(dev) = mine.get(k.min(mine.len().saturating_sub(1))) else {
                        continue;
                    };
                    clock[s][k] += self.rng.int(4, 12) as i64;
                    seq[k] += 1;
                    let mut t = at(a, *day, 6 * 60 + 30) + Duration::seconds(clock[s][k]);
                    if p.two_places && branch_day {
                        // The credential lent to a colleague at the other place.
                        t = at(a, *day, if s == 0 { 6 * 60 + 33 } else { 6 * 60 + 45 });
                    }
                    let pos = jitter(self.rng, *centre);
                    self.out.att(
                        t,
                        Att::ScanAccepted(ev::ScanAccepted {
                            session_id: id.clone(),
                            scan: Some(ev::ScanReport {
                                scanner_id: dev.0.clone(),
                                device_seq: seq[k],
                                scanned_at: ts(t),
                                position: geo(pos),
                                accuracy_m: 6.0,
                            }),
                            worker_id: p.id.clone(),
                            credential_version: 1,
                            code_kind: ev::CodeKind::Rotating as i32,
                            agency_id: agency.id.into(),
                            unit_id: format!("{}-u{}", agency.id, p.unit + 1),
                        }),
                    );
                }
            }
        }
    }
}

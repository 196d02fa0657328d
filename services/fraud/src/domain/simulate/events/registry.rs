//! The registry side: agencies, units, workers, re-verification, leave
//! and the officers' scanner phones, all before or beside the days.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use pantau_proto::events::v1 as ev;

use super::{
    AGENCIES, Att, CAMPAIGN, Gen, Id, Person, SITE_RADIUS_M, UNITS_PER_AGENCY, at, mix, ts,
    workdays,
};

/// The campaign runs from day 20 to day 45 after `t0`; workers re-verify
/// from day 25, within this many seconds.
const REVERIFY_SPREAD_SECS: i64 = 19 * 86_400;

impl Gen<'_> {
    pub(super) fn registry(&mut self) {
        let t0 = at(0, self.month.first_day(), 0) - Duration::days(60);
        for (a, agency) in AGENCIES.iter().enumerate() {
            self.out.id(
                t0,
                Id::AgencyCreated(ev::AgencyCreated {
                    agency_id: agency.id.into(),
                    code: agency.nik_prefix.into(),
                    name: agency.name.into(),
                    time_zone: agency.zone.into(),
                }),
            );
            for u in 0..UNITS_PER_AGENCY {
                self.out.id(
                    t0 + Duration::seconds(1 + a as i64),
                    Id::UnitCreated(ev::UnitCreated {
                        agency_id: agency.id.into(),
                        unit_id: format!("{}-u{}", agency.id, u + 1),
                        code: format!("U{}", u + 1),
                        name: format!("Seksi {}", u + 1),
                    }),
                );
            }
            self.out.id(
                t0 + Duration::days(20),
                Id::CampaignOpened(ev::CampaignOpened {
                    campaign_id: format!("{CAMPAIGN}-{}", agency.id),
                    title: "Pemutakhiran data mandiri PNS/non-ASN".into(),
                    agency_id: agency.id.into(),
                    deadline: ts(t0 + Duration::days(45)),
                }),
            );
        }
        for (i, p) in self.pop.people.iter().enumerate() {
            // A second apart, so that even 100,000 workers are on the
            // registry a day later, long before the campaign opens.
            let registered = t0 + Duration::minutes(10) + Duration::seconds(i as i64);
            self.out
                .id(registered, Id::WorkerRegistered(self.registration(p)));
            let agency = AGENCIES[p.agency].id;
            let campaign = format!("{CAMPAIGN}-{agency}");
            // Spread over the campaign's last 19 days, before its deadline.
            let spread = (i as i64 * 37) % REVERIFY_SPREAD_SECS;
            let later = t0 + Duration::days(25) + Duration::seconds(spread);
            if p.missed_reverification {
                self.out.id(
                    t0 + Duration::days(46),
                    Id::ReverificationMissed(ev::ReverificationMissed {
                        worker_id: p.id.clone(),
                        campaign_id: campaign,
                        agency_id: agency.into(),
                    }),
                );
            } else {
                // Whoever keeps a ghost on the payroll keeps its data
                // current too: only a missed campaign is a signal.
                self.out.id(
                    later,
                    Id::WorkerReverified(ev::WorkerReverified {
                        worker_id: p.id.clone(),
                        campaign_id: campaign,
                        corrected: vec![],
                    }),
                );
            }
            if let Some(d) = p.deactivated {
                self.out.id(
                    at(p.agency, d, 8 * 60),
                    Id::WorkerDeactivated(ev::WorkerDeactivated {
                        worker_id: p.id.clone(),
                        reason: ev::DeactivationReason::Resigned as i32,
                        effective_on: d.to_string(),
                        note: "mengundurkan diri".into(),
                    }),
                );
            }
        }
    }

    pub(super) fn registration(&self, p: &Person) -> ev::WorkerRegistered {
        let agency = AGENCIES[p.agency].id;
        let kind = if p.pns {
            ev::WorkerKind::Pns
        } else if p.employee_id.starts_with("THL") {
            ev::WorkerKind::Thl
        } else {
            ev::WorkerKind::Phl
        };
        ev::WorkerRegistered {
            worker_id: p.id.clone(),
            kind: kind as i32,
            employee_id: p.employee_id.clone(),
            name: format!("Pegawai {}", p.id),
            agency_id: agency.into(),
            unit_id: format!("{agency}-u{}", p.unit + 1),
            supervisor_id: p
                .supervisor
                .map(|s| self.pop.people[s].id.clone())
                .unwrap_or_default(),
            sites: p
                .sites
                .iter()
                .map(|&s| {
                    let d = &self.pop.sites[s];
                    ev::WorkSite {
                        site_id: d.id.clone(),
                        name: d.name.clone(),
                        latitude: d.lat,
                        longitude: d.lon,
                        radius_m: SITE_RADIUS_M,
                    }
                })
                .collect(),
            fingerprints: Some(ev::Fingerprints {
                nik: p.nik.clone(),
                phone: p.phone.clone(),
                email: p.email.clone(),
                bank_account: p.bank.clone(),
            }),
            source: ev::RegistrationSource::Direct as i32,
            joined_on: p.joined.to_string(),
            birth_date: p.birth.to_string(),
            sex: p.sex,
            ..Default::default()
        }
    }

    /// The officers' scanner phones: (device, officer index, agency).
    pub(super) fn scanner_devices(&self) -> Vec<(String, usize, usize)> {
        let officers = self
            .pop
            .people
            .iter()
            .enumerate()
            .filter(|(_, p)| p.officer);
        officers
            .enumerate()
            .map(|(n, (i, p))| (format!("scn-{:02}", n + 1), i, p.agency))
            .collect()
    }

    pub(super) fn scanners(&mut self) -> Vec<String> {
        let t = at(0, self.month.first_day(), 0) - Duration::days(30);
        let mut ids = Vec::new();
        for (device, i, a) in self.scanner_devices() {
            self.out.att(
                t,
                Att::ScannerRegistered(ev::ScannerRegistered {
                    scanner_id: device,
                    name: format!("Pemindai apel ({})", self.pop.people[i].id),
                    agency_id: AGENCIES[a].id.into(),
                    secret_sha256: mix(i as u64).to_be_bytes().to_vec(),
                }),
            );
            ids.push(self.pop.people[i].id.clone());
        }
        ids
    }

    /// Approved leave by worker: whole-month (maternity) and a few days.
    pub(super) fn leaves(&mut self) -> BTreeMap<usize, (NaiveDate, NaiveDate)> {
        let mut by = BTreeMap::new();
        let days = workdays(self.month);
        for (i, p) in self.pop.people.iter().enumerate() {
            let span = if p.full_leave {
                Some((
                    self.month.first_day() - Duration::days(20),
                    self.month.last_day() + Duration::days(60),
                    ev::LeaveKind::Maternity,
                ))
            } else if p.present && self.rng.chance(0.04) {
                let first = *self.rng.pick(&days);
                let last = first + Duration::days(self.rng.int(0, 2) as i64);
                Some((first, last, ev::LeaveKind::Annual))
            } else {
                None
            };
            let Some((first, last, kind)) = span else {
                continue;
            };
            let leave_id = format!("leave-{}", p.id);
            let asked = at(p.agency, first, 0) - Duration::days(5);
            self.out.att(
                asked,
                Att::LeaveRequested(ev::LeaveRequested {
                    leave_id: leave_id.clone(),
                    worker_id: p.id.clone(),
                    agency_id: AGENCIES[p.agency].id.into(),
                    kind: kind as i32,
                    first_day: first.to_string(),
                    last_day: last.to_string(),
                    reason: "keperluan keluarga".into(),
                    ..Default::default()
                }),
            );
            self.out.att(
                asked + Duration::hours(20),
                Att::LeaveApproved(ev::LeaveApproved {
                    leave_id,
                    worker_id: p.id.clone(),
                    decided_by: p
                        .supervisor
                        .map(|s| self.pop.people[s].id.clone())
                        .unwrap_or_default(),
                }),
            );
            by.insert(i, (first, last));
        }
        by
    }
}

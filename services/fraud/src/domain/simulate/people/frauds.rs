//! The frauds planted among honest workers: each scheme sets behaviour
//! flags the day generator reads and records which detectors should name
//! whom (a ghost's victim too: a duplicate is a pair).

use chrono::Datelike;

use super::super::Planted;
use super::super::rng::Rng;
use super::{Person, SimConfig, Stamp, date};
use crate::domain::detectors::Detector;

/// The frauds planted, one after another until the budget is spent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scheme {
    DupNik,
    DupBank,
    DupPhone,
    DupEmail,
    NipMismatch,
    BirthDate,
    NeverPresent,
    MissedReverification,
    AfterDeactivation,
    SharedDevice,
    SameCoordinates,
    TwoPlaces,
    Travel,
    NoJitter,
    Outside,
    CopyText,
    StampSpeed,
    CopyPhoto,
    StampRate,
}

pub(super) const SCHEMES: [Scheme; 19] = [
    Scheme::DupNik,
    Scheme::SharedDevice,
    Scheme::StampSpeed,
    Scheme::DupBank,
    Scheme::NipMismatch,
    Scheme::TwoPlaces,
    Scheme::DupPhone,
    Scheme::SameCoordinates,
    Scheme::BirthDate,
    Scheme::Travel,
    Scheme::DupEmail,
    Scheme::NeverPresent,
    Scheme::NoJitter,
    Scheme::MissedReverification,
    Scheme::Outside,
    Scheme::AfterDeactivation,
    Scheme::CopyText,
    Scheme::CopyPhoto,
    Scheme::StampRate,
];

fn take(pool: &mut Vec<usize>, fits: impl Fn(usize) -> bool) -> Option<usize> {
    let at = pool.iter().position(|&i| fits(i))?;
    Some(pool.remove(at))
}

/// Plants one case; returns how many fraudulent workers it used.
pub(super) fn plant(
    rng: &mut Rng,
    scheme: Scheme,
    people: &mut [Person],
    pool: &mut Vec<usize>,
    truth: &mut Vec<Planted>,
    c: &SimConfig,
    k: usize,
) -> usize {
    let mut mark = |people: &[Person], i: usize, d: Detector| {
        truth.push(Planted {
            worker_id: people[i].id.clone(),
            detector: d,
        });
    };
    let Some(g) = take(pool, |_| true) else {
        return 0;
    };
    match scheme {
        Scheme::DupNik | Scheme::DupBank | Scheme::DupPhone | Scheme::DupEmail => {
            // A ghost copying a real worker's fingerprint; the holder shows
            // up in the pair too.
            let Some(&real) = pool.get(rng.int(0, pool.len() as u64 - 1) as usize) else {
                return 0;
            };
            let detector = match scheme {
                Scheme::DupNik => {
                    people[g].nik = people[real].nik.clone();
                    people[g].birth = people[real].birth;
                    people[g].sex = people[real].sex;
                    // Joined with the stolen birth date's plausible age.
                    people[g].joined = people[real].joined;
                    people[g].pns = false;
                    people[g].employee_id = format!("PHL-GHOST-{k:03}");
                    Detector::DuplicateNik
                }
                Scheme::DupBank => {
                    people[g].bank = people[real].bank.clone();
                    Detector::DuplicateBankAccount
                }
                Scheme::DupPhone => {
                    people[g].phone = people[real].phone.clone();
                    Detector::DuplicatePhone
                }
                _ => {
                    people[g].email = people[real].email.clone();
                    Detector::DuplicateEmail
                }
            };
            mark(people, g, detector);
            mark(people, real, detector);
            people[g].present = false;
            mark(people, g, Detector::NeverPresent);
            if matches!(scheme, Scheme::DupPhone | Scheme::DupEmail) {
                people[g].missed_reverification = true;
                mark(people, g, Detector::MissedReverification);
            }
            1
        }
        Scheme::NipMismatch => {
            let p = &mut people[g];
            p.pns = true;
            let nip_birth = p.birth.with_year(p.birth.year() - 3).unwrap_or(p.birth);
            p.employee_id = format!(
                "{}{:02}{:02}{}{:02}{}{:03}",
                nip_birth.year(),
                nip_birth.month(),
                nip_birth.day(),
                p.joined.year(),
                p.joined.month(),
                p.sex,
                k
            );
            mark(people, g, Detector::NipNikMismatch);
            1
        }
        Scheme::BirthDate => {
            let p = &mut people[g];
            p.pns = false;
            p.employee_id = format!("THL-{k:05}");
            if k.is_multiple_of(2) {
                p.birth = date(1931 + (k % 7) as i32, 3, 14);
            } else {
                p.joined = date(2024, 7, 1);
                p.birth = date(2009, 2, 11);
            }
            // The NIK encodes the birth date the registry reads.
            p.nik = super::nik_with_birth(&p.nik, p.birth, p.sex);
            mark(people, g, Detector::ImpossibleBirthDate);
            1
        }
        Scheme::NeverPresent => {
            people[g].present = false;
            people[g].missed_reverification = true;
            mark(people, g, Detector::NeverPresent);
            mark(people, g, Detector::MissedReverification);
            1
        }
        Scheme::MissedReverification => {
            people[g].missed_reverification = true;
            mark(people, g, Detector::MissedReverification);
            1
        }
        Scheme::AfterDeactivation => {
            people[g].deactivated = Some(date(c.month.year, c.month.month, 15));
            people[g].works_after_deactivation = true;
            mark(people, g, Detector::ActiveAfterDeactivation);
            1
        }
        Scheme::SharedDevice | Scheme::SameCoordinates | Scheme::CopyPhoto => {
            let size = if matches!(scheme, Scheme::SharedDevice) && k.is_multiple_of(2) {
                4
            } else {
                3
            };
            let agency = people[g].agency;
            let mut group = vec![g];
            while group.len() < size {
                let Some(o) = take(pool, |i| people[i].agency == agency) else {
                    break;
                };
                group.push(o);
            }
            let sites = people[g].sites.clone();
            for &o in &group {
                match scheme {
                    Scheme::SharedDevice => {
                        people[o].sites = sites.clone();
                        if o != g {
                            people[o].proxied_by = Some(g);
                        }
                        mark(people, o, Detector::SharedDevice);
                    }
                    Scheme::SameCoordinates => {
                        people[o].sites = vec![sites[0]];
                        people[o].preset = Some((11.0, -6.0));
                        mark(people, o, Detector::SameCoordinates);
                        mark(people, o, Detector::NoJitter);
                    }
                    _ => {
                        people[o].shared_photo = Some(format!("sha256:{:064x}", k));
                        mark(people, o, Detector::CopyPaste);
                    }
                }
            }
            group.len()
        }
        Scheme::TwoPlaces => {
            // Ceremonies with two places at once are in the first agency.
            let i = match take(pool, |i| people[i].agency == 0) {
                Some(i) => {
                    pool.push(g);
                    i
                }
                None => g,
            };
            people[i].two_places = true;
            mark(people, i, Detector::CredentialTwoPlaces);
            1
        }
        Scheme::Travel => {
            people[g].teleports = true;
            mark(people, g, Detector::ImpossibleTravel);
            1
        }
        Scheme::NoJitter => {
            people[g].preset = Some((-17.0 + k as f64 % 5.0, 9.0));
            mark(people, g, Detector::NoJitter);
            1
        }
        Scheme::Outside => {
            people[g].home = true;
            mark(people, g, Detector::AlwaysOutside);
            1
        }
        Scheme::CopyText => {
            people[g].copy_text = true;
            mark(people, g, Detector::CopyPaste);
            1
        }
        Scheme::StampSpeed | Scheme::StampRate => {
            pool.push(g);
            // A supervisor of a full team, never the agency head.
            let team = |s: usize| people.iter().filter(|p| p.supervisor == Some(s)).count();
            let fits: Vec<usize> = (0..people.len())
                .filter(|&i| {
                    let p = &people[i];
                    p.is_supervisor && p.stamp == Stamp::Honest && p.supervisor.is_some()
                })
                .filter(|&i| team(i) >= 10)
                .collect();
            if fits.is_empty() {
                return 0;
            }
            let s = *rng.pick(&fits);
            let speed = matches!(scheme, Scheme::StampSpeed);
            people[s].stamp = if speed {
                Stamp::SpeedAndRate
            } else {
                Stamp::Rate
            };
            if speed {
                mark(people, s, Detector::RubberStampSpeed);
            }
            mark(people, s, Detector::RubberStampRate);
            1
        }
    }
}

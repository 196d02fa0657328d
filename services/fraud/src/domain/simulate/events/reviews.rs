//! Supervisors' decisions on the queued reports: sittings with human gaps,
//! a few rejected or returned; rubber stamps approve all, or all at once.

use std::collections::BTreeMap;

use chrono::Duration;
use pantau_proto::events::v1 as ev;

use super::{Act, Gen, Stamp, at, ts};

impl Gen<'_> {
    fn stamp_of(&self, reviewer: &str) -> Stamp {
        self.pop
            .people
            .iter()
            .find(|p| p.id == reviewer)
            .map_or(Stamp::Honest, |p| p.stamp)
    }

    pub(super) fn reviews(&mut self) {
        let queue = std::mem::take(&mut self.queue);
        let mut stamps: BTreeMap<String, Stamp> = BTreeMap::new();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for ((reviewer, day), reports) in queue {
            let stamp = *stamps
                .entry(reviewer.clone())
                .or_insert_with(|| self.stamp_of(&reviewer));
            let agency = self.pop.people[reports[0].1].agency;
            let mut t = at(agency, day, 8 * 60 + 30 + self.rng.int(0, 120) as i64);
            for (report_id, i) in reports {
                let n = counts.entry(reviewer.clone()).or_default();
                *n += 1;
                let gap = match stamp {
                    Stamp::SpeedAndRate => 1,
                    _ => self.rng.int(45, 300) as i64,
                };
                t += Duration::seconds(gap);
                let questioned = stamp == Stamp::Honest && (self.rng.chance(0.05) || *n % 25 == 12);
                let worker_id = self.pop.people[i].id.clone();
                let (report_id, reviewer, at) = (report_id, reviewer.clone(), ts(t));
                let e = match (questioned, self.rng.chance(0.5)) {
                    (false, _) => Act::ActivityApproved(ev::ActivityApproved {
                        report_id,
                        worker_id,
                        reviewer,
                        at,
                    }),
                    (true, true) => Act::ActivityRejected(ev::ActivityRejected {
                        report_id,
                        worker_id,
                        reviewer,
                        reason: "foto tidak sesuai lokasi".into(),
                        at,
                    }),
                    (true, false) => Act::ActivityReturned(ev::ActivityReturned {
                        report_id,
                        worker_id,
                        reviewer,
                        reason: "lengkapi volume pekerjaan".into(),
                        at,
                    }),
                };
                self.out.act(t, e);
            }
        }
    }
}

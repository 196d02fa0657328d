//! From the generator's events to the calls that make the services write
//! them: which call, at which simulated moment, in which order. Pure.
//!
//! Two departures from the generated streams, both because the real
//! services decide some things themselves:
//! - A resignation the worker kept working through is recorded late, after
//!   the worker's last check-in, report or scan, with the true effective
//!   date: attendance refuses an inactive worker's check-in, and that late
//!   paperwork is how pay after resignation happens in life.
//! - `ReverificationMissed` is not written by anyone: identity records it
//!   when the campaign is closed, so each campaign is closed once, at the
//!   time of its first missed worker (a day past the deadline).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use ev::activity_event::Event as Act;
use ev::attendance_event::Event as Att;
use ev::identity_event::Event as Id;
use pantau_fraud::domain::simulate::{SimEvent, Simulated};
use pantau_proto::events::v1 as ev;

/// One call to make, at `at`.
#[derive(Debug, Clone)]
pub struct Step {
    pub at: DateTime<Utc>,
    pub call: Call,
}

#[derive(Debug, Clone)]
pub enum Call {
    OpenCampaign(ev::CampaignOpened),
    CloseCampaign {
        campaign_id: String,
    },
    Reverify(ev::WorkerReverified),
    Deactivate(ev::WorkerDeactivated),
    RegisterScanner(ev::ScannerRegistered),
    RequestLeave(ev::LeaveRequested),
    DecideLeave(ev::LeaveApproved),
    CheckIn {
        out: bool,
        presence: ev::Presence,
    },
    OpenSession(ev::SessionOpened),
    /// Consecutive scans of one scanner in one session, uploaded together.
    Scans(Vec<ev::ScanAccepted>),
    Report(ev::ActivityReported),
    Review(Review),
}

#[derive(Debug, Clone)]
pub struct Review {
    pub report_id: String,
    pub decision: Decision,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    Return,
}

impl Step {
    /// The aggregate the call writes to: calls with the same key run in
    /// order, others may run side by side.
    pub fn key(&self) -> String {
        match &self.call {
            Call::OpenCampaign(c) => format!("campaign:{}", c.campaign_id),
            Call::CloseCampaign { campaign_id } => format!("campaign:{campaign_id}"),
            Call::Reverify(r) => format!("worker:{}", r.worker_id),
            Call::Deactivate(d) => format!("worker:{}", d.worker_id),
            Call::RegisterScanner(s) => format!("scanner:{}", s.scanner_id),
            Call::RequestLeave(l) => format!("worker:{}", l.worker_id),
            Call::DecideLeave(l) => format!("worker:{}", l.worker_id),
            Call::CheckIn { presence, .. } => format!("worker:{}", presence.worker_id),
            Call::OpenSession(s) => format!("session:{}", s.session_id),
            Call::Scans(s) => format!(
                "session:{}",
                s.first().map(|x| x.session_id.as_str()).unwrap_or_default()
            ),
            Call::Report(r) => format!("worker:{}", r.worker_id),
            Call::Review(r) => format!("report:{}", r.report_id),
        }
    }
}

/// What the simulator writes: the registry first (agencies, units and
/// workers, in that order), then every other call in time order.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub agencies: Vec<(DateTime<Utc>, ev::AgencyCreated)>,
    pub units: Vec<(DateTime<Utc>, ev::UnitCreated)>,
    pub workers: Vec<(DateTime<Utc>, ev::WorkerRegistered)>,
    pub steps: Vec<Step>,
}

/// At most this many scans per upload (the API's limit).
const MAX_SCANS: usize = 500;

pub fn plan(sim: &Simulated) -> Plan {
    let mut p = Plan::default();
    let last_seen = last_activity(sim);
    let mut closed: HashSet<String> = HashSet::new();
    let mut steps: Vec<Step> = Vec::new();
    for (e, &at) in sim.events.iter().zip(&sim.times) {
        let call = match e {
            SimEvent::Identity { event, .. } => match event {
                Id::AgencyCreated(a) => {
                    p.agencies.push((at, a.clone()));
                    continue;
                }
                Id::UnitCreated(u) => {
                    p.units.push((at, u.clone()));
                    continue;
                }
                Id::WorkerRegistered(w) => {
                    p.workers.push((at, w.clone()));
                    continue;
                }
                Id::CampaignOpened(c) => Call::OpenCampaign(c.clone()),
                Id::ReverificationMissed(m) => {
                    if !closed.insert(m.campaign_id.clone()) {
                        continue;
                    }
                    Call::CloseCampaign {
                        campaign_id: m.campaign_id.clone(),
                    }
                }
                Id::WorkerReverified(r) => Call::Reverify(r.clone()),
                Id::WorkerDeactivated(d) => {
                    // Recorded late when the worker kept on working.
                    if let Some(&last) = last_seen.get(&d.worker_id)
                        && last >= at
                    {
                        steps.push(Step {
                            at: last + Duration::hours(2),
                            call: Call::Deactivate(d.clone()),
                        });
                        continue;
                    }
                    Call::Deactivate(d.clone())
                }
                _ => continue,
            },
            SimEvent::Attendance { event, .. } => match event {
                Att::ScannerRegistered(s) => Call::RegisterScanner(s.clone()),
                Att::LeaveRequested(l) => Call::RequestLeave(l.clone()),
                Att::LeaveApproved(l) => Call::DecideLeave(l.clone()),
                Att::CheckedIn(c) => match &c.presence {
                    Some(presence) => Call::CheckIn {
                        out: false,
                        presence: presence.clone(),
                    },
                    None => continue,
                },
                Att::CheckedOut(c) => match &c.presence {
                    Some(presence) => Call::CheckIn {
                        out: true,
                        presence: presence.clone(),
                    },
                    None => continue,
                },
                Att::SessionOpened(s) => Call::OpenSession(s.clone()),
                Att::ScanAccepted(s) => Call::Scans(vec![s.clone()]),
                _ => continue,
            },
            SimEvent::Activity { event, .. } => match event {
                Act::ActivityReported(r) => {
                    // Filed once the work is done: the service refuses a
                    // report whose end time has not come.
                    let d = r.details.clone().unwrap_or_default();
                    let lasted = i64::from(d.end_minute.saturating_sub(d.start_minute));
                    steps.push(Step {
                        at: at + Duration::minutes(lasted + 10),
                        call: Call::Report(r.clone()),
                    });
                    continue;
                }
                Act::ActivityApproved(a) => Call::Review(Review {
                    report_id: a.report_id.clone(),
                    decision: Decision::Approve,
                    reason: String::new(),
                }),
                Act::ActivityRejected(r) => Call::Review(Review {
                    report_id: r.report_id.clone(),
                    decision: Decision::Reject,
                    reason: r.reason.clone(),
                }),
                Act::ActivityReturned(r) => Call::Review(Review {
                    report_id: r.report_id.clone(),
                    decision: Decision::Return,
                    reason: r.reason.clone(),
                }),
                _ => continue,
            },
        };
        steps.push(Step { at, call });
    }
    steps.sort_by_key(|s| s.at);
    p.steps = batch_scans(steps);
    p
}

/// When each worker was last seen working: check-ins, reports, scans.
fn last_activity(sim: &Simulated) -> HashMap<String, DateTime<Utc>> {
    let mut last = HashMap::new();
    for (e, &at) in sim.events.iter().zip(&sim.times) {
        let worker = match e {
            SimEvent::Attendance { event, .. } => match event {
                Att::CheckedIn(c) => c.presence.as_ref().map(|p| &p.worker_id),
                Att::CheckedOut(c) => c.presence.as_ref().map(|p| &p.worker_id),
                Att::ScanAccepted(s) => Some(&s.worker_id),
                _ => None,
            },
            SimEvent::Activity {
                event: Act::ActivityReported(r),
                ..
            } => Some(&r.worker_id),
            _ => None,
        };
        if let Some(w) = worker {
            last.insert(w.clone(), at);
        }
    }
    last
}

/// Runs of scans by one scanner in one session, with nothing else of that
/// session between them, become one upload at the last scan's time: how a
/// phone that queued its scans sends them.
fn batch_scans(steps: Vec<Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    // The open batch of each session: (index in out, scanner).
    let mut open: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for step in steps {
        let key = step.key();
        if let Call::Scans(scans) = &step.call {
            let scanner = scans
                .first()
                .and_then(|s| s.scan.as_ref())
                .map(|s| s.scanner_id.clone())
                .unwrap_or_default();
            if let Some((i, s)) = open.get(&key)
                && *s == scanner
                && let Some(Step {
                    at,
                    call: Call::Scans(batch),
                }) = out.get_mut(*i)
                && batch.len() < MAX_SCANS
            {
                batch.extend(scans.iter().cloned());
                *at = step.at;
                continue;
            }
            open.insert(key, (out.len(), scanner));
        } else {
            open.remove(&key);
        }
        out.push(step);
    }
    // A batch moved to its last scan's time may now sit after later steps.
    out.sort_by_key(|s| s.at);
    out
}

#[cfg(test)]
mod tests {
    use pantau_fraud::domain::simulate::{SimConfig, generate};

    use super::*;

    fn small() -> Simulated {
        generate(&SimConfig {
            workers: 200,
            fraud_rate: 0.2,
            seed: 3,
            ..SimConfig::default()
        })
    }

    #[test]
    fn every_generated_write_becomes_one_call() {
        let sim = small();
        let p = plan(&sim);
        let scans: usize = p
            .steps
            .iter()
            .map(|s| match &s.call {
                Call::Scans(b) => b.len(),
                _ => 0,
            })
            .sum();
        let uploads = p
            .steps
            .iter()
            .filter(|s| matches!(s.call, Call::Scans(_)))
            .count();
        let generated_scans = sim
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    SimEvent::Attendance {
                        event: Att::ScanAccepted(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!(scans, generated_scans);
        assert!(uploads * 5 < scans, "{uploads} uploads for {scans} scans");
        let registered = sim
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    SimEvent::Identity {
                        event: Id::WorkerRegistered(_),
                        ..
                    }
                )
            })
            .count();
        assert_eq!((p.workers.len(), registered), (200, 200));
        assert_eq!(p.agencies.len(), 3);
        assert!(p.steps.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn each_campaign_is_closed_once_after_its_deadline() {
        let p = plan(&small());
        let mut closes = BTreeMap::new();
        let mut opens = BTreeMap::new();
        for s in &p.steps {
            match &s.call {
                Call::CloseCampaign { campaign_id } => {
                    *closes.entry(campaign_id.clone()).or_insert(0) += 1;
                }
                Call::OpenCampaign(c) => {
                    opens.insert(c.campaign_id.clone(), c.deadline.map(|d| d.seconds));
                }
                _ => {}
            }
        }
        assert!(!closes.is_empty());
        assert!(closes.values().all(|&n| n == 1), "{closes:?}");
        for s in &p.steps {
            if let Call::CloseCampaign { campaign_id } = &s.call {
                let deadline = opens.get(campaign_id).copied().flatten();
                assert!(deadline.is_some_and(|d| s.at.timestamp() > d));
            }
        }
    }

    #[test]
    fn a_resignation_worked_through_is_recorded_after_the_last_work() {
        let sim = small();
        let last = last_activity(&sim);
        let p = plan(&sim);
        let mut late = 0;
        for s in &p.steps {
            if let Call::Deactivate(d) = &s.call
                && let Some(&l) = last.get(&d.worker_id)
            {
                assert!(s.at > l, "{} deactivated before its last work", d.worker_id);
                let effective = chrono::NaiveDate::parse_from_str(&d.effective_on, "%Y-%m-%d");
                late += usize::from(effective.is_ok_and(|e| e < l.date_naive()));
            }
        }
        assert!(late > 0, "no worker kept working after resigning");
    }
}

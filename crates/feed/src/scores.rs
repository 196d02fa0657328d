//! A closed month of scores onto PANTAU_SCORING, as scoring publishes an
//! agency's close: each worker's finalized score (revision 1), then the
//! agency's month closed. What the public league ranks agencies by.

use std::collections::BTreeMap;

use pantau_eventstore::{EventStore, Expected, Metadata, NewEvent};
use pantau_fraud::domain::simulate::SimEvent;
use pantau_proto::events::v1::{self as ev, identity_event::Event as I, scoring_event::Event as S};
use pantau_scoring::core as scoring;
use pantau_scoring::domain::Month;
use pantau_scoring::domain::{eval, rules};

use crate::append_in_order;

/// One worker's score of the month, in the agency and unit they ended it in.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub agency_id: String,
    pub unit_id: String,
    pub worker_id: String,
    pub score: f64,
}

/// Every worker of a generated month where they ended it, with a made-up
/// score (the same for the same month) spread over all five categories.
pub fn generated_scores(events: &[SimEvent]) -> Vec<Score> {
    let mut at: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for e in events {
        match e {
            SimEvent::Identity {
                event: I::WorkerRegistered(w),
                ..
            } => {
                at.insert(&w.worker_id, (&w.agency_id, &w.unit_id));
            }
            SimEvent::Identity {
                event: I::WorkerTransferred(t),
                ..
            } => {
                at.insert(&t.worker_id, (&t.to_agency_id, &t.to_unit_id));
            }
            _ => {}
        }
    }
    at.into_iter()
        .enumerate()
        .map(|(i, (worker, (agency, unit)))| Score {
            agency_id: agency.to_owned(),
            unit_id: unit.to_owned(),
            worker_id: worker.to_owned(),
            // 40.00-99.99, scattered.
            score: 40.0 + ((i as u64 * 7919) % 6000) as f64 / 100.0,
        })
        .collect()
}

fn event(subject: String, e: &S) -> NewEvent {
    NewEvent {
        subject,
        event_type: scoring::event_type(e).to_owned(),
        schema_version: 1,
        payload: scoring::encode(e),
        expected: Expected::Any,
        msg_id: None,
        metadata: Metadata {
            correlation_id: "generated-scores".into(),
            causation_id: "generated-scores".into(),
            request_id: Some("generated-scores".into()),
            actor: Some("pantau-feed".into()),
        },
    }
}

/// Appends `month`'s scores and then each agency's close to `store` (the
/// scoring stream), in order. Returns how many events were written.
pub async fn write_scores(
    store: &EventStore,
    month: Month,
    scores: &[Score],
) -> anyhow::Result<u64> {
    let thresholds = rules::default_thresholds();
    let mut workers: BTreeMap<&str, u32> = BTreeMap::new();
    let mut events = Vec::with_capacity(scores.len() + 8);
    for s in scores {
        *workers.entry(&s.agency_id).or_default() += 1;
        let category = eval::category((s.score * 100.0).round() as i64, &thresholds);
        let e = S::MonthlyScoreFinalized(ev::MonthlyScoreFinalized {
            agency_id: s.agency_id.clone(),
            unit_id: s.unit_id.clone(),
            worker_id: s.worker_id.clone(),
            month: month.to_string(),
            revision: 1,
            figures: Some(ev::MonthFigures {
                points: s.score * 2.0,
                score: s.score,
                category: category as i32,
                ..Default::default()
            }),
        });
        events.push(event(
            scoring::score_subject(&s.agency_id, month, &s.worker_id),
            &e,
        ));
    }
    for (agency, n) in workers {
        let e = S::MonthClosed(ev::MonthClosed {
            agency_id: agency.to_owned(),
            month: month.to_string(),
            revision: 1,
            workers: n,
            ..Default::default()
        });
        events.push(event(scoring::month_subject(agency, month), &e));
    }
    let first = store.last_sequence().await? + 1;
    append_in_order(
        store,
        events.into_iter().zip(first..).map(|(e, seq)| Ok((seq, e))),
    )
    .await
}

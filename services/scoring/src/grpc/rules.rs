//! Publishing and reading rule sets. A scope's versions are one aggregate
//! (`pantau.scoring.ruleset.<scope>`), so two admins publishing at once get
//! consecutive versions, never the same one.

use pantau_eventstore::command;
use pantau_platform::ServiceError;
use pantau_proto::events::v1::{self as ev, scoring_event::Event};
use pantau_proto::scoring::v1 as api;

use super::{Scoring, internal};
use crate::core::{CODEC, command as cmd, ruleset_subject};
use crate::domain::rules::{RuleBook, RuleSet};
use crate::domain::{DomainError, Principal, parse_date, timestamp};
use crate::readmodel::queries;

/// The scope's versions, as its events tell.
fn evolve(mut book: RuleBook, e: &Event) -> RuleBook {
    if let Event::RuleSetPublished(p) = e
        && let Some(set) = RuleSet::from_event(p, 0)
    {
        book.add(set);
    }
    book
}

pub async fn publish(
    s: &std::sync::Arc<Scoring>,
    p: &Principal,
    req: api::PublishRuleSetRequest,
) -> Result<api::PublishRuleSetResponse, ServiceError> {
    let request_id = super::request_id(&req.request_id)?;
    if req.agency_id.is_empty() {
        if !p.is_province_admin() {
            return Err(DomainError::PermissionDenied(
                "only province admins may publish the rule set for every agency".into(),
            )
            .into());
        }
    } else {
        s.agency(&req.agency_id).await?;
        p.must_manage(&req.agency_id)?;
    }
    let from = parse_date(&req.effective_from, "effective_from")?;
    let at = timestamp(s.now());
    let command = cmd(&p.subject, &request_id, "publish", &req);
    let made = std::sync::Mutex::new(None);
    let done = command::execute(
        &s.store,
        &CODEC,
        None,
        &ruleset_subject(&req.agency_id),
        evolve,
        &command,
        |book: &RuleBook| {
            let e = book.decide_publish(
                &req.agency_id,
                from,
                &req.decree,
                req.rules.clone(),
                &p.subject,
                at,
            )?;
            if let Ok(mut m) = made.lock() {
                *m = Some(e.clone());
            }
            Ok::<_, DomainError>(vec![Event::RuleSetPublished(e)])
        },
    )
    .await?;
    s.settle_own(done.last_sequence).await;
    // A retry decides again on the state before its own events, so `made`
    // names the version it stored; the stored event (its first time) is
    // what the answer shows.
    let made = made
        .into_inner()
        .ok()
        .flatten()
        .ok_or_else(|| internal("the rule set decision stored nothing"))?;
    let event = published(s, &made.agency_id, made.version)
        .await?
        .unwrap_or(made);
    let rebuilds = super::rebuilds::for_rule_set(s, &event).await?;
    Ok(api::PublishRuleSetResponse {
        version: event.version,
        rule_set: Some(event),
        rebuilds,
    })
}

/// The stored event of a version (decree, publisher and time included).
async fn published(
    s: &Scoring,
    agency_id: &str,
    version: u32,
) -> Result<Option<ev::RuleSetPublished>, ServiceError> {
    Ok(queries::rule_sets(&s.pool, agency_id)
        .await?
        .into_iter()
        .find(|e| e.agency_id == agency_id && e.version == version))
}

pub async fn get(
    s: &Scoring,
    _p: &Principal,
    req: api::GetRuleSetsRequest,
) -> Result<api::GetRuleSetsResponse, ServiceError> {
    let date = if req.date.is_empty() {
        let tz = if req.agency_id.is_empty() {
            crate::domain::facts::parse_tz("")
        } else {
            s.agency(&req.agency_id).await?.tz
        };
        crate::domain::facts::local_date(s.now(), tz)
    } else {
        parse_date(&req.date, "date")?
    };
    if !req.agency_id.is_empty() {
        s.agency(&req.agency_id).await?;
    }
    let versions = queries::rule_sets(&s.pool, &req.agency_id).await?;
    let mut book = RuleBook::default();
    for v in &versions {
        if let Some(set) = RuleSet::from_event(v, 0) {
            book.add(set);
        }
    }
    let in_force = book
        .in_force(&req.agency_id, date, u64::MAX)
        .and_then(|set| {
            versions
                .iter()
                .find(|v| v.agency_id == set.agency_id && v.version == set.version)
                .cloned()
        });
    Ok(api::GetRuleSetsResponse {
        versions,
        in_force,
        date: date.to_string(),
    })
}

//! The scoring phase: the province's rule set, published before the month
//! as a governor's decree would be, and once the month has ended every
//! agency's month closed, so its scores are final and the public sees them.

use chrono::{TimeZone, Utc};
use pantau_fraud::domain::Month;
use pantau_proto::events::v1 as ev;
use pantau_proto::scoring::v1 as sc;

use super::cluster::{Cluster, Who};
use super::plan::Plan;
use super::registry::ACTIVITY;
use super::rid;

/// The decree the simulated rule set cites.
const DECREE: &str = "Keputusan Gubernur (simulasi) 800/1/2026";

/// Points for the simulated work, scaled so a month of honest work (a day
/// present on each workday, two or so approved reports a day, the
/// ceremonies) scores about 80 of 100, and a ghost's month nothing: a day
/// present earns 1.5, an approved report 1.5 (at most 3 a day), a ceremony
/// 1; a point is a point of score; the national categories and pay scale.
fn rules() -> ev::Rules {
    ev::Rules {
        activities: vec![ev::CodeRule {
            code: ACTIVITY.into(),
            points_per_unit: 1.5,
            daily_cap: 4.5,
            monthly_cap: 0.0,
        }],
        present_day_points: 1.5,
        ceremony_points: 1.0,
        points_per_score: 1.0,
        ..Default::default()
    }
}

/// Publishes the rule set for every agency, in force from the month's first
/// day, at the moment the first agency is created.
pub async fn rules_for(c: &Cluster, plan: &Plan, month: Month, tag: &str) {
    let at = plan.agencies.first().map(|(t, _)| *t);
    let req = sc::PublishRuleSetRequest {
        request_id: rid(tag, "rules"),
        agency_id: String::new(),
        effective_from: month.first_day().to_string(),
        decree: DECREE.into(),
        rules: Some(rules()),
    };
    c.call("PublishRuleSet", &Who::Admin, at, req, |r| {
        let mut s = c.scoring.clone();
        async move { s.publish_rule_set(r).await }
    })
    .await;
}

/// Closes the month of every simulated agency the morning after it ended
/// everywhere (the first of the next month, 02:00 UTC: 09:00 in Jayapura).
/// A month that has not ended yet stays open.
pub async fn close(c: &Cluster, month: Month, tag: &str) {
    let Some(at) = month
        .next()
        .first_day()
        .and_hms_opt(2, 0, 0)
        .map(|t| Utc.from_utc_datetime(&t))
    else {
        return;
    };
    if at > Utc::now() {
        eprintln!("sim: {month} has not ended yet, so it stays open in scoring");
        return;
    }
    let mut agencies: Vec<(String, String)> = c
        .ids()
        .agencies
        .iter()
        .map(|(sim, real)| (sim.clone(), real.clone()))
        .collect();
    agencies.sort();
    for (sim, agency_id) in agencies {
        let req = sc::CloseMonthRequest {
            request_id: rid(tag, &format!("close-{sim}")),
            agency_id,
            month: month.to_string(),
        };
        if let Some(done) = c
            .call("CloseMonth", &Who::Admin, Some(at), req, |r| {
                let mut s = c.scoring.clone();
                async move { s.close_month(r).await }
            })
            .await
        {
            eprintln!(
                "sim: closed {month} of {sim}: {} workers scored (revision {})",
                done.workers, done.revision
            );
        }
    }
}

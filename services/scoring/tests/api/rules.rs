//! Publishing and reading decree rule sets.

use pantau_proto::events::v1 as ev;
use pantau_proto::scoring::v1 as api;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn rule_sets_get_consecutive_versions_per_scope_and_the_agencys_own_wins()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let all = app
        .publish_rules(&app.admin, "", "2026-01-01", rules(&[("APEL", 50.0)], 5.0))
        .await?;
    assert_eq!(all.version, 1);
    let stored = all.rule_set.unwrap();
    let defaults = stored.rules.unwrap();
    assert_eq!(
        defaults.points_per_score, 100.0,
        "score = points / 100 by default"
    );
    assert_eq!(defaults.thresholds.unwrap().sangat_baik, 91.0);
    assert_eq!(defaults.pay.unwrap().kurang_sekali, 50.0);
    assert_eq!(defaults.tpp.unwrap().performance_weight, 60.0);
    let own1 = app
        .publish_rules(
            &dlh.admin,
            &dlh.id,
            "2026-03-01",
            rules(&[("DLH-SAPU", 10.0)], 0.0),
        )
        .await?;
    let own2 = app
        .publish_rules(
            &dlh.admin,
            &dlh.id,
            "2026-10-16",
            rules(&[("DLH-SAPU", 20.0)], 0.0),
        )
        .await?;
    assert_eq!(
        (own1.version, own2.version),
        (1, 2),
        "versions count per scope"
    );

    let get = |date: &str| {
        let mut c = app.client.clone();
        let req = authed(
            &dlh.admin,
            api::GetRuleSetsRequest {
                agency_id: dlh.id.clone(),
                date: date.into(),
            },
        );
        async move { c.get_rule_sets(req).await.map(tonic::Response::into_inner) }
    };
    let feb = get("2026-02-10").await?;
    assert_eq!(feb.versions.len(), 3);
    let f = feb.in_force.unwrap();
    assert_eq!(
        (f.agency_id.as_str(), f.version),
        ("", 1),
        "before the agency's own, the province's"
    );
    let oct = get("2026-10-16").await?.in_force.unwrap();
    assert_eq!((oct.agency_id.as_str(), oct.version), (dlh.id.as_str(), 2));
    assert_eq!(get("2026-10-15").await?.in_force.unwrap().version, 1);
    assert_eq!(oct.decree, "Keputusan Bupati 371/22/HK/2021");
    // Today (5 November in WITA) when no date is given.
    assert_eq!(get("").await?.date, "2026-11-05");
    Ok(())
}

#[tokio::test]
async fn a_retried_publish_stores_one_version() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let req = api::PublishRuleSetRequest {
        request_id: "decree-371".into(),
        agency_id: String::new(),
        effective_from: "2026-01-01".into(),
        decree: "Keputusan Bupati 371/22/HK/2021".into(),
        rules: Some(rules(&[("APEL", 50.0)], 5.0)),
    };
    let first = app
        .client
        .clone()
        .publish_rule_set(authed(&app.admin, req.clone()))
        .await?
        .into_inner();
    let again = app
        .client
        .clone()
        .publish_rule_set(authed(&app.admin, req))
        .await?
        .into_inner();
    assert_eq!((first.version, again.version), (1, 1));
    assert_eq!(first.rule_set, again.rule_set);
    assert_eq!(
        app.scoring_events("pantau.scoring.ruleset.>").await?.len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn bad_rule_sets_are_refused_naming_the_field_and_write_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let publish = |rules: ev::Rules, from: &str, decree: &str| {
        let mut c = app.client.clone();
        let req = authed(
            &dlh.admin,
            api::PublishRuleSetRequest {
                request_id: rid(),
                agency_id: dlh.id.clone(),
                effective_from: from.into(),
                decree: decree.into(),
                rules: Some(rules),
            },
        );
        async move { c.publish_rule_set(req).await }
    };
    let decree = "Perbup 12/2026";
    assert_invalid(
        publish(rules(&[("sapu kecil", 1.0)], 0.0), "2026-01-01", decree).await,
        "rules.activities[0].code",
    );
    assert_invalid(
        publish(rules(&[("SAPU", -1.0)], 0.0), "2026-01-01", decree).await,
        "rules.activities[0].points_per_unit",
    );
    assert_invalid(
        publish(
            rules(&[("SAPU", 1.0), ("SAPU", 2.0)], 0.0),
            "2026-01-01",
            decree,
        )
        .await,
        "rules.activities[1].code",
    );
    assert_invalid(
        publish(rules(&[], f64::NAN), "2026-01-01", decree).await,
        "rules.present_day_points",
    );
    let mut upside_down = rules(&[], 0.0);
    upside_down.thresholds = Some(ev::CategoryThresholds {
        sangat_baik: 50.0,
        baik: 76.0,
        cukup: 61.0,
        kurang: 51.0,
    });
    assert_invalid(
        publish(upside_down, "2026-01-01", decree).await,
        "rules.thresholds",
    );
    assert_invalid(
        publish(rules(&[], 0.0), "2026-02-30", decree).await,
        "effective_from",
    );
    assert_invalid(publish(rules(&[], 0.0), "2026-01-01", " ").await, "decree");
    assert!(
        app.scoring_events("pantau.scoring.>").await?.is_empty(),
        "nothing was written"
    );
    publish(rules(&[], 0.0), "2026-06-01", decree).await?;
    // A correction may be dated before a later version (an appeal).
    publish(rules(&[], 0.0), "2026-05-31", decree).await?;

    let other = app.agency("DPU", WITA).await?;
    let denied = app
        .publish_rules(&other.admin, &dlh.id, "2026-07-01", rules(&[], 0.0))
        .await;
    assert_code(denied, Code::PermissionDenied, "another agency's admin");
    let denied = app
        .publish_rules(&dlh.admin, "", "2026-07-01", rules(&[], 0.0))
        .await;
    assert_code(
        denied,
        Code::PermissionDenied,
        "an agency admin publishing for every agency",
    );
    let missing = app
        .publish_rules(&app.admin, &rid(), "2026-07-01", rules(&[], 0.0))
        .await;
    assert_code(missing, Code::NotFound, "no such agency");
    Ok(())
}

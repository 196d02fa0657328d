//! Retries: a request sent again with its request_id returns the original
//! outcome and stores nothing twice; a new request_id is a new request.

use pantau_proto::activity::v1::{self as api, ReportStatus, ReviewDecision};
use pantau_proto::events::v1::activity_event::Event;
use tonic::Code;

use crate::helpers::*;

fn publish_request(agency: &str, from: &str, codes: &[&str]) -> api::PublishCatalogRequest {
    api::PublishCatalogRequest {
        request_id: rid(),
        agency_id: agency.into(),
        effective_from: from.into(),
        activities: codes
            .iter()
            .map(|c| activity(c, "kali", false, false))
            .collect(),
    }
}

#[tokio::test]
async fn retried_requests_return_their_first_outcome_and_store_nothing_twice() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let date = day(1);

    // Catalog.
    let publish = publish_request(&team.agency, "2026-01-01", &["SWEEP", "PLANT"]);
    let mut client = app.client.clone();
    let first = client
        .publish_catalog(authed(&team.admin, publish.clone()))
        .await?
        .into_inner();
    let again = client
        .publish_catalog(authed(&team.admin, publish.clone()))
        .await?
        .into_inner();
    assert_eq!((first.version, again.version), (1, 1));
    let subject = format!("pantau.activity.catalog.{}", team.agency);
    assert_eq!(app.events(&subject).await?.len(), 1);
    let mut bad = publish.clone();
    bad.request_id = "ä".into();
    assert_invalid(
        client.publish_catalog(authed(&team.admin, bad)).await,
        "request_id",
    );

    // Report.
    let sweep = report("SWEEP", &date, "08:00", "09:00");
    let a = app.report(&siti.token, sweep.clone()).await?;
    let b = app.report(&siti.token, sweep.clone()).await?;
    assert_eq!(a, b);
    assert_eq!(app.day_events(&siti.id, &date).await?.len(), 1);
    assert_eq!(app.worker_day(&siti.token, &siti.id, &date).await?.len(), 1);
    // Another request with the same content is another report: it overlaps.
    let mut same = sweep.clone();
    same.request_id = rid();
    assert_code(
        app.report(&siti.token, same).await,
        Code::FailedPrecondition,
        "a new request for the same hour",
    );
    // A retry after another report still answers with the first report.
    let noon = app
        .filed(&siti.token, report("SWEEP", &date, "12:00", "13:00"))
        .await?;
    assert_ne!(noon, a.report_id);
    assert_eq!(app.report(&siti.token, sweep.clone()).await?, a);
    assert_eq!(app.day_events(&siti.id, &date).await?.len(), 2);

    // Review.
    let review = rid();
    for _ in 0..2 {
        assert_eq!(
            app.review_as(
                &team.boss_token,
                &review,
                &a.report_id,
                ReviewDecision::Return,
                "foto"
            )
            .await?,
            ReportStatus::Returned
        );
    }
    // Amendment.
    let mut fixed = amendment(&a.report_id, &sweep);
    fixed.quantity = 2.0;
    for _ in 0..2 {
        assert_eq!(
            app.amend(&siti.token, fixed.clone()).await?,
            ReportStatus::Submitted
        );
    }
    let approval = rid();
    for _ in 0..2 {
        assert_eq!(
            app.review_as(
                &team.boss_token,
                &approval,
                &a.report_id,
                ReviewDecision::Approve,
                ""
            )
            .await?,
            ReportStatus::Approved
        );
    }
    let kinds: Vec<&str> = app
        .day_events(&siti.id, &date)
        .await?
        .iter()
        .map(|e| match e {
            Event::ActivityReported(_) => "reported",
            Event::ActivityReturned(_) => "returned",
            Event::ActivityAmended(_) => "amended",
            Event::ActivityApproved(_) => "approved",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["reported", "reported", "returned", "amended", "approved"]
    );

    // Rating.
    let rating = rid();
    for _ in 0..2 {
        let average = app
            .rate(&team.boss_token, &rating, &siti.id, "2026-11", scores(4))
            .await?;
        assert!((average - 4.0).abs() < 1e-9);
    }
    let rated = app
        .events(&format!("pantau.activity.rating.{}.202611", siti.id))
        .await?;
    assert_eq!(rated.len(), 1);

    // Bulk approval (see review.rs for a mixed batch).
    let other = app
        .filed(&siti.token, report("SWEEP", &day(2), "08:00", "09:00"))
        .await?;
    let bulk = rid();
    let before = app.last_seq().await?;
    let first = app.bulk(&team.boss_token, &bulk, &[other.as_str()]).await?;
    let again = app.bulk(&team.boss_token, &bulk, &[other.as_str()]).await?;
    assert_eq!(first, again);
    assert!(first[0].approved);
    assert_eq!(app.last_seq().await?, before + 1);
    Ok(())
}

/// The original outcome even when the aggregate moved on since: a catalog
/// publish retried after a newer version, a return retried after the
/// worker amended.
#[tokio::test]
async fn late_retries_return_their_original_outcome() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let mut client = app.client.clone();
    let v1 = publish_request(&team.agency, "2026-01-01", &["SWEEP"]);
    let first = client
        .publish_catalog(authed(&team.admin, v1.clone()))
        .await?
        .into_inner()
        .version;
    let second = app
        .publish(
            &team.admin,
            &team.agency,
            "2026-11-01",
            vec![activity("SWEEP", "jam", false, false)],
        )
        .await?;
    let retried = client
        .publish_catalog(authed(&team.admin, v1))
        .await?
        .into_inner()
        .version;
    let subject = format!("pantau.activity.catalog.{}", team.agency);
    assert_eq!(app.events(&subject).await?.len(), 2);

    let sweep = report("SWEEP", &day(1), "08:00", "09:00");
    let id = app.filed(&siti.token, sweep.clone()).await?;
    let ret = rid();
    let returned = app
        .review_as(&team.boss_token, &ret, &id, ReviewDecision::Return, "foto")
        .await?;
    app.amend(
        &siti.token,
        amendment(&id, &report("SWEEP", &day(1), "08:00", "09:30")),
    )
    .await?;
    let retried_return = app
        .review_as(&team.boss_token, &ret, &id, ReviewDecision::Return, "foto")
        .await?;
    assert_eq!(app.day_events(&siti.id, &day(1)).await?.len(), 3);

    assert_eq!(
        ((first, second, retried), (returned, retried_return)),
        ((1, 2, 1), (ReportStatus::Returned, ReportStatus::Returned)),
        "a retry answers what the request answered the first time"
    );
    Ok(())
}

/// A request id names one request. Used again for a different report (by
/// the same phone, or by another caller who happened to pick the same id),
/// it must not be taken for a retry of the first: that would answer with
/// the first report's id and silently drop the new one.
#[tokio::test]
async fn a_reused_request_id_never_swallows_a_different_report() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let date = day(1);
    let mut first = report("SWEEP", &date, "08:00", "09:00");
    first.request_id = "1".into();
    let first_id = app.filed(&siti.token, first).await?;

    // The same phone, the same id, another hour.
    let mut again = report("SWEEP", &date, "10:00", "11:00");
    again.request_id = "1".into();
    let same_caller = app.report(&siti.token, again).await;
    let stored_after_same_caller = app.day_events(&siti.id, &date).await?.len();
    let swallowed_same =
        matches!(&same_caller, Ok(r) if r.report_id == first_id) && stored_after_same_caller == 1;

    // Her supervisor, filling in the afternoon, with an id of his own
    // numbering that happens to be hers too.
    let mut behalf = report("SWEEP", &date, "13:00", "14:00");
    behalf.request_id = "1".into();
    behalf.worker_id = siti.id.clone();
    let other_caller = app.report(&team.boss_token, behalf).await;
    let shown = app.worker_day(&siti.token, &siti.id, &date).await?;
    let afternoon_filed = shown.iter().any(|r| r.start_time == "13:00");

    assert_eq!(
        (swallowed_same, afternoon_filed),
        (false, true),
        "same caller: {same_caller:?}; other caller: {other_caller:?}; day: {:?}",
        ids(&shown)
    );
    Ok(())
}

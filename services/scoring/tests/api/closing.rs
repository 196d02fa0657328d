//! Closing a month, and what arrives for it afterwards.

use std::time::Duration;

use pantau_proto::events::v1::{self as ev, scoring_event::Event};
use pantau_proto::scoring::v1 as api;
use tonic::Code;

use crate::helpers::*;

const SAPU: &str = "DLH-SAPU";

#[tokio::test]
async fn closing_october_finalizes_every_worker_including_one_with_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    app.publish_rules(
        &dlh.admin,
        &dlh.id,
        "2026-01-01",
        rules(&[(SAPU, 1000.0)], 0.0),
    )
    .await?;
    let busy = app.worker(&dlh, false).await?;
    let ghost = app.worker(&dlh, false).await?;
    for d in ["2026-10-05", "2026-10-06", "2026-10-30"] {
        let r = app.report(&dlh, &busy, d, SAPU, 3.0, (420, 600)).await?;
        app.approve(&busy, d, &r).await?;
    }
    let closed = app.close(&dlh.admin, &dlh.id, OCTOBER, "close-oct").await?;
    assert_eq!((closed.revision, closed.workers), (1, 2));

    // Every worker's score, then the marker, on the stream.
    let events = app
        .scoring_events(&format!("pantau.scoring.*.{}.>", dlh.id))
        .await?;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            Event::MonthlyScoreFinalized(_) => "score",
            Event::MonthClosed(_) => "closed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["score", "score", "closed"]);
    let score_of = |w: &str| {
        events.iter().find_map(|e| match e {
            Event::MonthlyScoreFinalized(f) if f.worker_id == w => f.figures.clone(),
            _ => None,
        })
    };
    let busy_score = score_of(&busy).unwrap();
    assert_eq!((busy_score.points, busy_score.score), (9000.0, 90.0));
    assert_eq!(busy_score.category, ev::Category::Baik as i32);
    assert_eq!(busy_score.rule_sets.len(), 1);
    let ghost_score = score_of(&ghost).unwrap();
    assert_eq!(
        (
            ghost_score.points,
            ghost_score.category,
            ghost_score.pay_percent
        ),
        (0.0, ev::Category::KurangSekali as i32, 50.0),
        "a worker with nothing all month scores nothing"
    );

    let month = app.agency_month(&dlh.id, OCTOBER).await?;
    assert!(month.closed && month.finalized);
    assert_eq!(
        (month.revision, month.workers, month.average_points),
        (1, 2, 4500.0)
    );
    let count = |c: ev::Category| {
        month
            .categories
            .iter()
            .find(|x| x.category == c as i32)
            .map_or(0, |x| x.workers)
    };
    assert_eq!(
        (count(ev::Category::Baik), count(ev::Category::KurangSekali)),
        (1, 1)
    );
    let w = app.worker_month(&busy, OCTOBER).await?;
    assert!(w.closed);
    assert_eq!(w.finalized.unwrap().points, 9000.0);
    Ok(())
}

#[tokio::test]
async fn a_month_closes_once_after_it_ends_and_a_retry_answers_like_the_first() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let other = app.agency("DPU", WITA).await?;
    app.worker(&dlh, false).await?;
    assert_code(
        app.close(&other.admin, &dlh.id, OCTOBER, &rid()).await,
        Code::PermissionDenied,
        "another agency's admin",
    );
    let worker = app.token(&["worker"], Some(&dlh.id), None);
    assert_code(
        app.close(&worker, &dlh.id, OCTOBER, &rid()).await,
        Code::PermissionDenied,
        "a worker",
    );
    assert_code(
        app.close(&dlh.admin, &dlh.id, "2026-11", &rid()).await,
        Code::FailedPrecondition,
        "November has not ended",
    );
    assert_code(
        app.close(&app.admin, &rid(), OCTOBER, &rid()).await,
        Code::NotFound,
        "no such agency",
    );
    assert_invalid(
        app.close(&dlh.admin, &dlh.id, "Oktober", &rid()).await,
        "month",
    );
    assert_invalid(
        app.close(&dlh.admin, &dlh.id, OCTOBER, "").await,
        "request_id",
    );
    assert!(
        app.scoring_events("pantau.scoring.>").await?.is_empty(),
        "refused closes write nothing"
    );
    let first = app.close(&dlh.admin, &dlh.id, OCTOBER, "close-1").await?;
    let again = app.close(&dlh.admin, &dlh.id, OCTOBER, "close-1").await?;
    assert_eq!(
        (again.revision, again.workers),
        (first.revision, first.workers)
    );
    assert_code(
        app.close(&dlh.admin, &dlh.id, OCTOBER, "close-2").await,
        Code::FailedPrecondition,
        "closing twice",
    );
    assert_eq!(
        app.scoring_events("pantau.scoring.>").await?.len(),
        2,
        "one score, one marker"
    );
    // The month ends at midnight in the agency's own zone: 23:59 on
    // 31 October in Jayapura is already November in Jakarta's terms.
    let papua = app.agency("DLH-PAPUA", "Asia/Jayapura").await?;
    app.running.scoring.set_clock(std::sync::Arc::new(|| {
        "2026-10-31T14:59:00Z".parse().unwrap_or_default()
    }));
    assert_code(
        app.close(&papua.admin, &papua.id, OCTOBER, &rid()).await,
        Code::FailedPrecondition,
        "23:59 WIT on the 31st",
    );
    app.running.scoring.set_clock(std::sync::Arc::new(|| {
        "2026-10-31T15:00:00Z".parse().unwrap_or_default()
    }));
    app.close(&papua.admin, &papua.id, OCTOBER, &rid()).await?;
    Ok(())
}

/// Waits until the stream holds `n` ScoreAdjusted events for the agency.
async fn adjusted_events(
    app: &App,
    agency: &str,
    n: usize,
) -> anyhow::Result<Vec<ev::ScoreAdjusted>> {
    for _ in 0..100 {
        let found: Vec<ev::ScoreAdjusted> = app
            .scoring_events(&format!("pantau.scoring.score.{agency}.>"))
            .await?
            .into_iter()
            .filter_map(|e| match e {
                Event::ScoreAdjusted(a) => Some(a),
                _ => None,
            })
            .collect();
        if found.len() >= n {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{n} ScoreAdjusted events did not arrive")
}

#[tokio::test]
async fn a_late_approval_for_a_closed_month_is_an_adjustment_never_a_silent_change()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    app.publish_rules(
        &dlh.admin,
        &dlh.id,
        "2026-01-01",
        rules(&[(SAPU, 100.0)], 0.0),
    )
    .await?;
    let w = app.worker(&dlh, false).await?;
    let on_time = app
        .report(&dlh, &w, "2026-10-29", SAPU, 10.0, (420, 600))
        .await?;
    app.approve(&w, "2026-10-29", &on_time).await?;
    let late = app
        .report(&dlh, &w, "2026-10-30", SAPU, 5.0, (420, 600))
        .await?;
    app.close(&dlh.admin, &dlh.id, OCTOBER, &rid()).await?;

    // The supervisor approves the 30th's report in November.
    let seq = app.approve(&w, "2026-10-30", &late).await?;
    let month = app.worker_month(&w, OCTOBER).await?;
    assert_eq!(
        month.finalized.as_ref().unwrap().points,
        1000.0,
        "what was finalized stays"
    );
    assert_eq!(month.live.as_ref().unwrap().points, 1500.0);
    assert_eq!(month.adjustments.len(), 1);
    let a = &month.adjustments[0];
    assert_eq!((a.revision, a.number), (1, 1));
    assert_eq!(
        (
            a.before.as_ref().unwrap().points,
            a.after.as_ref().unwrap().points
        ),
        (1000.0, 1500.0)
    );
    assert_eq!(
        (a.cause_stream.as_str(), a.cause_sequence),
        ("PANTAU_ACTIVITY", seq)
    );
    // Readers of the agency see the adjusted figures.
    assert_eq!(
        app.agency_month(&dlh.id, OCTOBER).await?.average_points,
        1500.0
    );
    let events = adjusted_events(&app, &dlh.id, 1).await?;
    assert_eq!(
        (events[0].worker_id.as_str(), events[0].number),
        (w.as_str(), 1)
    );

    // Rejected again: a second adjustment, back to 1000.
    app.reject(&w, "2026-10-30", &late).await?;
    let list = app
        .client
        .clone()
        .list_adjustments(authed(
            &dlh.admin,
            api::ListAdjustmentsRequest {
                agency_id: dlh.id.clone(),
                month: OCTOBER.into(),
            },
        ))
        .await?
        .into_inner()
        .adjustments;
    assert_eq!(list.len(), 2);
    assert_eq!(
        (
            list[1].before.as_ref().unwrap().points,
            list[1].after.as_ref().unwrap().points
        ),
        (1500.0, 1000.0)
    );
    adjusted_events(&app, &dlh.id, 2).await?;
    Ok(())
}

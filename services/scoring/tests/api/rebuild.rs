//! Rebuilding a closed month when its rules change.

use futures::StreamExt;
use pantau_proto::events::v1::scoring_event::Event;
use pantau_proto::scoring::v1 as api;
use tonic::Code;

use crate::helpers::*;

const SAPU: &str = "DLH-SAPU";

/// Runs a rebuild to its end; returns every progress message.
async fn rebuild(
    app: &App,
    token: &str,
    agency: &str,
    month: &str,
    request_id: &str,
) -> Result<Vec<api::RebuildMonthResponse>, tonic::Status> {
    let mut stream = app
        .client
        .clone()
        .rebuild_month(authed(
            token,
            api::RebuildMonthRequest {
                request_id: request_id.into(),
                agency_id: agency.into(),
                month: month.into(),
            },
        ))
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.next().await {
        out.push(m?);
    }
    Ok(out)
}

async fn accept(
    app: &App,
    token: &str,
    rebuild_id: &str,
    request_id: &str,
) -> Result<api::AcceptRebuildResponse, tonic::Status> {
    app.client
        .clone()
        .accept_rebuild(authed(
            token,
            api::AcceptRebuildRequest {
                request_id: request_id.into(),
                rebuild_id: rebuild_id.into(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// An agency with three workers' October (one a civil servant, late twice,
/// one with a ceremony-free month of reports, one with nothing), closed.
async fn closed_october(app: &App) -> anyhow::Result<(Agency, Vec<String>)> {
    let dlh = app.agency("DLH", WITA).await?;
    app.publish_rules(
        &dlh.admin,
        &dlh.id,
        "2026-01-01",
        rules(&[(SAPU, 100.0)], 10.0),
    )
    .await?;
    let workers = vec![
        app.worker(&dlh, true).await?,
        app.worker(&dlh, false).await?,
        app.worker(&dlh, false).await?,
    ];
    for (i, w) in workers.iter().take(2).enumerate() {
        for d in [1, 2, 5, 6, 7, 20, 30] {
            let date = format!("2026-10-{d:02}");
            let r = app
                .report(&dlh, w, &date, SAPU, (i + 1) as f64 * 6.0, (420, 600))
                .await?;
            app.approve(w, &date, &r).await?;
            app.check_in(&dlh, w, &date, if d > 20 { 45 } else { 0 })
                .await?;
        }
    }
    app.close(&dlh.admin, &dlh.id, OCTOBER, &rid()).await?;
    Ok((dlh, workers))
}

#[tokio::test]
async fn a_rebuild_with_the_same_rules_finds_what_the_live_projection_found() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let (dlh, _) = closed_october(&app).await?;
    let progress = rebuild(&app, &dlh.admin, &dlh.id, OCTOBER, "same").await?;
    let last = progress.last().unwrap();
    assert!(last.done);
    assert_eq!(last.events_read, last.events_total);
    let summary = last.summary.unwrap();
    assert_eq!(
        (summary.workers, summary.changed),
        (3, 0),
        "replaying the history gives the live figures"
    );
    assert_eq!(summary.points_before, summary.points_after);
    Ok(())
}

#[tokio::test]
async fn a_corrected_decree_rebuilds_october_in_shadow_until_an_admin_accepts() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let (dlh, workers) = closed_october(&app).await?;
    let before = app.agency_month(&dlh.id, OCTOBER).await?;
    // The appeal: the decree is corrected from 1 October, double points.
    app.publish_rules(
        &dlh.admin,
        &dlh.id,
        "2026-10-01",
        rules(&[(SAPU, 200.0)], 10.0),
    )
    .await?;
    assert_eq!(
        app.agency_month(&dlh.id, OCTOBER).await?.average_points,
        before.average_points,
        "a closed month keeps its rules until a rebuild is accepted"
    );
    let progress = rebuild(&app, &dlh.admin, &dlh.id, OCTOBER, "appeal").await?;
    let done = progress.last().unwrap().clone();
    let summary = done.summary.unwrap();
    // The worker with nothing changes too: their month now names the
    // corrected rule set.
    assert_eq!((summary.workers, summary.changed), (3, 3));
    assert!(summary.points_after > summary.points_before);
    assert_eq!(
        app.agency_month(&dlh.id, OCTOBER).await?.average_points,
        before.average_points,
        "readers never see the shadow"
    );
    let diff = app
        .client
        .clone()
        .get_rebuild_diff(authed(
            &dlh.admin,
            api::GetRebuildDiffRequest {
                rebuild_id: done.rebuild_id.clone(),
                page_size: 1,
                page_token: String::new(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!((diff.workers.len(), diff.status.as_str()), (1, "ready"));
    assert!(!diff.next_page_token.is_empty());
    let d = &diff.workers[0];
    assert!(workers.contains(&d.worker_id));
    let (old, new) = (d.before.clone().unwrap(), d.after.clone().unwrap());
    assert_eq!(new.rule_sets.last().map(|r| r.version), Some(2));
    if d.worker_id != workers[2] {
        assert_eq!(
            new.points,
            old.points * 2.0 - 10.0 * f64::from(old.days_present),
            "activity points doubled"
        );
    }

    // Another agency's admin may not accept it; the agency's may.
    let other = app.agency("DPU", WITA).await?;
    assert_code(
        accept(&app, &other.admin, &done.rebuild_id, &rid()).await,
        Code::PermissionDenied,
        "another agency",
    );
    let accepted = accept(&app, &dlh.admin, &done.rebuild_id, "accept-1").await?;
    assert_eq!((accepted.revision, accepted.changed), (2, 3));
    let again = accept(&app, &dlh.admin, &done.rebuild_id, "accept-1").await?;
    assert_eq!(again.revision, 2, "a retried accept answers like the first");
    let after = app.agency_month(&dlh.id, OCTOBER).await?;
    assert_eq!(after.revision, 2);
    assert!(after.average_points > before.average_points);
    let w = app.worker_month(&workers[1], OCTOBER).await?;
    assert_eq!(w.revision, 2);
    assert_eq!(
        w.finalized.as_ref().map(|f| f.points),
        w.live.as_ref().map(|f| f.points),
        "live follows the revision's rules"
    );
    assert!(w.adjustments.is_empty());
    let markers: Vec<u32> = app
        .scoring_events(&format!("pantau.scoring.month.{}.*", dlh.id))
        .await?
        .into_iter()
        .filter_map(|e| match e {
            Event::MonthClosed(c) => Some(c.revision),
            Event::MonthRevised(r) => Some(r.revision),
            _ => None,
        })
        .collect();
    assert_eq!(markers, [1, 2]);
    let revision_two = app
        .scoring_events(&format!("pantau.scoring.score.{}.>", dlh.id))
        .await?
        .into_iter()
        .filter(|e| matches!(e, Event::MonthlyScoreFinalized(f) if f.revision == 2))
        .count();
    assert_eq!(revision_two, 3, "every worker's score of revision 2");
    Ok(())
}

#[tokio::test]
async fn only_closed_months_rebuild_and_a_stale_rebuild_is_refused() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (dlh, _) = closed_october(&app).await?;
    assert_code(
        rebuild(&app, &dlh.admin, &dlh.id, "2026-11", &rid()).await,
        Code::FailedPrecondition,
        "November is open",
    );
    let worker = app.token(&["worker"], Some(&dlh.id), None);
    assert_code(
        rebuild(&app, &worker, &dlh.id, OCTOBER, &rid()).await,
        Code::PermissionDenied,
        "a worker",
    );
    app.publish_rules(
        &dlh.admin,
        &dlh.id,
        "2026-10-15",
        rules(&[(SAPU, 150.0)], 10.0),
    )
    .await?;
    let first = rebuild(&app, &dlh.admin, &dlh.id, OCTOBER, "r1")
        .await?
        .pop()
        .unwrap();
    let second = rebuild(&app, &dlh.admin, &dlh.id, OCTOBER, "r2")
        .await?
        .pop()
        .unwrap();
    accept(&app, &dlh.admin, &first.rebuild_id, &rid()).await?;
    assert_code(
        accept(&app, &dlh.admin, &second.rebuild_id, &rid()).await,
        Code::FailedPrecondition,
        "built on revision 1, which is no longer the month's",
    );
    assert_code(
        accept(&app, &dlh.admin, &rid(), &rid()).await,
        Code::NotFound,
        "no such rebuild",
    );
    // Discarded rebuilds cannot be accepted.
    let third = rebuild(&app, &dlh.admin, &dlh.id, OCTOBER, "r3")
        .await?
        .pop()
        .unwrap();
    app.client
        .clone()
        .discard_rebuild(authed(
            &dlh.admin,
            api::DiscardRebuildRequest {
                rebuild_id: third.rebuild_id.clone(),
            },
        ))
        .await?;
    assert_code(
        accept(&app, &dlh.admin, &third.rebuild_id, &rid()).await,
        Code::FailedPrecondition,
        "discarded",
    );
    let month = app.agency_month(&dlh.id, OCTOBER).await?;
    assert_eq!(month.revision, 2);
    Ok(())
}

/// Waits until a rebuild is ready (or fails the test).
async fn ready(
    app: &App,
    token: &str,
    rebuild_id: &str,
) -> anyhow::Result<api::GetRebuildDiffResponse> {
    for _ in 0..100 {
        let diff = app
            .client
            .clone()
            .get_rebuild_diff(authed(
                token,
                api::GetRebuildDiffRequest {
                    rebuild_id: rebuild_id.into(),
                    page_size: 10,
                    page_token: String::new(),
                },
            ))
            .await?
            .into_inner();
        if diff.status != "running" {
            return Ok(diff);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("rebuild {rebuild_id} did not finish")
}

#[tokio::test]
async fn publishing_a_decree_for_a_closed_month_starts_its_rebuild() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let (dlh, _) = closed_october(&app).await?;
    // November's decree first: closed October is not rebuilt.
    let later = app
        .publish_rules(
            &dlh.admin,
            &dlh.id,
            "2026-11-01",
            rules(&[(SAPU, 300.0)], 10.0),
        )
        .await?;
    assert!(later.rebuilds.is_empty(), "{:?}", later.rebuilds);
    // Then the appeal for October, dated before November's version.
    let appeal = app
        .publish_rules(
            &dlh.admin,
            &dlh.id,
            "2026-10-10",
            rules(&[(SAPU, 200.0)], 10.0),
        )
        .await?;
    assert_eq!(appeal.rebuilds.len(), 1);
    let started = &appeal.rebuilds[0];
    assert_eq!(
        (started.agency_id.as_str(), started.month.as_str()),
        (dlh.id.as_str(), OCTOBER)
    );
    let diff = ready(&app, &dlh.admin, &started.rebuild_id).await?;
    assert_eq!(diff.status, "ready");
    assert_eq!(diff.summary.unwrap().workers, 3);
    assert_eq!(
        app.agency_month(&dlh.id, OCTOBER).await?.revision,
        1,
        "nothing changes until accepted"
    );
    let accepted = accept(&app, &dlh.admin, &started.rebuild_id, &rid()).await?;
    assert_eq!(accepted.revision, 2);
    Ok(())
}

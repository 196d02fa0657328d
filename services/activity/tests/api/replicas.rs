//! Two replicas on the same streams and database: catalogs published
//! through one are in force on the other, and reports and reviews move
//! between them freely.

use std::time::{Duration, Instant};

use pantau_proto::activity::v1::{self as api, ReportStatus, ReviewDecision};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_second_replica_shares_catalogs_reports_and_reviews() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.general_catalog().await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let (second, mut b) = app.replica().await?;
    let date = day(1);

    // Published before it started.
    let catalog = b
        .get_catalog(authed(
            &siti.token,
            api::GetCatalogRequest {
                agency_id: team.agency.clone(),
                date: date.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(catalog.activities.len(), 3);

    // Published through the first while it runs: in force on the second.
    app.publish(
        &team.admin,
        &team.agency,
        &date,
        vec![
            activity("SWEEP", "jam", false, false),
            activity("PLANT", "pohon", false, false),
        ],
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = b
            .get_catalog(authed(
                &siti.token,
                api::GetCatalogRequest {
                    agency_id: team.agency.clone(),
                    date: date.clone(),
                },
            ))
            .await?
            .into_inner()
            .activities
            .iter()
            .any(|e| e.activity.as_ref().is_some_and(|a| a.code == "PLANT"));
        if seen {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second replica never saw version 2"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let planted = b
        .report_activity(authed(
            &siti.token,
            report("PLANT", &date, "08:00", "09:00"),
        ))
        .await?
        .into_inner();
    assert_eq!(planted.catalog_version, 2);
    assert_code(
        b.report_activity(authed(
            &siti.token,
            report("DRAIN", &date, "10:00", "11:00"),
        ))
        .await,
        Code::InvalidArgument,
        "DRAIN left with version 2",
    );

    // Filed on the second, returned on the first, amended on the second,
    // approved on the first.
    let sweep = report("SWEEP", &date, "09:00", "10:00");
    let id = b
        .report_activity(authed(&siti.token, sweep.clone()))
        .await?
        .into_inner()
        .report_id;
    let q = app.queue(&team.boss_token, "", 0).await?;
    assert_eq!(q.total, 2, "the first replica's queue has both");
    assert_eq!(
        app.review(
            &team.boss_token,
            &id,
            ReviewDecision::Return,
            "jamnya salah"
        )
        .await?,
        ReportStatus::Returned
    );
    let mut fixed = sweep.clone();
    fixed.start_time = "09:15".into();
    let amended = b
        .amend_activity(authed(&siti.token, amendment(&id, &fixed)))
        .await?
        .into_inner();
    assert_eq!(amended.status(), ReportStatus::Submitted);
    assert_eq!(
        app.approve(&team.boss_token, &id).await?,
        ReportStatus::Approved
    );
    let shown = app.worker_day(&siti.token, &siti.id, &date).await?;
    assert_eq!(ids(&shown), [planted.report_id.as_str(), &id]);
    assert_eq!(
        (shown[1].status(), shown[1].start_time.as_str()),
        (ReportStatus::Approved, "09:15")
    );

    // A retry landing on the other replica is still the same report.
    let retried = report("SWEEP", &date, "11:00", "12:00");
    let on_a = app.filed(&siti.token, retried.clone()).await?;
    let on_b = b
        .report_activity(authed(&siti.token, retried))
        .await?
        .into_inner()
        .report_id;
    assert_eq!(on_a, on_b);

    // Both replicas at once on the same day: both land when apart (the
    // loser of the race retries on the day as it now is), one when they
    // overlap.
    let other_day = day(2);
    for round in 0..3 {
        let (start, mid, end) = (
            format!("{:02}:00", 6 + 2 * round),
            format!("{:02}:00", 7 + 2 * round),
            format!("{:02}:00", 8 + 2 * round),
        );
        let (x, y) = tokio::join!(
            app.report(&siti.token, report("SWEEP", &other_day, &start, &mid)),
            b.report_activity(authed(&siti.token, report("SWEEP", &other_day, &mid, &end))),
        );
        let (x, y) = (x?.report_id, y?.into_inner().report_id);
        assert_ne!(x, y);
    }
    let third_day = day(3);
    for round in 0..3 {
        let (start, end) = (
            format!("{:02}:00", 6 + 2 * round),
            format!("{:02}:30", 7 + 2 * round),
        );
        let (x, y) = tokio::join!(
            app.report(&siti.token, report("SWEEP", &third_day, &start, &end)),
            b.report_activity(authed(
                &siti.token,
                report("SWEEP", &third_day, &start, &end)
            )),
        );
        assert_eq!(
            [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(),
            1,
            "{x:?} {y:?}"
        );
        let refused = x.err().or(y.err()).map(|e| e.code());
        assert_eq!(refused, Some(Code::FailedPrecondition));
    }
    assert_eq!(
        app.worker_day(&siti.token, &siti.id, &other_day)
            .await?
            .len(),
        6
    );
    assert_eq!(app.day_events(&siti.id, &other_day).await?.len(), 6);
    assert_eq!(app.day_events(&siti.id, &third_day).await?.len(), 3);
    assert_eq!(app.day_events(&siti.id, &date).await?.len(), 6);
    second.stop().await;
    Ok(())
}

/// Reads answer from the read model once it shows the caller's writes. On
/// the second replica (a hot standby of the projection, which the first
/// replica applies) that must not mean waiting out a timeout.
#[tokio::test]
async fn the_second_replica_answers_reads_promptly() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let (second, mut b) = app.replica().await?;
    let id = b
        .report_activity(authed(
            &siti.token,
            report("SWEEP", &day(1), "08:00", "09:00"),
        ))
        .await?
        .into_inner()
        .report_id;
    let started = Instant::now();
    let shown = tokio::time::timeout(
        Duration::from_secs(3),
        b.get_worker_day(authed(
            &siti.token,
            api::GetWorkerDayRequest {
                worker_id: String::new(),
                date: day(1),
            },
        )),
    )
    .await;
    let elapsed = started.elapsed();
    let shown = shown
        .map_err(|_| anyhow::anyhow!("GetWorkerDay on the second replica took over 3 s"))??
        .into_inner()
        .reports;
    assert_eq!(ids(&shown), [id.as_str()], "after {elapsed:?}");
    second.stop().await;
    Ok(())
}

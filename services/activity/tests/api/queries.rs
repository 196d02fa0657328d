//! Reads: who may see a worker's days, the review queues (oldest first,
//! aged by the service's clock) and an agency's volume of work.

use chrono::Duration;
use pantau_proto::activity::v1::{ReviewDecision, VolumeRow};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_workers_days_are_seen_by_them_their_supervisors_admins_and_auditors()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let mandor = app.other_supervisor(&team, "Pak Mandor Dua").await?;
    let pupr = app.team("PUPR").await?;
    let id = app
        .filed(&siti.token, report("SWEEP", &day(1), "08:00", "09:00"))
        .await?;

    let auditor = app.token(&["auditor"], None, None);
    for (who, token) in [
        ("the worker", &siti.token),
        ("her supervisor", &team.boss_token),
        ("her agency's admin", &team.admin),
        ("a province admin", &app.admin),
        ("an auditor", &auditor),
    ] {
        let shown = app.worker_day(token, &siti.id, &day(1)).await?;
        assert_eq!(ids(&shown), [id.as_str()], "{who}");
        let month = app.worker_month(token, &siti.id, "2026-11").await?;
        assert_eq!(ids(&month.reports), [id.as_str()], "{who}");
    }
    // Her own, without naming herself.
    assert_eq!(app.worker_day(&siti.token, "", &day(1)).await?.len(), 1);
    assert_eq!(
        app.worker_month(&siti.token, "", "2026-11")
            .await?
            .reports
            .len(),
        1
    );
    for (who, token) in [
        ("a colleague", &budi.token),
        ("another supervisor", &mandor.token),
        ("another agency's admin", &pupr.admin),
        ("another agency's supervisor", &pupr.boss_token),
    ] {
        assert_code(
            app.worker_day(token, &siti.id, &day(1)).await,
            Code::PermissionDenied,
            who,
        );
        assert_code(
            app.worker_month(token, &siti.id, "2026-11").await,
            Code::PermissionDenied,
            who,
        );
    }
    let ghost = uuid::Uuid::new_v4().to_string();
    assert_code(
        app.worker_day(&app.admin, &ghost, &day(1)).await,
        Code::NotFound,
        "unknown worker",
    );
    assert_code(
        app.worker_month(&app.admin, &ghost, "2026-11").await,
        Code::NotFound,
        "unknown worker",
    );
    assert_invalid(
        app.worker_day(&siti.token, &siti.id, "kemarin").await,
        "date",
    );
    assert_invalid(
        app.worker_month(&siti.token, &siti.id, "2026-11-01").await,
        "month",
    );
    assert_invalid(app.worker_day(&auditor, "", &day(1)).await, "worker_id");
    Ok(())
}

#[tokio::test]
async fn review_queues_list_pending_reports_oldest_first() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    // Polled queues are not planned again on every call.
    let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
        .fetch_one(&app.running.activity.pool)
        .await?;
    assert_eq!(mode, "force_generic_plan");
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let mandor = app.other_supervisor(&team, "Pak Mandor Dua").await?;
    let joko = app
        .register("Joko", &team.agency, &team.unit, &mandor.id, JOINED)
        .await?;
    let joko_token = app.token(&["worker"], Some(&team.agency), Some(&joko));
    let pupr = app.team("PUPR").await?;
    app.team_catalog(&pupr).await?;
    let tono = app.member(&pupr, "Tono").await?;

    // Filed two hours, one hour and half an hour ago (yesterday's work).
    let sweep = |d: i64| report("SWEEP", &day(d), "08:00", "09:00");
    app.set_clock(now() - Duration::hours(2));
    let first = app.filed(&siti.token, sweep(1)).await?;
    app.set_clock(now() - Duration::hours(1));
    let second = app.filed(&budi.token, sweep(1)).await?;
    let theirs = app.filed(&joko_token, sweep(1)).await?;
    app.set_clock(now() - Duration::minutes(30));
    let third = app.filed(&siti.token, sweep(2)).await?;
    let done = app.filed(&budi.token, sweep(2)).await?;
    app.filed(&tono.token, sweep(1)).await?;
    app.set_clock(now());
    app.approve(&team.boss_token, &done).await?;

    let q = app.queue(&team.boss_token, "", 0).await?;
    assert_eq!(
        queue_ids(&q),
        [first.clone(), second.clone(), third.clone()]
    );
    let ages: Vec<u64> = q.items.iter().map(|i| i.age_seconds).collect();
    assert_eq!(ages, [7200, 3600, 1800]);
    assert_eq!(q.total, 3);
    let q = app.queue(&team.boss_token, "", 2).await?;
    assert_eq!(
        (queue_ids(&q), q.total),
        (vec![first.clone(), second.clone()], 3),
        "total counts beyond the limit"
    );
    assert_eq!(app.queue(&team.boss_token, "", 1000).await?.total, 3);
    assert_invalid(app.queue(&team.boss_token, "", 1001).await, "limit");
    let q = app.queue(&mandor.token, "", 0).await?;
    assert_eq!((queue_ids(&q), q.total), (vec![theirs.clone()], 1));

    // Amending puts a report at the back of the queue, aged from then.
    app.set_clock(now() + Duration::minutes(10));
    app.amend(
        &siti.token,
        amendment(&first, &report("SWEEP", &day(1), "07:00", "09:00")),
    )
    .await?;
    let q = app.queue(&team.boss_token, "", 0).await?;
    assert_eq!(
        queue_ids(&q),
        [second.clone(), third.clone(), first.clone()]
    );
    let ages: Vec<u64> = q.items.iter().map(|i| i.age_seconds).collect();
    assert_eq!(ages, [4200, 2400, 0]);
    // Reviewed reports leave it.
    app.review(&team.boss_token, &second, ReviewDecision::Return, "foto")
        .await?;
    assert_eq!(
        queue_ids(&app.queue(&team.boss_token, "", 0).await?),
        [third.clone(), first.clone()]
    );

    // The agency admin sees every pending report of the agency.
    let q = app.queue(&team.admin, "", 0).await?;
    assert_eq!(
        (queue_ids(&q), q.total),
        (vec![theirs.clone(), third.clone(), first.clone()], 3)
    );
    assert_eq!(
        queue_ids(&app.queue(&app.admin, &team.agency, 0).await?),
        queue_ids(&q),
        "a province admin names the agency"
    );
    assert_eq!(app.queue(&pupr.admin, "", 0).await?.total, 1);
    assert_code(
        app.queue(&pupr.admin, &team.agency, 0).await,
        Code::PermissionDenied,
        "another agency's admin",
    );
    assert_code(
        app.queue(&siti.token, "", 0).await,
        Code::PermissionDenied,
        "a worker has no queue",
    );
    assert_invalid(app.queue(&app.admin, "", 0).await, "agency_id");
    assert_code(
        app.queue(&app.admin, &uuid::Uuid::new_v4().to_string(), 0)
            .await,
        Code::NotFound,
        "unknown agency",
    );
    Ok(())
}

#[tokio::test]
async fn agency_volume_counts_work_by_activity() -> anyhow::Result<()> {
    let app = &spawn_app().await?;
    let team = app.team("DLH").await?;
    app.general_catalog().await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let pupr = app.team("PUPR").await?;
    app.team_catalog(&pupr).await?;
    let tono = app.member(&pupr, "Tono").await?;

    let filed = |token: &str, code: &str, d: i64, start: &str, end: &str, quantity: f64| {
        let mut r = report(code, &day(d), start, end);
        r.quantity = quantity;
        if code == "DRAIN" {
            r.location = place("taman", SQUARE);
            r.evidence = vec![photo("ab12")];
        }
        let token = token.to_owned();
        async move { app.filed(&token, r).await }
    };
    let a = filed(&siti.token, "SWEEP", 1, "08:00", "10:00", 2.0).await?;
    app.approve(&team.boss_token, &a).await?;
    filed(&budi.token, "SWEEP", 1, "08:00", "11:00", 3.0).await?;
    let d = filed(&siti.token, "DRAIN", 2, "08:00", "10:00", 10.5).await?;
    app.approve(&team.boss_token, &d).await?;
    let r = filed(&budi.token, "DRAIN", 2, "08:00", "10:00", 4.0).await?;
    app.review(
        &team.boss_token,
        &r,
        ReviewDecision::Reject,
        "bukan di sini",
    )
    .await?;
    filed(&siti.token, "APEL", 1, "07:00", "07:30", 1.0).await?;
    // Outside the range, and in another agency.
    filed(&siti.token, "SWEEP", 3, "08:00", "09:00", 7.0).await?;
    filed(&tono.token, "SWEEP", 1, "08:00", "09:00", 5.0).await?;

    let row = |code: &str, unit: &str, counts: (u32, u32, u32), q: (f64, f64)| VolumeRow {
        code: code.into(),
        name: format!("Kegiatan {code}"),
        unit: unit.into(),
        reports: counts.0,
        approved: counts.1,
        quantity: q.0,
        approved_quantity: q.1,
        workers: counts.2,
    };
    let expected = vec![
        row("APEL", "kali", (1, 0, 1), (1.0, 0.0)),
        row("DRAIN", "meter", (1, 1, 1), (10.5, 10.5)),
        row("SWEEP", "jam", (2, 1, 2), (5.0, 2.0)),
    ];
    let auditor = app.token(&["auditor"], None, None);
    for token in [&team.admin, &app.admin, &auditor] {
        assert_eq!(
            app.volume(token, &team.agency, &day(2), TODAY).await?,
            expected
        );
    }
    assert_eq!(
        app.volume(&team.admin, &team.agency, &day(1), &day(1))
            .await?
            .len(),
        2,
        "one day: APEL and SWEEP"
    );
    assert!(
        app.volume(&team.admin, &team.agency, "2026-01-01", "2026-01-31")
            .await?
            .is_empty()
    );

    assert_invalid(
        app.volume(&team.admin, &team.agency, TODAY, &day(1)).await,
        "to",
    );
    assert_invalid(
        app.volume(&team.admin, &team.agency, "2025-01-01", "2026-01-03")
            .await,
        "to",
    );
    assert_invalid(
        app.volume(&team.admin, &team.agency, "", TODAY).await,
        "from",
    );
    for (who, token) in [
        ("another agency's admin", &pupr.admin),
        ("a supervisor", &team.boss_token),
        ("a worker", &siti.token),
    ] {
        assert_code(
            app.volume(token, &team.agency, &day(2), TODAY).await,
            Code::PermissionDenied,
            who,
        );
    }
    assert_code(
        app.volume(
            &app.admin,
            &uuid::Uuid::new_v4().to_string(),
            &day(2),
            TODAY,
        )
        .await,
        Code::NotFound,
        "unknown agency",
    );
    Ok(())
}

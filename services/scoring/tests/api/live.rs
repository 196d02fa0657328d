//! Live monthly totals, as the facts arrive.

use pantau_proto::events::v1 as ev;
use pantau_proto::scoring::v1 as api;
use tonic::Code;

use crate::helpers::*;

const SAPU: &str = "DLH-SAPU";

#[tokio::test]
async fn approved_activities_and_workdays_present_count_and_move_with_reviews() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let w = app.worker(&dlh, false).await?;
    app.publish_rules(&app.admin, "", "2026-01-01", rules(&[(SAPU, 10.0)], 5.0))
        .await?;
    // Monday and Tuesday, both workdays.
    let first = app
        .report(&dlh, &w, "2026-11-02", SAPU, 3.0, (480, 600))
        .await?;
    let second = app
        .report(&dlh, &w, "2026-11-03", SAPU, 2.0, (480, 540))
        .await?;
    app.approve(&w, "2026-11-02", &first).await?;
    app.check_in(&dlh, &w, "2026-11-02", 0).await?;
    app.check_in(&dlh, &w, "2026-11-03", 12).await?;
    // 3 x 10 approved, the pending one nothing, 2 days present x 5.
    assert_eq!(app.live_points(&w, "2026-11").await?, 40.0);
    let month = app.worker_month(&w, "2026-11").await?;
    let live = month.live.clone().unwrap();
    assert_eq!((live.days_present, live.minutes_reported), (2, 120));
    assert_eq!(live.by_code.len(), 1);
    assert_eq!(
        (live.by_code[0].quantity, live.by_code[0].points),
        (3.0, 30.0)
    );
    assert_eq!(live.score, 0.4);
    assert_eq!(live.category, ev::Category::KurangSekali as i32);
    assert_eq!(live.pay_percent, 50.0);
    assert!(!month.closed && month.finalized.is_none());

    // A rejection after approval takes the points away.
    app.reject(&w, "2026-11-02", &first).await?;
    assert_eq!(app.live_points(&w, "2026-11").await?, 10.0);
    // An amendment is pending until approved again.
    app.amend(&w, "2026-11-03", &second, SAPU, 4.0).await?;
    assert_eq!(app.live_points(&w, "2026-11").await?, 10.0);
    app.approve(&w, "2026-11-03", &second).await?;
    assert_eq!(app.live_points(&w, "2026-11").await?, 50.0);
    Ok(())
}

#[tokio::test]
async fn a_month_is_read_by_its_worker_supervisor_and_agency_only() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let other = app.agency("DPU", WITA).await?;
    let w = app.worker(&dlh, false).await?;
    let stranger = app.worker(&dlh, false).await?;
    let ask = |token: String, worker: &str, month: &str| {
        let mut c = app.client.clone();
        let req = authed(
            &token,
            api::GetWorkerMonthRequest {
                worker_id: worker.into(),
                month: month.into(),
            },
        );
        async move { c.get_worker_month(req).await }
    };
    let own = app.token(&["worker"], Some(&dlh.id), Some(&w));
    assert!(
        ask(own.clone(), "", "2026-11").await.is_ok(),
        "a worker reads their own month"
    );
    assert!(ask(dlh.admin.clone(), &w, "2026-11").await.is_ok());
    assert!(
        ask(app.token(&["auditor"], None, None), &w, "2026-11")
            .await
            .is_ok(),
        "auditors read every agency"
    );
    let peer = app.token(&["worker"], Some(&dlh.id), Some(&stranger));
    assert_code(
        ask(peer, &w, "2026-11").await,
        Code::PermissionDenied,
        "another worker",
    );
    assert_code(
        ask(other.admin.clone(), &w, "2026-11").await,
        Code::PermissionDenied,
        "another agency's admin",
    );
    assert_code(
        ask(own.clone(), &rid(), "2026-11").await,
        Code::NotFound,
        "an unknown worker",
    );
    assert_invalid(ask(own.clone(), "", "2026-13").await, "month");
    assert_code(
        app.client
            .clone()
            .get_worker_month(api::GetWorkerMonthRequest::default())
            .await,
        Code::Unauthenticated,
        "no token",
    );
    Ok(())
}

/// The agency's figures from every worker (as an admin lists them).
async fn listing(
    app: &App,
    client: &Client,
    agency: &str,
    month: &str,
) -> anyhow::Result<Vec<(String, f64, i32)>> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .clone()
            .list_worker_months(authed(
                &app.admin,
                api::ListWorkerMonthsRequest {
                    agency_id: agency.into(),
                    month: month.into(),
                    unit_id: String::new(),
                    page_size: 2,
                    page_token: token,
                },
            ))
            .await?
            .into_inner();
        out.extend(page.workers.into_iter().map(|w| {
            let f = w.figures.unwrap_or_default();
            (w.worker_id, f.points, f.category)
        }));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn projecting_the_same_events_in_any_batch_size_gives_the_same_totals() -> anyhow::Result<()>
{
    // Batches of one event each, against a second service applying up to
    // 500 at a time and a third 7 at a time, on the same streams.
    let app = spawn_with(|c| pantau_scoring::config::Config { batch_size: 1, ..c }).await?;
    let dlh = app.agency("DLH", WITA).await?;
    app.publish_rules(
        &app.admin,
        "",
        "2026-01-01",
        rules(&[(SAPU, 7.5), ("APEL", 2.0)], 4.0),
    )
    .await?;
    let mut workers = Vec::new();
    for _ in 0..5 {
        workers.push(app.worker(&dlh, true).await?);
    }
    for (i, w) in workers.iter().enumerate() {
        for d in 1..=6 {
            let date = format!("2026-11-{d:02}");
            let r = app
                .report(
                    &dlh,
                    w,
                    &date,
                    if d % 2 == 0 { SAPU } else { "APEL" },
                    (i + d) as f64,
                    (420, 480),
                )
                .await?;
            if (i + d) % 3 != 0 {
                app.approve(w, &date, &r).await?;
            }
            if d % 4 == 0 {
                app.reject(w, &date, &r).await?;
            }
            if (i * d) % 5 != 1 {
                app.check_in(&dlh, w, &date, ((i * d) % 40) as u32).await?;
            }
        }
    }
    let one = listing(&app, &app.client, &dlh.id, "2026-11").await?;
    assert_eq!(one.len(), 5);
    assert!(one.iter().any(|(_, p, _)| *p > 0.0));
    for batch in [500, 7] {
        let config = pantau_scoring::config::Config {
            batch_size: batch,
            ..pantau_scoring::config::Config::in_process(
                &app.config.nats.urls,
                &app.config.database_url,
            )
        };
        let other = start(&config).await?;
        let client = Client::connect(format!("http://{}", other.addr)).await?;
        assert_eq!(
            listing(&app, &client, &dlh.id, "2026-11").await?,
            one,
            "batches of {batch}"
        );
        other.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn workload_disparity_shows_points_and_hours_per_worker_by_unit() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    app.publish_rules(
        &dlh.admin,
        &dlh.id,
        "2026-01-01",
        rules(&[(SAPU, 100.0)], 0.0),
    )
    .await?;
    let busy_unit = rid();
    let busy = app.worker_in(&dlh, &busy_unit, false).await?;
    let idle = app.worker(&dlh, false).await?;
    // Four hours and 400 points against one hour and 100.
    let r = app
        .report(&dlh, &busy, "2026-11-02", SAPU, 4.0, (420, 660))
        .await?;
    app.approve(&busy, "2026-11-02", &r).await?;
    let r = app
        .report(&dlh, &idle, "2026-11-02", SAPU, 1.0, (420, 480))
        .await?;
    app.approve(&idle, "2026-11-02", &r).await?;
    let d = app
        .client
        .clone()
        .get_workload_disparity(authed(
            &dlh.admin,
            api::GetWorkloadDisparityRequest {
                agency_id: dlh.id.clone(),
                month: "2026-11".into(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(d.units.len(), 2);
    let busy_row = d.units.iter().find(|u| u.unit_id == busy_unit).unwrap();
    assert_eq!(
        (busy_row.points_per_worker, busy_row.hours_per_worker),
        (400.0, 4.0)
    );
    assert_eq!((d.points_ratio, d.hours_ratio), (4.0, 4.0));
    let other = app.agency("DPU", WITA).await?;
    assert_code(
        app.client
            .clone()
            .get_workload_disparity(authed(
                &other.admin,
                api::GetWorkloadDisparityRequest {
                    agency_id: dlh.id.clone(),
                    month: "2026-11".into(),
                },
            ))
            .await,
        Code::PermissionDenied,
        "another agency's admin",
    );
    Ok(())
}

#[tokio::test]
async fn reads_do_not_wait_for_events_scoring_does_not_read() -> anyhow::Result<()> {
    // The identity stream ends with an account, attendance with a
    // scanner: neither is a fact scoring keeps, so its projections never
    // apply them, and a read must not wait for them.
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let w = app.worker(&dlh, false).await?;
    app.raw_event(
        &app.identity,
        "pantau.identity.account.acc-1",
        pantau_proto::events::v1::IdentityEvent::default(),
    )
    .await?;
    app.raw_event(
        &app.attendance,
        "pantau.attendance.scanner.s-1",
        pantau_proto::events::v1::AttendanceEvent::default(),
    )
    .await?;
    let started = std::time::Instant::now();
    app.worker_month(&w, "2026-11").await?;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test]
async fn a_ceremony_late_on_the_31st_in_jakarta_counts_in_november_in_makassar()
-> anyhow::Result<()> {
    use pantau_proto::events::v1::{AttendanceEvent, attendance_event::Event as T};
    let app = spawn_app().await?;
    let dlh = app.agency("DLH", WITA).await?;
    let w = app.worker(&dlh, false).await?;
    let mut r = rules(&[], 0.0);
    r.ceremony_points = 25.0;
    app.publish_rules(&app.admin, "", "2026-01-01", r).await?;
    // 23:30 WIB on 31 October is 00:30 WITA on 1 November.
    let session = rid();
    let starts = ev::Timestamp {
        seconds: "2026-10-31T16:30:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()?
            .timestamp(),
        nanos: 0,
    };
    let subject = format!("pantau.attendance.session.{session}");
    app.raw_event(
        &app.attendance,
        &subject,
        AttendanceEvent {
            event: Some(T::SessionOpened(ev::SessionOpened {
                session_id: session.clone(),
                title: "Apel malam".into(),
                starts_at: Some(starts),
                time_zone: "Asia/Jakarta".into(),
                ..Default::default()
            })),
        },
    )
    .await?;
    for _ in 0..2 {
        // Scanned twice: one ceremony.
        app.raw_event(
            &app.attendance,
            &subject,
            AttendanceEvent {
                event: Some(T::ScanAccepted(ev::ScanAccepted {
                    session_id: session.clone(),
                    worker_id: w.clone(),
                    agency_id: dlh.id.clone(),
                    unit_id: dlh.unit.clone(),
                    ..Default::default()
                })),
            },
        )
        .await?;
    }
    let nov = app.worker_month(&w, "2026-11").await?.live.unwrap();
    assert_eq!((nov.ceremonies, nov.attendance_points), (1, 25.0));
    let oct = app.worker_month(&w, "2026-10").await?.live.unwrap();
    assert_eq!(oct.ceremonies, 0);
    Ok(())
}

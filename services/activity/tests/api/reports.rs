//! Filing reports: every rule a report breaks is named, and a refused
//! report writes nothing; the worker files their own, their supervisor may
//! fill in for them; no two of a worker's reports overlap, even when filed
//! at once.

use futures::future::join_all;
use pantau_proto::activity::v1::{self as api, ReportStatus};
use pantau_proto::events::v1::activity_event::Event;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn refused_reports_name_their_fault_and_write_nothing() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.general_catalog().await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    // Joined yesterday.
    let newcomer = app
        .register("Budi", &team.agency, &team.unit, &team.boss, &day(1))
        .await?;
    let newcomer_token = app.token(&["worker"], Some(&team.agency), Some(&newcomer));
    let colleague = app.member(&team, "Wati").await?;
    let other = app.team("PUPR").await?;
    let resigned = app.member(&team, "Rudi").await?;
    app.deactivate(&resigned.id).await?;

    let before = app.last_seq().await?;
    let with = |f: &dyn Fn(&mut api::ReportActivityRequest)| {
        let mut r = report("SWEEP", &day(1), "08:00", "09:00");
        f(&mut r);
        r
    };
    let drain = |f: &dyn Fn(&mut api::ReportActivityRequest)| {
        let mut r = report("DRAIN", &day(1), "08:00", "09:00");
        r.location = place("taman", SQUARE);
        r.evidence = vec![photo("ab12cd")];
        f(&mut r);
        r
    };
    let invalid: Vec<(api::ReportActivityRequest, &str)> = vec![
        (with(&|r| r.date = day(-1)), "date"),
        (with(&|r| r.date = "23-11-2026".into()), "date"),
        (with(&|r| r.end_time = "07:59".into()), "end_time"),
        (with(&|r| r.end_time = "08:00".into()), "end_time"),
        (with(&|r| r.start_time = "8:00".into()), "start_time"),
        // Today, but ending after 15:00 WITA (now).
        (
            with(&|r| {
                r.date = TODAY.into();
                r.start_time = "14:00".into();
                r.end_time = "15:30".into();
            }),
            "end_time",
        ),
        (with(&|r| r.code = "NOPE".into()), "code"),
        (with(&|r| r.code = String::new()), "code"),
        (with(&|r| r.quantity = 0.0), "quantity"),
        (
            with(&|r| r.request_id = "not a request id!".into()),
            "request_id",
        ),
        (with(&|r| r.request_id = String::new()), "request_id"),
        (drain(&|r| r.evidence.clear()), "evidence"),
        (
            drain(&|r| {
                r.evidence[0].kind = pantau_proto::events::v1::EvidenceKind::Document as i32
            }),
            "evidence",
        ),
        (drain(&|r| r.location = None), "location"),
    ];
    for (req, field) in invalid {
        let what = format!("{req:?}");
        let e = app.report(&siti.token, req).await.unwrap_err();
        assert_eq!(
            (e.code(), field_of(&e).as_str()),
            (Code::InvalidArgument, field),
            "{what}: {e:?}"
        );
    }
    // Before the worker joined.
    assert_invalid(
        app.report(&newcomer_token, report("SWEEP", &day(2), "08:00", "09:00"))
            .await,
        "date",
    );
    // Three days of grace: the 20th is open on the 23rd, the 19th closed.
    assert_code(
        app.report(&siti.token, report("SWEEP", &day(4), "08:00", "09:00"))
            .await,
        Code::FailedPrecondition,
        "after the grace period",
    );
    assert_code(
        app.report(&resigned.token, report("SWEEP", &day(1), "08:00", "09:00"))
            .await,
        Code::FailedPrecondition,
        "a worker no longer active",
    );
    // Unknown worker, a colleague, another agency's supervisor.
    let mut ghost = report("SWEEP", &day(1), "08:00", "09:00");
    ghost.worker_id = uuid::Uuid::new_v4().to_string();
    assert_code(
        app.report(&team.boss_token, ghost).await,
        Code::NotFound,
        "unknown worker",
    );
    let mut for_siti = report("SWEEP", &day(1), "08:00", "09:00");
    for_siti.worker_id = siti.id.clone();
    assert_code(
        app.report(&colleague.token, for_siti.clone()).await,
        Code::PermissionDenied,
        "a colleague",
    );
    assert_code(
        app.report(&other.boss_token, for_siti.clone()).await,
        Code::PermissionDenied,
        "another agency's supervisor",
    );
    assert_code(
        app.report(&team.admin, for_siti.clone()).await,
        Code::PermissionDenied,
        "agency admins review, they do not report",
    );
    // No token, a forged one.
    assert_code(
        app.client
            .clone()
            .report_activity(tonic::Request::new(for_siti.clone()))
            .await,
        Code::Unauthenticated,
        "no token",
    );
    assert_code(
        app.report("not.a.token", for_siti.clone()).await,
        Code::Unauthenticated,
        "garbage token",
    );
    assert_code(
        app.worker_day("", &siti.id, &day(1)).await,
        Code::Unauthenticated,
        "reads need a token too",
    );

    assert_eq!(app.last_seq().await?, before, "every refusal wrote nothing");
    for d in [day(-1), TODAY.to_owned(), day(1), day(4)] {
        assert!(app.worker_day(&siti.token, &siti.id, &d).await?.is_empty());
    }
    assert!(
        app.worker_day(&newcomer_token, &newcomer, &day(2))
            .await?
            .is_empty()
    );

    // The edges that are allowed: the last day of grace, the worker's
    // first day, today until now.
    app.report(&siti.token, report("SWEEP", &day(3), "08:00", "09:00"))
        .await?;
    app.report(&newcomer_token, report("SWEEP", &day(1), "08:00", "09:00"))
        .await?;
    app.report(&siti.token, report("SWEEP", TODAY, "14:00", "15:00"))
        .await?;
    app.report(&siti.token, drain(&|_| {})).await?;

    // Tokens expire (issued for 60 days).
    app.set_clock(now() + chrono::Duration::days(61));
    assert_code(
        app.worker_day(&siti.token, &siti.id, &day(1)).await,
        Code::Unauthenticated,
        "an expired token",
    );
    Ok(())
}

#[tokio::test]
async fn the_day_of_a_report_is_the_agencys_local_day() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    app.general_catalog().await?;
    let wib = app.team_in("DISHUB", "Asia/Jakarta").await?;
    let wita = app.team("DLH").await?;
    let wit = app.team_in("DKP", "Asia/Jayapura").await?;
    let (budi, siti, yohana) = (
        app.member(&wib, "Budi").await?,
        app.member(&wita, "Siti").await?,
        app.member(&wit, "Yohana").await?,
    );
    // 23:30 WIB on the 23rd is 00:30 WITA and 01:30 WIT on the 24th.
    app.set_clock(at("2026-11-23T16:30:00Z"));
    let apel = |date: &str, start: &str, end: &str| report("APEL", date, start, end);

    app.report(&budi.token, apel("2026-11-23", "23:00", "23:30"))
        .await?;
    assert_invalid(
        app.report(&budi.token, apel("2026-11-23", "23:30", "23:45"))
            .await,
        "end_time",
    );
    assert_invalid(
        app.report(&budi.token, apel("2026-11-24", "00:00", "00:15"))
            .await,
        "date",
    );
    app.report(&siti.token, apel("2026-11-24", "00:00", "00:30"))
        .await?;
    assert_invalid(
        app.report(&siti.token, apel("2026-11-24", "00:30", "01:00"))
            .await,
        "end_time",
    );
    app.report(&yohana.token, apel("2026-11-24", "00:30", "01:30"))
        .await?;
    assert_invalid(
        app.report(&yohana.token, apel("2026-11-24", "01:30", "01:45"))
            .await,
        "end_time",
    );
    // Three days of grace, counted in local days.
    app.report(&budi.token, apel("2026-11-20", "08:00", "09:00"))
        .await?;
    assert_code(
        app.report(&siti.token, apel("2026-11-20", "08:00", "09:00"))
            .await,
        Code::FailedPrecondition,
        "the 20th closed at midnight WITA",
    );
    // "Today" in GetCatalog is local too.
    for (team, today) in [
        (&wib, "2026-11-23"),
        (&wita, "2026-11-24"),
        (&wit, "2026-11-24"),
    ] {
        let r = app
            .client
            .clone()
            .get_catalog(authed(
                &team.admin,
                api::GetCatalogRequest {
                    agency_id: team.agency.clone(),
                    date: String::new(),
                },
            ))
            .await?
            .into_inner();
        assert_eq!(r.date, today);
    }
    Ok(())
}

#[tokio::test]
async fn a_worker_reports_their_day_and_their_supervisor_may_fill_in() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.general_catalog().await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let date = day(1);

    let mut drain = report("DRAIN", &date, "08:00", "10:30");
    drain.quantity = 12.5;
    drain.description = "Saluran Jl. Juanda".into();
    drain.location = place("juanda", SQUARE);
    drain.evidence = vec![photo("ab12cd"), photo("ef34")];
    let first = app.report(&siti.token, drain).await?;
    assert_eq!(
        first.report_id,
        format!("{}-{}-1", date.replace('-', ""), siti.id)
    );
    assert_eq!(first.status(), ReportStatus::Submitted);
    assert_eq!(first.catalog_version, 1);

    // Overlapping her own report: refused, nothing written.
    let before = app.last_seq().await?;
    for (start, end) in [
        ("10:29", "11:00"),
        ("07:00", "08:01"),
        ("09:00", "09:30"),
        ("07:00", "12:00"),
    ] {
        assert_code(
            app.report(&siti.token, report("APEL", &date, start, end))
                .await,
            Code::FailedPrecondition,
            &format!("{start}-{end} overlaps 08:00-10:30"),
        );
    }
    assert_eq!(app.last_seq().await?, before);
    // Touching is not overlapping.
    let apel = app
        .filed(&siti.token, report("APEL", &date, "07:30", "08:00"))
        .await?;

    // The supervisor fills in the afternoon on her behalf.
    let mut behalf = report("SWEEP", &date, "13:00", "14:00");
    behalf.worker_id = siti.id.clone();
    let swept = app.filed(&team.boss_token, behalf.clone()).await?;
    // ...but not over her own report.
    behalf.request_id = rid();
    behalf.start_time = "10:00".into();
    assert_code(
        app.report(&team.boss_token, behalf).await,
        Code::FailedPrecondition,
        "the supervisor's report overlaps hers",
    );

    let shown = app.worker_day(&siti.token, &siti.id, &date).await?;
    assert_eq!(ids(&shown), [apel.as_str(), &first.report_id, &swept]);
    let [apel, drain, swept] = shown.as_slice() else {
        panic!("{shown:?}")
    };
    assert_eq!(
        (drain.reported_by.as_str(), drain.on_behalf),
        (siti.id.as_str(), false)
    );
    assert_eq!(
        (swept.reported_by.as_str(), swept.on_behalf),
        (team.boss.as_str(), true)
    );
    assert_eq!(drain.status(), ReportStatus::Submitted);
    assert_eq!(
        (
            drain.worker_id.as_str(),
            drain.agency_id.as_str(),
            drain.unit_id.as_str()
        ),
        (siti.id.as_str(), team.agency.as_str(), team.unit.as_str())
    );
    assert_eq!(
        (
            drain.date.as_str(),
            drain.start_time.as_str(),
            drain.end_time.as_str()
        ),
        (date.as_str(), "08:00", "10:30")
    );
    assert_eq!(
        (
            drain.code.as_str(),
            drain.activity_name.as_str(),
            drain.unit.as_str()
        ),
        ("DRAIN", "Kegiatan DRAIN", "meter")
    );
    assert!((drain.quantity - 12.5).abs() < 1e-9);
    assert_eq!(drain.description, "Saluran Jl. Juanda");
    assert_eq!(drain.location, place("juanda", SQUARE));
    assert_eq!(drain.evidence, [photo("ab12cd"), photo("ef34")]);
    assert_eq!(drain.supervisor_id, team.boss);
    assert_eq!(drain.reported_at, Some(ts(now())));
    assert!(drain.duplicate_of.is_empty());
    assert_eq!((apel.code.as_str(), apel.catalog_version), ("APEL", 1));
    assert_eq!(apel.location, None);
    assert_eq!(swept.unit, "jam");

    // One event per accepted report, on the worker's day.
    let events = app.day_events(&siti.id, &date).await?;
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Event::ActivityReported(_)))
    );
    if let Some(Event::ActivityReported(r)) = events.last() {
        assert_eq!(
            (r.reported_by.as_str(), r.on_behalf),
            (team.boss.as_str(), true)
        );
        assert_eq!(r.supervisor_id, team.boss);
    }
    Ok(())
}

/// Through one replica with nothing else going on: the appends racing for
/// the worker's day meet in one appender, and every caller gets an answer
/// (see replicas.rs for the same race across two replicas).
#[tokio::test]
async fn reports_filed_at_once_all_land_unless_they_overlap() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let date = day(1);

    // Six hours, filed at once from the phone (and one by the supervisor).
    let mut requests: Vec<(String, api::ReportActivityRequest)> = (0..6)
        .map(|h| {
            (
                siti.token.clone(),
                report(
                    "SWEEP",
                    &date,
                    &format!("{:02}:00", 6 + h),
                    &format!("{:02}:00", 7 + h),
                ),
            )
        })
        .collect();
    let mut behalf = report("SWEEP", &date, "13:00", "14:00");
    behalf.worker_id = siti.id.clone();
    requests.push((team.boss_token.clone(), behalf));
    let app = &app;
    let results = within(
        "seven reports filed at once",
        join_all(
            requests
                .into_iter()
                .map(|(token, req)| async move { app.report(&token, req).await }),
        ),
    )
    .await;
    let mut made = Vec::new();
    for r in results {
        made.push(r?.report_id);
    }
    let mut distinct = made.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 7, "{made:?}");
    let shown = app.worker_day(&siti.token, &siti.id, &date).await?;
    assert_eq!(shown.len(), 7);
    assert_eq!(app.day_events(&siti.id, &date).await?.len(), 7);

    // Two overlapping ones at once: exactly one lands.
    let other = day(2);
    let (a, b) = within("two overlapping reports filed at once", async {
        tokio::join!(
            app.report(&siti.token, report("SWEEP", &other, "08:00", "10:00")),
            app.report(&siti.token, report("SWEEP", &other, "09:00", "11:00")),
        )
    })
    .await;
    let codes = [a.is_ok(), b.is_ok()];
    assert_eq!(codes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    let refused = a.err().or(b.err()).map(|e| e.code());
    assert_eq!(refused, Some(Code::FailedPrecondition));
    assert_eq!(
        app.worker_day(&siti.token, &siti.id, &other).await?.len(),
        1
    );
    assert_eq!(app.day_events(&siti.id, &other).await?.len(), 1);
    Ok(())
}

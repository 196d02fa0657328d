//! Daily self check-in: the server's clock, work sites, local days,
//! retries, bad input and who sees the map.

use chrono::{DateTime, Duration, Utc};
use pantau_proto::attendance::v1::{self as api, CheckKind, DayStatus};
use tonic::Code as Status;

use crate::helpers::*;

fn check(kind: CheckKind, (lat, lon): (f64, f64), claimed: DateTime<Utc>) -> api::CheckInRequest {
    api::CheckInRequest {
        request_id: rid(),
        kind: kind as i32,
        latitude: lat,
        longitude: lon,
        accuracy_m: 12.0,
        device_id: "android-7f3a".into(),
        photo_sha256: String::new(),
        claimed_at: Some(ts(claimed)),
    }
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

#[tokio::test]
async fn half_past_eleven_and_half_past_midnight_wita_fall_on_different_days() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let worker = app
        .worker("Siti", &agency, &unit, vec![site("taman", SQUARE, 150)])
        .await?;
    let phone = app.token(&["worker"], Some(&agency), Some(&worker));
    // Wednesday 4 November 2026, 23:30 WITA (15:30 UTC) ...
    let before = at("2026-11-04T15:30:00Z");
    app.set_clock(before);
    let r = app
        .client
        .check_in(authed(&phone, check(CheckKind::In, SQUARE, before)))
        .await?
        .into_inner();
    assert_eq!(r.local_date, "2026-11-04");
    assert!(r.inside);
    assert_eq!(r.site_id, "taman");
    // ... and 00:30 WITA, an hour later, still the 4th in UTC.
    let after = at("2026-11-04T16:30:00Z");
    app.set_clock(after);
    let r = app
        .client
        .check_in(authed(&phone, check(CheckKind::In, SQUARE, after)))
        .await?
        .into_inner();
    assert_eq!(r.local_date, "2026-11-05");

    app.set_clock(at("2026-11-30T02:00:00Z"));
    let month = app
        .client
        .get_worker_month(authed(
            &phone,
            api::GetWorkerMonthRequest {
                worker_id: worker.clone(),
                month: "2026-11".into(),
            },
        ))
        .await?
        .into_inner();
    let day = |d: &str| {
        month
            .days
            .iter()
            .find(|x| x.date == d)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(day("2026-11-04").first_in, "23:30");
    assert_eq!(day("2026-11-05").first_in, "00:30");
    assert_eq!(day("2026-11-04").status(), DayStatus::Present);
    assert_eq!(day("2026-11-05").status(), DayStatus::Present);
    assert_eq!(day("2026-11-06").status(), DayStatus::Absent);
    assert_eq!(day("2026-11-07").status(), DayStatus::NonWorking);
    assert!(day("2026-11-04").missing_check_out);
    assert_eq!(month.days.len(), 30);
    Ok(())
}

#[tokio::test]
async fn a_day_in_the_field_is_timed_by_the_server_and_flags_positions_outside_the_sites()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let worker = app
        .worker(
            "Budi",
            &agency,
            &unit,
            vec![
                site("taman", SQUARE, 150),
                site("sungai", north_of(SQUARE, 5_000.0), 300),
            ],
        )
        .await?;
    let phone = app.token(&["worker"], Some(&agency), Some(&worker));
    // Monday 23 November 2026, 07:52 WITA; the schedule starts 07:30 with 10
    // minutes' grace.
    let admin = app.token(&["agency_admin"], Some(&agency), None);
    app.client
        .set_schedule(authed(
            &admin,
            api::SetScheduleRequest {
                request_id: rid(),
                agency_id: agency.clone(),
                starts: "07:30".into(),
                ends: "16:00".into(),
                grace_minutes: 10,
                work_days: vec![1, 2, 3, 4, 5],
            },
        ))
        .await?;
    let morning = at("2026-11-22T23:52:00Z");
    app.set_clock(morning);
    // The phone's clock is two minutes fast: only a claim.
    let checked_in = app
        .client
        .check_in(authed(
            &phone,
            check(
                CheckKind::In,
                north_of(SQUARE, 5_050.0),
                morning + Duration::minutes(2),
            ),
        ))
        .await?
        .into_inner();
    assert_eq!(checked_in.recorded_at, Some(ts(morning)));
    assert!(checked_in.inside);
    assert_eq!(checked_in.site_id, "sungai");
    assert_eq!(checked_in.late_minutes, 12);
    // Lunch far from any site: recorded, not refused, and flagged.
    let noon = at("2026-11-23T04:00:00Z");
    app.set_clock(noon);
    let away = app
        .client
        .check_in(authed(
            &phone,
            check(CheckKind::In, north_of(SQUARE, 20_000.0), noon),
        ))
        .await?
        .into_inner();
    assert!(!away.inside);
    assert!(away.distance_m > 14_000, "{}", away.distance_m);
    let evening = at("2026-11-23T08:05:00Z");
    app.set_clock(evening);
    let mut out = check(CheckKind::Out, SQUARE, evening);
    app.client.check_in(authed(&phone, out.clone())).await?;
    // The phone retries the check-out (lost response): counted once.
    app.client.check_in(authed(&phone, out.clone())).await?;
    out.request_id = rid();

    let day = app
        .client
        .get_agency_day(authed(
            &admin,
            api::GetAgencyDayRequest {
                agency_id: agency.clone(),
                date: "2026-11-23".into(),
            },
        ))
        .await?
        .into_inner();
    let budi = day
        .workers
        .iter()
        .find(|w| w.worker_id == worker)
        .cloned()
        .unwrap_or_default();
    assert_eq!(budi.status(), DayStatus::Present);
    assert_eq!(
        (budi.first_in.as_str(), budi.last_out.as_str()),
        ("07:52", "16:05")
    );
    assert_eq!(budi.minutes_present, 8 * 60 + 13);
    assert_eq!(budi.late_minutes, 12);
    assert_eq!(budi.check_ins_outside, 1);
    assert!(!budi.missing_check_out);
    assert_eq!((day.present, day.late), (1, 1));

    let map = app
        .client
        .list_check_in_positions(authed(
            &admin,
            api::ListCheckInPositionsRequest {
                agency_id: agency.clone(),
                unit_id: String::new(),
                date: "2026-11-23".into(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(
        map.positions.len(),
        3,
        "the retried check-out is one position"
    );
    assert_eq!(map.positions.iter().filter(|p| !p.inside).count(), 1);
    assert_eq!(map.positions[0].worker_name, "Budi");
    Ok(())
}

#[tokio::test]
async fn impossible_positions_and_clocks_are_refused_and_write_nothing() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let worker = app
        .worker("Siti", &agency, &unit, vec![site("taman", SQUARE, 150)])
        .await?;
    let phone = app.token(&["worker"], Some(&agency), Some(&worker));
    let now = Utc::now();
    let subject = format!("pantau.attendance.worker.{worker}");
    let cases: Vec<(api::CheckInRequest, &str)> = vec![
        (check(CheckKind::In, (48.8566, 2.3522), now), "latitude"),
        (check(CheckKind::In, (-2.0, 160.0), now), "longitude"),
        (
            api::CheckInRequest {
                accuracy_m: 900.0,
                ..check(CheckKind::In, SQUARE, now)
            },
            "accuracy_m",
        ),
        (
            check(CheckKind::In, SQUARE, now - Duration::hours(3)),
            "claimed_at",
        ),
        (
            api::CheckInRequest {
                claimed_at: None,
                ..check(CheckKind::In, SQUARE, now)
            },
            "claimed_at",
        ),
        (check(CheckKind::Unspecified, SQUARE, now), "kind"),
        (
            api::CheckInRequest {
                photo_sha256: "abc".into(),
                ..check(CheckKind::In, SQUARE, now)
            },
            "photo_sha256",
        ),
        (
            api::CheckInRequest {
                request_id: String::new(),
                ..check(CheckKind::In, SQUARE, now)
            },
            "request_id",
        ),
    ];
    for (req, field) in cases {
        let e = app.client.check_in(authed(&phone, req)).await.unwrap_err();
        assert_eq!(e.code(), Status::InvalidArgument, "{field}: {e:?}");
        assert!(e.message().contains(field), "{field}: {}", e.message());
    }
    assert!(
        app.events(&subject).await?.is_empty(),
        "nothing was written"
    );

    // Only a worker's own account checks in; a deactivated worker cannot.
    let admin = app.token(&["agency_admin"], Some(&agency), None);
    let e = app
        .client
        .check_in(authed(&admin, check(CheckKind::In, SQUARE, now)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    app.deactivate(&worker).await?;
    let e = app
        .client
        .check_in(authed(&phone, check(CheckKind::In, SQUARE, now)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::FailedPrecondition);
    assert!(app.events(&subject).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn supervisors_see_their_unit_and_admins_their_agency() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let other_unit = uuid::Uuid::new_v4().to_string();
    app.unit(&agency, &other_unit).await?;
    let boss = app.worker("Pak Kepala", &agency, &unit, vec![]).await?;
    let mine = app
        .worker("Siti", &agency, &unit, vec![site("taman", SQUARE, 150)])
        .await?;
    let theirs = app
        .worker(
            "Budi",
            &agency,
            &other_unit,
            vec![site("taman", SQUARE, 150)],
        )
        .await?;
    app.supervise(&mine, &boss).await?;
    let now = Utc::now();
    for w in [&mine, &theirs] {
        let phone = app.token(&["worker"], Some(&agency), Some(w));
        app.client
            .check_in(authed(&phone, check(CheckKind::In, SQUARE, now)))
            .await?;
    }
    let supervisor = app.token(&["supervisor", "worker"], Some(&agency), Some(&boss));
    let seen = app
        .client
        .list_check_in_positions(authed(
            &supervisor,
            api::ListCheckInPositionsRequest::default(),
        ))
        .await?
        .into_inner();
    let names: Vec<_> = seen
        .positions
        .iter()
        .map(|p| p.worker_name.as_str())
        .collect();
    assert_eq!(names, ["Siti"]);
    let e = app
        .client
        .list_check_in_positions(authed(
            &supervisor,
            api::ListCheckInPositionsRequest {
                agency_id: agency.clone(),
                unit_id: other_unit.clone(),
                date: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    let admin = app.token(&["agency_admin"], Some(&agency), None);
    let all = app
        .client
        .list_check_in_positions(authed(
            &admin,
            api::ListCheckInPositionsRequest {
                agency_id: agency.clone(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(all.positions.len(), 2);
    let (other_agency, _) = app.agency("DPU", "Asia/Makassar").await?;
    let foreign = app.token(&["agency_admin"], Some(&other_agency), None);
    let e = app
        .client
        .list_check_in_positions(authed(
            &foreign,
            api::ListCheckInPositionsRequest {
                agency_id: agency.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    // A worker reads their own month, not a colleague's; the supervisor both.
    let siti = app.token(&["worker"], Some(&agency), Some(&mine));
    let month = |w: &str| api::GetWorkerMonthRequest {
        worker_id: w.to_owned(),
        month: now.format("%Y-%m").to_string(),
    };
    assert!(
        app.client
            .get_worker_month(authed(&siti, month(&mine)))
            .await
            .is_ok()
    );
    let e = app
        .client
        .get_worker_month(authed(&siti, month(&theirs)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    assert!(
        app.client
            .get_worker_month(authed(&supervisor, month(&mine)))
            .await
            .is_ok()
    );
    let e = app
        .client
        .get_worker_month(authed(&supervisor, month(&theirs)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    Ok(())
}

//! Leave and official travel: requested by the worker, decided once by the
//! supervisor; approved days are excused, travel moves the yardstick.

use chrono::{DateTime, Utc};
use pantau_proto::attendance::v1::{self as api, CheckKind, DayStatus};
use pantau_proto::events::v1::{self as ev, LeaveKind, PositionSource};
use tonic::Code as Status;

use crate::helpers::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap_or_default()
}

fn leave(kind: LeaveKind, first: &str, last: &str) -> api::RequestLeaveRequest {
    api::RequestLeaveRequest {
        request_id: rid(),
        kind: kind as i32,
        first_day: first.into(),
        last_day: last.into(),
        reason: "keperluan keluarga".into(),
        document_ref: String::new(),
        destination: None,
    }
}

#[tokio::test]
async fn approved_leave_is_excused_and_travel_is_judged_at_the_destination() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let boss = app.worker("Pak Kepala", &agency, &unit, vec![]).await?;
    let worker = app
        .worker("Siti", &agency, &unit, vec![site("taman", SQUARE, 150)])
        .await?;
    app.supervise(&worker, &boss).await?;
    let phone = app.token(&["worker"], Some(&agency), Some(&worker));
    let supervisor = app.token(&["supervisor", "worker"], Some(&agency), Some(&boss));
    let colleague = app.worker("Budi", &agency, &unit, vec![]).await?;
    let stranger = app.token(&["supervisor", "worker"], Some(&agency), Some(&colleague));

    let annual = app
        .client
        .request_leave(authed(
            &phone,
            leave(LeaveKind::Annual, "2026-11-16", "2026-11-17"),
        ))
        .await?
        .into_inner()
        .leave_id;
    let decide = |id: &str, approve: bool| api::DecideLeaveRequest {
        request_id: rid(),
        leave_id: id.to_owned(),
        approve,
        note: String::new(),
    };
    let e = app
        .client
        .decide_leave(authed(&phone, decide(&annual, true)))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Status::PermissionDenied,
        "nobody approves their own leave"
    );
    let e = app
        .client
        .decide_leave(authed(&stranger, decide(&annual, true)))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Status::PermissionDenied,
        "only the worker's own supervisor"
    );
    app.client
        .decide_leave(authed(&supervisor, decide(&annual, true)))
        .await?;
    let e = app
        .client
        .decide_leave(authed(&supervisor, decide(&annual, false)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::FailedPrecondition, "decided once");

    let mut sick = leave(LeaveKind::Sick, "2026-11-18", "2026-11-18");
    let e = app
        .client
        .request_leave(authed(&phone, sick.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::InvalidArgument);
    assert!(e.message().contains("document_ref"));
    sick.document_ref = "SKD/RSUD/2026/1187".into();
    let sick_id = app
        .client
        .request_leave(authed(&phone, sick))
        .await?
        .into_inner()
        .leave_id;
    app.client
        .decide_leave(authed(&supervisor, decide(&sick_id, false)))
        .await?;
    let overlap = app
        .client
        .request_leave(authed(
            &phone,
            leave(LeaveKind::Annual, "2026-11-17", "2026-11-19"),
        ))
        .await
        .unwrap_err();
    assert_eq!(overlap.code(), Status::FailedPrecondition);

    // Official travel to Balikpapan, 23-24 November.
    let balikpapan = (-1.2379, 116.8529);
    let mut travel = leave(LeaveKind::OfficialTravel, "2026-11-23", "2026-11-24");
    travel.destination = Some(ev::TravelDestination {
        name: "Balikpapan".into(),
        center: Some(ev::GeoPoint {
            latitude: balikpapan.0,
            longitude: balikpapan.1,
        }),
        radius_m: 1_000,
    });
    let trip = app
        .client
        .request_leave(authed(&phone, travel))
        .await?
        .into_inner()
        .leave_id;
    app.client
        .decide_leave(authed(&supervisor, decide(&trip, true)))
        .await?;

    let morning = at("2026-11-23T00:05:00Z");
    app.set_clock(morning);
    let r = app
        .client
        .check_in(authed(
            &phone,
            api::CheckInRequest {
                request_id: rid(),
                kind: CheckKind::In as i32,
                latitude: balikpapan.0,
                longitude: balikpapan.1,
                accuracy_m: 10.0,
                device_id: "phone".into(),
                photo_sha256: "a".repeat(64),
                claimed_at: Some(ts(morning)),
            },
        ))
        .await?
        .into_inner();
    assert!(
        r.inside,
        "at the travel destination, far from the usual park"
    );
    assert_eq!(r.judged_against(), PositionSource::Travel);
    assert_eq!(r.late_minutes, 0);

    app.set_clock(at("2026-11-25T02:00:00Z"));
    let month = app
        .client
        .get_worker_month(authed(
            &supervisor,
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
    assert_eq!(day("2026-11-16").status(), DayStatus::Excused);
    assert_eq!(day("2026-11-16").excused_by(), LeaveKind::Annual);
    assert_eq!(
        day("2026-11-18").status(),
        DayStatus::Absent,
        "rejected sick leave excuses nothing"
    );
    assert_eq!(day("2026-11-23").status(), DayStatus::Present);
    assert_eq!(day("2026-11-24").status(), DayStatus::Excused);

    let listed = app
        .client
        .list_leave(authed(&phone, api::ListLeaveRequest::default()))
        .await?
        .into_inner()
        .leave;
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].destination, "Balikpapan");
    Ok(())
}

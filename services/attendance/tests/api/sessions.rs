//! Ceremonies: officer scanners upload batches; every scan gets a verdict
//! recorded as an event; offline batches and duplicates; the live view.

use chrono::{DateTime, Duration, Utc};
use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::{self as ev, RejectionReason, attendance_event::Event};
use pantau_qr::Credential;
use tokio_stream::StreamExt;
use tonic::Code as Status;

use crate::helpers::*;

struct Ceremony {
    agency: String,
    unit: String,
    scanner: String,
    device: String,
    session: String,
}

async fn ceremony(app: &mut App) -> anyhow::Result<Ceremony> {
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let (scanner, device) = app.scanner(&agency).await?;
    let now = Utc::now();
    let session = app
        .open(session(
            "Upacara HUT RI ke-81",
            now - Duration::hours(1),
            now + Duration::hours(1),
            vec![invite(&agency, "")],
            &[&scanner],
        ))
        .await?;
    Ok(Ceremony {
        agency,
        unit,
        scanner,
        device,
        session,
    })
}

fn scan(seq: u64, payload: &str, at: DateTime<Utc>, (lat, lon): (f64, f64)) -> api::Scan {
    api::Scan {
        device_seq: seq,
        payload: payload.into(),
        scanned_at: Some(ts(at)),
        latitude: lat,
        longitude: lon,
        accuracy_m: 8.0,
    }
}

async fn upload(
    app: &mut App,
    device: &str,
    session: &str,
    scans: Vec<api::Scan>,
) -> Result<api::UploadScansResponse, tonic::Status> {
    app.client
        .upload_scans(authed(
            device,
            api::UploadScansRequest {
                session_id: session.into(),
                scans,
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

fn reasons(r: &api::UploadScansResponse) -> Vec<(u64, bool, RejectionReason)> {
    r.results
        .iter()
        .map(|x| (x.device_seq, x.accepted, x.reason()))
        .collect()
}

#[tokio::test]
async fn every_scan_gets_a_verdict_and_every_rejection_reason_is_recorded() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let c = ceremony(&mut app).await?;
    let now = Utc::now();
    let present = app.worker("Siti", &c.agency, &c.unit, vec![]).await?;
    let revoked = app.worker("Rudi", &c.agency, &c.unit, vec![]).await?;
    let rotating = app.worker("Wati", &c.agency, &c.unit, vec![]).await?;
    let late = app.worker("Joko", &c.agency, &c.unit, vec![]).await?;
    let far = app.worker("Dewi", &c.agency, &c.unit, vec![]).await?;
    let gone = app.worker("Agus", &c.agency, &c.unit, vec![]).await?;
    let (other_agency, other_unit) = app.agency("DPU", "Asia/Makassar").await?;
    let outsider = app
        .worker("Tono", &other_agency, &other_unit, vec![])
        .await?;

    let present_code = app.code(&present).await?;
    let revoked_code = app.code(&revoked).await?;
    app.client
        .reissue_credential(authed(
            &app.admin,
            api::ReissueCredentialRequest {
                request_id: rid(),
                worker_id: revoked.clone(),
                reason: "leaked print".into(),
            },
        ))
        .await?;
    let phone = app.token(&["worker"], Some(&c.agency), Some(&rotating));
    let secret = app
        .client
        .get_rotating_secret(authed(&phone, api::GetRotatingSecretRequest {}))
        .await?
        .into_inner();
    let expired_code = pantau_qr::rotating_code(
        &<[u8; 32]>::try_from(secret.secret.as_slice())?,
        Credential {
            worker_id: rotating.parse()?,
            version: secret.version,
        },
        (now - Duration::minutes(10)).timestamp(),
    );
    let late_code = app.code(&late).await?;
    let far_code = app.code(&far).await?;
    let gone_code = app.code(&gone).await?;
    app.deactivate(&gone).await?;
    let outsider_code = app.code(&outsider).await?;
    // Validly signed, for a worker the registry has never heard of.
    let stranger = app.running.attendance.signer.sign(Credential {
        worker_id: uuid::Uuid::new_v4(),
        version: 1,
    });

    let at = now - Duration::minutes(5);
    let away = north_of(SQUARE, 2_000.0);
    let scans = vec![
        scan(1, &present_code, at, SQUARE),
        scan(2, &present_code, at, SQUARE),
        scan(3, "https://example.com/not-a-pantau-code", at, SQUARE),
        scan(4, &revoked_code, at, SQUARE),
        scan(5, &expired_code, at, SQUARE),
        scan(6, &outsider_code, at, SQUARE),
        scan(7, &late_code, now - Duration::hours(3), SQUARE),
        scan(8, &far_code, at, away),
        scan(9, &gone_code, at, SQUARE),
        scan(10, &stranger, at, SQUARE),
    ];
    let r = upload(&mut app, &c.device, &c.session, scans).await?;
    use RejectionReason as R;
    assert_eq!(
        reasons(&r),
        vec![
            (1, true, R::Unspecified),
            (2, false, R::AlreadyCheckedIn),
            (3, false, R::BadSignature),
            (4, false, R::RevokedCredential),
            (5, false, R::ExpiredCode),
            (6, false, R::NotInvited),
            (7, false, R::OutsideWindow),
            (8, false, R::OutsideGeofence),
            (9, false, R::WorkerInactive),
            (10, false, R::UnknownWorker),
        ]
    );
    // The officer sees whom to compare the face with.
    let card = r.results[0].worker.clone().unwrap_or_default();
    assert_eq!(card.name, "Siti");
    assert_eq!(card.photo_ref, format!("photos/{present}.jpg"));
    assert_eq!(card.unit_name, "Seksi Kebersihan");

    // Nothing scanned was dropped: one event per scan, with its reason.
    let events = app
        .events(&format!("pantau.attendance.session.{}", c.session))
        .await?;
    let recorded: Vec<(u64, i32)> = events
        .iter()
        .filter_map(|e| match e {
            Event::ScanAccepted(a) => Some((a.scan.as_ref()?.device_seq, 0)),
            Event::ScanRejected(x) => Some((x.scan.as_ref()?.device_seq, x.reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        recorded,
        r.results
            .iter()
            .map(|x| (x.device_seq, x.reason))
            .collect::<Vec<_>>()
    );
    let unreadable = events.iter().find_map(|e| match e {
        Event::ScanRejected(x) if x.scan.as_ref().map(|s| s.device_seq) == Some(3) => {
            Some(x.payload.clone())
        }
        _ => None,
    });
    assert_eq!(
        unreadable.as_deref(),
        Some("https://example.com/not-a-pantau-code")
    );
    Ok(())
}

#[tokio::test]
async fn offline_batches_are_judged_in_order_and_a_scan_uploaded_twice_counts_once()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let c = ceremony(&mut app).await?;
    let mut codes = Vec::new();
    for i in 0..12 {
        let w = app
            .worker(&format!("Pekerja {i:02}"), &c.agency, &c.unit, vec![])
            .await?;
        codes.push(app.code(&w).await?);
    }
    let early = Utc::now() - Duration::minutes(40);
    // The phone was offline: scans 1-8 (the 8th scans worker 0 again),
    // uploaded later and out of order.
    // Scan n reads worker n-1, except scan 8, which reads worker 0 again.
    let scan_no = |seq: u64| {
        let worker = if seq == 8 { 0 } else { seq as usize - 1 };
        scan(
            seq,
            &codes[worker],
            early + Duration::seconds(seq as i64),
            SQUARE,
        )
    };
    let mut first: Vec<api::Scan> = (1..=8).map(scan_no).collect();
    first.reverse();
    let r = upload(&mut app, &c.device, &c.session, first).await?;
    let verdicts: Vec<(u64, bool)> = r
        .results
        .iter()
        .map(|x| (x.device_seq, x.accepted))
        .collect();
    assert_eq!(
        verdicts,
        (1..=8).map(|s| (s, s != 8)).collect::<Vec<_>>(),
        "judged in device order: the second scan of worker 0 is the duplicate check-in"
    );
    assert!(r.results.iter().all(|x| !x.duplicate));

    // The connection dropped before the phone heard back: it uploads 5-12.
    let second: Vec<api::Scan> = (5..=12).map(scan_no).collect();
    let again = upload(&mut app, &c.device, &c.session, second).await?;
    for x in &again.results {
        if x.device_seq <= 8 {
            assert!(x.duplicate, "scan {} was uploaded before", x.device_seq);
            let before = r.results.iter().find(|y| y.device_seq == x.device_seq);
            assert_eq!(
                before.map(|b| (b.accepted, b.reason)),
                Some((x.accepted, x.reason))
            );
        } else {
            assert!(!x.duplicate);
            assert!(x.accepted, "scan {} is new: {x:?}", x.device_seq);
        }
    }
    let events = app
        .events(&format!("pantau.attendance.session.{}", c.session))
        .await?;
    let scans = events
        .iter()
        .filter(|e| matches!(e, Event::ScanAccepted(_) | Event::ScanRejected(_)))
        .count();
    assert_eq!(scans, 12, "each scan recorded exactly once");

    let view = app
        .client
        .get_session_view(authed(
            &app.admin,
            api::GetSessionViewRequest {
                session_id: c.session.clone(),
            },
        ))
        .await?
        .into_inner()
        .view
        .unwrap_or_default();
    assert_eq!((view.invited, view.present, view.absent), (12, 11, 1));
    assert_eq!(view.rejected_scans, 1);
    assert_eq!(view.agencies.len(), 1);
    Ok(())
}

#[tokio::test]
async fn two_scanners_racing_through_two_replicas_check_each_worker_in_once() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let c = ceremony(&mut app).await?;
    let (second, second_device) = app.scanner(&c.agency).await?;
    // The second scanner uploads through another replica of the service:
    // only the session's expected sequence keeps them from both accepting.
    let (replica, replica_client) = app.replica().await?;
    let now = Utc::now();
    let session = app
        .client
        .open_session(authed(
            &app.admin,
            api::OpenSessionRequest {
                request_id: rid(),
                title: "Apel pagi".into(),
                starts_at: local(now - Duration::hours(1)),
                ends_at: local(now + Duration::hours(1)),
                time_zone: "Asia/Makassar".into(),
                place: String::new(),
                geofence: Some(ev::Geofence {
                    center: None,
                    radius_m: 0,
                    polygon: vec![
                        ev::GeoPoint {
                            latitude: -0.51,
                            longitude: 117.14,
                        },
                        ev::GeoPoint {
                            latitude: -0.51,
                            longitude: 117.16,
                        },
                        ev::GeoPoint {
                            latitude: -0.49,
                            longitude: 117.16,
                        },
                        ev::GeoPoint {
                            latitude: -0.49,
                            longitude: 117.14,
                        },
                    ],
                }),
                invited: vec![ev::Invitation {
                    agency_id: c.agency.clone(),
                    unit_id: c.unit.clone(),
                }],
                scanner_ids: vec![c.scanner.clone(), second],
            },
        ))
        .await?
        .into_inner()
        .session_id;
    let mut codes = Vec::new();
    for i in 0..20 {
        let w = app
            .worker(&format!("W{i}"), &c.agency, &c.unit, vec![])
            .await?;
        codes.push(app.code(&w).await?);
    }
    let at = now - Duration::minutes(1);
    let batch = |codes: &[String]| -> Vec<api::Scan> {
        codes
            .iter()
            .enumerate()
            .map(|(i, code)| scan(i as u64 + 1, code, at, SQUARE))
            .collect()
    };
    let (mut a, mut b) = (app.client.clone(), replica_client);
    let (first_device, session_a, session_b) = (c.device.clone(), session.clone(), session.clone());
    let (scans_a, scans_b) = (batch(&codes), batch(&codes));
    let (ra, rb) = tokio::join!(
        a.upload_scans(authed(
            &first_device,
            api::UploadScansRequest {
                session_id: session_a,
                scans: scans_a
            }
        )),
        b.upload_scans(authed(
            &second_device,
            api::UploadScansRequest {
                session_id: session_b,
                scans: scans_b
            }
        )),
    );
    let (ra, rb) = (ra?.into_inner(), rb?.into_inner());
    for (x, y) in ra.results.iter().zip(&rb.results) {
        assert!(
            x.accepted ^ y.accepted,
            "exactly one scanner checks worker {} in",
            x.device_seq
        );
        let loser = if x.accepted { y } else { x };
        assert_eq!(loser.reason(), RejectionReason::AlreadyCheckedIn);
    }
    replica.stop().await;
    Ok(())
}

#[tokio::test]
async fn only_registered_allowed_scanners_upload_and_bad_scans_write_nothing() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let c = ceremony(&mut app).await?;
    let w = app.worker("Siti", &c.agency, &c.unit, vec![]).await?;
    let code = app.code(&w).await?;
    let at = Utc::now();
    let subject = format!("pantau.attendance.session.{}", c.session);
    let before = app.events(&subject).await?.len();

    let bad = upload(
        &mut app,
        &c.device,
        &c.session,
        vec![scan(1, &code, at, (48.85, 2.35))],
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code(), Status::InvalidArgument);
    assert!(
        bad.message().contains("scans[0].latitude"),
        "{}",
        bad.message()
    );
    let empty = upload(&mut app, &c.device, &c.session, vec![])
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Status::InvalidArgument);
    let mut clash = vec![
        scan(1, &code, at, SQUARE),
        scan(1, "PNT1.other", at, SQUARE),
    ];
    clash[1].accuracy_m = 3.0;
    let clash = upload(&mut app, &c.device, &c.session, clash)
        .await
        .unwrap_err();
    assert_eq!(clash.code(), Status::InvalidArgument);
    assert_eq!(
        app.events(&subject).await?.len(),
        before,
        "refused uploads write nothing"
    );

    let forged = format!("pantau-device.{}.AAAA", c.scanner);
    let e = upload(
        &mut app,
        &forged,
        &c.session,
        vec![scan(1, &code, at, SQUARE)],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Status::Unauthenticated);
    let person = app.admin.clone();
    let e = upload(
        &mut app,
        &person,
        &c.session,
        vec![scan(1, &code, at, SQUARE)],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Status::Unauthenticated);

    let (_, stranger_device) = app.scanner(&c.agency).await?;
    let e = upload(
        &mut app,
        &stranger_device,
        &c.session,
        vec![scan(1, &code, at, SQUARE)],
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.code(),
        Status::PermissionDenied,
        "not allowed in this session"
    );
    let missing = uuid::Uuid::new_v4().to_string();
    let e = upload(
        &mut app,
        &c.device,
        &missing,
        vec![scan(1, &code, at, SQUARE)],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Status::NotFound);

    app.client
        .revoke_scanner(authed(
            &app.admin,
            api::RevokeScannerRequest {
                request_id: rid(),
                scanner_id: c.scanner.clone(),
                reason: "phone stolen".into(),
            },
        ))
        .await?;
    let e = upload(
        &mut app,
        &c.device,
        &c.session,
        vec![scan(1, &code, at, SQUARE)],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    assert_eq!(app.events(&subject).await?.len(), before);

    // Agency admins open sessions for their own agency only.
    let (other, _) = app.agency("DPU", "Asia/Makassar").await?;
    let foreign = app.token(&["agency_admin"], Some(&other), None);
    let e = app
        .client
        .open_session(authed(
            &foreign,
            session(
                "Apel",
                at,
                at + Duration::hours(1),
                vec![invite(&c.agency, "")],
                &[&c.scanner],
            ),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    Ok(())
}

#[tokio::test]
async fn the_live_view_updates_as_scans_arrive() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let c = ceremony(&mut app).await?;
    let a = app.worker("Siti", &c.agency, &c.unit, vec![]).await?;
    app.worker("Budi", &c.agency, &c.unit, vec![]).await?;
    let code = app.code(&a).await?;
    let mut watch = app
        .client
        .watch_session(authed(
            &app.admin,
            api::WatchSessionRequest {
                session_id: c.session.clone(),
            },
        ))
        .await?
        .into_inner();
    let first = watch
        .next()
        .await
        .transpose()?
        .and_then(|r| r.view)
        .unwrap_or_default();
    assert_eq!((first.invited, first.present, first.absent), (2, 0, 2));
    upload(
        &mut app,
        &c.device,
        &c.session,
        vec![scan(1, &code, Utc::now(), SQUARE)],
    )
    .await?;
    let next = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next())
        .await?
        .transpose()?
        .and_then(|r| r.view)
        .unwrap_or_default();
    assert_eq!((next.present, next.absent), (1, 1));
    assert_eq!(next.agencies[0].agency_name, "Dinas DLH");

    let outsider = app.token(&["agency_admin"], Some("another-agency"), None);
    let e = app
        .client
        .get_session_view(authed(
            &outsider,
            api::GetSessionViewRequest {
                session_id: c.session.clone(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Status::PermissionDenied);
    Ok(())
}

//! What a scanner device sees with its own token: the sessions it may scan
//! for that have not ended yet.

use chrono::{Duration, Utc};
use pantau_proto::attendance::v1 as api;
use tonic::Code;

use crate::helpers::*;

async fn listed(app: &mut App, device: &str) -> Result<Vec<api::ScannerSession>, tonic::Status> {
    app.client
        .list_scanner_sessions(authed(device, api::ListScannerSessionsRequest {}))
        .await
        .map(|r| r.into_inner().sessions)
}

fn titles(sessions: &[api::ScannerSession]) -> Vec<&str> {
    sessions.iter().map(|s| s.title.as_str()).collect()
}

#[tokio::test]
async fn a_scanner_lists_its_sessions_not_yet_ended_soonest_first_with_who_is_invited()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let other_unit = uuid::Uuid::new_v4().to_string();
    app.unit(&agency, &other_unit).await?;
    for name in ["Siti", "Budi"] {
        app.worker(name, &agency, &unit, vec![]).await?;
    }
    app.worker("Wati", &agency, &other_unit, vec![]).await?;
    let gone = app.worker("Rudi", &agency, &unit, vec![]).await?;
    app.deactivate(&gone).await?;
    let (scanner, device) = app.scanner(&agency).await?;
    let (elsewhere, elsewhere_device) = app.scanner(&agency).await?;
    let now = Utc::now();
    let h = Duration::hours;
    let whole = || vec![invite(&agency, "")];
    // Opened out of order, so the order listed is the service's.
    app.open(session(
        "Apel sore",
        now + h(3),
        now + h(4),
        whole(),
        &[&scanner],
    ))
    .await?;
    let running = app
        .open(session(
            "Apel pagi",
            now - h(1),
            now + h(1),
            vec![invite(&agency, &other_unit)],
            &[&scanner, &elsewhere],
        ))
        .await?;
    app.open(session(
        "Kemarin",
        now - h(3),
        now - h(2),
        whole(),
        &[&scanner],
    ))
    .await?;
    let half_past = now - Duration::minutes(30);
    app.open(session(
        "Lain",
        half_past,
        now + h(1),
        whole(),
        &[&elsewhere],
    ))
    .await?;

    let mine = listed(&mut app, &device).await?;
    assert_eq!(titles(&mine), ["Apel pagi", "Apel sore"]);
    let first = &mine[0];
    assert_eq!(first.session_id, running);
    assert_eq!(
        (first.starts_at.as_str(), first.ends_at.as_str()),
        (local(now - h(1)).as_str(), local(now + h(1)).as_str())
    );
    assert_eq!(first.time_zone, "Asia/Makassar");
    assert_eq!(first.place, "Halaman Kantor Gubernur");
    assert_eq!(first.invited, 1, "only the other unit is invited");
    assert_eq!(mine[1].invited, 3, "the whole agency less the deactivated");
    assert_eq!(
        titles(&listed(&mut app, &elsewhere_device).await?),
        ["Apel pagi", "Lain"]
    );

    // Once the morning session has ended by the service's clock.
    app.set_clock(now + h(2));
    assert_eq!(titles(&listed(&mut app, &device).await?), ["Apel sore"]);
    app.set_clock(now + h(5));
    assert!(listed(&mut app, &device).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn only_a_scanners_own_unrevoked_device_token_lists_sessions() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, _) = app.agency("DLH", "Asia/Makassar").await?;
    let (scanner, device) = app.scanner(&agency).await?;
    let now = Utc::now();
    app.open(session(
        "Apel pagi",
        now,
        now + Duration::hours(1),
        vec![invite(&agency, "")],
        &[&scanner],
    ))
    .await?;
    assert_eq!(listed(&mut app, &device).await?.len(), 1);

    let person = app.admin.clone();
    let forged = format!("pantau-device.{scanner}.AAAA");
    for (why, token) in [
        ("a person's token", person.as_str()),
        ("a forged secret", &forged),
    ] {
        let e = listed(&mut app, token).await.unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{why}: {e:?}");
    }
    let anonymous = app
        .client
        .list_scanner_sessions(api::ListScannerSessionsRequest {})
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    app.client
        .revoke_scanner(authed(
            &app.admin,
            api::RevokeScannerRequest {
                request_id: rid(),
                scanner_id: scanner.clone(),
                reason: "phone stolen".into(),
            },
        ))
        .await?;
    let e = listed(&mut app, &device).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    Ok(())
}

//! QR credentials: printed and rotating codes, reissue, permissions.

use chrono::Utc;
use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::RejectionReason;
use pantau_qr::{Code, Credential, StaticVerifier};
use tonic::Code as Status;

use crate::helpers::*;

async fn verify(app: &mut App, code: &str) -> anyhow::Result<api::VerifyCodeResponse> {
    Ok(app
        .client
        .verify_code(authed(
            &app.admin,
            api::VerifyCodeRequest { code: code.into() },
        ))
        .await?
        .into_inner())
}

#[tokio::test]
async fn a_printed_code_verifies_offline_and_a_reissue_revokes_it() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let worker = app.worker("Siti Aminah", &agency, &unit, vec![]).await?;
    let got = app
        .client
        .get_credential(authed(
            &app.admin,
            api::GetCredentialRequest {
                worker_id: worker.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(got.version, 1);
    assert!(got.svg.starts_with("<svg"));
    assert!(got.png.starts_with(b"\x89PNG"));

    // A third-party scanner verifies the printed code with the published key.
    let keys = app
        .client
        .get_qr_keys(api::GetQrKeysRequest {})
        .await?
        .into_inner()
        .keys;
    let mut offline = StaticVerifier::new();
    for k in &keys {
        offline.add_key(<[u8; 32]>::try_from(k.public_key.as_slice())?)?;
    }
    let Code::Static(parsed) = pantau_qr::parse(&got.code)? else {
        anyhow::bail!("a printed code must be static");
    };
    assert_eq!(offline.verify(&parsed)?.worker_id.to_string(), worker);

    let ok = verify(&mut app, &got.code).await?;
    assert!(ok.valid, "{ok:?}");
    assert_eq!(ok.worker.map(|w| w.name), Some("Siti Aminah".to_owned()));

    let reissued = app
        .client
        .reissue_credential(authed(
            &app.admin,
            api::ReissueCredentialRequest {
                request_id: "lost-phone-1".into(),
                worker_id: worker.clone(),
                reason: "lost phone".into(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(reissued.version, 2);
    let old = verify(&mut app, &got.code).await?;
    assert!(!old.valid);
    assert_eq!(old.reason(), RejectionReason::RevokedCredential);
    assert!(verify(&mut app, &reissued.code).await?.valid);

    // Retrying the reissue returns the same version; it does not bump again.
    let retried = app
        .client
        .reissue_credential(authed(
            &app.admin,
            api::ReissueCredentialRequest {
                request_id: "lost-phone-1".into(),
                worker_id: worker.clone(),
                reason: "lost phone".into(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(retried.version, 2);
    assert_eq!(
        app.events(&format!("pantau.attendance.credential.{worker}"))
            .await?
            .len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_rotating_code_verifies_only_while_fresh_and_only_with_the_workers_secret()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let worker = app.worker("Budi", &agency, &unit, vec![]).await?;
    let phone = app.token(&["worker"], Some(&agency), Some(&worker));
    let secret = app
        .client
        .get_rotating_secret(authed(&phone, api::GetRotatingSecretRequest {}))
        .await?
        .into_inner();
    assert_eq!(secret.step_seconds, 30);
    let secret_bytes = <[u8; 32]>::try_from(secret.secret.as_slice())?;
    let credential = Credential {
        worker_id: worker.parse()?,
        version: secret.version,
    };
    let now = Utc::now().timestamp();
    let fresh = pantau_qr::rotating_code(&secret_bytes, credential, now);
    assert!(verify(&mut app, &fresh).await?.valid);

    let screenshot = pantau_qr::rotating_code(&secret_bytes, credential, now - 120);
    let stale = verify(&mut app, &screenshot).await?;
    assert_eq!(stale.reason(), RejectionReason::ExpiredCode);

    let forged = pantau_qr::rotating_code(&[7u8; 32], credential, now);
    assert_eq!(
        verify(&mut app, &forged).await?.reason(),
        RejectionReason::BadSignature
    );
    let garbage = verify(&mut app, "PNT2.not-a-code").await?;
    assert_eq!(garbage.reason(), RejectionReason::BadSignature);
    Ok(())
}

#[tokio::test]
async fn credentials_are_for_the_worker_and_their_agency_admins_only() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let (other_agency, _) = app.agency("DPU", "Asia/Makassar").await?;
    let worker = app.worker("Budi", &agency, &unit, vec![]).await?;
    let colleague = app.worker("Andi", &agency, &unit, vec![]).await?;
    let get = |w: &str| api::GetCredentialRequest {
        worker_id: w.to_owned(),
    };
    let own = app.token(&["worker"], Some(&agency), Some(&worker));
    assert!(
        app.client
            .get_credential(authed(&own, get(&worker)))
            .await
            .is_ok()
    );
    let denied = app
        .client
        .get_credential(authed(&own, get(&colleague)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Status::PermissionDenied);
    let foreign_admin = app.token(&["agency_admin"], Some(&other_agency), None);
    let denied = app
        .client
        .get_credential(authed(&foreign_admin, get(&worker)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Status::PermissionDenied);
    let export = app
        .client
        .export_credentials(authed(
            &foreign_admin,
            api::ExportCredentialsRequest {
                agency_id: agency.clone(),
                unit_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(export.code(), Status::PermissionDenied);
    let anonymous = app
        .client
        .get_credential(tonic::Request::new(get(&worker)))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Status::Unauthenticated);
    let missing = app
        .client
        .get_credential(authed(&app.admin, get(&uuid::Uuid::new_v4().to_string())))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Status::NotFound);
    let bad = app
        .client
        .get_credential(authed(&app.admin, get("not-a-uuid")))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Status::InvalidArgument);
    assert!(bad.message().contains("worker_id"), "{}", bad.message());

    // The agency's own admin exports every active worker's printed code.
    let own_admin = app.token(&["agency_admin"], Some(&agency), None);
    let mut stream = app
        .client
        .export_credentials(authed(
            &own_admin,
            api::ExportCredentialsRequest {
                agency_id: agency.clone(),
                unit_id: String::new(),
            },
        ))
        .await?
        .into_inner();
    let mut names = Vec::new();
    while let Some(row) = stream.message().await? {
        assert_eq!(row.total, 2);
        names.push(row.name);
    }
    assert_eq!(names, ["Andi", "Budi"]);
    Ok(())
}

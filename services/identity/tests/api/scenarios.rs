//! Scenarios, each on its own cluster.

use pantau_proto::identity::v1::{self as api};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_registered_worker_reads_back_with_personal_data_and_generated_id() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DISPERTAMAN", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let reg = app.register(&admin, phl(&agency, &unit, 1)).await?;
    assert!(reg.employee_id.starts_with("PHL-"), "{}", reg.employee_id);
    let w = app.get(&admin, &reg.worker_id).await?;
    assert_eq!(w.nik, "3171011505900002");
    assert_eq!(w.phone, "+62081200000001".replace("+620", "+62"));
    assert_eq!(w.bank_account, "1234000001");
    assert_eq!(w.sites.len(), 1);
    assert_eq!(w.status, api::WorkerStatus::Active as i32);
    let pns = app.register(&admin, pns(&agency, &unit, 1)).await?;
    assert_eq!(pns.employee_id, "199005152015011002");
    Ok(())
}

#[tokio::test]
async fn a_nik_bank_account_or_phone_of_an_active_worker_is_already_exists_naming_the_field()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DTA", "Asia/Makassar").await?;
    let admin = app.admin.clone();
    app.register(&admin, phl(&agency, &unit, 1)).await?;
    let same_nik = api::RegisterWorkerRequest {
        phone: "081399999999".into(),
        bank_account: "99999999".into(),
        ..phl(&agency, &unit, 1)
    };
    let err = app
        .register(&admin, same_nik)
        .await
        .expect_err("duplicate nik");
    assert_eq!(err.code(), Code::AlreadyExists);
    assert!(err.message().starts_with("nik"), "{}", err.message());
    let same_bank = api::RegisterWorkerRequest {
        bank_account: "1234000001".into(),
        ..phl(&agency, &unit, 2)
    };
    let err = app
        .register(&admin, same_bank)
        .await
        .expect_err("duplicate bank");
    assert!(
        err.message().starts_with("bank_account"),
        "{}",
        err.message()
    );
    let same_phone = api::RegisterWorkerRequest {
        phone: "081200000001".into(),
        ..phl(&agency, &unit, 3)
    };
    let err = app
        .register(&admin, same_phone)
        .await
        .expect_err("duplicate phone");
    assert!(err.message().starts_with("phone"), "{}", err.message());
    // Nothing was written for the refused ones; the values stay free for
    // their rightful owners.
    app.register(&admin, phl(&agency, &unit, 2)).await?;
    Ok(())
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_writes_nothing() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DISKOMINFO", "Asia/Jayapura").await?;
    let admin = app.admin.clone();
    let before = app.running.identity.store.last_sequence().await?;
    let cases = [
        (
            api::RegisterWorkerRequest {
                nik: "123".into(),
                ..phl(&agency, &unit, 1)
            },
            "nik",
        ),
        (
            api::RegisterWorkerRequest {
                nik: "3171013205900001".into(),
                ..phl(&agency, &unit, 1)
            },
            "nik",
        ),
        (
            api::RegisterWorkerRequest {
                nip: "199013152015011001".into(),
                ..pns(&agency, &unit, 1)
            },
            "nip",
        ),
        // NIP says born 1990-05-15, NIK says 1991.
        (
            api::RegisterWorkerRequest {
                nik: "3171011505910001".into(),
                ..pns(&agency, &unit, 2)
            },
            "nik",
        ),
        (
            api::RegisterWorkerRequest {
                name: " ".into(),
                ..phl(&agency, &unit, 3)
            },
            "name",
        ),
        (
            api::RegisterWorkerRequest {
                phone: "12".into(),
                ..phl(&agency, &unit, 4)
            },
            "phone",
        ),
        (
            api::RegisterWorkerRequest {
                request_id: String::new(),
                ..phl(&agency, &unit, 5)
            },
            "request_id",
        ),
    ];
    for (req, field) in cases {
        let err = app.register(&admin, req).await.expect_err(field);
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{field}: {}",
            err.message()
        );
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
    }
    let mut bad_site = phl(&agency, &unit, 6);
    bad_site.sites[0].latitude = 123.0;
    let err = app.register(&admin, bad_site).await.expect_err("site");
    assert!(
        err.message().starts_with("sites[0].latitude"),
        "{}",
        err.message()
    );
    let missing = app
        .register(&admin, phl("no-such-agency", &unit, 7))
        .await
        .expect_err("agency");
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        app.running.identity.store.last_sequence().await?,
        before,
        "a refused command wrote events"
    );
    Ok(())
}

#[tokio::test]
async fn the_same_request_id_twice_writes_one_event_and_returns_the_same_result()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DISHUB", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let req = phl(&agency, &unit, 1);
    let a = app.register(&admin, req.clone()).await?;
    let before = app.running.identity.store.last_sequence().await?;
    let b = app.register(&admin, req.clone()).await?;
    assert_eq!(a, b);
    assert_eq!(app.running.identity.store.last_sequence().await?, before);
    // The same id for a different request is refused and writes nothing.
    let other = api::RegisterWorkerRequest {
        name: "Someone Else".into(),
        ..req.clone()
    };
    let reused = app
        .register(&admin, other)
        .await
        .expect_err("reused request id");
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert!(
        reused.message().starts_with("request_id"),
        "{}",
        reused.message()
    );
    assert_eq!(app.running.identity.store.last_sequence().await?, before);
    // After the durable record is gone (a crash before it was written, or a
    // retry long after), the event log itself still recognises the retry.
    sqlx::query("DELETE FROM command_log")
        .execute(&app.running.identity.pool)
        .await?;
    let c = app.register(&admin, req.clone()).await?;
    assert_eq!(a.worker_id, c.worker_id);
    assert_eq!(app.running.identity.store.last_sequence().await?, before);
    let events = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", a.worker_id))
        .await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "WorkerRegistered");
    Ok(())
}

#[tokio::test]
async fn concurrent_changes_to_one_worker_all_land_through_conflict_retries() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let w = app.register(&admin, phl(&agency, &unit, 1)).await?;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let mut c = app.client.clone();
        let (admin, wid) = (admin.clone(), w.worker_id.clone());
        tasks.push(tokio::spawn(async move {
            c.update_worker(authed(
                &admin,
                api::UpdateWorkerRequest {
                    request_id: rid(),
                    worker_id: wid,
                    update_mask: vec!["photo_ref".into()],
                    photo_ref: format!("sha256:{i}"),
                    ..Default::default()
                },
            ))
            .await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let events = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", w.worker_id))
        .await?;
    assert_eq!(events.len(), 13);
    assert_eq!(app.get(&admin, &w.worker_id).await?.version, 13);
    Ok(())
}

#[tokio::test]
async fn the_permission_matrix_holds_over_grpc() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (a, ua) = app.agency("AGENCY-A", "Asia/Jakarta").await?;
    let (b, ub) = app.agency("AGENCY-B", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let wa = app.register(&admin, phl(&a, &ua, 1)).await?;
    let wb = app.register(&admin, phl(&b, &ub, 2)).await?;
    let admin_a = app.token("admin-a", api::Role::AgencyAdmin, &a, "").await?;
    let auditor = app.token("auditor", api::Role::Auditor, "", "").await?;
    let worker_a = app
        .token("worker-a", api::Role::Worker, &a, &wa.worker_id)
        .await?;
    // Agency admin: own agency yes, other agency no.
    app.get(&admin_a, &wa.worker_id).await?;
    assert_eq!(
        app.get(&admin_a, &wb.worker_id)
            .await
            .expect_err("b")
            .code(),
        Code::PermissionDenied
    );
    app.register(&admin_a, phl(&a, &ua, 3)).await?;
    assert_eq!(
        app.register(&admin_a, phl(&b, &ub, 4))
            .await
            .expect_err("b")
            .code(),
        Code::PermissionDenied
    );
    let deact_b = app
        .client
        .deactivate_worker(authed(
            &admin_a,
            api::DeactivateWorkerRequest {
                request_id: rid(),
                worker_id: wb.worker_id.clone(),
                reason: api::DeactivationReason::Resigned as i32,
                effective_on: "2025-01-01".into(),
                note: String::new(),
            },
        ))
        .await;
    assert_eq!(deact_b.expect_err("b").code(), Code::PermissionDenied);
    let list_all = app
        .client
        .list_workers(authed(&admin_a, api::ListWorkersRequest::default()))
        .await;
    assert_eq!(list_all.expect_err("all").code(), Code::PermissionDenied);
    let list_a = app
        .client
        .list_workers(authed(
            &admin_a,
            api::ListWorkersRequest {
                agency_id: a.clone(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(list_a.workers.len(), 2);
    assert!(list_a.workers.iter().all(|w| w.agency_id == a));
    // Auditor reads everywhere, changes nothing.
    app.get(&auditor, &wb.worker_id).await?;
    assert_eq!(
        app.register(&auditor, phl(&a, &ua, 5))
            .await
            .expect_err("auditor")
            .code(),
        Code::PermissionDenied
    );
    // A worker reads themself only.
    app.get(&worker_a, &wa.worker_id).await?;
    assert_eq!(
        app.get(&worker_a, &wb.worker_id)
            .await
            .expect_err("other")
            .code(),
        Code::PermissionDenied
    );
    // Only the province admin creates agencies; nobody without a token.
    let made = app
        .client
        .create_agency(authed(
            &admin_a,
            api::CreateAgencyRequest {
                request_id: rid(),
                code: "NEW".into(),
                name: "New".into(),
                time_zone: "Asia/Jakarta".into(),
            },
        ))
        .await;
    assert_eq!(made.expect_err("agency").code(), Code::PermissionDenied);
    let anon = app
        .client
        .get_worker(api::GetWorkerRequest {
            worker_id: wa.worker_id.clone(),
        })
        .await;
    assert_eq!(anon.expect_err("anon").code(), Code::Unauthenticated);
    let forged = app.get(&format!("{admin}x"), &wa.worker_id).await;
    assert_eq!(forged.expect_err("forged").code(), Code::Unauthenticated);
    Ok(())
}

#[tokio::test]
async fn tokens_verify_offline_with_the_published_key() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let keys = app
        .client
        .get_signing_keys(api::GetSigningKeysRequest {})
        .await?
        .into_inner()
        .keys;
    let mut verifier = pantau_authn::Verifier::new();
    let key: [u8; 32] = keys[0]
        .public_key
        .clone()
        .try_into()
        .map_err(|_| anyhow::anyhow!("key size"))?;
    verifier.add_key(&keys[0].key_id, key)?;
    let claims = verifier.verify(&app.admin, chrono::Utc::now().timestamp())?;
    assert!(claims.roles.contains(&"province_admin".to_string()));
    // The key is also on the stream for services that never call us.
    let published = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.signing_key.{}", keys[0].key_id))
        .await?;
    assert_eq!(published.len(), 1);
    let bad = app
        .client
        .login(api::LoginRequest {
            login_id: "admin".into(),
            password: "wrong".into(),
        })
        .await;
    assert_eq!(
        bad.expect_err("wrong password").code(),
        Code::Unauthenticated
    );
    Ok(())
}

#[tokio::test]
async fn an_erased_worker_keeps_history_but_reads_as_erased_even_after_a_rebuild()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DINKES", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let w = app.register(&admin, phl(&agency, &unit, 1)).await?;
    app.client
        .erase_worker(authed(
            &admin,
            api::EraseWorkerRequest {
                request_id: rid(),
                worker_id: w.worker_id.clone(),
            },
        ))
        .await?;
    let got = app.get(&admin, &w.worker_id).await?;
    assert!(got.erased);
    assert_eq!(got.nik, "[erased]");
    assert_eq!(got.phone, "[erased]");
    assert_eq!(got.name, "Pekerja 1");
    let events = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", w.worker_id))
        .await?;
    assert_eq!(events.len(), 2);
    let rebuilt = pantau_projection::rebuild(
        &pantau_identity::readmodel::IdentityReadModel,
        &app.running.identity.pool,
        &app.running.identity.store,
        |_, _| {},
    )
    .await?;
    assert!(rebuilt >= events[1].sequence);
    let again = app.get(&admin, &w.worker_id).await?;
    assert!(again.erased && again.nik == "[erased]");
    // Erasure frees the NIK for a genuine new registration.
    app.register(&admin, phl(&agency, &unit, 1)).await?;
    Ok(())
}

#[tokio::test]
async fn a_legacy_import_records_duplicates_and_rejects_unparsable_rows_once() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let (_agency, _unit) = app.agency("BKD", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let row = |line: u32, nik: &str, phone: &str| api::ImportRow {
        line,
        kind: api::WorkerKind::Phl as i32,
        nik: nik.into(),
        name: format!("Legacy {line}"),
        agency_code: "BKD".into(),
        unit_code: "SEKSI-1".into(),
        phone: phone.into(),
        bank_account: format!("77{line:06}"),
        legacy_id: format!("L{line}"),
        ..Default::default()
    };
    let mut mismatch = row(5, "3171011505900099", "081300000005");
    mismatch.kind = api::WorkerKind::Pns as i32;
    mismatch.nip = "199105152015011001".into();
    let rows = vec![
        row(2, "3171011505900001", "081300000002"),
        row(3, "3171011505900001", "081300000003"), // same NIK as line 2
        row(4, "12345", "081300000004"),            // unparsable NIK
        mismatch,
    ];
    let request_id = rid();
    let send = |rows: Vec<api::ImportRow>| {
        let msgs = vec![
            api::ImportWorkersRequest {
                request_id: request_id.clone(),
                rows: rows[..2].to_vec(),
            },
            api::ImportWorkersRequest {
                request_id: String::new(),
                rows: rows[2..].to_vec(),
            },
        ];
        authed(&admin, tokio_stream::iter(msgs))
    };
    let report = app
        .client
        .import_workers(send(rows.clone()))
        .await?
        .into_inner();
    assert_eq!(
        (report.received, report.imported, report.flagged),
        (4, 3, 2),
        "{report:?}"
    );
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(
        (report.rejected[0].line, report.rejected[0].field.as_str()),
        (4, "nik")
    );
    let before = app.running.identity.store.last_sequence().await?;
    let again = app.client.import_workers(send(rows)).await?.into_inner();
    assert_eq!(
        (again.imported, again.already_imported),
        (0, 3),
        "{again:?}"
    );
    assert_eq!(
        app.running.identity.store.last_sequence().await?,
        before,
        "a retried import wrote events"
    );
    let list = app
        .client
        .list_workers(authed(&admin, api::ListWorkersRequest::default()))
        .await?
        .into_inner();
    assert_eq!(list.workers.len(), 3);
    let flagged: Vec<_> = list
        .workers
        .iter()
        .filter(|w| !w.anomalies.is_empty())
        .collect();
    assert_eq!(flagged.len(), 2);
    assert!(
        flagged
            .iter()
            .any(|w| w.anomalies.iter().any(|a| a.starts_with("duplicate_nik")))
    );
    assert!(flagged.iter().any(|w| {
        w.anomalies
            .iter()
            .any(|a| a.starts_with("nip_nik_mismatch"))
    }));
    Ok(())
}

#[tokio::test]
async fn a_campaign_records_who_reverified_and_who_missed_the_deadline() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("SATPOLPP", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let w1 = app.register(&admin, phl(&agency, &unit, 1)).await?;
    let w2 = app.register(&admin, phl(&agency, &unit, 2)).await?;
    let deadline = chrono::Utc::now().timestamp() + 3;
    let campaign = app
        .client
        .open_campaign(authed(
            &admin,
            api::OpenCampaignRequest {
                request_id: rid(),
                title: "e-PUPNS 2026".into(),
                agency_id: agency.clone(),
                deadline_unix: deadline,
            },
        ))
        .await?
        .into_inner()
        .campaign_id;
    let worker1 = app
        .token("w1", api::Role::Worker, &agency, &w1.worker_id)
        .await?;
    app.client
        .reverify_worker(authed(
            &worker1,
            api::ReverifyWorkerRequest {
                request_id: rid(),
                campaign_id: campaign.clone(),
                worker_id: w1.worker_id.clone(),
                update_mask: vec!["phone".into()],
                phone: "081311112222".into(),
                ..Default::default()
            },
        ))
        .await?;
    // A worker cannot re-verify someone else.
    let other = app
        .client
        .reverify_worker(authed(
            &worker1,
            api::ReverifyWorkerRequest {
                request_id: rid(),
                campaign_id: campaign.clone(),
                worker_id: w2.worker_id.clone(),
                ..Default::default()
            },
        ))
        .await;
    assert_eq!(other.expect_err("other").code(), Code::PermissionDenied);
    assert_eq!(
        app.get(&admin, &w1.worker_id).await?.phone,
        "+6281311112222"
    );
    let progress = app
        .client
        .get_campaign_progress(authed(
            &admin,
            api::GetCampaignProgressRequest {
                campaign_id: campaign.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(
        (
            progress.agencies[0].active_workers,
            progress.agencies[0].verified
        ),
        (2, 1)
    );
    let early = app
        .client
        .close_campaign(authed(
            &admin,
            api::CloseCampaignRequest {
                request_id: rid(),
                campaign_id: campaign.clone(),
            },
        ))
        .await;
    assert_eq!(early.expect_err("early").code(), Code::FailedPrecondition);
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let closed = app
        .client
        .close_campaign(authed(
            &admin,
            api::CloseCampaignRequest {
                request_id: rid(),
                campaign_id: campaign.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!((closed.verified, closed.missed), (1, 1));
    let missed = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", w2.worker_id))
        .await?;
    assert_eq!(
        missed.last().map(|e| e.event_type.as_str()),
        Some("ReverificationMissed")
    );
    Ok(())
}

#[tokio::test]
async fn health_and_reflection_are_served() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.running.addr))?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "pantau.identity.v1.IdentityService".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        status.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.running.addr))?
        .connect()
        .await?;
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![ask]))
        .await?
        .into_inner();
    let answer = answers.message().await?.and_then(|m| m.message_response);
    let Some(MessageResponse::ListServicesResponse(list)) = answer else {
        anyhow::bail!("reflection did not list services: {answer:?}");
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "pantau.identity.v1.IdentityService"),
        "{list:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_callers_trace_continues_into_the_stored_event() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DISDIK", "Asia/Jakarta").await?;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut req = authed(&app.admin, phl(&agency, &unit, 1));
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01").parse()?,
    );
    let w = app.client.register_worker(req).await?.into_inner();
    let events = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", w.worker_id))
        .await?;
    let traceparent = events[0].traceparent.clone().unwrap_or_default();
    assert!(
        traceparent.contains(trace_id),
        "event traceparent {traceparent:?} does not continue trace {trace_id}"
    );
    Ok(())
}

#[tokio::test]
async fn a_campaign_past_its_deadline_records_the_missing_workers_by_itself() -> anyhow::Result<()>
{
    let mut app = spawn_app_with(|c| c.campaign_sweep_secs = 1).await?;
    let (agency, unit) = app.agency("DISPORA", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let present = app.register(&admin, phl(&agency, &unit, 1)).await?;
    let absent = app.register(&admin, phl(&agency, &unit, 2)).await?;
    let deadline = chrono::Utc::now().timestamp() + 2;
    let campaign = app
        .client
        .open_campaign(authed(
            &admin,
            api::OpenCampaignRequest {
                request_id: rid(),
                title: "Pendataan ulang".into(),
                agency_id: agency.clone(),
                deadline_unix: deadline,
            },
        ))
        .await?
        .into_inner()
        .campaign_id;
    app.client
        .reverify_worker(authed(
            &admin,
            api::ReverifyWorkerRequest {
                request_id: rid(),
                campaign_id: campaign.clone(),
                worker_id: present.worker_id.clone(),
                ..Default::default()
            },
        ))
        .await?;
    // Nobody calls CloseCampaign: the sweeper must.
    let mut progress = api::GetCampaignProgressResponse::default();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        progress = app
            .client
            .get_campaign_progress(authed(
                &admin,
                api::GetCampaignProgressRequest {
                    campaign_id: campaign.clone(),
                },
            ))
            .await?
            .into_inner();
        if progress.closed {
            break;
        }
    }
    assert!(
        progress.closed,
        "the campaign was not closed at its deadline"
    );
    let events = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", absent.worker_id))
        .await?;
    assert_eq!(
        events.last().map(|e| e.event_type.as_str()),
        Some("ReverificationMissed")
    );
    let kept = app
        .running
        .identity
        .store
        .load(&format!("pantau.identity.worker.{}", present.worker_id))
        .await?;
    assert!(kept.iter().all(|e| e.event_type != "ReverificationMissed"));
    Ok(())
}

#[tokio::test]
async fn transfer_supervisor_and_deactivation_change_what_the_registry_shows() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let (a, ua) = app.agency("DISTAMHUT", "Asia/Jakarta").await?;
    let (b, ub) = app.agency("DISPERKIM", "Asia/Makassar").await?;
    let admin = app.admin.clone();
    let admin_a = app.token("admin-a", api::Role::AgencyAdmin, &a, "").await?;
    let (worker, boss) = pantau_testkit::given("a worker and a supervisor in agency A", async {
        let w = app.register(&admin, phl(&a, &ua, 1)).await?;
        let s = app.register(&admin, phl(&a, &ua, 2)).await?;
        anyhow::Ok((w, s))
    })
    .await?;
    pantau_testkit::when(
        "the supervisor is assigned and the worker moves to agency B",
        async {
            app.client
                .assign_supervisor(authed(
                    &admin_a,
                    api::AssignSupervisorRequest {
                        request_id: rid(),
                        worker_id: worker.worker_id.clone(),
                        supervisor_id: boss.worker_id.clone(),
                        effective_on: "2025-02-01".into(),
                    },
                ))
                .await?;
            app.client
                .transfer_worker(authed(
                    &admin,
                    api::TransferWorkerRequest {
                        request_id: rid(),
                        worker_id: worker.worker_id.clone(),
                        to_agency_id: b.clone(),
                        to_unit_id: ub.clone(),
                        effective_on: "2025-03-01".into(),
                    },
                ))
                .await?;
            anyhow::Ok(())
        },
    )
    .await?;
    let moved = app.get(&admin, &worker.worker_id).await?;
    pantau_testkit::then(
        "the registry shows agency B and the supervisor",
        moved.agency_id == b && moved.unit_id == ub && moved.supervisor_id == boss.worker_id,
    );
    let denied = app
        .get(&admin_a, &worker.worker_id)
        .await
        .expect_err("moved away");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let unknown_unit = app
        .client
        .transfer_worker(authed(
            &admin,
            api::TransferWorkerRequest {
                request_id: rid(),
                worker_id: boss.worker_id.clone(),
                to_agency_id: b.clone(),
                to_unit_id: ua.clone(),
                effective_on: "2025-03-01".into(),
            },
        ))
        .await
        .expect_err("unit of another agency");
    assert_eq!(unknown_unit.code(), Code::NotFound);
    app.client
        .deactivate_worker(authed(
            &admin,
            api::DeactivateWorkerRequest {
                request_id: rid(),
                worker_id: worker.worker_id.clone(),
                reason: api::DeactivationReason::Deceased as i32,
                effective_on: "2025-06-30".into(),
                note: "akta kematian".into(),
            },
        ))
        .await?;
    let gone = app.get(&admin, &worker.worker_id).await?;
    assert_eq!(gone.status, api::WorkerStatus::Inactive as i32);
    assert_eq!(
        gone.deactivation_reason,
        api::DeactivationReason::Deceased as i32
    );
    assert_eq!(gone.deactivated_on, "2025-06-30");
    // An inactive worker cannot be changed, and no longer holds the NIK.
    let late = app
        .client
        .transfer_worker(authed(
            &admin,
            api::TransferWorkerRequest {
                request_id: rid(),
                worker_id: worker.worker_id.clone(),
                to_agency_id: a.clone(),
                to_unit_id: ua.clone(),
                effective_on: "2025-07-01".into(),
            },
        ))
        .await
        .expect_err("inactive");
    assert_eq!(late.code(), Code::FailedPrecondition);
    app.register(&admin, phl(&b, &ub, 1)).await?;
    let active = app
        .client
        .list_workers(authed(
            &admin,
            api::ListWorkersRequest {
                agency_id: b.clone(),
                status: api::WorkerStatus::Active as i32,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    assert_eq!(active.workers.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_reservation_left_by_a_registration_that_never_landed_passes_on_after_a_while()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DISNAKER", "Asia/Jakarta").await?;
    let admin = app.admin.clone();
    let pool = app.running.identity.pool.clone();
    // As if a process reserved this NIK, then died before appending.
    let nik = app
        .running
        .identity
        .fingerprints
        .one("nik", "3171011505900002");
    sqlx::query("INSERT INTO reservations (kind, fingerprint, worker_id) VALUES ('nik', $1, 'never-registered')")
        .bind(&nik)
        .execute(&pool)
        .await?;
    let fresh = app
        .register(&admin, phl(&agency, &unit, 1))
        .await
        .expect_err("in flight");
    assert_eq!(
        fresh.code(),
        Code::AlreadyExists,
        "a fresh reservation may be a registration in flight"
    );
    sqlx::query("UPDATE reservations SET reserved_at = now() - interval '1 hour' WHERE worker_id = 'never-registered'")
        .execute(&pool)
        .await?;
    let w = app.register(&admin, phl(&agency, &unit, 1)).await?;
    let owner: String = sqlx::query_scalar(
        "SELECT worker_id FROM reservations WHERE kind = 'nik' AND fingerprint = $1",
    )
    .bind(&nik)
    .fetch_one(&pool)
    .await?;
    assert_eq!(owner, w.worker_id);
    // A stale reservation of a worker who does exist is kept.
    sqlx::query("UPDATE reservations SET reserved_at = now() - interval '1 hour'")
        .execute(&pool)
        .await?;
    let taken = app
        .register(&admin, phl(&agency, &unit, 1))
        .await
        .expect_err("registered holder");
    assert_eq!(taken.code(), Code::AlreadyExists);
    Ok(())
}

#[tokio::test]
async fn a_login_id_with_too_many_failed_sign_ins_is_locked_even_against_the_right_password()
-> anyhow::Result<()> {
    let mut app = spawn_app_with(|c| {
        c.login_max_failures = 3;
        c.login_lock_secs = 2;
    })
    .await?;
    let login = |login_id: &str, password: &str| api::LoginRequest {
        login_id: login_id.into(),
        password: password.into(),
    };
    for attempt in 1..=3 {
        let e = app
            .client
            .login(login("admin", "guess"))
            .await
            .expect_err("a wrong password");
        assert_eq!(e.code(), Code::Unauthenticated, "attempt {attempt}");
    }
    let e = app
        .client
        .login(login("admin", ADMIN_PASSWORD))
        .await
        .expect_err("locked");
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());
    assert!(e.message().contains("try again in"), "{}", e.message());
    // Unknown ids are locked the same way, and other ids are not affected.
    for _ in 0..3 {
        let _ = app.client.login(login("nobody", "guess")).await;
    }
    let e = app
        .client
        .login(login("nobody", "guess"))
        .await
        .expect_err("locked");
    assert_eq!(e.code(), Code::ResourceExhausted);
    // A failure is forgiven after lock_secs / max_failures (0.67 s): the
    // right password works again.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    app.client.login(login("admin", ADMIN_PASSWORD)).await?;
    Ok(())
}

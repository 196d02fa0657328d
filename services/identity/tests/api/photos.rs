//! Worker portraits: agency and province admins store them, anyone signed
//! in reads them back by SHA-256; the same bytes are stored once; what is
//! not a JPEG, PNG or WebP of at most 5 MiB is refused naming `content`.

use pantau_photos::sample::{PNG, jpeg};
use pantau_proto::identity::v1 as api;
use sha2::{Digest, Sha256};
use tonic::{Code, Status};

use crate::helpers::*;

impl App {
    async fn upload_photo(
        &self,
        token: &str,
        content: Vec<u8>,
    ) -> Result<api::UploadPhotoResponse, Status> {
        self.client
            .clone()
            .upload_photo(authed(token, api::UploadPhotoRequest { content }))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Read with a client that takes messages as large as the service's.
    async fn get_photo(&self, token: &str, sha256: &str) -> Result<api::GetPhotoResponse, Status> {
        self.client
            .clone()
            .max_decoding_message_size(pantau_photos::MAX_MESSAGE_BYTES)
            .get_photo(authed(
                token,
                api::GetPhotoRequest {
                    sha256: sha256.into(),
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}

#[track_caller]
fn assert_invalid(r: Result<impl std::fmt::Debug, Status>, field: &str) {
    let e = r.expect_err(field);
    assert_eq!(e.code(), Code::InvalidArgument, "{field}: {}", e.message());
    assert!(e.message().starts_with(field), "{field}: {}", e.message());
}

#[tokio::test]
async fn admins_store_portraits_that_anyone_signed_in_reads_back_byte_for_byte()
-> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let admin = app.admin.clone();
    let agency_admin = app
        .token("admin-dlh", api::Role::AgencyAdmin, &agency, "")
        .await?;
    let w = app.register(&admin, phl(&agency, &unit, 1)).await?;
    let worker = app
        .token("worker-1", api::Role::Worker, &agency, &w.worker_id)
        .await?;
    let scanner = app
        .token("scanner", api::Role::Scanner, &agency, "")
        .await?;
    for (by, content, content_type) in [
        (&admin, jpeg(3_000), "image/jpeg"),
        (&agency_admin, PNG.to_vec(), "image/png"),
    ] {
        let stored = app.upload_photo(by, content.clone()).await?;
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&content)));
        assert_eq!(
            (stored.content_type.as_str(), stored.size as usize),
            (content_type, content.len())
        );
        for reader in [&worker, &scanner] {
            let got = app.get_photo(reader, &stored.sha256).await?;
            assert_eq!(got.content_type, content_type);
            assert!(got.content == content, "the bytes differ");
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_same_portrait_uploaded_twice_answers_the_same_and_is_stored_once() -> anyhow::Result<()>
{
    let mut app = spawn_app().await?;
    let (agency, _) = app.agency("DLH", "Asia/Makassar").await?;
    let agency_admin = app
        .token("admin-dlh", api::Role::AgencyAdmin, &agency, "")
        .await?;
    let first = app.upload_photo(&app.admin, jpeg(1_000)).await?;
    let again = app.upload_photo(&agency_admin, jpeg(1_000)).await?;
    assert_eq!(again, first);
    let stored_by: Vec<String> = sqlx::query_scalar("SELECT stored_by FROM photos")
        .fetch_all(&app.running.identity.pool)
        .await?;
    // One row, kept as its first uploader (the bootstrap admin) stored it.
    let admin_account = pantau_identity::grpc::derived_id("bootstrap-admin", "admin");
    assert_eq!(stored_by, [admin_account]);
    Ok(())
}

#[tokio::test]
async fn only_agency_and_province_admins_upload_and_everyone_must_sign_in() -> anyhow::Result<()> {
    let mut app = spawn_app().await?;
    let (agency, unit) = app.agency("DLH", "Asia/Makassar").await?;
    let admin = app.admin.clone();
    let w = app.register(&admin, phl(&agency, &unit, 1)).await?;
    let s = app.register(&admin, phl(&agency, &unit, 2)).await?;
    let worker = app
        .token("worker-1", api::Role::Worker, &agency, &w.worker_id)
        .await?;
    let supervisor = app
        .token("supervisor-1", api::Role::Supervisor, &agency, &s.worker_id)
        .await?;
    let auditor = app.token("auditor", api::Role::Auditor, "", "").await?;
    for (who, token) in [
        ("a worker", &worker),
        ("a supervisor", &supervisor),
        ("an auditor", &auditor),
    ] {
        let e = app.upload_photo(token, jpeg(100)).await.expect_err(who);
        assert_eq!(e.code(), Code::PermissionDenied, "{who}: {}", e.message());
    }
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM photos")
        .fetch_one(&app.running.identity.pool)
        .await?;
    assert_eq!(none, 0, "a refused upload stored nothing");

    let stored = app.upload_photo(&admin, jpeg(100)).await?;
    let mut client = app.client.clone();
    let upload = client
        .upload_photo(api::UploadPhotoRequest { content: jpeg(100) })
        .await;
    let get = client
        .get_photo(api::GetPhotoRequest {
            sha256: stored.sha256.clone(),
        })
        .await;
    for (what, r) in [("upload", upload.map(|_| ())), ("get", get.map(|_| ()))] {
        assert_eq!(r.expect_err(what).code(), Code::Unauthenticated, "{what}");
    }
    Ok(())
}

#[tokio::test]
async fn bad_portraits_are_invalid_content_and_bad_hashes_invalid_sha256() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let admin = app.admin.clone();
    let over = jpeg(pantau_photos::MAX_PHOTO_BYTES + 1);
    assert!(over.len() < pantau_photos::MAX_MESSAGE_BYTES);
    for content in [b"%PDF-1.7\n1 0 obj".to_vec(), Vec::new(), over] {
        assert_invalid(app.upload_photo(&admin, content).await, "content");
    }
    // Over tonic's 4 MiB default, under the 5 MiB limit.
    let big = jpeg(4 * 1024 * 1024 + 512 * 1024);
    let stored = app.upload_photo(&admin, big.clone()).await?;
    assert!(app.get_photo(&admin, &stored.sha256).await?.content == big);

    for bad in [
        "",
        "ab12cd",
        "photos/w1.jpg",
        &format!("{}g", &stored.sha256[..63]),
    ] {
        assert_invalid(app.get_photo(&admin, bad).await, "sha256");
    }
    let unknown = hex::encode(Sha256::digest(b"never uploaded"));
    let e = app.get_photo(&admin, &unknown).await.expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound, "{}", e.message());
    Ok(())
}

/// Attendance's events for a scanner with `secret` (and, when `revoked`,
/// its revocation), appended to the attendance stream as attendance does.
async fn scanner_on_the_stream(
    app: &App,
    scanner_id: &str,
    secret: &[u8],
    revoked: bool,
) -> anyhow::Result<()> {
    use pantau_eventstore::{AppendMode, EventStore, Expected, NewEvent};
    use pantau_proto::events::v1::{self as ev, AttendanceEvent, attendance_event::Event};
    use prost::Message;
    let client = async_nats::connect(&app._nats.url).await?;
    let store = EventStore::open_context(&client, "attendance", AppendMode::Pipelined).await?;
    let mut events = vec![(
        "ScannerRegistered",
        Event::ScannerRegistered(ev::ScannerRegistered {
            scanner_id: scanner_id.into(),
            name: "Ponsel apel".into(),
            agency_id: String::new(),
            secret_sha256: Sha256::digest(secret).to_vec(),
        }),
    )];
    if revoked {
        events.push((
            "ScannerRevoked",
            Event::ScannerRevoked(ev::ScannerRevoked {
                scanner_id: scanner_id.into(),
                reason: "lost".into(),
            }),
        ));
    }
    for (kind, event) in events {
        store
            .append(NewEvent {
                subject: format!("pantau.attendance.scanner.{scanner_id}"),
                event_type: kind.into(),
                schema_version: 1,
                payload: AttendanceEvent { event: Some(event) }
                    .encode_to_vec()
                    .into(),
                expected: Expected::Any,
                msg_id: None,
                metadata: Default::default(),
            })
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_scanner_phone_reads_portraits_with_its_device_token_until_revoked() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let admin = app.admin.clone();
    let stored = app.upload_photo(&admin, jpeg(300)).await?;
    scanner_on_the_stream(&app, "scanner-1", b"the device secret", false).await?;
    scanner_on_the_stream(&app, "scanner-2", b"another secret", true).await?;
    let token = pantau_authn::DeviceToken::format("scanner-1", b"the device secret");
    // Identity learns of scanners from attendance's stream a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let got = loop {
        match app.get_photo(&token, &stored.sha256).await {
            Err(e) if e.code() == Code::Unauthenticated && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => break other?,
        }
    };
    assert_eq!(got.content, jpeg(300));

    let wrong = pantau_authn::DeviceToken::format("scanner-1", b"a guessed secret");
    let unknown = pantau_authn::DeviceToken::format("scanner-9", b"the device secret");
    for (what, t) in [
        ("wrong secret", wrong.as_str()),
        ("unknown scanner", unknown.as_str()),
        ("malformed", "pantau-device.scanner-1.!!"),
    ] {
        let e = app.get_photo(t, &stored.sha256).await.expect_err(what);
        assert_eq!(e.code(), Code::Unauthenticated, "{what}: {}", e.message());
    }
    let revoked = pantau_authn::DeviceToken::format("scanner-2", b"another secret");
    let e = app
        .get_photo(&revoked, &stored.sha256)
        .await
        .expect_err("revoked");
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    // A device token opens portraits only: uploading still takes an admin.
    let e = app
        .upload_photo(&token, jpeg(10))
        .await
        .expect_err("upload");
    assert_eq!(e.code(), Code::Unauthenticated, "{}", e.message());
    Ok(())
}

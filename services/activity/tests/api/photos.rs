//! Evidence photos: any signed-in person stores one and anyone signed in
//! reads it back by its SHA-256; the same bytes are stored once; what is
//! not a JPEG, PNG or WebP of at most 5 MiB is refused naming `content`.

use pantau_photos::sample::{PNG, jpeg};
use pantau_proto::activity::v1 as api;
use sha2::{Digest, Sha256};
use tonic::Code;

use crate::helpers::*;

impl App {
    async fn upload_photo(
        &self,
        token: &str,
        content: Vec<u8>,
    ) -> Result<api::UploadPhotoResponse, tonic::Status> {
        self.client
            .clone()
            .upload_photo(authed(token, api::UploadPhotoRequest { content }))
            .await
            .map(tonic::Response::into_inner)
    }

    /// Read with a client that takes messages as large as the service's.
    async fn get_photo(
        &self,
        token: &str,
        sha256: &str,
    ) -> Result<api::GetPhotoResponse, tonic::Status> {
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

#[tokio::test]
async fn a_workers_jpeg_and_png_read_back_byte_for_byte_under_their_sha256() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    for (content, content_type) in [(jpeg(2_000), "image/jpeg"), (PNG.to_vec(), "image/png")] {
        let stored = app.upload_photo(&siti.token, content.clone()).await?;
        assert_eq!(stored.sha256, hex::encode(Sha256::digest(&content)));
        assert_eq!(
            (stored.content_type.as_str(), stored.size as usize),
            (content_type, content.len())
        );
        // Her supervisor, reviewing the report, opens it.
        let got = app.get_photo(&team.boss_token, &stored.sha256).await?;
        assert_eq!(got.content_type, content_type);
        assert!(got.content == content, "the bytes differ");
        let upper = app
            .get_photo(&siti.token, &stored.sha256.to_uppercase())
            .await?;
        assert!(upper.content == content, "an uppercase hash names it too");
    }
    Ok(())
}

#[tokio::test]
async fn the_same_bytes_uploaded_twice_answer_the_same_and_are_stored_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let first = app.upload_photo(&siti.token, jpeg(1_000)).await?;
    let again = app.upload_photo(&team.boss_token, jpeg(1_000)).await?;
    assert_eq!(again, first);
    let other = app.upload_photo(&siti.token, jpeg(1_001)).await?;
    assert_ne!(other.sha256, first.sha256);
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT sha256, stored_by FROM photos")
        .fetch_all(&app.running.activity.pool)
        .await?;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = rows.iter().find(|(sha, _)| *sha == first.sha256);
    assert!(
        row.is_some_and(|(_, by)| by.starts_with("acc-")),
        "kept by its first uploader's subject: {rows:?}"
    );
    Ok(())
}

#[tokio::test]
async fn what_is_not_an_image_of_at_most_5_mib_is_invalid_content() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let over = jpeg(pantau_photos::MAX_PHOTO_BYTES + 1);
    assert!(over.len() < pantau_photos::MAX_MESSAGE_BYTES);
    for (why, content) in [
        ("a PDF", b"%PDF-1.7\n1 0 obj".to_vec()),
        ("a GIF", b"GIF89a\x01\0\x01\0".to_vec()),
        ("nothing", Vec::new()),
        ("one byte over 5 MiB", over),
    ] {
        let e = app.upload_photo(&siti.token, content).await.unwrap_err();
        assert_eq!(
            (e.code(), field_of(&e).as_str()),
            (Code::InvalidArgument, "content"),
            "{why}: {e:?}"
        );
    }
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM photos")
        .fetch_one(&app.running.activity.pool)
        .await?;
    assert_eq!(none, 0);
    Ok(())
}

#[tokio::test]
async fn a_photo_larger_than_grpcs_default_4_mib_is_stored_and_read_back() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let big = jpeg(4 * 1024 * 1024 + 512 * 1024);
    let stored = app.upload_photo(&siti.token, big.clone()).await?;
    assert_eq!(stored.size as usize, big.len());
    let got = app.get_photo(&siti.token, &stored.sha256).await?;
    assert!(got.content == big, "the bytes differ");
    Ok(())
}

#[tokio::test]
async fn a_malformed_hash_is_invalid_sha256_and_an_unknown_one_not_found() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let known = app.upload_photo(&siti.token, jpeg(100)).await?.sha256;
    for bad in ["", "ab12cd", "photos/w1.jpg", &format!("{}g", &known[..63])] {
        assert_invalid(app.get_photo(&siti.token, bad).await, "sha256");
    }
    let unknown = hex::encode(Sha256::digest(b"never uploaded"));
    assert_code(
        app.get_photo(&siti.token, &unknown).await,
        Code::NotFound,
        "unknown photo",
    );
    Ok(())
}

#[tokio::test]
async fn photos_are_for_signed_in_callers_only() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let stored = app.upload_photo(&siti.token, jpeg(100)).await?;
    let mut client = app.client.clone();
    let upload = client
        .upload_photo(api::UploadPhotoRequest { content: jpeg(100) })
        .await;
    assert_code(upload, Code::Unauthenticated, "upload without a token");
    let get = client
        .get_photo(api::GetPhotoRequest {
            sha256: stored.sha256.clone(),
        })
        .await;
    assert_code(get, Code::Unauthenticated, "get without a token");
    assert_code(
        app.get_photo("not-a-token", &stored.sha256).await,
        Code::Unauthenticated,
        "get with a bad token",
    );
    Ok(())
}

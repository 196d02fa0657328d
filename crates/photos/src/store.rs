//! The `photos` table: put is an insert that a second upload of the same
//! bytes leaves alone (`ON CONFLICT DO NOTHING`), get a primary-key read.

use sqlx::PgPool;

use crate::{PhotoError, PhotoHash, Upload};

/// What an upload stored (or found already stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPhoto {
    /// 64 lowercase hex digits.
    pub sha256: String,
    pub content_type: &'static str,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub sha256: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Stores `bytes` (parsed as [`Upload`]) as uploaded by `stored_by`, unless
/// the same bytes are already stored; either way the answer is the same.
#[tracing::instrument(skip_all, fields(size = bytes.len()))]
pub async fn put(pool: &PgPool, bytes: &[u8], stored_by: &str) -> Result<StoredPhoto, PhotoError> {
    let upload = Upload::parse(bytes)?;
    let stored = StoredPhoto {
        sha256: upload.sha256.as_str().to_owned(),
        content_type: upload.content_type.as_str(),
        size: upload.size(),
    };
    let inserted = sqlx::query(
        "INSERT INTO photos (sha256, content_type, bytes, size, stored_by)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(&stored.sha256)
    .bind(stored.content_type)
    .bind(upload.bytes)
    .bind(i32::try_from(stored.size).unwrap_or(i32::MAX))
    .bind(stored_by)
    .execute(pool)
    .await
    .map_err(|source| PhotoError::Database {
        context: "failed to store photo",
        source,
    })?
    .rows_affected();
    if inserted > 0 {
        tracing::info!(sha256 = %stored.sha256, size = stored.size, content_type = stored.content_type, "photo stored");
    }
    Ok(stored)
}

/// The photo named `sha256` (field `sha256`: 64 hex digits), if stored.
#[tracing::instrument(skip_all)]
pub async fn get(pool: &PgPool, sha256: &str) -> Result<Option<Photo>, PhotoError> {
    let hash = PhotoHash::parse(sha256)?;
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT content_type, bytes FROM photos WHERE sha256 = $1")
            .bind(hash.as_str())
            .fetch_optional(pool)
            .await
            .map_err(|source| PhotoError::Database {
                context: "failed to read photo",
                source,
            })?;
    Ok(row.map(|(content_type, bytes)| Photo {
        sha256: hash.as_str().to_owned(),
        content_type,
        bytes,
    }))
}

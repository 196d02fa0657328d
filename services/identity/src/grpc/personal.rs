//! Per-worker keys, sealing, and uniqueness reservations of NIK, bank
//! account and phone among active workers.

use pantau_proto::events::v1 as ev;
use sqlx::PgPool;

use super::Identity;
use crate::crypto;
use crate::domain::{DomainError, SealedPersonalData};
use crate::error::ServiceError;

/// The worker's key, created on first use (a retry gets the same key).
pub async fn key_for(pool: &PgPool, worker_id: &str) -> Result<[u8; 32], ServiceError> {
    let fresh = crypto::new_key().map_err(|e| ServiceError::Internal(e.to_string()))?;
    sqlx::query("INSERT INTO worker_keys (worker_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(worker_id)
        .bind(fresh.as_slice())
        .execute(pool)
        .await?;
    existing_key(pool, worker_id)
        .await?
        .ok_or_else(|| DomainError::precondition("the worker's personal data was erased").into())
}

pub async fn existing_key(
    pool: &PgPool,
    worker_id: &str,
) -> Result<Option<[u8; 32]>, ServiceError> {
    let key: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT key FROM worker_keys WHERE worker_id = $1")
            .bind(worker_id)
            .fetch_optional(pool)
            .await?;
    Ok(key.and_then(|k| k.try_into().ok()))
}

pub fn seal(
    id: &Identity,
    worker_id: &str,
    key: &[u8; 32],
    data: &ev::PersonalData,
) -> Result<SealedPersonalData, ServiceError> {
    Ok(SealedPersonalData {
        data: crypto::seal(worker_id, key, data)
            .map_err(|e| ServiceError::Internal(e.to_string()))?,
        fingerprints: id.fingerprints.all(data),
    })
}

/// The fields unique among active workers, by fingerprint.
pub fn unique_values(f: &ev::Fingerprints) -> [(&'static str, &str); 3] {
    [
        ("nik", &f.nik),
        ("bank_account", &f.bank_account),
        ("phone", &f.phone),
    ]
}

/// Reserves the worker's unique fields; ALREADY_EXISTS names the first
/// field another active worker holds, and nothing is reserved then.
pub async fn reserve(
    pool: &PgPool,
    worker_id: &str,
    f: &ev::Fingerprints,
) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    for (kind, fp) in unique_values(f) {
        if fp.is_empty() {
            continue;
        }
        let owner: String = sqlx::query_scalar(
            "INSERT INTO reservations VALUES ($1, $2, $3) ON CONFLICT (kind, fingerprint) DO UPDATE SET kind = EXCLUDED.kind RETURNING worker_id",
        )
        .bind(kind)
        .bind(fp)
        .bind(worker_id)
        .fetch_one(&mut *tx)
        .await?;
        if owner != worker_id {
            return Err(
                DomainError::already_exists(kind, "already belongs to an active worker").into(),
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn release(pool: &PgPool, worker_id: &str) -> Result<(), ServiceError> {
    sqlx::query("DELETE FROM reservations WHERE worker_id = $1")
        .bind(worker_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Releases the worker's reservations for fields whose value changed.
pub async fn release_changed(
    pool: &PgPool,
    worker_id: &str,
    old: &ev::Fingerprints,
    new: &ev::Fingerprints,
) -> Result<(), ServiceError> {
    for ((kind, o), (_, n)) in unique_values(old).into_iter().zip(unique_values(new)) {
        if o != n && !o.is_empty() {
            sqlx::query(
                "DELETE FROM reservations WHERE kind = $1 AND fingerprint = $2 AND worker_id = $3",
            )
            .bind(kind)
            .bind(o)
            .bind(worker_id)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

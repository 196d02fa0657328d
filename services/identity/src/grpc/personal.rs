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
    id: &Identity,
    worker_id: &str,
    f: &ev::Fingerprints,
) -> Result<(), ServiceError> {
    let mut tx = id.pool.begin().await?;
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
        if owner != worker_id
            && !take_over_abandoned(id, &mut tx, kind, fp, &owner, worker_id).await?
        {
            return Err(
                DomainError::already_exists(kind, "already belongs to an active worker").into(),
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

/// How long a reservation may wait for its worker's registration event.
const ABANDONED_AFTER_SECS: f64 = 300.0;

/// A reservation whose worker never got registered (the process died
/// between reserving and appending) would block the value forever: after
/// a grace period, and only if the holder has no events, it passes on.
async fn take_over_abandoned(
    id: &Identity,
    tx: &mut sqlx::PgConnection,
    kind: &str,
    fp: &str,
    owner: &str,
    worker_id: &str,
) -> Result<bool, ServiceError> {
    let stale: bool = sqlx::query_scalar(
        "SELECT reserved_at < now() - make_interval(secs => $3) FROM reservations WHERE kind = $1 AND fingerprint = $2",
    )
    .bind(kind)
    .bind(fp)
    .bind(ABANDONED_AFTER_SECS)
    .fetch_one(&mut *tx)
    .await?;
    if !stale {
        return Ok(false);
    }
    let history = id
        .store
        .load(&crate::core::worker_subject(owner))
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    if !history.is_empty() {
        return Ok(false);
    }
    tracing::warn!(kind, %owner, "reservation of a never-registered worker taken over");
    let moved = sqlx::query(
        "UPDATE reservations SET worker_id = $4, reserved_at = now() WHERE kind = $1 AND fingerprint = $2 AND worker_id = $3",
    )
    .bind(kind)
    .bind(fp)
    .bind(owner)
    .bind(worker_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(moved == 1)
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

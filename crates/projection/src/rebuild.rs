//! Rebuilding a read model: replay the whole stream into a fresh schema and
//! swap it in with one rename.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::StreamExt;
use pantau_eventstore::EventStore;
use sqlx::PgPool;

use crate::batch::{Target, apply_batch, prepare_schema, set_search_path};
use crate::partition::Slot;
use crate::{Projection, ProjectionError};

/// Replays the whole stream into a fresh schema and swaps it in atomically.
/// `progress` is told (applied, target) as the replay goes.
pub async fn rebuild<P: Projection>(
    projection: &P,
    pool: &PgPool,
    store: &EventStore,
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, ProjectionError> {
    let live = projection.name();
    let next = format!("{live}_rebuild");
    let mut conn = pool.acquire().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{next}\" CASCADE"
    )))
    .execute(&mut *conn)
    .await?;
    // The live schema too (a rebuild before any runner ran), so the swap
    // finds what it reads.
    prepare_schema(&mut conn, projection, live).await?;
    prepare_schema(&mut conn, projection, &next).await?;
    drop(conn);
    let target = store
        .last_sequence()
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let js = store.jetstream();
    let stream = js
        .get_stream(store.stream_name())
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let consumer = stream
        .create_consumer(pull::Config {
            deliver_policy: DeliverPolicy::All,
            ack_policy: AckPolicy::None,
            filter_subjects: projection.subjects(),
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let mut applied = 0u64;
    let into_next = || Target {
        pool,
        projection,
        store,
        schema: &next,
        slot: Slot::Whole,
    };
    progress(0, target);
    // Replay up to the target; anything newer is applied under the swap lock.
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| ProjectionError::Stream(e.to_string()))?;
    let mut buf = Vec::new();
    while applied < target {
        let next_msg = tokio::time::timeout(Duration::from_millis(300), messages.next()).await;
        match next_msg {
            Ok(Some(Ok(m))) => {
                let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
                buf.push(m);
                if buf.len() >= 500 || seq >= target {
                    applied = apply_batch(into_next(), &buf).await?.last;
                    buf.clear();
                    progress(applied.min(target), target);
                }
            }
            Ok(Some(Err(e))) => return Err(ProjectionError::Stream(e.to_string())),
            Ok(None) => break,
            Err(_) => {
                // No more matching events below the target.
                if !buf.is_empty() {
                    apply_batch(into_next(), &buf).await?;
                    buf.clear();
                }
                break;
            }
        }
    }
    if !buf.is_empty() {
        apply_batch(into_next(), &buf).await?;
    }
    progress(target, target);
    drop(messages);
    swap(pool, projection, store, live, &next).await
}

async fn swap<P: Projection>(
    pool: &PgPool,
    projection: &P,
    store: &EventStore,
    live: &str,
    next: &str,
) -> Result<u64, ProjectionError> {
    let name = projection.name();
    let mut tx = pool.begin().await?;
    // The live model's batches (whole, or every partition's) wait for the
    // swap; a batch takes one of these locks, so the order cannot deadlock.
    let partitions: Vec<(i32, i32)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT partition, of_count FROM \"{live}\".partitions ORDER BY partition"
    )))
    .fetch_all(&mut *tx)
    .await?;
    let mut keys = vec![Slot::Whole.batch_key(name)];
    keys.extend(
        partitions
            .iter()
            .map(|(p, n)| Slot::for_partition(*p as u32, *n as u32).batch_key(name)),
    );
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    // Partitioned, the live model holds every event up to its furthest
    // partition in some partition or other.
    let live_cp: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT greatest((SELECT last_sequence FROM \"{live}\".checkpoint WHERE id = 1),
                         (SELECT max(last_sequence) FROM \"{live}\".partitions))"
    )))
    .fetch_one(&mut *tx)
    .await?;
    let next_cp: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT last_sequence FROM \"{next}\".checkpoint WHERE id = 1"
    )))
    .fetch_one(&mut *tx)
    .await?;
    if next_cp < live_cp {
        // The live model moved on during the replay: the live runner is
        // blocked by our lock, so the gap is closed by setting the rebuilt
        // checkpoint only after applying those events here.
        let gap = (next_cp as u64 + 1)..=(live_cp as u64);
        set_search_path(&mut tx, next).await?;
        let stream = store
            .jetstream()
            .get_stream(store.stream_name())
            .await
            .map_err(|e| ProjectionError::Stream(e.to_string()))?;
        for seq in gap {
            // A deleted sequence (or another subject's) is simply skipped.
            let Ok(msg) = stream.get_raw_message(seq).await else {
                continue;
            };
            if !projection
                .subjects()
                .iter()
                .any(|f| subject_matches(f, msg.subject.as_str()))
            {
                continue;
            }
            let event = store
                .decode(
                    msg.subject.as_str(),
                    seq,
                    msg.time,
                    &msg.headers,
                    msg.payload,
                )
                .map_err(|e| ProjectionError::Poison(e.to_string()))?;
            projection.apply(&mut tx, &event).await?;
        }
        sqlx::query("UPDATE checkpoint SET last_sequence = $1 WHERE id = 1")
            .bind(live_cp)
            .execute(&mut *tx)
            .await?;
    }
    // The rebuilt model keeps the live partitioning, every partition
    // starting where the rebuilt model stands.
    let complete = next_cp.max(live_cp);
    for (partition, of_count) in &partitions {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO \"{next}\".partitions (partition, of_count, last_sequence) VALUES ($1, $2, $3)"
        )))
        .bind(partition)
        .bind(of_count)
        .bind(complete)
        .execute(&mut *tx)
        .await?;
    }
    let old = format!("{live}_old");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{old}\" CASCADE;
         ALTER SCHEMA \"{live}\" RENAME TO \"{old}\";
         ALTER SCHEMA \"{next}\" RENAME TO \"{live}\";
         DROP SCHEMA \"{old}\" CASCADE;"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(complete as u64)
}

/// NATS subject matching with `*` and `>` wildcards.
pub(crate) fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches(
            "pantau.identity.worker.*",
            "pantau.identity.worker.1"
        ));
        assert!(!subject_matches(
            "pantau.identity.worker.*",
            "pantau.identity.worker.1.x"
        ));
        assert!(subject_matches(
            "pantau.identity.>",
            "pantau.identity.worker.1"
        ));
        assert!(!subject_matches("pantau.identity.>", "pantau.identity"));
        assert!(!subject_matches(
            "pantau.identity.agency.*",
            "pantau.identity.worker.1"
        ));
    }
}

//! Partitions: a projection whose events touch only their own aggregate's
//! rows can be applied by several instances at once, each owning some of
//! `count` partitions of the aggregates.
//!
//! An event belongs to partition `fnv1a32(subject) % count`: its subject is
//! its aggregate (`pantau.attendance.worker.<id>`), so one
//! aggregate's events are applied by one partition, in stream order. Each
//! partition has a durable consumer on the projection's subjects and its own
//! checkpoint row in `partitions`; it applies its own events and steps over
//! the others', so every partition's checkpoint is a stream sequence below
//! which it has nothing left to do, and the smallest of them is how far the
//! whole read model has got (what [`crate::ProjectionHandle::wait_for`]
//! waits on).
//!
//! Ownership is a session advisory lock per partition, taken on the
//! session on which the instance also holds the projection's shared member
//! lock, so `pg_locks` tells who runs the projection and who holds what.
//! Each instance takes its share ([`Members::share`]: an even split) and
//! lets go of anything beyond it, so a new instance is given partitions and
//! a dead one's (its session, and so its locks, end with it) are taken over
//! within a second or two.

use sqlx::{Connection, PgConnection, PgPool};

use crate::ProjectionError;
use crate::batch::lock_key;

/// Where a runner's progress is kept and which events it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The whole projection: every event, one checkpoint (`checkpoint`).
    Whole,
    /// Partition `index` of `count`: its aggregates' events only, its
    /// checkpoint in `partitions`.
    Partition { index: u32, count: u32 },
}

/// The partition an aggregate's events belong to, of `count`.
pub fn partition_of(key: &str, count: u32) -> u32 {
    // FNV-1a (32 bits): stable across releases and languages, so an
    // analytics consumer can tell which partition applied an event.
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % count.max(1)
}

impl Slot {
    pub(crate) fn for_partition(index: u32, count: u32) -> Self {
        if count <= 1 {
            Slot::Whole
        } else {
            Slot::Partition { index, count }
        }
    }

    pub(crate) fn owns(self, key: &str) -> bool {
        match self {
            Slot::Whole => true,
            Slot::Partition { index, count } => partition_of(key, count) == index,
        }
    }

    /// The lock each batch holds for its transaction.
    pub(crate) fn batch_key(self, name: &str) -> i64 {
        match self {
            Slot::Whole => lock_key(name, "batch"),
            Slot::Partition { index, .. } => {
                pantau_platform::db::advisory_key(&[name, "batch", &index.to_string()])
            }
        }
    }

    /// The session lock its owner holds while it applies.
    pub(crate) fn owner_key(self, name: &str) -> i64 {
        match self {
            Slot::Whole => lock_key(name, "leader"),
            Slot::Partition { index, .. } => {
                pantau_platform::db::advisory_key(&[name, "partition", &index.to_string()])
            }
        }
    }

    /// The durable consumer delivering to it, for read model `database`.
    pub(crate) fn consumer_name(self, name: &str, database: &str) -> String {
        match self {
            Slot::Whole => format!("proj_{name}_{database}"),
            Slot::Partition { index, count } => {
                format!("proj_{name}_{database}_p{index}of{count}")
            }
        }
    }

    /// Its checkpoint, locked for this transaction (`search_path` set).
    /// Fails if the projection has since been partitioned differently, so
    /// an instance configured the old way can never apply beside the new.
    pub(crate) async fn lock_checkpoint(
        self,
        conn: &mut PgConnection,
    ) -> Result<u64, ProjectionError> {
        match self {
            Slot::Whole => {
                let seq: i64 = sqlx::query_scalar(
                    "SELECT last_sequence FROM checkpoint WHERE id = 1 FOR UPDATE",
                )
                .fetch_one(&mut *conn)
                .await?;
                // After the row lock, so a repartitioning that held it is seen.
                let partitioned: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM partitions)")
                        .fetch_one(&mut *conn)
                        .await?;
                if partitioned {
                    return Err(ProjectionError::Config(
                        "the read model is now applied in partitions; this instance is not".into(),
                    ));
                }
                Ok(seq as u64)
            }
            Slot::Partition { index, count } => {
                let seq: Option<i64> = sqlx::query_scalar(
                    "SELECT last_sequence FROM partitions WHERE partition = $1 AND of_count = $2 FOR UPDATE",
                )
                .bind(index as i32)
                .bind(count as i32)
                .fetch_optional(&mut *conn)
                .await?;
                seq.map(|s| s as u64).ok_or_else(|| {
                    ProjectionError::Config(format!(
                        "partition {index} of {count} is gone: the read model has been partitioned differently"
                    ))
                })
            }
        }
    }

    pub(crate) async fn save_checkpoint(
        self,
        conn: &mut PgConnection,
        last: u64,
    ) -> Result<(), ProjectionError> {
        match self {
            Slot::Whole => {
                sqlx::query(
                    "UPDATE checkpoint SET last_sequence = $1, updated_at = now() WHERE id = 1",
                )
                .bind(last as i64)
                .execute(conn)
                .await?;
            }
            Slot::Partition { index, .. } => {
                sqlx::query(
                    "UPDATE partitions SET last_sequence = $2, updated_at = now() WHERE partition = $1",
                )
                .bind(index as i32)
                .bind(last as i64)
                .execute(conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Its committed checkpoint.
    pub(crate) async fn read(self, pool: &PgPool, schema: &str) -> Result<u64, ProjectionError> {
        let seq: Option<i64> = match self {
            Slot::Whole => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT last_sequence FROM \"{schema}\".checkpoint WHERE id = 1"
                )))
                .fetch_optional(pool)
                .await?
            }
            Slot::Partition { index, .. } => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT last_sequence FROM \"{schema}\".partitions WHERE partition = $1"
                )))
                .bind(index as i32)
                .fetch_optional(pool)
                .await?
            }
        };
        Ok(seq.unwrap_or(0) as u64)
    }
}

/// Every partition's committed checkpoint (one entry when unpartitioned).
pub(crate) async fn progress(
    pool: &PgPool,
    schema: &str,
    count: u32,
) -> Result<Vec<u64>, ProjectionError> {
    if count <= 1 {
        return Ok(vec![Slot::Whole.read(pool, schema).await?]);
    }
    let rows: Vec<(i32, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT partition, last_sequence FROM \"{schema}\".partitions WHERE of_count = $1"
    )))
    .bind(count as i32)
    .fetch_all(pool)
    .await?;
    let mut out = vec![0; count as usize];
    for (p, seq) in rows {
        if let Some(slot) = out.get_mut(p as usize) {
            *slot = seq as u64;
        }
    }
    Ok(out)
}

/// Brings the stored partitioning to `count` partitions (1: none).
///
/// The first partitioned start gives every partition the whole
/// projection's checkpoint. Changing the count is safe only where every
/// partition has reached the same sequence (instances stopped after
/// catching up: each partition steps over the others' events, so idle
/// partitions agree); otherwise some events would be applied twice or
/// never, and this refuses, saying so.
pub(crate) async fn prepare(
    conn: &mut PgConnection,
    schema: &str,
    count: u32,
) -> Result<(), ProjectionError> {
    let mut tx = conn.begin().await?;
    crate::batch::set_search_path(&mut tx, schema).await?;
    // Every batch takes its checkpoint row FOR UPDATE: holding them all,
    // no batch runs while the partitioning changes.
    let whole: i64 =
        sqlx::query_scalar("SELECT last_sequence FROM checkpoint WHERE id = 1 FOR UPDATE")
            .fetch_one(&mut *tx)
            .await?;
    let rows: Vec<(i32, i32, i64)> = sqlx::query_as(
        "SELECT partition, of_count, last_sequence FROM partitions ORDER BY partition FOR UPDATE",
    )
    .fetch_all(&mut *tx)
    .await?;
    let current = rows.first().map_or(1, |r| r.1 as u32);
    let same_shape = rows.len() == count as usize
        && rows
            .iter()
            .enumerate()
            .all(|(i, r)| r.0 == i as i32 && r.1 == count as i32);
    if (rows.is_empty() && count <= 1) || (count > 1 && same_shape) {
        return Ok(());
    }
    let start = if rows.is_empty() {
        whole
    } else {
        let first = rows[0].2;
        if rows.iter().any(|r| r.2 != first) {
            let (lo, hi) = rows
                .iter()
                .fold((i64::MAX, 0), |(lo, hi), r| (lo.min(r.2), hi.max(r.2)));
            return Err(ProjectionError::Config(format!(
                "{schema} is applied in {current} partitions standing between sequences {lo} and {hi}; \
                 to change to {count}, stop every instance after the partitions have caught up \
                 (they then agree), or rebuild the read model"
            )));
        }
        first
    };
    sqlx::query("DELETE FROM partitions")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE checkpoint SET last_sequence = $1, updated_at = now() WHERE id = 1")
        .bind(start)
        .execute(&mut *tx)
        .await?;
    if count > 1 {
        sqlx::query(
            "INSERT INTO partitions (partition, of_count, last_sequence) SELECT p, $1, $2 FROM generate_series(0, $1 - 1) AS p",
        )
        .bind(count as i32)
        .bind(start)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(
        projection = schema,
        from = current,
        to = count,
        start,
        "projection partitioning changed"
    );
    Ok(())
}

/// The session lock every running instance holds (shared), so each can
/// count the others.
pub(crate) fn members_key(name: &str) -> i64 {
    lock_key(name, "members")
}

/// Who runs a projection and what each applies: the instances holding
/// its shared member lock (by backend pid; an instance takes its partition
/// locks on that same session), and how many partitions each holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Members {
    /// Sorted.
    pids: Vec<i32>,
    held: std::collections::HashMap<i32, usize>,
}

impl Members {
    pub(crate) async fn read(
        conn: &mut PgConnection,
        name: &str,
        count: u32,
    ) -> Result<Self, ProjectionError> {
        // A bigint advisory key shows in pg_locks as classid (its high 32
        // bits) and objid (its low 32 bits), with objsubid 1.
        const HELD: &str = "SELECT pid FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND ((classid::int8 << 32) | objid::int8) = ANY($1)";
        let pids: Vec<i32> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("{HELD} ORDER BY pid")))
                .bind(vec![members_key(name)])
                .fetch_all(&mut *conn)
                .await?;
        let keys: Vec<i64> = (0..count)
            .map(|i| Slot::for_partition(i, count).owner_key(name))
            .collect();
        let holders: Vec<i32> = sqlx::query_scalar(HELD)
            .bind(keys)
            .fetch_all(&mut *conn)
            .await?;
        let mut held = std::collections::HashMap::new();
        for pid in holders {
            *held.entry(pid).or_insert(0) += 1;
        }
        Ok(Self { pids, held })
    }

    /// How many of `count` partitions instance `me` should apply: an even
    /// share, the remainder going first to instances already holding more
    /// than the even share (so a leader keeps the lead when another
    /// instance starts), then by pid. Every instance computes the same
    /// shares from the same snapshot, and they add up to `count`.
    pub(crate) fn share(&self, me: i32, count: u32) -> usize {
        let m = self.pids.len().max(1);
        let (base, extra) = (count as usize / m, count as usize % m);
        let mut order: Vec<i32> = self.pids.clone();
        let held = |pid: &i32| self.held.get(pid).copied().unwrap_or(0);
        order.sort_by_key(|pid| (std::cmp::Reverse(held(pid) > base), *pid));
        let rank = order.iter().position(|p| *p == me).unwrap_or(m);
        base + usize::from(rank < extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aggregate_always_lands_in_the_same_partition_and_all_partitions_are_used() {
        let mut seen = [0u32; 4];
        for i in 0..400 {
            let key = format!("pantau.attendance.worker.{i:08x}");
            let p = partition_of(&key, 4);
            assert_eq!(p, partition_of(&key, 4));
            seen[p as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 60), "{seen:?}");
        // The FNV-1a reference value, so another language can agree.
        assert_eq!(partition_of("a", 1 << 31), 0xe40c_292c % (1 << 31));
    }

    #[test]
    fn one_partition_is_the_whole_projection() {
        assert_eq!(Slot::for_partition(0, 1), Slot::Whole);
        assert!(Slot::Whole.owns("anything"));
        let p = Slot::for_partition(1, 2);
        assert_ne!(
            p.owns("pantau.x.y.1"),
            Slot::for_partition(0, 2).owns("pantau.x.y.1")
        );
    }

    fn members(held: &[(i32, usize)]) -> Members {
        Members {
            pids: held.iter().map(|(p, _)| *p).collect(),
            held: held.iter().copied().collect(),
        }
    }

    #[test]
    fn shares_add_up_and_a_leader_keeps_the_lead() {
        for n in 1..=9u32 {
            for m in 1..=5usize {
                let ms = members(&(0..m).map(|i| (i as i32 + 10, 0)).collect::<Vec<_>>());
                let total: usize = (0..m).map(|i| ms.share(i as i32 + 10, n)).sum();
                assert_eq!(total, n as usize, "{n} partitions over {m} instances");
            }
        }
        // An unpartitioned projection led by pid 20: a newcomer with a lower
        // pid does not take the lead over.
        let ms = members(&[(5, 0), (20, 1)]);
        assert_eq!((ms.share(5, 1), ms.share(20, 1)), (0, 1));
        // Four partitions held 2 + 2 when a third instance starts: one of the
        // two hands a partition over.
        let ms = members(&[(1, 2), (2, 2), (3, 0)]);
        assert_eq!([ms.share(1, 4), ms.share(2, 4), ms.share(3, 4)], [2, 1, 1]);
    }
}

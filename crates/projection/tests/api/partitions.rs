//! Partitioned projections: instances share the partitions out, each
//! aggregate's events are applied once and in order, a stopped instance's
//! partitions are taken over, and the partition count changes only safely.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pantau_eventstore::RecordedEvent;
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{
    Projection, ProjectionError, ProjectionHandle, Runner, RunnerOptions, partition_of, rebuild,
};
use sqlx::PgConnection;

use super::{Env, Tally, env, put, totals};

const SUBJECTS: usize = 24;

fn partitioned(partitions: u32) -> RunnerOptions {
    RunnerOptions {
        partitions,
        // Small batches, so partitions interleave within the test's load.
        batch_size: 20,
        ..RunnerOptions::default()
    }
}

async fn start(env: &Env, options: RunnerOptions) -> anyhow::Result<(ProjectionHandle, Shutdown)> {
    let shutdown = Shutdown::new();
    let handle = Runner::new(Tally, env.pool.clone(), env.store.clone(), options)
        .spawn(shutdown.clone())
        .await?;
    Ok((handle, shutdown))
}

/// Appends `n` events round-robin over the subjects, each worth 1.
async fn load(env: &Env, n: usize) -> anyhow::Result<u64> {
    let mut last = 0;
    for i in 0..n {
        last = put(
            &env.store,
            &format!("pantau.test.thing.{}", i % SUBJECTS),
            "1",
        )
        .await?;
    }
    Ok(last)
}

/// Waits until the handles' owned partitions satisfy `ok`.
async fn owners(
    handles: &[&ProjectionHandle],
    within: Duration,
    ok: impl Fn(&[Vec<u32>]) -> bool,
) -> Vec<Vec<u32>> {
    let deadline = Instant::now() + within;
    loop {
        let now: Vec<Vec<u32>> = handles.iter().map(|h| h.owned_partitions()).collect();
        if ok(&now) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every partition owned by exactly one of the instances.
fn disjoint_cover(owned: &[Vec<u32>], partitions: u32) -> bool {
    let all: Vec<u32> = owned.iter().flatten().copied().collect();
    let set: BTreeSet<u32> = all.iter().copied().collect();
    all.len() == set.len() && set == (0..partitions).collect()
}

/// Each subject counted exactly `per_subject` times.
async fn assert_counted(env: &Env, per_subject: i64) -> anyhow::Result<()> {
    let t = totals(&env.pool).await?;
    assert_eq!(t.len(), SUBJECTS, "{t:?}");
    for (subject, events, total) in &t {
        assert_eq!(
            (*events, *total),
            (per_subject, per_subject),
            "{subject} counted wrongly: {t:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn three_instances_share_four_partitions_and_count_every_event_once() -> anyhow::Result<()> {
    let env = env().await?;
    // One instance commits a batch but never acks it, as one killed between
    // commit and ack would: the redelivery must be stepped over.
    let (a, sa) = start(
        &env,
        RunnerOptions {
            skip_next_ack: true,
            ack_wait: Duration::from_secs(1),
            ..partitioned(4)
        },
    )
    .await?;
    let (b, sb) = start(&env, partitioned(4)).await?;
    let (c, sc) = start(&env, partitioned(4)).await?;
    let owned = owners(&[&a, &b, &c], Duration::from_secs(15), |o| {
        disjoint_cover(o, 4) && o.iter().all(|p| !p.is_empty())
    })
    .await;
    assert!(
        disjoint_cover(&owned, 4) && owned.iter().all(|p| !p.is_empty()),
        "partitions not shared out: {owned:?}"
    );
    let last = load(&env, SUBJECTS * 20).await?;
    for h in [&a, &b, &c] {
        assert!(
            h.wait_for(last, Duration::from_secs(20)).await,
            "an instance did not see the read model complete: {}",
            h.checkpoint()
        );
    }
    // Past the ack wait, so the unacked batch has come round again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let more = load(&env, SUBJECTS).await?;
    assert!(a.wait_for(more, Duration::from_secs(20)).await);
    assert_counted(&env, 21).await?;
    // One consumer per partition, none for the whole projection.
    let mut stream = env
        .store
        .jetstream()
        .get_stream(env.store.stream_name())
        .await?;
    assert_eq!(stream.info().await?.state.consumer_count, 4);
    // A rebuild of a partitioned read model keeps its partitions, and the
    // live instances carry on from it.
    sqlx::query("UPDATE tally.totals SET events = 0, total = 0")
        .execute(&env.pool)
        .await?;
    let rebuilt = rebuild(&Tally, &env.pool, &env.store, |_, _| {}).await?;
    assert_eq!(rebuilt, more);
    assert_counted(&env, 21).await?;
    let after = load(&env, SUBJECTS).await?;
    for h in [&a, &b, &c] {
        assert!(h.wait_for(after, Duration::from_secs(20)).await);
    }
    assert_counted(&env, 22).await?;
    for s in [sa, sb, sc] {
        s.trigger();
    }
    Ok(())
}

#[tokio::test]
async fn a_stopped_instances_partitions_are_taken_over_under_load() -> anyhow::Result<()> {
    let env = env().await?;
    let (a, sa) = start(&env, partitioned(4)).await?;
    let (b, sb) = start(&env, partitioned(4)).await?;
    let owned = owners(&[&a, &b], Duration::from_secs(15), |o| {
        disjoint_cover(o, 4) && o.iter().all(|p| p.len() == 2)
    })
    .await;
    assert!(
        owned.iter().all(|p| p.len() == 2),
        "two each expected: {owned:?}"
    );
    let writer = {
        let store = env.store.clone();
        tokio::spawn(async move {
            let mut last = 0;
            for i in 0..SUBJECTS * 30 {
                last =
                    super::put(&store, &format!("pantau.test.thing.{}", i % SUBJECTS), "1").await?;
            }
            anyhow::Ok(last)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    sa.trigger();
    let last = writer.await??;
    let owned = owners(&[&b], Duration::from_secs(15), |o| o[0].len() == 4).await;
    assert_eq!(
        owned[0],
        vec![0, 1, 2, 3],
        "b did not take a's partitions over"
    );
    assert!(
        b.wait_for(last, Duration::from_secs(20)).await,
        "stalled at {}",
        b.checkpoint()
    );
    assert!(a.owned_partitions().is_empty());
    assert_counted(&env, 30).await?;
    sb.trigger();
    Ok(())
}

#[tokio::test]
async fn the_partition_count_changes_only_where_every_partition_agrees() -> anyhow::Result<()> {
    let env = env().await?;
    let last = load(&env, SUBJECTS * 2).await?;
    let (h, s) = start(&env, partitioned(4)).await?;
    assert!(h.wait_for(last, Duration::from_secs(20)).await);
    s.trigger();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Partition 2 behind the others, as if its instance had died before
    // applying the last few events: its checkpoint and its rows go back.
    let behind = last - 5;
    sqlx::query("UPDATE tally.partitions SET last_sequence = $1 WHERE partition = 2")
        .bind(i64::try_from(behind)?)
        .execute(&env.pool)
        .await?;
    for seq in behind + 1..=last {
        // The stream holds only `load`'s events: sequence k went to subject
        // (k - 1) mod SUBJECTS.
        let subject = format!("pantau.test.thing.{}", (seq - 1) % SUBJECTS as u64);
        if partition_of(&subject, 4) == 2 {
            sqlx::query(
                "UPDATE tally.totals SET events = events - 1, total = total - 1 WHERE subject = $1",
            )
            .bind(subject)
            .execute(&env.pool)
            .await?;
        }
    }
    let refused = Runner::new(Tally, env.pool.clone(), env.store.clone(), partitioned(2))
        .spawn(Shutdown::new())
        .await;
    let Err(ProjectionError::Config(why)) = refused else {
        panic!("a repartitioning over disagreeing partitions was accepted");
    };
    assert!(why.contains("4 partitions"), "{why}");
    // The same count resumes partition 2 from where it stood: the events it
    // had not applied are applied now, once.
    let (h, s) = start(&env, partitioned(4)).await?;
    assert!(h.wait_for(last, Duration::from_secs(20)).await);
    s.trigger();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Agreeing partitions may be regrouped, and back to one.
    for count in [2, 1] {
        let (h, s) = start(&env, partitioned(count)).await?;
        let next = load(&env, SUBJECTS).await?;
        assert!(h.wait_for(next, Duration::from_secs(20)).await);
        s.trigger();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_counted(&env, 4).await?;
    Ok(())
}

/// A projection reading another aggregate's rows.
struct Ledger;

impl Projection for Ledger {
    fn name(&self) -> &'static str {
        "ledger"
    }
    fn subjects(&self) -> Vec<String> {
        vec!["pantau.test.>".into()]
    }
    fn ddl(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS balance (total BIGINT NOT NULL)"
    }
    async fn apply(&self, _: &mut PgConnection, _: &RecordedEvent) -> Result<(), ProjectionError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_projection_reading_across_aggregates_refuses_partitions() -> anyhow::Result<()> {
    let env = env().await?;
    let refused = Runner::new(Ledger, env.pool.clone(), env.store.clone(), partitioned(4))
        .spawn(Shutdown::new())
        .await;
    assert!(
        matches!(refused, Err(ProjectionError::Config(ref why)) if why.contains("ledger")),
        "{:?}",
        refused.err()
    );
    Ok(())
}

#[test]
fn the_partition_function_is_fnv1a_as_documented() {
    // FNV-1a (32 bits) of "foobar" is 0xbf9cf968 (the published test
    // vector): an analytics consumer in any language finds the same
    // partition.
    assert_eq!(partition_of("foobar", 1000), 0xbf9c_f968 % 1000);
    assert_eq!(partition_of("foobar", 1), 0);
}

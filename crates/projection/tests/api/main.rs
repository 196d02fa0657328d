//! Projections against real NATS and PostgreSQL: exactly once, restarts,
//! crash between commit and ack, rebuild and swap, dead letters, partitions.

mod partitions;

use std::time::Duration;

use bytes::Bytes;
use pantau_eventstore::{
    AppendMode, EventStore, Expected, Metadata, NewEvent, RecordedEvent, StreamSpec, Upcasters,
};
use pantau_platform::shutdown::Shutdown;
use pantau_projection::{Projection, ProjectionError, Runner, RunnerOptions, rebuild};
use pantau_testkit::{NatsServer, PgServer};
use sqlx::{PgConnection, PgPool};

/// Counts events per subject and sums their numeric payloads.
struct Tally;

impl Projection for Tally {
    fn name(&self) -> &'static str {
        "tally"
    }
    fn subjects(&self) -> Vec<String> {
        vec!["pantau.test.thing.*".into()]
    }
    fn ddl(&self) -> &'static str {
        "CREATE TABLE IF NOT EXISTS totals (subject TEXT PRIMARY KEY, events BIGINT NOT NULL, total BIGINT NOT NULL)"
    }
    /// Each event changes its own subject's row only.
    fn partitionable(&self) -> bool {
        true
    }
    async fn apply(
        &self,
        conn: &mut PgConnection,
        e: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let n: i64 = std::str::from_utf8(&e.payload)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ProjectionError::Poison("payload is not a number".into()))?;
        sqlx::query("INSERT INTO totals VALUES ($1, 1, $2) ON CONFLICT (subject) DO UPDATE SET events = totals.events + 1, total = totals.total + $2")
            .bind(&e.subject)
            .bind(n)
            .execute(conn)
            .await?;
        Ok(())
    }
}

struct Env {
    _nats: NatsServer,
    _pg: PgServer,
    store: EventStore,
    pool: PgPool,
}

async fn env() -> anyhow::Result<Env> {
    pantau_testkit::init_logs();
    let nats = NatsServer::start().await?;
    let pg = PgServer::start().await?;
    let db = pg.database("proj").await?;
    let pool = PgPool::connect(&db.url).await?;
    let store = EventStore::open(
        nats.client().await?,
        &StreamSpec::for_context("test"),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    Ok(Env {
        _nats: nats,
        _pg: pg,
        store,
        pool,
    })
}

async fn put(store: &EventStore, subject: &str, body: &str) -> anyhow::Result<u64> {
    Ok(store
        .append(NewEvent {
            subject: subject.into(),
            event_type: "Counted".into(),
            schema_version: 1,
            payload: Bytes::from(body.to_owned()),
            expected: Expected::Any,
            msg_id: None,
            metadata: Metadata::default(),
        })
        .await?
        .sequence)
}

async fn totals(pool: &PgPool) -> anyhow::Result<Vec<(String, i64, i64)>> {
    Ok(
        sqlx::query_as("SELECT subject, events, total FROM tally.totals ORDER BY subject")
            .fetch_all(pool)
            .await?,
    )
}

#[tokio::test]
async fn each_event_counts_once_and_lag_reaches_zero() -> anyhow::Result<()> {
    let env = env().await?;
    for i in 0..50 {
        put(&env.store, &format!("pantau.test.thing.{}", i % 5), "2").await?;
    }
    let last = put(&env.store, "pantau.test.other.x", "999").await?;
    let shutdown = Shutdown::new();
    let handle = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(shutdown.clone())
    .await?;
    assert!(handle.wait_for(last - 1, Duration::from_secs(10)).await);
    let t = totals(&env.pool).await?;
    assert_eq!(t.len(), 5);
    assert!(
        t.iter()
            .all(|(_, events, total)| *events == 10 && *total == 20),
        "{t:?}"
    );
    // The unrelated subject is not ours, so lag counts it until more arrives.
    assert!(handle.lag().await? <= 1);
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn a_crash_between_commit_and_ack_does_not_count_twice() -> anyhow::Result<()> {
    let env = env().await?;
    let mut last = 0;
    for _ in 0..20 {
        last = put(&env.store, "pantau.test.thing.a", "1").await?;
    }
    let shutdown = Shutdown::new();
    let options = RunnerOptions {
        ack_wait: Duration::from_secs(1),
        skip_next_ack: true,
        ..Default::default()
    };
    let handle = Runner::new(Tally, env.pool.clone(), env.store.clone(), options)
        .spawn(shutdown.clone())
        .await?;
    assert!(handle.wait_for(last, Duration::from_secs(10)).await);
    // Let the unacked batch be redelivered, then add one more event.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let one_more = put(&env.store, "pantau.test.thing.a", "1").await?;
    assert!(handle.wait_for(one_more, Duration::from_secs(10)).await);
    assert_eq!(
        totals(&env.pool).await?,
        vec![("pantau.test.thing.a".into(), 21, 21)]
    );
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn a_restarted_runner_resumes_from_its_checkpoint() -> anyhow::Result<()> {
    let env = env().await?;
    let first = put(&env.store, "pantau.test.thing.a", "5").await?;
    let s1 = Shutdown::new();
    let h1 = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(s1.clone())
    .await?;
    assert!(h1.wait_for(first, Duration::from_secs(10)).await);
    s1.trigger();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = put(&env.store, "pantau.test.thing.a", "7").await?;
    let s2 = Shutdown::new();
    let h2 = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(s2.clone())
    .await?;
    assert!(h2.wait_for(second, Duration::from_secs(10)).await);
    assert_eq!(
        totals(&env.pool).await?,
        vec![("pantau.test.thing.a".into(), 2, 12)]
    );
    s2.trigger();
    Ok(())
}

#[tokio::test]
async fn a_rebuild_replays_into_fresh_tables_and_swaps_them_in() -> anyhow::Result<()> {
    let env = env().await?;
    for i in 0..30 {
        put(&env.store, &format!("pantau.test.thing.{}", i % 3), "1").await?;
    }
    let shutdown = Shutdown::new();
    let handle = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(shutdown.clone())
    .await?;
    assert!(handle.wait_for(30, Duration::from_secs(10)).await);
    // Corrupt the live model, as a buggy projection version would.
    sqlx::query("UPDATE tally.totals SET total = 0")
        .execute(&env.pool)
        .await?;
    let mut reports = Vec::new();
    let cp = rebuild(&Tally, &env.pool, &env.store, |done, target| {
        reports.push((done, target))
    })
    .await?;
    assert_eq!(cp, 30);
    assert_eq!(reports.last(), Some(&(30, 30)));
    let t = totals(&env.pool).await?;
    assert!(
        t.iter().all(|(_, e, total)| *e == 10 && *total == 10),
        "{t:?}"
    );
    // The live runner carries on from the swapped-in checkpoint.
    let next = put(&env.store, "pantau.test.thing.0", "1").await?;
    assert!(handle.wait_for(next, Duration::from_secs(10)).await);
    let t = totals(&env.pool).await?;
    assert_eq!(t[0], ("pantau.test.thing.0".into(), 11, 11));
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn an_unappliable_event_is_dead_lettered_not_lost_or_blocking() -> anyhow::Result<()> {
    let env = env().await?;
    put(&env.store, "pantau.test.thing.a", "not-a-number").await?;
    let last = put(&env.store, "pantau.test.thing.a", "3").await?;
    let shutdown = Shutdown::new();
    let handle = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(shutdown.clone())
    .await?;
    assert!(handle.wait_for(last, Duration::from_secs(10)).await);
    assert_eq!(
        totals(&env.pool).await?,
        vec![("pantau.test.thing.a".into(), 1, 3)]
    );
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM tally.dead_letters")
        .fetch_one(&env.pool)
        .await?;
    assert_eq!(dead, 1);
    shutdown.trigger();
    Ok(())
}

#[tokio::test]
async fn a_standby_sees_what_the_leader_applied() -> anyhow::Result<()> {
    let env = env().await?;
    let (s1, s2) = (Shutdown::new(), Shutdown::new());
    let leader = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(s1.clone())
    .await?;
    let first = put(&env.store, "pantau.test.thing.a", "1").await?;
    assert!(leader.wait_for(first, Duration::from_secs(10)).await);
    // The second runner cannot take the lead while the first holds it: it
    // applies nothing, but its handle must still see the leader's progress
    // (a read on that replica waits for its own write).
    let standby = Runner::new(
        Tally,
        env.pool.clone(),
        env.store.clone(),
        RunnerOptions::default(),
    )
    .spawn(s2.clone())
    .await?;
    let second = put(&env.store, "pantau.test.thing.a", "2").await?;
    let started = std::time::Instant::now();
    assert!(standby.wait_for(second, Duration::from_secs(5)).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the standby took {:?}",
        started.elapsed()
    );
    assert_eq!(
        totals(&env.pool).await?,
        vec![("pantau.test.thing.a".into(), 2, 3)]
    );
    s1.trigger();
    s2.trigger();
    Ok(())
}

#[tokio::test]
async fn two_read_models_in_their_own_databases_each_follow_the_whole_stream() -> anyhow::Result<()>
{
    // Two deployments of one projection (say blue and green) on the same
    // stream, each with its own database: each needs its own consumer, or
    // the second would take the first's away mid-stream.
    let env = env().await?;
    let other_db = env._pg.database("proj").await?;
    let other = PgPool::connect(&other_db.url).await?;
    let shutdown = Shutdown::new();
    let mut handles = Vec::new();
    for pool in [env.pool.clone(), other.clone()] {
        handles.push(
            Runner::new(
                Tally,
                pool,
                env.store.clone(),
                RunnerOptions {
                    batch_size: 1,
                    ..RunnerOptions::default()
                },
            )
            .spawn(shutdown.clone())
            .await?,
        );
    }
    let mut last = 0;
    for i in 0..40 {
        last = put(&env.store, &format!("pantau.test.thing.{}", i % 4), "1").await?;
    }
    for h in &handles {
        assert!(
            h.wait_for(last, Duration::from_secs(20)).await,
            "a read model stalled"
        );
    }
    for pool in [&env.pool, &other] {
        let t = totals(pool).await?;
        assert_eq!(t.iter().map(|(_, e, _)| e).sum::<i64>(), 40, "{t:?}");
    }
    let mut stream = env
        .store
        .jetstream()
        .get_stream(env.store.stream_name())
        .await?;
    assert_eq!(
        stream.info().await?.state.consumer_count,
        2,
        "one durable consumer per read model"
    );
    shutdown.trigger();
    Ok(())
}

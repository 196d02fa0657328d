//! The event store against a real, durable (`sync_interval: always`) NATS.

use std::collections::HashSet;

use bytes::Bytes;
use pantau_eventstore::{
    AppendError, AppendMode, EventStore, Expected, Metadata, NewEvent, StreamSpec, Upcasters,
    command,
};
use pantau_testkit::NatsServer;

mod cluster;

async fn store(nats: &NatsServer, mode: AppendMode) -> anyhow::Result<EventStore> {
    let client = nats.client().await?;
    Ok(EventStore::open(
        client,
        &StreamSpec::for_context("test"),
        mode,
        Upcasters::new(),
    )
    .await?)
}

fn event(subject: &str, body: &str, expected: Expected, msg_id: Option<&str>) -> NewEvent {
    NewEvent {
        subject: subject.to_owned(),
        event_type: "ThingHappened".into(),
        schema_version: 1,
        payload: Bytes::from(body.to_owned()),
        expected,
        msg_id: msg_id.map(str::to_owned),
        metadata: Metadata {
            correlation_id: "corr-1".into(),
            causation_id: "cause-1".into(),
            request_id: msg_id.map(str::to_owned),
            actor: Some("tester".into()),
        },
    }
}

#[tokio::test]
async fn appended_events_load_back_in_order_with_their_envelope() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let a = es
        .append(event("pantau.test.thing.1", "a", Expected::NoEvents, None))
        .await?;
    let b = es
        .append(event(
            "pantau.test.thing.1",
            "b",
            Expected::Sequence(a.sequence),
            None,
        ))
        .await?;
    es.append(event("pantau.test.thing.2", "other", Expected::Any, None))
        .await?;
    let loaded = es.load("pantau.test.thing.1").await?;
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].payload, Bytes::from_static(b"a"));
    assert_eq!(loaded[1].sequence, b.sequence);
    assert_eq!(loaded[0].event_type, "ThingHappened");
    assert_eq!(loaded[0].correlation_id, "corr-1");
    assert_eq!(loaded[0].causation_id, "cause-1");
    assert_eq!(loaded[0].actor.as_deref(), Some("tester"));
    assert!(!loaded[0].event_id.is_empty());
    assert_eq!(
        es.load_after("pantau.test.thing.1", a.sequence)
            .await?
            .len(),
        1
    );
    assert!(es.load("pantau.test.thing.none").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_stale_expected_sequence_is_a_conflict_and_writes_nothing() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let first = es
        .append(event("pantau.test.thing.1", "a", Expected::NoEvents, None))
        .await?;
    es.append(event(
        "pantau.test.thing.1",
        "b",
        Expected::Sequence(first.sequence),
        None,
    ))
    .await?;
    let stale = es
        .append(event(
            "pantau.test.thing.1",
            "c",
            Expected::Sequence(first.sequence),
            None,
        ))
        .await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { .. })),
        "{stale:?}"
    );
    let again = es
        .append(event("pantau.test.thing.1", "d", Expected::NoEvents, None))
        .await;
    assert!(
        matches!(again, Err(AppendError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(es.load("pantau.test.thing.1").await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn the_same_message_id_twice_is_stored_once() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let a = es
        .append(event(
            "pantau.test.thing.1",
            "a",
            Expected::NoEvents,
            Some("req-1"),
        ))
        .await?;
    // The retry carries the same stale expectation: dedupe answers first.
    let b = es
        .append(event(
            "pantau.test.thing.1",
            "a",
            Expected::NoEvents,
            Some("req-1"),
        ))
        .await?;
    assert!(!a.duplicate);
    assert!(b.duplicate);
    assert_eq!(a.sequence, b.sequence);
    assert_eq!(es.load("pantau.test.thing.1").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn concurrent_appends_are_group_committed_without_loss() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let n = 2000;
    let tasks = (0..n).map(|i| {
        let es = es.clone();
        tokio::spawn(async move {
            es.append(event(
                &format!("pantau.test.thing.{i}"),
                "x",
                Expected::NoEvents,
                None,
            ))
            .await
        })
    });
    let mut seqs = HashSet::new();
    for t in futures::future::join_all(tasks).await {
        let appended = t??;
        assert!(!appended.duplicate);
        assert!(seqs.insert(appended.sequence), "sequence handed out twice");
    }
    assert_eq!(seqs.len(), n);
    assert_eq!(es.last_sequence().await?, n as u64);
    // Every acknowledged sequence holds the subject it was promised to.
    for i in [0usize, 7, 1999] {
        let loaded = es.load(&format!("pantau.test.thing.{i}")).await?;
        assert_eq!(loaded.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn one_stale_append_in_a_batch_fails_alone() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    es.append(event(
        "pantau.test.thing.taken",
        "a",
        Expected::NoEvents,
        None,
    ))
    .await?;
    let mut tasks = Vec::new();
    for i in 0..300 {
        let es = es.clone();
        let subject = if i == 150 {
            "pantau.test.thing.taken".to_owned()
        } else {
            format!("pantau.test.thing.{i}")
        };
        tasks.push(tokio::spawn(async move {
            es.append(event(
                &subject,
                "x",
                Expected::NoEvents,
                Some(&format!("m-{i}")),
            ))
            .await
        }));
    }
    let results: Vec<_> = futures::future::join_all(tasks).await;
    let mut ok = 0;
    for (i, r) in results.into_iter().enumerate() {
        match r? {
            Ok(_) => ok += 1,
            Err(AppendError::Conflict { subject }) => {
                assert_eq!(i, 150);
                assert_eq!(subject, "pantau.test.thing.taken");
            }
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!(ok, 299);
    assert_eq!(es.last_sequence().await?, 300);
    // The refused batch was committed again in halves, not resent one
    // append at a time.
    let stats = es.append_stats();
    assert!(stats.batches_refused >= 1, "{stats:?}");
    assert!(stats.single_appends <= 20, "{stats:?}");
    Ok(())
}

#[tokio::test]
async fn a_retried_message_inside_a_batch_is_not_stored_twice() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let first = es
        .append(event(
            "pantau.test.thing.retry",
            "a",
            Expected::NoEvents,
            Some("req-r"),
        ))
        .await?;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let es = es.clone();
        let (subject, id) = if i == 100 {
            ("pantau.test.thing.retry".to_owned(), "req-r".to_owned())
        } else {
            (format!("pantau.test.thing.{i}"), format!("m-{i}"))
        };
        tasks.push(tokio::spawn(async move {
            es.append(event(&subject, "x", Expected::NoEvents, Some(&id)))
                .await
        }));
    }
    for (i, r) in futures::future::join_all(tasks)
        .await
        .into_iter()
        .enumerate()
    {
        let appended = r??;
        if i == 100 {
            assert!(appended.duplicate);
            assert_eq!(appended.sequence, first.sequence);
        }
    }
    assert_eq!(es.last_sequence().await?, 200);
    assert_eq!(es.load("pantau.test.thing.retry").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn pipelined_mode_appends_with_the_same_guarantees() -> anyhow::Result<()> {
    let nats = NatsServer::spawn(false).await?;
    let es = store(&nats, AppendMode::Pipelined).await?;
    let a = es
        .append(event(
            "pantau.test.thing.1",
            "a",
            Expected::NoEvents,
            Some("p1"),
        ))
        .await?;
    let dup = es
        .append(event(
            "pantau.test.thing.1",
            "a",
            Expected::NoEvents,
            Some("p1"),
        ))
        .await?;
    assert!(dup.duplicate && dup.sequence == a.sequence);
    let stale = es
        .append(event("pantau.test.thing.1", "b", Expected::NoEvents, None))
        .await;
    assert!(matches!(stale, Err(AppendError::Conflict { .. })));
    Ok(())
}

#[tokio::test]
async fn an_atomic_append_stores_several_events_of_one_subject_together_or_not_at_all()
-> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let subject = "pantau.test.session.1";
    let first = es
        .append(event(subject, "opened", Expected::NoEvents, None))
        .await?;
    let batch = |tag: &str, expected: Expected| {
        (0..5)
            .map(|i| {
                let e = if i == 0 { expected } else { Expected::Any };
                event(subject, &format!("{tag}-{i}"), e, None)
            })
            .collect::<Vec<_>>()
    };
    let stored = es
        .append_atomic(batch("a", Expected::Sequence(first.sequence)))
        .await?;
    let sequences: Vec<u64> = stored.iter().map(|a| a.sequence).collect();
    assert_eq!(
        sequences,
        (first.sequence + 1..=first.sequence + 5).collect::<Vec<_>>()
    );
    // A second writer still at the old sequence gets a conflict, and none
    // of its five events is stored.
    let stale = es
        .append_atomic(batch("b", Expected::Sequence(first.sequence)))
        .await;
    assert!(
        matches!(stale, Err(AppendError::Conflict { .. })),
        "{stale:?}"
    );
    let loaded = es.load(subject).await?;
    let bodies: Vec<String> = loaded
        .iter()
        .map(|r| String::from_utf8_lossy(&r.payload).into_owned())
        .collect();
    assert_eq!(bodies, ["opened", "a-0", "a-1", "a-2", "a-3", "a-4"]);
    Ok(())
}

#[tokio::test]
async fn the_last_sequence_of_a_wildcard_filter_is_its_newest_event() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    assert_eq!(es.last_sequence_of("pantau.test.kind_a.>").await?, 0);
    let a1 = es
        .append(event("pantau.test.kind_a.1", "a", Expected::Any, None))
        .await?;
    let a2 = es
        .append(event("pantau.test.kind_a.2", "b", Expected::Any, None))
        .await?;
    let b = es
        .append(event("pantau.test.kind_b.1", "c", Expected::Any, None))
        .await?;
    assert!(a1.sequence < a2.sequence && a2.sequence < b.sequence);
    assert_eq!(
        es.last_sequence_of("pantau.test.kind_a.>").await?,
        a2.sequence
    );
    assert_eq!(
        es.last_sequence_of("pantau.test.kind_a.1").await?,
        a1.sequence
    );
    assert_eq!(es.last_sequence_of("pantau.test.>").await?, b.sequence);
    assert_eq!(es.last_sequence_of("pantau.test.kind_c.>").await?, 0);
    Ok(())
}

#[tokio::test]
async fn concurrent_appends_to_one_subject_all_complete_without_other_traffic() -> anyhow::Result<()>
{
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    // A subject appears once per atomic batch, so most of these are carried
    // over to later batches; none may wait for unrelated appends to come.
    let appends = (0..20).map(|i| {
        let es = es.clone();
        async move {
            es.append(event(
                "pantau.test.busy.1",
                &i.to_string(),
                Expected::Any,
                None,
            ))
            .await
        }
    });
    let results = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures::future::join_all(appends),
    )
    .await
    .map_err(|_| anyhow::anyhow!("appends to one subject stalled"))?;
    for r in results {
        r?;
    }
    assert_eq!(es.load("pantau.test.busy.1").await?.len(), 20);
    Ok(())
}

// The codec's functions take `&Ev`, here `&String`.
#[allow(clippy::ptr_arg)]
fn text(e: &String) -> Bytes {
    Bytes::from(e.clone())
}

fn untext(r: &pantau_eventstore::RecordedEvent) -> Option<String> {
    String::from_utf8(r.payload.to_vec()).ok()
}

#[allow(clippy::ptr_arg)]
fn text_type(_: &String) -> &'static str {
    "ThingHappened"
}

const TEXT: command::Codec<String> = command::Codec {
    encode: text,
    decode: untext,
    event_type: text_type,
};

#[tokio::test]
async fn commands_on_one_subject_take_turns_on_a_replica() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let es = store(&nats, AppendMode::default()).await?;
    let cache = std::sync::Arc::new(command::Cache::<String>::new(100));
    let subject = "pantau.test.thing.busy";
    let count = |n: u32, _: &String| n + 1;
    // Unserialised, most of these would find the subject moved on and
    // retry, and some would run out of attempts.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (es, cache) = (es.clone(), cache.clone());
            tokio::spawn(async move {
                let cmd = command::Command {
                    request_id: format!("r{i}"),
                    msg_id_prefix: format!("tester:r{i}"),
                    metadata: Metadata::default(),
                };
                command::execute(&es, &TEXT, Some(&cache), subject, count, &cmd, |n: &u32| {
                    Ok::<_, ()>(vec![format!("{i} after {n}")])
                })
                .await
                .map(|done| (done.state, done.appended))
                .map_err(|e| anyhow::anyhow!("command {i}: {e}"))
            })
        })
        .collect();
    let mut states = Vec::new();
    for t in tasks {
        let (state, appended) = t.await??;
        assert_eq!(appended, 1);
        states.push(state);
    }
    states.sort_unstable();
    assert_eq!(states, (1..=40).collect::<Vec<u32>>());
    assert_eq!(es.load(subject).await?.len(), 40);
    assert_eq!(es.append_stats().batches_refused, 0, "no append conflicted");
    Ok(())
}

#[tokio::test]
async fn a_reader_takes_the_stream_as_its_owner_configured_it() -> anyhow::Result<()> {
    let nats = NatsServer::start().await?;
    let client = nats.client().await?;
    let spec = |window: u64| StreamSpec {
        duplicate_window: std::time::Duration::from_secs(window),
        ..StreamSpec::for_context("test")
    };
    // A reader started first creates the stream it needs...
    let reader = EventStore::open(
        client.clone(),
        &spec(60).reader(),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    let window = |es: &EventStore| {
        let es = es.clone();
        async move {
            let mut stream = es.jetstream().get_stream(es.stream_name()).await?;
            anyhow::Ok(stream.info().await?.config.duplicate_window)
        }
    };
    assert_eq!(window(&reader).await?.as_secs(), 60);
    // ...the owner brings it to its configuration...
    let owner = EventStore::open(
        client.clone(),
        &spec(120),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    assert_eq!(window(&owner).await?.as_secs(), 120);
    // ...and a reader opening it later leaves that alone.
    let later = EventStore::open(
        client,
        &spec(30).reader(),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    assert_eq!(window(&later).await?.as_secs(), 120);
    Ok(())
}

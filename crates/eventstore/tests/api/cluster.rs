//! A stream replicated on a three-server NATS cluster: what a deployment
//! with `PANTAU_NATS_STREAM_REPLICAS=3` relies on when a server dies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pantau_eventstore::{AppendMode, EventStore, Expected};
use pantau_testkit::NatsCluster;

use super::event;

/// Appends `pantau.test.thing.<i>` with message id `m-<i>`, retrying while
/// the cluster elects a new stream leader; a retry of a message that did
/// land is stored once (`Nats-Msg-Id`).
async fn append_retrying(es: &EventStore, i: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = format!("m-{i}");
    loop {
        let body = format!("{i}");
        match es
            .append(event(
                &format!("pantau.test.thing.{i}"),
                &body,
                Expected::Any,
                Some(&id),
            ))
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, i, "append failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[tokio::test]
async fn a_stream_on_three_servers_keeps_every_event_once_through_a_killed_leader()
-> anyhow::Result<()> {
    let mut cluster = NatsCluster::start(3).await?;
    let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url.clone()).collect();
    let client = async_nats::connect(urls).await?;
    let es = EventStore::open_context_replicated(&client, "test", AppendMode::Pipelined, 3).await?;
    let js = async_nats::jetstream::new(client.clone());
    let mut stream = js.get_stream("PANTAU_TEST").await?;
    let info = stream.info().await?;
    assert_eq!(info.config.num_replicas, 3);
    let placement = info
        .cluster
        .clone()
        .expect("a clustered stream reports its cluster");
    assert_eq!(
        placement.replicas.len(),
        2,
        "a leader and two followers: {placement:?}"
    );

    for i in 0..50 {
        append_retrying(&es, i).await?;
    }
    // Kill the stream's leader: a follower takes over and appends go on.
    let leader = placement.leader.expect("the stream has a leader");
    let at = cluster
        .nodes
        .iter()
        .position(|n| n.name == leader)
        .expect("the leader is one of the cluster's servers");
    cluster.nodes[at].kill();
    for i in 50..100 {
        append_retrying(&es, i).await?;
    }
    // Retried ids already stored are not stored again.
    for i in [0, 49, 50, 99] {
        append_retrying(&es, i).await?;
    }
    cluster.restart(at).await?;

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = stream.info().await?;
        let placement = info.cluster.clone().unwrap_or_default();
        let caught_up = placement.replicas.len() == 2
            && placement.replicas.iter().all(|r| r.current && !r.offline);
        if caught_up && info.state.messages == 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted server did not catch up: {} messages, {placement:?}",
            info.state.messages
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut seen = HashSet::new();
    for i in 0..100 {
        let loaded = es.load(&format!("pantau.test.thing.{i}")).await?;
        assert_eq!(loaded.len(), 1, "event {i} stored once");
        assert!(seen.insert(loaded[0].sequence));
    }
    Ok(())
}

//! Scale-out under failure: identity and two attendance instances sharing
//! one database on a three-server NATS cluster (streams replicated three
//! times). Workers check in while the server leading the attendance stream
//! is killed and one attendance instance is stopped; every check-in a phone
//! saw accepted is stored exactly once, the surviving instance takes over the
//! stopped one's partitions of the read model, which shows it, and the killed
//! server catches up when it comes back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::Utc;
use futures::TryStreamExt;
use pantau_proto::attendance::v1::{
    self as att, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::identity::v1::{
    self as id, Role, identity_service_client::IdentityServiceClient,
};
use pantau_testkit::{NatsCluster, PgServer};
use tonic::transport::Channel;

use crate::common::{
    ADMIN_PASSWORD, PASSWORD, agency_with_unit, authed, away_from_midnight, eventually, heard, rid,
    square_check_in, worker_request,
};

const WORKERS: u32 = 30;
/// How long a phone keeps retrying one check-in before giving up.
const PATIENCE: Duration = Duration::from_secs(25);
/// How long one attempt may take before the phone tries the other instance.
const ATTEMPT: Duration = Duration::from_secs(3);
const STREAM: &str = "PANTAU_ATTENDANCE";

/// One phone's check-in and what became of it.
struct Outcome {
    worker_id: String,
    token: String,
    /// The request as last sent.
    request: att::CheckInRequest,
    accepted: bool,
    attempts: u32,
}

/// A phone's retry of a check-in whose answer it never got: the same
/// request, with the same request id, so the service can count it once.
fn again(request: &att::CheckInRequest) -> att::CheckInRequest {
    request.clone()
}

async fn login(
    client: &IdentityServiceClient<Channel>,
    login_id: &str,
    password: &str,
) -> anyhow::Result<String> {
    Ok(client
        .clone()
        .login(id::LoginRequest {
            login_id: login_id.into(),
            password: password.into(),
        })
        .await
        .with_context(|| format!("{login_id} could not log in"))?
        .into_inner()
        .access_token)
}

/// What a phone does: sends the check-in to `first`, and on any failure
/// (unavailable, a refused connection, no answer in time) sends the same
/// request, same request id, to the other instance, until one says OK.
async fn check_in_retrying(
    token: String,
    worker_id: String,
    mut instances: [AttendanceServiceClient<Channel>; 2],
    first: usize,
) -> Outcome {
    let mut request = square_check_in("android-chaos");
    let deadline = Instant::now() + PATIENCE;
    let mut at = first;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let call = instances[at].check_in(authed(&token, request.clone()));
        match tokio::time::timeout(ATTEMPT, call).await {
            Ok(Ok(_)) => {
                return Outcome {
                    worker_id,
                    token,
                    request,
                    accepted: true,
                    attempts,
                };
            }
            Ok(Err(status)) => {
                if attempts == 1 {
                    eprintln!("check-in of {worker_id} failed: {status}");
                }
            }
            Err(_) => eprintln!("check-in of {worker_id} timed out at attempt {attempts}"),
        }
        if Instant::now() >= deadline {
            return Outcome {
                worker_id,
                token,
                request,
                accepted: false,
                attempts,
            };
        }
        request = again(&request);
        at = 1 - at;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Index of the server leading `stream`.
async fn leader_of(
    js: &async_nats::jetstream::Context,
    cluster: &NatsCluster,
    stream: &str,
) -> anyhow::Result<usize> {
    let info = js.get_stream(stream).await?.info().await?.clone();
    let leader = info
        .cluster
        .and_then(|c| c.leader)
        .context("a replicated stream has a leader")?;
    cluster
        .nodes
        .iter()
        .position(|n| n.name == leader)
        .with_context(|| format!("{leader} is not one of the cluster's servers"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepted_check_ins_survive_a_killed_stream_leader_and_a_stopped_instance_exactly_once()
-> anyhow::Result<()> {
    pantau_testkit::init_logs();
    away_from_midnight().await;
    let mut cluster = NatsCluster::start(3).await?;
    let pg = PgServer::start().await?;
    let urls = cluster.urls();

    let mut identity_config =
        pantau_identity::config::Config::in_process(&urls, &pg.url, ADMIN_PASSWORD);
    identity_config.stream_replicas = 3;
    let identity = pantau_identity::app::start(identity_config)
        .await
        .context("failed to start identity")?;
    let mut config_a = pantau_attendance::config::Config::in_process(&urls, &pg.url);
    config_a.stream_replicas = 3;
    // The read model in four partitions, shared out between the two.
    config_a.partitions = 4;
    // Same database, its own port: a second replica.
    let config_b = config_a.clone();
    let a = pantau_attendance::app::start(config_a)
        .await
        .context("failed to start attendance A")?;
    let b = pantau_attendance::app::start(config_b)
        .await
        .context("failed to start attendance B")?;
    eventually(
        "A and B apply two partitions each",
        || {
            let owned = [
                a.attendance.read.owned_partitions(),
                b.attendance.read.owned_partitions(),
            ];
            async move { owned }
        },
        |o| o.iter().all(|p| p.len() == 2),
    )
    .await?;
    let instances = [
        AttendanceServiceClient::connect(format!("http://{}", a.addr)).await?,
        AttendanceServiceClient::connect(format!("http://{}", b.addr)).await?,
    ];

    let js = async_nats::jetstream::new(
        async_nats::connect(
            cluster
                .nodes
                .iter()
                .map(|n| n.url.clone())
                .collect::<Vec<_>>(),
        )
        .await?,
    );
    let info = js.get_stream(STREAM).await?.info().await?.clone();
    assert_eq!(info.config.num_replicas, 3, "{:?}", info.config);

    // The registry: one agency and unit, its admin, thirty workers logged in.
    let ids = IdentityServiceClient::connect(format!("http://{}", identity.addr)).await?;
    let admin = login(&ids, "admin", ADMIN_PASSWORD).await?;
    let (agency_id, unit_id) = agency_with_unit(&ids, &admin, "DLH").await?;
    ids.clone()
        .create_account(authed(
            &admin,
            id::CreateAccountRequest {
                request_id: rid(),
                login_id: "admin-dlh".into(),
                password: PASSWORD.into(),
                roles: vec![Role::AgencyAdmin as i32],
                agency_id: agency_id.clone(),
                worker_id: String::new(),
            },
        ))
        .await?;
    let agency_admin = login(&ids, "admin-dlh", PASSWORD).await?;
    let mut workers = Vec::new();
    for serial in 1..=WORKERS {
        let r = ids
            .clone()
            .register_worker(authed(
                &admin,
                worker_request(&format!("Pekerja {serial}"), serial, &agency_id, &unit_id),
            ))
            .await?
            .into_inner();
        let token = login(&ids, &r.employee_id, PASSWORD).await?;
        workers.push((r.worker_id, token));
    }
    // Both instances have heard of every worker before the load starts.
    let month = Utc::now().format("%Y-%m").to_string();
    for (worker_id, token) in &workers {
        for instance in &instances {
            eventually(
                "both instances learn the worker",
                || {
                    let mut client = instance.clone();
                    let req = authed(
                        token,
                        att::GetWorkerMonthRequest {
                            worker_id: worker_id.clone(),
                            month: month.clone(),
                        },
                    );
                    async move { client.get_worker_month(req).await }
                },
                heard,
            )
            .await??;
        }
    }

    // The load: a check-in every 100 ms, alternating between A and B.
    let started = Instant::now();
    let mut phones = Vec::new();
    for (k, (worker_id, token)) in workers.iter().enumerate() {
        let (worker_id, token, instances) = (worker_id.clone(), token.clone(), instances.clone());
        phones.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100 * k as u64)).await;
            check_in_retrying(token, worker_id, instances, k % 2).await
        }));
    }
    // A second in: the stream's leader dies and instance A goes away.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed = leader_of(&js, &cluster, STREAM).await?;
    eprintln!(
        "killing {}, the attendance stream's leader, and stopping A",
        cluster.nodes[killed].name
    );
    cluster.nodes[killed].kill();
    let stopping_a = tokio::spawn(tokio::time::timeout(Duration::from_secs(10), a.stop()));
    let mut outcomes = Vec::new();
    for phone in phones {
        outcomes.push(phone.await?);
    }
    let load_took = started.elapsed();
    ensure!(
        stopping_a.await?.is_ok(),
        "instance A did not stop within 10 s"
    );
    cluster.restart(killed).await?;

    let accepted: Vec<&Outcome> = outcomes.iter().filter(|o| o.accepted).collect();
    let retried = outcomes.iter().filter(|o| o.attempts > 1).count();
    eprintln!(
        "load over in {load_took:?}: {} of {} accepted, {retried} after a retry",
        accepted.len(),
        outcomes.len()
    );
    assert_eq!(
        accepted.len(),
        workers.len(),
        "every phone got its check-in accepted by one instance or the other"
    );

    // A phone that never heard its answer sends the same check-in once more:
    // the surviving instance accepts it and stores nothing new.
    for o in &accepted {
        instances[1]
            .clone()
            .check_in(authed(&o.token, again(&o.request)))
            .await
            .with_context(|| format!("B accepts worker {}'s check-in again", o.worker_id))?;
    }

    // The restarted server catches up: both followers current, none offline.
    let deadline = Instant::now() + Duration::from_secs(30);
    let counts: HashMap<String, usize> = loop {
        let mut stream = js.get_stream(STREAM).await?;
        let info = stream.info().await?.clone();
        let placement = info.cluster.clone().unwrap_or_default();
        let caught_up = placement.replicas.len() == 2
            && placement.replicas.iter().all(|r| r.current && !r.offline);
        if caught_up {
            break stream
                .info_with_subjects("pantau.attendance.worker.*")
                .await?
                .try_collect()
                .await?;
        }
        ensure!(
            Instant::now() < deadline,
            "the restarted server did not catch up: {placement:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wrong: Vec<String> = accepted
        .iter()
        .filter_map(|o| {
            let n = counts
                .get(&format!("pantau.attendance.worker.{}", o.worker_id))
                .copied()
                .unwrap_or(0);
            (n != 1).then(|| format!("{} ({} attempts): {n} events", o.worker_id, o.attempts))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "every accepted check-in is stored exactly once; {} are not: {wrong:#?}",
        wrong.len()
    );

    // B took A's partitions over, and its read model shows each accepted
    // worker checked in once.
    eventually(
        "B applies every partition",
        || {
            let owned = b.attendance.read.owned_partitions();
            async move { owned }
        },
        |o| o.len() == 4,
    )
    .await?;
    let positions = eventually(
        "B's read model shows every accepted check-in",
        || {
            let mut client = instances[1].clone();
            let req = authed(
                &agency_admin,
                att::ListCheckInPositionsRequest {
                    agency_id: agency_id.clone(),
                    ..Default::default()
                },
            );
            async move { client.list_check_in_positions(req).await }
        },
        |r| matches!(r, Ok(p) if p.get_ref().positions.len() >= accepted.len()),
    )
    .await??
    .into_inner()
    .positions;
    let mut per_worker: HashMap<&str, usize> = HashMap::new();
    for p in &positions {
        *per_worker.entry(p.worker_id.as_str()).or_default() += 1;
    }
    for o in &accepted {
        assert_eq!(
            per_worker.get(o.worker_id.as_str()).copied().unwrap_or(0),
            1,
            "B lists worker {} checked in once: {per_worker:?}",
            o.worker_id
        );
    }
    assert_eq!(positions.len(), accepted.len(), "{per_worker:?}");
    drop(b);
    drop(identity);
    Ok(())
}

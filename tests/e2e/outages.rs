//! Outages under load: identity and attendance on one PostgreSQL and one
//! durable NATS server while phones keep checking in, retrying a check-in
//! they got no answer to under the same request id. PostgreSQL is stopped
//! and started again, or NATS is killed and started again on its port and
//! store. The services, never restarted, recover by themselves, and every
//! check-in a phone saw accepted is stored once on the stream and shown
//! once by the read model. Check-ins are judged from memory and appended to
//! NATS, so they go on through a PostgreSQL outage; reads and sign-ins need
//! the database. While a dependency is down, a call the services cannot
//! serve is refused as UNAVAILABLE within a bounded time.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use chrono::Utc;
use pantau_eventstore::{AppendMode, EventStore};
use pantau_proto::attendance::v1::{
    self as att, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::identity::v1::{self as id, identity_service_client::IdentityServiceClient};
use pantau_testkit::{NatsServer, PgServer};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use crate::common::{
    ADMIN_PASSWORD, PASSWORD, agency_with_unit, authed, away_from_midnight, heard, square_check_in,
    worker_request,
};

const PHONES: u32 = 6;
/// How long a phone waits for an answer before it sends the call again;
/// the bound within which a service must answer while a dependency is down
/// (UNAVAILABLE is an answer).
const ANSWER: Duration = Duration::from_secs(12);
/// How long a phone keeps retrying one check-in before giving up.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long PostgreSQL stays down.
const PG_OUTAGE: Duration = Duration::from_secs(4);
/// How long NATS stays down: longer than JetStream's publish-ack timeout
/// (5 s) and the client's request timeout (10 s), so appends in flight
/// fail rather than wait for the server to come back.
const NATS_OUTAGE: Duration = Duration::from_secs(12);
/// How long the services may take to get over an outage once the server is
/// back (a NATS client reconnects within 4 s; an ordered consumer notices
/// that its server lost it after a 15 s idle heartbeat).
const RECOVERY: Duration = Duration::from_secs(30);
/// How long after the server is back a call may still be refused (the
/// services' NATS clients reconnect with a backoff of up to 4 s).
const RECONNECT: Duration = Duration::from_secs(10);

/// A worker's phone: who it checks in as.
#[derive(Clone)]
struct Phone {
    worker_id: String,
    token: String,
}

/// What became of one call.
enum Answer {
    Accepted,
    Refused(Code, String),
    /// No answer within [`ANSWER`].
    Silent,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Accepted => write!(f, "accepted"),
            Answer::Refused(code, message) => write!(f, "{code:?}: {message}"),
            Answer::Silent => write!(f, "no answer within {ANSWER:?}"),
        }
    }
}

struct Attempt {
    started: Instant,
    took: Duration,
    answer: Answer,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} after {:?}", self.answer, self.took)
    }
}

/// What one phone did over the whole load.
#[derive(Default)]
struct PhoneLog {
    worker_id: String,
    /// Request ids of the check-ins the service accepted.
    accepted: Vec<String>,
    /// Request ids given up on after [`PATIENCE`] (stored or not: unknown).
    abandoned: Vec<String>,
    attempts: Vec<Attempt>,
}

#[derive(Clone, Copy, Debug)]
enum Dependency {
    Postgres,
    Nats,
}

/// When the dependency was down, as the test saw it.
struct Outage {
    from: Instant,
    to: Instant,
}

impl Outage {
    /// Whether a call overlapped the outage, or began while the services
    /// were still reconnecting after it.
    fn touches(&self, a: &Attempt) -> bool {
        a.started < self.to + RECONNECT && a.started + a.took >= self.from
    }
}

/// A phone's retry of a check-in whose answer it never got: the same
/// request, with the same request id, so the service can count it once.
fn again(request: &att::CheckInRequest) -> att::CheckInRequest {
    request.clone()
}

/// A call's answer, bounded by [`ANSWER`], and how long it took.
async fn timed<T>(call: impl Future<Output = Result<T, Status>>) -> Attempt {
    let started = Instant::now();
    let answer = match tokio::time::timeout(ANSWER, call).await {
        Ok(Ok(_)) => Answer::Accepted,
        Ok(Err(s)) => Answer::Refused(s.code(), s.message().to_owned()),
        Err(_) => Answer::Silent,
    };
    Attempt {
        started,
        took: started.elapsed(),
        answer,
    }
}

/// Calls `call` until `done` accepts what it returns, for at most
/// [`RECOVERY`]: `common::eventually` with room to get over an outage.
async fn recovered<T, F, Fut>(
    what: &str,
    mut call: F,
    done: impl Fn(&T) -> bool,
) -> anyhow::Result<T>
where
    T: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + RECOVERY;
    loop {
        let out = call().await;
        if done(&out) {
            return Ok(out);
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: not within {RECOVERY:?}; last answer: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks in again and again until `stop`, each check-in retried (see
/// [`again`]) until accepted or [`PATIENCE`] runs out.
async fn keep_checking_in(
    mut client: AttendanceServiceClient<Channel>,
    phone: Phone,
    stop: watch::Receiver<bool>,
) -> PhoneLog {
    let mut log = PhoneLog {
        worker_id: phone.worker_id.clone(),
        ..PhoneLog::default()
    };
    while !*stop.borrow() {
        let mut request = square_check_in("android-outage");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let attempt = timed(client.check_in(authed(&phone.token, request.clone()))).await;
            let accepted = matches!(attempt.answer, Answer::Accepted);
            log.attempts.push(attempt);
            if accepted {
                log.accepted.push(request.request_id.clone());
                break;
            }
            if Instant::now() >= deadline {
                log.abandoned.push(request.request_id.clone());
                break;
            }
            request = again(&request);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    log
}

/// Identity and attendance in-process on servers of their own (never the
/// shared ones `PANTAU_DATABASE_URL` or `PANTAU_NATS_URL` name: those are
/// not ours to stop), an agency, and workers attendance knows. The services
/// are declared first, so they stop before the servers do.
struct Cluster {
    attendance: AttendanceServiceClient<Channel>,
    identity: IdentityServiceClient<Channel>,
    /// The province admin's token.
    admin: String,
    agency_id: String,
    unit_id: String,
    phones: Vec<Phone>,
    _attendance: pantau_attendance::app::Running,
    _identity: pantau_identity::app::Running,
    nats: NatsServer,
    pg: PgServer,
}

impl Cluster {
    /// The cluster with `phones` workers.
    async fn start(phones: u32) -> anyhow::Result<Cluster> {
        pantau_testkit::init_logs();
        away_from_midnight().await;
        let begun = Instant::now();
        let nats = NatsServer::spawn(true).await?;
        let pg = PgServer::spawn().await?;
        let identity = pantau_identity::app::start(pantau_identity::config::Config::in_process(
            &nats.url,
            &pg.url,
            ADMIN_PASSWORD,
        ))
        .await
        .context("failed to start identity")?;
        let attendance = pantau_attendance::app::start(
            pantau_attendance::config::Config::in_process(&nats.url, &pg.url),
        )
        .await
        .context("failed to start attendance")?;
        let mut cluster = Cluster {
            attendance: AttendanceServiceClient::connect(format!("http://{}", attendance.addr))
                .await?,
            identity: IdentityServiceClient::connect(format!("http://{}", identity.addr)).await?,
            admin: String::new(),
            agency_id: String::new(),
            unit_id: String::new(),
            phones: Vec::new(),
            _attendance: attendance,
            _identity: identity,
            nats,
            pg,
        };
        cluster.admin = cluster.login("admin", ADMIN_PASSWORD).await?;
        (cluster.agency_id, cluster.unit_id) =
            agency_with_unit(&cluster.identity, &cluster.admin, "DLH").await?;
        for serial in 1..=phones {
            let phone = cluster.phone(serial).await?;
            cluster.phones.push(phone);
        }
        eprintln!("cluster with {phones} workers up in {:?}", begun.elapsed());
        Ok(cluster)
    }

    /// A sign-in at identity.
    fn sign_in(
        &self,
        login_id: &str,
        password: &str,
    ) -> impl Future<Output = Result<Response<id::LoginResponse>, Status>> + use<> {
        let mut client = self.identity.clone();
        let req = id::LoginRequest {
            login_id: login_id.into(),
            password: password.into(),
        };
        async move { client.login(req).await }
    }

    async fn login(&self, login_id: &str, password: &str) -> anyhow::Result<String> {
        Ok(self
            .sign_in(login_id, password)
            .await
            .with_context(|| format!("{login_id} could not log in"))?
            .into_inner()
            .access_token)
    }

    /// Registers worker `serial`, logs them in and waits until attendance
    /// has heard of them (through the identity stream).
    async fn phone(&self, serial: u32) -> anyhow::Result<Phone> {
        let name = format!("Pekerja {serial}");
        let req = worker_request(&name, serial, &self.agency_id, &self.unit_id);
        let id::RegisterWorkerResponse {
            worker_id,
            employee_id,
            ..
        } = self
            .identity
            .clone()
            .register_worker(authed(&self.admin, req))
            .await?
            .into_inner();
        let token = self.login(&employee_id, PASSWORD).await?;
        let month = Utc::now().format("%Y-%m").to_string();
        recovered(
            "attendance learns the worker",
            || {
                let mut client = self.attendance.clone();
                let req = authed(
                    &token,
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
        Ok(Phone { worker_id, token })
    }

    /// Today's check-in positions in the agency, as the province admin.
    fn positions(
        &self,
    ) -> impl Future<Output = Result<Response<att::ListCheckInPositionsResponse>, Status>> + use<>
    {
        let mut client = self.attendance.clone();
        let req = authed(
            &self.admin,
            att::ListCheckInPositionsRequest {
                agency_id: self.agency_id.clone(),
                ..Default::default()
            },
        );
        async move { client.list_check_in_positions(req).await }
    }

    /// Takes `dependency` down for a while and brings it back on the same
    /// port and data.
    async fn outage(&mut self, dependency: Dependency) -> anyhow::Result<Outage> {
        let from = Instant::now();
        match dependency {
            Dependency::Postgres => {
                self.pg.stop()?;
                tokio::time::sleep(PG_OUTAGE).await;
                self.pg.start_again().await?;
            }
            Dependency::Nats => {
                self.nats.kill();
                tokio::time::sleep(NATS_OUTAGE).await;
                self.nats.start_again().await?;
            }
        }
        Ok(Outage {
            from,
            to: Instant::now(),
        })
    }
}

/// Every phone checking in from before `dependency` goes down until after it
/// is back; then each checks in once more, accepted at the first attempt
/// (the service works again without a restart). What the outage allows:
/// refusals only while the dependency was down (or the services were
/// reconnecting) and only as UNAVAILABLE, every check-in accepted in the
/// end. A call left unanswered is only retried here; the
/// `..._in_bounded_time` tests hold the services to [`ANSWER`].
async fn check_ins_through_an_outage(
    cluster: &mut Cluster,
    dependency: Dependency,
) -> anyhow::Result<Vec<PhoneLog>> {
    let started = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let phones: Vec<JoinHandle<PhoneLog>> = cluster
        .phones
        .iter()
        .map(|p| {
            let client = cluster.attendance.clone();
            tokio::spawn(keep_checking_in(client, p.clone(), stopped.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outage = cluster.outage(dependency).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.send_replace(true);
    let mut logs = Vec::new();
    for phone in phones {
        logs.push(phone.await?);
    }

    let attempts: Vec<&Attempt> = logs.iter().flat_map(|l| &l.attempts).collect();
    let mut answers: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    for a in &attempts {
        let kind = match &a.answer {
            Answer::Refused(code, _) => format!("{code:?}"),
            other => format!("{other:?}"),
        };
        let (n, slowest) = answers.entry(kind).or_default();
        *n += 1;
        *slowest = (*slowest).max(a.took);
    }
    eprintln!(
        "{dependency:?} down from {:?} to {:?}; {} calls, by answer (count, slowest): {answers:?}",
        outage.from - started,
        outage.to - started,
        attempts.len(),
    );
    let unaccepted = attempts
        .iter()
        .filter(|a| !matches!(a.answer, Answer::Accepted));
    for a in unaccepted.take(20) {
        eprintln!("  at {:?}: {a:?}", a.started - started);
    }
    let wrong: Vec<&&Attempt> = attempts
        .iter()
        .filter(|a| match a.answer {
            Answer::Refused(code, _) => code != Code::Unavailable || !outage.touches(a),
            _ => false,
        })
        .collect();
    ensure!(
        wrong.is_empty(),
        "calls are refused only during the outage and only as UNAVAILABLE: {wrong:#?}"
    );
    let abandoned: Vec<&String> = logs.iter().flat_map(|l| &l.abandoned).collect();
    ensure!(
        abandoned.is_empty(),
        "every check-in is accepted within {PATIENCE:?} of retrying: {abandoned:?}"
    );

    for (phone, log) in cluster.phones.iter().zip(logs.iter_mut()) {
        let request = square_check_in("android-outage");
        let mut client = cluster.attendance.clone();
        let attempt = timed(client.check_in(authed(&phone.token, request.clone()))).await;
        ensure!(
            matches!(attempt.answer, Answer::Accepted),
            "a check-in of {} after the outage is accepted at once: {attempt:?}",
            phone.worker_id
        );
        log.accepted.push(request.request_id);
    }
    Ok(logs)
}

/// Every accepted check-in is on the PANTAU_ATTENDANCE stream exactly once
/// (by request id, under the worker's subject) and nothing else is, and the
/// read model comes to list exactly as many check-ins per worker.
async fn each_accepted_check_in_is_stored_once(
    cluster: &Cluster,
    logs: &[PhoneLog],
) -> anyhow::Result<()> {
    let client = cluster.nats.client().await?;
    let store = EventStore::open_context(&client, "attendance", AppendMode::Pipelined).await?;
    let mut wrong = Vec::new();
    for log in logs {
        let subject = format!("pantau.attendance.worker.{}", log.worker_id);
        let mut stored: HashMap<String, usize> = HashMap::new();
        for e in store.load(&subject).await? {
            *stored.entry(e.request_id.unwrap_or_default()).or_default() += 1;
        }
        for request_id in &log.accepted {
            let n = stored.remove(request_id).unwrap_or(0);
            if n != 1 {
                wrong.push(format!("{subject}: accepted {request_id} stored {n} times"));
            }
        }
        for (request_id, n) in stored {
            wrong.push(format!(
                "{subject}: {request_id}, never accepted, stored {n} times"
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "every accepted check-in is stored exactly once, and nothing else; {} are not: {wrong:#?}",
        wrong.len()
    );
    let accepted: usize = logs.iter().map(|l| l.accepted.len()).sum();

    let waited = Instant::now();
    let positions = recovered(
        "the read model shows every accepted check-in",
        || cluster.positions(),
        |r| matches!(r, Ok(p) if p.get_ref().positions.len() >= accepted),
    )
    .await??
    .into_inner()
    .positions;
    eprintln!(
        "{accepted} check-ins accepted, each stored once; the read model shows {} after {:?}",
        positions.len(),
        waited.elapsed()
    );
    let mut shown: HashMap<&str, usize> = HashMap::new();
    for p in &positions {
        *shown.entry(p.worker_id.as_str()).or_default() += 1;
    }
    for log in logs {
        let n = shown.get(log.worker_id.as_str()).copied().unwrap_or(0);
        ensure!(
            n == log.accepted.len(),
            "the read model lists {} checked in {n} times, accepted {} times",
            log.worker_id,
            log.accepted.len()
        );
    }
    ensure!(positions.len() == accepted, "{shown:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_under_check_ins_loses_nothing_and_the_service_recovers_by_itself()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start(PHONES).await?;
    let logs = check_ins_through_an_outage(&mut cluster, Dependency::Postgres).await?;
    each_accepted_check_in_is_stored_once(&cluster, &logs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nats_restart_under_check_ins_loses_nothing_and_projections_resume() -> anyhow::Result<()>
{
    let mut cluster = Cluster::start(PHONES).await?;
    let mut logs = check_ins_through_an_outage(&mut cluster, Dependency::Nats).await?;
    // Attendance follows identity's stream again: a worker registered now
    // is heard of, and checks in.
    let asked = Instant::now();
    let newcomer = cluster.phone(PHONES + 1).await?;
    eprintln!("attendance heard of a newcomer in {:?}", asked.elapsed());
    // Its follower asked the restarted server again on reconnecting, rather
    // than waiting out the ordered consumer's missed heartbeats (13 s).
    ensure!(
        asked.elapsed() < Duration::from_secs(5),
        "attendance took {:?} to hear of a worker registered after the restart",
        asked.elapsed()
    );
    let request = square_check_in("android-outage");
    let mut client = cluster.attendance.clone();
    let attempt = timed(client.check_in(authed(&newcomer.token, request.clone()))).await;
    ensure!(
        matches!(attempt.answer, Answer::Accepted),
        "a worker registered after the restart checks in: {attempt:?}"
    );
    logs.push(PhoneLog {
        worker_id: newcomer.worker_id,
        accepted: vec![request.request_id],
        ..PhoneLog::default()
    });
    each_accepted_check_in_is_stored_once(&cluster, &logs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_and_sign_ins_while_postgres_is_down_are_refused_as_unavailable_in_bounded_time()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start(1).await?;
    let token = &cluster.phones[0].token;
    cluster
        .attendance
        .clone()
        .check_in(authed(token, square_check_in("android-outage")))
        .await?;
    recovered(
        "the check-in is read",
        || cluster.positions(),
        Result::is_ok,
    )
    .await??;

    cluster.pg.stop()?;
    let (read, sign_in) = tokio::join!(
        timed(cluster.positions()),
        timed(cluster.sign_in("admin", ADMIN_PASSWORD))
    );
    eprintln!("while postgres is down, a read: {read:?}; a sign-in: {sign_in:?}");
    cluster.pg.start_again().await?;

    // Both work again, without a restart of the services.
    recovered(
        "attendance reads again",
        || cluster.positions(),
        Result::is_ok,
    )
    .await??;
    let sign_in_again = || cluster.sign_in("admin", ADMIN_PASSWORD);
    recovered("identity signs in again", sign_in_again, Result::is_ok).await??;
    let late: Vec<String> = [("a read", read), ("a sign-in", sign_in)]
        .into_iter()
        .filter(|(_, a)| !matches!(a.answer, Answer::Refused(Code::Unavailable, _)))
        .map(|(what, a)| format!("{what}: {a:?}"))
        .collect();
    ensure!(
        late.is_empty(),
        "while postgres is down, reads and sign-ins are refused as UNAVAILABLE within \
         {ANSWER:?}: {late:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_ins_while_nats_is_down_are_refused_as_unavailable_in_bounded_time()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start(PHONES).await?;
    cluster.nats.kill();
    // Every phone at once, as at half past seven: their appends queue up
    // together behind the one in flight.
    let calls = cluster.phones.iter().map(|phone| {
        let mut client = cluster.attendance.clone();
        async move {
            timed(client.check_in(authed(&phone.token, square_check_in("android-outage")))).await
        }
    });
    let attempts = futures::future::join_all(calls).await;
    eprintln!("while nats is down: {attempts:#?}");
    cluster.nats.start_again().await?;

    // Checking in works again, without a restart of the service.
    for phone in &cluster.phones {
        let request = square_check_in("android-outage");
        let check_in_again = || {
            let mut client = cluster.attendance.clone();
            let req = authed(&phone.token, request.clone());
            async move { client.check_in(req).await }
        };
        recovered(
            "a check-in after the restart",
            check_in_again,
            Result::is_ok,
        )
        .await??;
    }
    let late: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| !matches!(a.answer, Answer::Refused(Code::Unavailable, _)))
        .collect();
    ensure!(
        late.is_empty(),
        "a check-in while nats is down is refused as UNAVAILABLE within {ANSWER:?}; {} of {} \
         are not: {late:#?}",
        late.len(),
        attempts.len()
    );
    Ok(())
}

//! The simulator's view of the cluster: a client per service, who signs in
//! as whom, the ids the services assigned to the generator's names, and
//! one way to send a call (simulated time, the caller's token, retries of
//! what is worth retrying, failures counted instead of stopping the run).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use pantau_proto::activity::v1::activity_service_client::ActivityServiceClient;
use pantau_proto::attendance::v1::attendance_service_client::AttendanceServiceClient;
use pantau_proto::identity::v1::LoginRequest;
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_proto::scoring::v1::scoring_service_client::ScoringServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use crate::client::channel;

/// gRPC metadata carrying a call's simulated time (the services' dev clock).
pub const SIM_TIME_HEADER: &str = "x-pantau-sim-time";

/// Who makes a call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Who {
    /// The province admin the tool signed in as.
    Admin,
    /// The admin account of a simulated agency (generator id).
    AgencyAdmin(String),
    /// A simulated worker (generator id), with their own account.
    Worker(String),
    /// A registered scanner phone (generator id): its device token.
    Scanner(String),
}

/// A simulated worker as the services know them.
#[derive(Debug, Clone)]
pub struct Known {
    pub worker_id: String,
    pub login_id: String,
    /// Generator id of the agency.
    pub agency: String,
}

/// Generator names to service ids.
#[derive(Debug, Default)]
pub struct Ids {
    pub agencies: HashMap<String, String>,
    pub units: HashMap<String, String>,
    pub workers: HashMap<String, Known>,
    pub campaigns: HashMap<String, String>,
    /// Scanner: (service id, device token).
    pub scanners: HashMap<String, (String, String)>,
    pub sessions: HashMap<String, String>,
    pub reports: HashMap<String, String>,
    /// Report: who reviews it (a worker, or `kadis-<agency>`).
    pub reviewers: HashMap<String, String>,
    pub leaves: HashMap<String, String>,
    /// Worker: (credential version, rotating secret).
    pub secrets: HashMap<String, (u32, [u8; 32])>,
}

/// How many calls failed, by method and code, with one message each.
#[derive(Debug, Default)]
pub struct Failures(BTreeMap<(String, String), (usize, String)>);

impl Failures {
    pub fn total(&self) -> usize {
        self.0.values().map(|(n, _)| n).sum()
    }

    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((rpc, code), (n, msg))| format!("{n:>6} × {rpc} {code}: {msg}"))
            .collect()
    }
}

pub struct Cluster {
    pub identity: IdentityServiceClient<Channel>,
    pub attendance: AttendanceServiceClient<Channel>,
    pub activity: ActivityServiceClient<Channel>,
    pub scoring: ScoringServiceClient<Channel>,
    admin: (String, String),
    worker_password: String,
    tokens: Mutex<HashMap<Who, String>>,
    pub ids: Mutex<Ids>,
    failures: Mutex<Failures>,
}

/// The login id of a simulated agency's admin account.
pub fn agency_admin_login(agency: &str) -> String {
    format!("kadis-{agency}")
}

impl Cluster {
    pub async fn connect(
        urls: &super::Urls,
        admin: (String, String),
        worker_password: String,
    ) -> anyhow::Result<Cluster> {
        let cluster = Cluster {
            identity: IdentityServiceClient::new(
                channel(&urls.identity, "identity", &urls.tls).await?,
            ),
            attendance: AttendanceServiceClient::new(
                channel(&urls.attendance, "attendance", &urls.tls).await?,
            ),
            activity: ActivityServiceClient::new(
                channel(&urls.activity, "activity", &urls.tls).await?,
            ),
            scoring: ScoringServiceClient::new(channel(&urls.scoring, "scoring", &urls.tls).await?),
            admin,
            worker_password,
            tokens: Mutex::new(HashMap::new()),
            ids: Mutex::new(Ids::default()),
            failures: Mutex::new(Failures::default()),
        };
        cluster
            .token(&Who::Admin)
            .await
            .context("signing in as the province admin")?;
        Ok(cluster)
    }

    pub fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        match self.ids.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        match self.failures.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, HashMap<Who, String>> {
        match self.tokens.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn worker_password(&self) -> &str {
        &self.worker_password
    }

    /// The bearer token of `who`, signing in when there is none yet.
    pub async fn token(&self, who: &Who) -> anyhow::Result<String> {
        if let Some(t) = self.tokens().get(who) {
            return Ok(t.clone());
        }
        let (login_id, password) = match who {
            Who::Admin => self.admin.clone(),
            Who::AgencyAdmin(a) => (agency_admin_login(a), self.worker_password.clone()),
            Who::Worker(w) => {
                let login = self
                    .ids()
                    .workers
                    .get(w)
                    .map(|k| k.login_id.clone())
                    .with_context(|| format!("simulated worker {w} was not registered"))?;
                (login, self.worker_password.clone())
            }
            Who::Scanner(s) => {
                let token = self
                    .ids()
                    .scanners
                    .get(s)
                    .map(|(_, t)| t.clone())
                    .with_context(|| format!("scanner {s} was not registered"))?;
                return Ok(token);
            }
        };
        let token = self
            .identity
            .clone()
            .login(LoginRequest {
                login_id: login_id.clone(),
                password,
            })
            .await
            .map_err(|s| anyhow::anyhow!("login as {login_id} failed: {}", s.message()))?
            .into_inner()
            .access_token;
        self.tokens().insert(who.clone(), token.clone());
        Ok(token)
    }

    /// Sends one call as `who` at simulated time `at`: `send` gets the
    /// request and makes the call. Any failure [`Cluster::try_call`] gives
    /// up on is counted under `rpc` and gives None.
    pub async fn call<M, R, F, Fut>(
        &self,
        rpc: &str,
        who: &Who,
        at: Option<DateTime<Utc>>,
        msg: M,
        send: F,
    ) -> Option<R>
    where
        M: Clone,
        F: Fn(Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        match self.try_call(who, at, msg, send).await {
            Ok(r) => Some(r),
            Err(s) => {
                self.fail(rpc, &format!("{:?}", s.code()), s.message());
                None
            }
        }
    }

    /// [`Cluster::call`], handing back the failure. An expired token signs
    /// in again; UNAVAILABLE, RESOURCE_EXHAUSTED and ABORTED are retried for
    /// a minute, and NOT_FOUND for 15 s (one service not yet having heard
    /// of another's write).
    pub async fn try_call<M, R, F, Fut>(
        &self,
        who: &Who,
        at: Option<DateTime<Utc>>,
        msg: M,
        send: F,
    ) -> Result<R, Status>
    where
        M: Clone,
        F: Fn(Request<M>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(25);
        let mut signed_in_again = false;
        loop {
            let req = self
                .request(who, at, msg.clone())
                .await
                .map_err(|e| Status::unauthenticated(format!("{e:#}")))?;
            let status = match send(req).await {
                Ok(r) => return Ok(r.into_inner()),
                Err(s) => s,
            };
            let waited = started.elapsed();
            match status.code() {
                Code::Unauthenticated if !signed_in_again && !matches!(who, Who::Scanner(_)) => {
                    signed_in_again = true;
                    self.tokens().remove(who);
                    continue;
                }
                Code::Unavailable | Code::ResourceExhausted | Code::Aborted
                    if waited < Duration::from_secs(60) => {}
                Code::NotFound if waited < Duration::from_secs(15) => {}
                _ => return Err(status),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }

    /// `msg` as a request of `who` at simulated time `at`.
    pub async fn request<M>(
        &self,
        who: &Who,
        at: Option<DateTime<Utc>>,
        msg: M,
    ) -> anyhow::Result<Request<M>> {
        let token = self.token(who).await?;
        let mut req = Request::new(msg);
        req.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        if let Some(at) = at {
            req.metadata_mut().insert(
                SIM_TIME_HEADER,
                at.to_rfc3339_opts(SecondsFormat::Millis, true).parse()?,
            );
        }
        Ok(req)
    }

    pub fn fail(&self, rpc: &str, code: &str, message: &str) {
        let mut f = self.failures();
        let e =
            f.0.entry((rpc.to_owned(), code.to_owned()))
                .or_insert((0, message.to_owned()));
        e.0 += 1;
    }
}

//! The `ScoringService` gRPC adapter: authenticates the caller with an
//! identity access token, parses the request into domain values,
//! authorizes, runs the command or query and maps errors once. Handlers
//! live in one module per noun.

mod months;
mod rebuilds;
mod rules;

use std::pin::Pin;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use pantau_eventstore::{EventStore, Follower};
use pantau_platform::ServiceError;
use pantau_platform::tokens::TokenChecker;
use pantau_projection::ProjectionHandle;
use pantau_proto::scoring::v1::{self as api, scoring_service_server::ScoringService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::directory::{Agency, Directory, Worker};
use crate::domain::{DomainError, Month, Principal, parse_request_id};

pub use pantau_platform::clock::Clock;

/// The projections a read waits for.
#[derive(Clone)]
pub struct Projections {
    pub identity: ProjectionHandle,
    pub attendance: ProjectionHandle,
    pub activity: ProjectionHandle,
    pub own: ProjectionHandle,
}

/// The streams scoring reads (and its own).
#[derive(Clone)]
pub struct Streams {
    pub identity: EventStore,
    pub attendance: EventStore,
    pub activity: EventStore,
}

/// Everything a handler needs.
pub struct Scoring {
    pub store: EventStore,
    pub streams: Streams,
    pub pool: PgPool,
    pub read: Projections,
    pub directory: Arc<RwLock<Directory>>,
    pub identity: Follower,
    clock: crate::readmodel::Clock,
    tokens: TokenChecker,
}

type Rpc<T> = Result<Response<T>, Status>;

/// How long a read or a close waits for the projections.
pub const SETTLE: Duration = Duration::from_secs(30);

impl Scoring {
    pub fn new(
        store: EventStore,
        streams: Streams,
        pool: PgPool,
        read: Projections,
        directory: Arc<RwLock<Directory>>,
        identity: Follower,
        clock: crate::readmodel::Clock,
    ) -> Self {
        Self {
            store,
            streams,
            pool,
            read,
            directory,
            identity,
            clock,
            tokens: TokenChecker::start(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Replaces the clock (tests of closing months).
    pub fn set_clock(&self, clock: Clock) {
        self.clock.set(clock);
    }

    pub fn dir(&self) -> RwLockReadGuard<'_, Directory> {
        match self.directory.read() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The caller, from `authorization: Bearer <token>`.
    pub async fn principal<T>(&self, req: &Request<T>) -> Result<Principal, ServiceError> {
        let token = pantau_authn::bearer_token(req.metadata())?;
        let now = self.clock.wall().timestamp();
        let claims = self
            .tokens
            .claims(token, now, |t, n| self.dir().token_keys.prepare(t, n))
            .await?;
        Ok(Principal::from_claims(claims))
    }

    /// An agency as the directory knows it; one identity has just created
    /// is waited for (NOT_FOUND once the directory has caught up).
    pub async fn agency(&self, agency_id: &str) -> Result<Agency, ServiceError> {
        if agency_id.is_empty() {
            return Err(DomainError::invalid("agency_id", "is required").into());
        }
        let find = || self.dir().agencies.get(agency_id).cloned();
        if let Some(a) = find() {
            return Ok(a);
        }
        self.catch_up_directory().await;
        find().ok_or_else(|| not_found("agency", agency_id))
    }

    /// A worker as the directory knows them (see [`Scoring::agency`]).
    pub async fn worker(&self, worker_id: &str) -> Result<Worker, ServiceError> {
        let find = || self.dir().workers.get(worker_id).cloned();
        if let Some(w) = find() {
            return Ok(w);
        }
        self.catch_up_directory().await;
        find().ok_or_else(|| not_found("worker", worker_id))
    }

    /// Waits until the directory has seen everything on the identity
    /// stream so far.
    async fn catch_up_directory(&self) {
        if let Ok(last) = self.streams.identity.last_sequence().await
            && !self.identity.wait_for(last, SETTLE).await
        {
            tracing::warn!(last, "directory follower is lagging");
        }
    }

    /// Waits until every projection shows what its stream holds now, so a
    /// read or a close sees everything recorded before it. Each projection
    /// reads some subjects of its stream; it has caught up once it applied
    /// the last event on those.
    pub async fn settle(&self) -> Result<(), ServiceError> {
        use crate::sources::Source;
        let own = vec!["pantau.scoring.>".to_owned()];
        let pairs = [
            (
                &self.streams.identity,
                &self.read.identity,
                Source::Identity.subjects(),
            ),
            (
                &self.streams.attendance,
                &self.read.attendance,
                Source::Attendance.subjects(),
            ),
            (
                &self.streams.activity,
                &self.read.activity,
                Source::Activity.subjects(),
            ),
            (&self.store, &self.read.own, own),
        ];
        for (store, handle, subjects) in pairs {
            let mut last = 0;
            for filter in &subjects {
                last = last.max(store.last_sequence_of(filter).await.map_err(internal)?);
            }
            if !handle.wait_for(last, SETTLE).await {
                return Err(ServiceError::Unavailable(format!(
                    "the {} projection is lagging behind its stream; try again",
                    store.stream_name()
                )));
            }
        }
        Ok(())
    }

    /// Waits until the own projection applied `sequence`.
    pub async fn settle_own(&self, sequence: u64) {
        if !self.read.own.wait_for(sequence, SETTLE).await {
            tracing::warn!(sequence, "scoring projection is lagging");
        }
    }
}

pub fn not_found(what: &str, id: &str) -> ServiceError {
    DomainError::NotFound(format!("{what} {id}")).into()
}

pub fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

pub fn parse_month(s: &str) -> Result<Month, ServiceError> {
    Ok(Month::parse(s, "month")?)
}

pub fn request_id(s: &str) -> Result<String, ServiceError> {
    Ok(parse_request_id(s)?.to_owned())
}

fn ok<T>(r: Result<T, ServiceError>) -> Rpc<T> {
    r.map(Response::new).map_err(Status::from)
}

/// The gRPC face of [`Scoring`] (a local type, as tonic's trait needs).
#[derive(Clone)]
pub struct Api(pub Arc<Scoring>);

impl std::ops::Deref for Api {
    type Target = Scoring;
    fn deref(&self) -> &Scoring {
        &self.0
    }
}

/// Each RPC: authenticate, then hand the request to its handler.
macro_rules! rpc {
    ($self:ident, $req:ident, $handler:path) => {{
        let r = async {
            let p = $self.principal(&$req).await?;
            $handler(&$self, &p, $req.into_inner()).await
        };
        ok(r.await)
    }};
}

type RebuildStream = Pin<Box<dyn Stream<Item = Result<api::RebuildMonthResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ScoringService for Api {
    async fn publish_rule_set(
        &self,
        req: Request<api::PublishRuleSetRequest>,
    ) -> Rpc<api::PublishRuleSetResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            rules::publish(&self.0, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn get_rule_sets(
        &self,
        req: Request<api::GetRuleSetsRequest>,
    ) -> Rpc<api::GetRuleSetsResponse> {
        rpc!(self, req, rules::get)
    }

    async fn get_worker_month(
        &self,
        req: Request<api::GetWorkerMonthRequest>,
    ) -> Rpc<api::GetWorkerMonthResponse> {
        rpc!(self, req, months::worker_month)
    }

    async fn get_agency_month(
        &self,
        req: Request<api::GetAgencyMonthRequest>,
    ) -> Rpc<api::GetAgencyMonthResponse> {
        rpc!(self, req, months::agency_month)
    }

    async fn list_worker_months(
        &self,
        req: Request<api::ListWorkerMonthsRequest>,
    ) -> Rpc<api::ListWorkerMonthsResponse> {
        rpc!(self, req, months::list)
    }

    async fn get_workload_disparity(
        &self,
        req: Request<api::GetWorkloadDisparityRequest>,
    ) -> Rpc<api::GetWorkloadDisparityResponse> {
        rpc!(self, req, months::disparity)
    }

    async fn close_month(
        &self,
        req: Request<api::CloseMonthRequest>,
    ) -> Rpc<api::CloseMonthResponse> {
        rpc!(self, req, months::close)
    }

    async fn list_adjustments(
        &self,
        req: Request<api::ListAdjustmentsRequest>,
    ) -> Rpc<api::ListAdjustmentsResponse> {
        rpc!(self, req, months::adjustments)
    }

    type RebuildMonthStream = RebuildStream;

    async fn rebuild_month(
        &self,
        req: Request<api::RebuildMonthRequest>,
    ) -> Rpc<Self::RebuildMonthStream> {
        let r = async {
            let p = self.principal(&req).await?;
            rebuilds::start(&self.0, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn get_rebuild_diff(
        &self,
        req: Request<api::GetRebuildDiffRequest>,
    ) -> Rpc<api::GetRebuildDiffResponse> {
        rpc!(self, req, rebuilds::diff)
    }

    async fn accept_rebuild(
        &self,
        req: Request<api::AcceptRebuildRequest>,
    ) -> Rpc<api::AcceptRebuildResponse> {
        rpc!(self, req, rebuilds::accept)
    }

    async fn discard_rebuild(
        &self,
        req: Request<api::DiscardRebuildRequest>,
    ) -> Rpc<api::DiscardRebuildResponse> {
        rpc!(self, req, rebuilds::discard)
    }
}

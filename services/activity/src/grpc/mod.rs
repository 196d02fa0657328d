//! The `ActivityService` gRPC adapter: authenticates the caller with an
//! identity access token, parses the request into domain values,
//! authorizes, runs the command and maps errors once. Handlers live in one
//! module per noun.

mod catalog;
mod photos;
mod queries;
mod ratings;
mod reports;

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use pantau_eventstore::{EventStore, Follower};
use pantau_platform::ServiceError;
use pantau_platform::clock::SettableClock;
use pantau_platform::tokens::TokenChecker;
use pantau_projection::ProjectionHandle;
use pantau_proto::activity::v1::{self as api, activity_service_server::ActivityService};
use pantau_proto::events::v1 as ev;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::core::{Ctx, DayCache};
use crate::directory::Directory;
use crate::domain::registry::{Agency, Worker};
use crate::domain::{DomainError, Principal, parse_request_id};

/// Everything a handler needs.
pub struct Activity {
    pub store: EventStore,
    pub pool: PgPool,
    pub read: ProjectionHandle,
    pub directory: Arc<RwLock<Directory>>,
    pub identity: Follower,
    pub own: Follower,
    /// Days after which a day's reports close.
    pub grace_days: u32,
    clock: SettableClock,
    tokens: TokenChecker,
    /// Worker days this replica changed recently: a supervisor approving a
    /// day's reports, or a worker filing several, reads none back.
    pub days: DayCache,
}

type Rpc<T> = Result<Response<T>, Status>;

pub use pantau_platform::clock::Clock;

/// Worker days a replica remembers (each a few events).
pub const DAYS_REMEMBERED: usize = 100_000;

/// Most reports one bulk approval takes.
pub const MAX_BULK: usize = 500;

impl Activity {
    pub fn new(
        store: EventStore,
        pool: PgPool,
        read: ProjectionHandle,
        directory: Arc<RwLock<Directory>>,
        identity: Follower,
        own: Follower,
        grace_days: u32,
    ) -> Self {
        Self {
            store,
            pool,
            read,
            directory,
            identity,
            own,
            grace_days,
            clock: SettableClock::default(),
            tokens: TokenChecker::start(),
            days: DayCache::new(DAYS_REMEMBERED),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Replaces the clock (tests of closing days and dates).
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

    /// The command context of `req`, whose `request_id` is `request_id`.
    pub fn ctx(
        &self,
        p: &Principal,
        request_id: &str,
        req: &impl prost::Message,
    ) -> Result<Ctx, ServiceError> {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(req.encode_to_vec());
        Ok(Ctx {
            request_id: parse_request_id(request_id)?.to_owned(),
            actor: p.subject.clone(),
            fingerprint: hex::encode(&digest[..8]),
        })
    }

    /// A worker and their agency, cloned out of the directory.
    pub fn worker(&self, worker_id: &str) -> Result<(Worker, Agency), ServiceError> {
        let dir = self.dir();
        let worker = dir
            .workers
            .get(worker_id)
            .cloned()
            .ok_or_else(|| not_found("worker", worker_id))?;
        let agency = dir
            .agencies
            .get(&worker.agency_id)
            .cloned()
            .ok_or_else(|| not_found("agency", &worker.agency_id))?;
        Ok((worker, agency))
    }

    /// Today and the minute of the day in `agency`'s time zone.
    pub fn local_now(&self, agency: &Agency) -> (NaiveDate, u32) {
        let local = self.now().with_timezone(&agency.tz);
        (local.date_naive(), local.hour() * 60 + local.minute())
    }

    pub fn timestamp(&self) -> ev::Timestamp {
        crate::domain::time::timestamp(self.now())
    }

    /// Waits until this replica's directory has applied `sequence` of the
    /// activity stream, so the caller reads its own writes.
    pub async fn settle_directory(&self, sequence: u64) {
        if sequence > 0 && !self.own.wait_for(sequence, Duration::from_secs(10)).await {
            tracing::warn!(sequence, "directory follower is lagging");
        }
    }

    /// Waits until the read model shows everything written before now.
    pub async fn settle_read_to_now(&self) {
        if let Ok(last) = self.store.last_sequence().await
            && last > 0
            && !self.read.wait_for(last, Duration::from_secs(10)).await
        {
            tracing::warn!(last, "read model is lagging");
        }
    }
}

pub fn not_found(what: &str, id: &str) -> ServiceError {
    DomainError::NotFound(format!("{what} {id}")).into()
}

/// `worker_id` from a request, or the caller's own worker record.
pub fn worker_or_self<'a>(p: &'a Principal, worker_id: &'a str) -> Result<&'a str, ServiceError> {
    if !worker_id.is_empty() {
        return Ok(worker_id);
    }
    p.worker_id.as_deref().ok_or_else(|| {
        DomainError::invalid("worker_id", "is required (the caller has no worker record)").into()
    })
}

fn ok<T>(r: Result<T, ServiceError>) -> Rpc<T> {
    r.map(Response::new).map_err(Status::from)
}

/// The gRPC face of [`Activity`] (a local type, as tonic's trait needs).
#[derive(Clone)]
pub struct Api(pub Arc<Activity>);

impl std::ops::Deref for Api {
    type Target = Activity;
    fn deref(&self) -> &Activity {
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

#[tonic::async_trait]
impl ActivityService for Api {
    async fn publish_catalog(
        &self,
        req: Request<api::PublishCatalogRequest>,
    ) -> Rpc<api::PublishCatalogResponse> {
        rpc!(self, req, catalog::publish)
    }

    async fn get_catalog(
        &self,
        req: Request<api::GetCatalogRequest>,
    ) -> Rpc<api::GetCatalogResponse> {
        rpc!(self, req, catalog::get)
    }

    async fn report_activity(
        &self,
        req: Request<api::ReportActivityRequest>,
    ) -> Rpc<api::ReportActivityResponse> {
        rpc!(self, req, reports::report)
    }

    async fn amend_activity(
        &self,
        req: Request<api::AmendActivityRequest>,
    ) -> Rpc<api::AmendActivityResponse> {
        rpc!(self, req, reports::amend)
    }

    async fn review_activity(
        &self,
        req: Request<api::ReviewActivityRequest>,
    ) -> Rpc<api::ReviewActivityResponse> {
        rpc!(self, req, reports::review)
    }

    async fn bulk_approve(
        &self,
        req: Request<api::BulkApproveRequest>,
    ) -> Rpc<api::BulkApproveResponse> {
        rpc!(self, req, reports::bulk_approve)
    }

    async fn rate_behaviour(
        &self,
        req: Request<api::RateBehaviourRequest>,
    ) -> Rpc<api::RateBehaviourResponse> {
        rpc!(self, req, ratings::rate)
    }

    async fn get_worker_day(
        &self,
        req: Request<api::GetWorkerDayRequest>,
    ) -> Rpc<api::GetWorkerDayResponse> {
        rpc!(self, req, queries::worker_day)
    }

    async fn get_worker_month(
        &self,
        req: Request<api::GetWorkerMonthRequest>,
    ) -> Rpc<api::GetWorkerMonthResponse> {
        rpc!(self, req, queries::worker_month)
    }

    async fn get_review_queue(
        &self,
        req: Request<api::GetReviewQueueRequest>,
    ) -> Rpc<api::GetReviewQueueResponse> {
        rpc!(self, req, queries::review_queue)
    }

    async fn get_agency_volume(
        &self,
        req: Request<api::GetAgencyVolumeRequest>,
    ) -> Rpc<api::GetAgencyVolumeResponse> {
        rpc!(self, req, queries::agency_volume)
    }

    async fn upload_photo(
        &self,
        req: Request<api::UploadPhotoRequest>,
    ) -> Rpc<api::UploadPhotoResponse> {
        rpc!(self, req, photos::upload)
    }

    async fn get_photo(&self, req: Request<api::GetPhotoRequest>) -> Rpc<api::GetPhotoResponse> {
        rpc!(self, req, photos::get)
    }
}

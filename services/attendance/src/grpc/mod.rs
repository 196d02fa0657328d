//! The `AttendanceService` gRPC adapter: authenticates the caller (a person
//! with an identity access token, or a scanner device), parses the request
//! into domain values, authorizes, runs the command and maps errors once
//! (see `error.rs`). Handlers live in one module per noun.

mod checkins;
mod credentials;
mod leave;
mod queries;
mod scanners;
pub mod sessions;

use std::pin::Pin;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pantau_eventstore::{EventStore, Follower};
use pantau_platform::clock::SettableClock;
use pantau_platform::tokens::TokenChecker;
use pantau_projection::ProjectionHandle;
use pantau_proto::attendance::v1::{self as api, attendance_service_server::AttendanceService};
use pantau_qr::StaticSigner;
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::core::Ctx;
use crate::directory::Directory;
use crate::domain::presence::Limits;
use crate::domain::{DomainError, Principal, parse_request_id};
use crate::error::ServiceError;

/// Everything a handler needs.
pub struct Attendance {
    pub store: EventStore,
    pub pool: PgPool,
    pub nats: async_nats::Client,
    pub read: ProjectionHandle,
    pub directory: Arc<RwLock<Directory>>,
    pub identity: Follower,
    pub own: Follower,
    pub signer: StaticSigner,
    pub limits: Limits,
    pub qr_tolerance_steps: u64,
    clock: SettableClock,
    pub sessions: sessions::SessionCache,
    tokens: TokenChecker,
}

type Rpc<T> = Result<Response<T>, Status>;

pub use pantau_platform::clock::Clock;

impl Attendance {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: EventStore,
        pool: PgPool,
        nats: async_nats::Client,
        read: ProjectionHandle,
        directory: Arc<RwLock<Directory>>,
        identity: Follower,
        own: Follower,
        signer: StaticSigner,
        limits: Limits,
        qr_tolerance_steps: u64,
    ) -> Self {
        Self {
            store,
            pool,
            nats,
            read,
            directory,
            identity,
            own,
            signer,
            limits,
            qr_tolerance_steps,
            clock: SettableClock::default(),
            sessions: sessions::SessionCache::default(),
            tokens: TokenChecker::start(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Replaces the clock (tests of day boundaries and code expiry).
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
            .claims(token, now, |t, now| self.dir().token_keys.prepare(t, now))
            .await?;
        Ok(Principal::from_claims(claims))
    }

    pub fn ctx(&self, p: &Principal, request_id: &str) -> Result<Ctx, ServiceError> {
        Ok(Ctx {
            request_id: parse_request_id(request_id)?.to_owned(),
            actor: p.subject.clone(),
        })
    }

    /// Waits until this replica's directory has applied `sequence` of the
    /// attendance stream, so the caller reads its own writes.
    pub async fn settle_directory(&self, sequence: u64) {
        if sequence > 0 && !self.own.wait_for(sequence, Duration::from_secs(10)).await {
            tracing::warn!(sequence, "directory follower is lagging");
        }
    }

    /// Waits until the read model shows `sequence`.
    pub async fn settle_read(&self, sequence: u64) {
        if sequence > 0 && !self.read.wait_for(sequence, Duration::from_secs(10)).await {
            tracing::warn!(sequence, "read model is lagging");
        }
    }

    /// The latest read-model-relevant sequence, for queries that must see
    /// everything written before them.
    pub async fn settle_read_to_now(&self) {
        if let Ok(last) = self.store.last_sequence().await {
            self.settle_read(last).await;
        }
    }
}

pub fn not_found(what: &str, id: &str) -> ServiceError {
    DomainError::NotFound(format!("{what} {id}")).into()
}

fn ok<T>(r: Result<T, ServiceError>) -> Rpc<T> {
    r.map(Response::new).map_err(Status::from)
}

type ViewStream =
    Pin<Box<dyn futures::Stream<Item = Result<api::WatchSessionResponse, Status>> + Send>>;
type ExportStream =
    Pin<Box<dyn futures::Stream<Item = Result<api::ExportCredentialsResponse, Status>> + Send>>;

/// The gRPC face of [`Attendance`] (a local type, as tonic's trait needs).
#[derive(Clone)]
pub struct Api(pub Arc<Attendance>);

impl std::ops::Deref for Api {
    type Target = Attendance;
    fn deref(&self) -> &Attendance {
        &self.0
    }
}

#[tonic::async_trait]
impl AttendanceService for Api {
    async fn get_qr_keys(
        &self,
        _req: Request<api::GetQrKeysRequest>,
    ) -> Rpc<api::GetQrKeysResponse> {
        ok(Ok(credentials::qr_keys(self)))
    }

    async fn get_credential(
        &self,
        req: Request<api::GetCredentialRequest>,
    ) -> Rpc<api::GetCredentialResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            credentials::get(self, &p, req.get_ref())
        };
        ok(r.await)
    }

    async fn get_rotating_secret(
        &self,
        req: Request<api::GetRotatingSecretRequest>,
    ) -> Rpc<api::GetRotatingSecretResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            credentials::rotating_secret(self, &p)
        };
        ok(r.await)
    }

    async fn reissue_credential(
        &self,
        req: Request<api::ReissueCredentialRequest>,
    ) -> Rpc<api::ReissueCredentialResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            credentials::reissue(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    type ExportCredentialsStream = ExportStream;

    async fn export_credentials(
        &self,
        req: Request<api::ExportCredentialsRequest>,
    ) -> Rpc<Self::ExportCredentialsStream> {
        let p = self.principal(&req).await.map_err(Status::from)?;
        let rows = credentials::export(self, &p, req.get_ref()).map_err(Status::from)?;
        Ok(Response::new(Box::pin(futures::stream::iter(
            rows.into_iter().map(Ok),
        ))))
    }

    async fn verify_code(
        &self,
        req: Request<api::VerifyCodeRequest>,
    ) -> Rpc<api::VerifyCodeResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            credentials::verify(self, &p, req.get_ref())
        };
        ok(r.await)
    }

    async fn register_scanner(
        &self,
        req: Request<api::RegisterScannerRequest>,
    ) -> Rpc<api::RegisterScannerResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            scanners::register(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn revoke_scanner(
        &self,
        req: Request<api::RevokeScannerRequest>,
    ) -> Rpc<api::RevokeScannerResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            scanners::revoke(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn open_session(
        &self,
        req: Request<api::OpenSessionRequest>,
    ) -> Rpc<api::OpenSessionResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            sessions::open(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn list_scanner_sessions(
        &self,
        req: Request<api::ListScannerSessionsRequest>,
    ) -> Rpc<api::ListScannerSessionsResponse> {
        let r = async {
            let scanner = scanners::authenticate(self, req.metadata())?;
            scanners::sessions(self, &scanner).await
        };
        ok(r.await)
    }

    async fn upload_scans(
        &self,
        req: Request<api::UploadScansRequest>,
    ) -> Rpc<api::UploadScansResponse> {
        let r = async {
            let scanner = scanners::authenticate(self, req.metadata())?;
            sessions::upload(self, &scanner, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn get_session_view(
        &self,
        req: Request<api::GetSessionViewRequest>,
    ) -> Rpc<api::GetSessionViewResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            let view = sessions::view(self, &p, &req.get_ref().session_id).await?;
            Ok(api::GetSessionViewResponse { view: Some(view) })
        };
        ok(r.await)
    }

    type WatchSessionStream = ViewStream;

    async fn watch_session(
        &self,
        req: Request<api::WatchSessionRequest>,
    ) -> Rpc<Self::WatchSessionStream> {
        let p = self.principal(&req).await.map_err(Status::from)?;
        let stream = sessions::watch(self.0.clone(), p, req.into_inner().session_id)
            .await
            .map_err(Status::from)?;
        Ok(Response::new(stream))
    }

    async fn check_in(&self, req: Request<api::CheckInRequest>) -> Rpc<api::CheckInResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            checkins::check_in(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn set_schedule(
        &self,
        req: Request<api::SetScheduleRequest>,
    ) -> Rpc<api::SetScheduleResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            checkins::set_schedule(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn get_worker_month(
        &self,
        req: Request<api::GetWorkerMonthRequest>,
    ) -> Rpc<api::GetWorkerMonthResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            queries::worker_month(self, &p, req.get_ref()).await
        };
        ok(r.await)
    }

    async fn get_agency_day(
        &self,
        req: Request<api::GetAgencyDayRequest>,
    ) -> Rpc<api::GetAgencyDayResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            queries::agency_day(self, &p, req.get_ref()).await
        };
        ok(r.await)
    }

    async fn list_check_in_positions(
        &self,
        req: Request<api::ListCheckInPositionsRequest>,
    ) -> Rpc<api::ListCheckInPositionsResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            queries::positions(self, &p, req.get_ref()).await
        };
        ok(r.await)
    }

    async fn request_leave(
        &self,
        req: Request<api::RequestLeaveRequest>,
    ) -> Rpc<api::RequestLeaveResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            leave::request(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn decide_leave(
        &self,
        req: Request<api::DecideLeaveRequest>,
    ) -> Rpc<api::DecideLeaveResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            leave::decide(self, &p, req.into_inner()).await
        };
        ok(r.await)
    }

    async fn list_leave(&self, req: Request<api::ListLeaveRequest>) -> Rpc<api::ListLeaveResponse> {
        let r = async {
            let p = self.principal(&req).await?;
            leave::list(self, &p, req.get_ref()).await
        };
        ok(r.await)
    }
}

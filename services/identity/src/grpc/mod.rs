//! The `IdentityService` gRPC adapter: authenticates the caller, parses the
//! request into domain values, authorizes, runs the command and maps errors
//! once (see `error.rs`). Handlers live in one module per noun.

pub mod accounts;
mod agencies;
pub mod campaigns;
mod import;
mod personal;
mod photos;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pantau_authn::{Issuer, Verifier};
use pantau_eventstore::EventStore;
use pantau_projection::ProjectionHandle;
use pantau_proto::identity::v1::{self as api, identity_service_server::IdentityService};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::{Request, Response, Status, Streaming};

pub use accounts::{NewAccount, insert_account};
pub use workers::derived_id;

use crate::core::Ctx;
use crate::crypto::Fingerprinter;
use crate::domain::{Principal, RequestId, Role};
use crate::error::ServiceError;

/// Everything a handler needs.
pub struct Identity {
    pub store: EventStore,
    pub pool: PgPool,
    pub read: ProjectionHandle,
    pub fingerprints: Fingerprinter,
    pub issuer: Issuer,
    pub verifier: Verifier,
    pub token_ttl_secs: i64,
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// Scanner devices, followed from attendance's stream (portraits only).
    pub devices: crate::devices::SharedDevices,
    /// Failed sign-ins per login id: a locked id is refused until one is forgiven.
    pub login_failures: pantau_platform::ratelimit::KeyedLimiter<String>,
}

type Rpc<T> = Result<Response<T>, Status>;

impl Identity {
    /// Business time: the request's simulated time on a development
    /// cluster (see `pantau_platform::clock`), else the clock.
    pub fn now(&self) -> DateTime<Utc> {
        pantau_platform::clock::request_time().unwrap_or_else(|| (self.clock)())
    }

    /// Security time (token issue and expiry): never simulated.
    pub fn wall(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The caller, from `authorization: Bearer <token>`.
    pub fn principal<T>(&self, req: &Request<T>) -> Result<Principal, ServiceError> {
        let token = pantau_authn::bearer_token(req.metadata())?;
        let claims = self.verifier.verify(token, self.wall().timestamp())?;
        Ok(Principal {
            subject: claims.sub,
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            agency_id: claims.agency,
            worker_id: claims.worker,
        })
    }

    pub fn ctx(&self, p: &Principal, request_id: &str) -> Result<Ctx, ServiceError> {
        let id = RequestId::parse(request_id)?;
        Ok(Ctx {
            request_id: id.as_str().to_owned(),
            actor: p.subject.clone(),
            correlation_id: id.as_str().to_owned(),
        })
    }

    /// Waits until the read model shows `sequence`, so a caller reads its
    /// own writes.
    pub async fn settle(&self, sequence: u64) {
        if sequence > 0 && !self.read.wait_for(sequence, Duration::from_secs(10)).await {
            tracing::warn!(sequence, "read model is lagging");
        }
    }

    /// Runs `f` once per request id: a retry returns the stored response.
    pub async fn idempotent<Req, Res, F>(
        &self,
        ctx: &Ctx,
        command: &str,
        request: &Req,
        f: F,
    ) -> Result<Res, ServiceError>
    where
        Req: Message,
        Res: Message + Default,
        F: std::future::Future<Output = Result<Res, ServiceError>>,
    {
        let fingerprint = hex::encode(Sha256::digest(request.encode_to_vec()));
        let prior: Option<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT command, fingerprint, response FROM command_log WHERE request_id = $1",
        )
        .bind(&ctx.request_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((cmd, fp, response)) = prior {
            if cmd != command || fp != fingerprint {
                return Err(crate::domain::DomainError::already_exists(
                    "request_id",
                    "was already used for a different request",
                )
                .into());
            }
            return Res::decode(response.as_slice())
                .map_err(|e| ServiceError::Internal(format!("stored response: {e}")));
        }
        let res = f.await?;
        sqlx::query(
            "INSERT INTO command_log (request_id, command, fingerprint, response) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&ctx.request_id)
        .bind(command)
        .bind(&fingerprint)
        .bind(res.encode_to_vec())
        .execute(&self.pool)
        .await?;
        Ok(res)
    }
}

/// Today's date in an IANA zone (agencies' days are local).
pub fn local_today(now: DateTime<Utc>, tz: &str) -> chrono::NaiveDate {
    tz.parse::<chrono_tz::Tz>()
        .map(|z| now.with_timezone(&z).date_naive())
        .unwrap_or_else(|_| now.date_naive())
}

fn ok<T>(r: Result<T, ServiceError>) -> Rpc<T> {
    r.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl IdentityService for Identity {
    async fn login(&self, req: Request<api::LoginRequest>) -> Rpc<api::LoginResponse> {
        ok(accounts::login(self, req.into_inner()).await)
    }
    async fn get_signing_keys(
        &self,
        _req: Request<api::GetSigningKeysRequest>,
    ) -> Rpc<api::GetSigningKeysResponse> {
        ok(Ok(api::GetSigningKeysResponse {
            keys: vec![api::SigningKey {
                key_id: self.issuer.key_id().to_owned(),
                public_key: self.issuer.public_key_bytes().to_vec(),
            }],
        }))
    }
    async fn create_account(
        &self,
        req: Request<api::CreateAccountRequest>,
    ) -> Rpc<api::CreateAccountResponse> {
        ok(async {
            let p = self.principal(&req)?;
            accounts::create(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn create_agency(
        &self,
        req: Request<api::CreateAgencyRequest>,
    ) -> Rpc<api::CreateAgencyResponse> {
        ok(async {
            let p = self.principal(&req)?;
            agencies::create_agency(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn create_unit(
        &self,
        req: Request<api::CreateUnitRequest>,
    ) -> Rpc<api::CreateUnitResponse> {
        ok(async {
            let p = self.principal(&req)?;
            agencies::create_unit(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn list_agencies(
        &self,
        req: Request<api::ListAgenciesRequest>,
    ) -> Rpc<api::ListAgenciesResponse> {
        ok(async {
            self.principal(&req)?;
            agencies::list(self).await
        }
        .await)
    }
    async fn register_worker(
        &self,
        req: Request<api::RegisterWorkerRequest>,
    ) -> Rpc<api::RegisterWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::register(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn update_worker(
        &self,
        req: Request<api::UpdateWorkerRequest>,
    ) -> Rpc<api::UpdateWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::update(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn transfer_worker(
        &self,
        req: Request<api::TransferWorkerRequest>,
    ) -> Rpc<api::TransferWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::transfer(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn assign_supervisor(
        &self,
        req: Request<api::AssignSupervisorRequest>,
    ) -> Rpc<api::AssignSupervisorResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::assign_supervisor(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn deactivate_worker(
        &self,
        req: Request<api::DeactivateWorkerRequest>,
    ) -> Rpc<api::DeactivateWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::deactivate(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn erase_worker(
        &self,
        req: Request<api::EraseWorkerRequest>,
    ) -> Rpc<api::EraseWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::erase(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn get_worker(&self, req: Request<api::GetWorkerRequest>) -> Rpc<api::GetWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::get(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn list_workers(
        &self,
        req: Request<api::ListWorkersRequest>,
    ) -> Rpc<api::ListWorkersResponse> {
        ok(async {
            let p = self.principal(&req)?;
            workers::list(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn import_workers(
        &self,
        req: Request<Streaming<api::ImportWorkersRequest>>,
    ) -> Rpc<api::ImportWorkersResponse> {
        ok(async {
            let p = self.principal(&req)?;
            import::import(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn open_campaign(
        &self,
        req: Request<api::OpenCampaignRequest>,
    ) -> Rpc<api::OpenCampaignResponse> {
        ok(async {
            let p = self.principal(&req)?;
            campaigns::open(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn reverify_worker(
        &self,
        req: Request<api::ReverifyWorkerRequest>,
    ) -> Rpc<api::ReverifyWorkerResponse> {
        ok(async {
            let p = self.principal(&req)?;
            campaigns::reverify(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn get_campaign_progress(
        &self,
        req: Request<api::GetCampaignProgressRequest>,
    ) -> Rpc<api::GetCampaignProgressResponse> {
        ok(async {
            let p = self.principal(&req)?;
            campaigns::progress(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn close_campaign(
        &self,
        req: Request<api::CloseCampaignRequest>,
    ) -> Rpc<api::CloseCampaignResponse> {
        ok(async {
            let p = self.principal(&req)?;
            campaigns::close(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn upload_photo(
        &self,
        req: Request<api::UploadPhotoRequest>,
    ) -> Rpc<api::UploadPhotoResponse> {
        ok(async {
            let p = self.principal(&req)?;
            photos::upload(self, &p, req.into_inner()).await
        }
        .await)
    }
    async fn get_photo(&self, req: Request<api::GetPhotoRequest>) -> Rpc<api::GetPhotoResponse> {
        ok(async {
            // A person signed in, or a scanner officer's phone with its
            // device token: it shows each scanned worker's face.
            let bearer = pantau_authn::bearer_token(req.metadata())?;
            let device = self
                .devices
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .authenticate(bearer)?;
            if device.is_none() {
                self.principal(&req)?;
            }
            photos::get(self, req.into_inner()).await
        }
        .await)
    }
}

//! The `FraudService` gRPC adapter: authenticates the caller with an
//! identity access token, runs the detectors over the followed province,
//! raises findings, and answers investigators from the read model.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pantau_eventstore::{AppendError, EventStore, Expected, Follower};
use pantau_platform::clock::SettableClock;
use pantau_platform::tokens::TokenChecker;
use pantau_platform::{DomainError, ServiceError};
use pantau_projection::ProjectionHandle;
use pantau_proto::events::v1::{self as ev, fraud_event::Event};
use pantau_proto::fraud::v1::{self as api, fraud_service_server::FraudService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::core::{finding_subject, new_event};
use crate::domain::Month;
use crate::domain::detectors::{Detector, Kind, detect_all};
use crate::domain::risk::{Finding, combine};
use crate::readmodel;
use crate::watch::Watch;

use pantau_platform::authz::{Principal, Role, parse_request_id};

pub use pantau_platform::clock::Clock;

/// The streams the province follows, and their followers.
pub struct Sources {
    pub streams: [EventStore; 3],
    pub followers: [Follower; 3],
}

pub struct Fraud {
    pub store: EventStore,
    pub pool: PgPool,
    pub read: ProjectionHandle,
    pub watch: Arc<RwLock<Watch>>,
    pub sources: Sources,
    clock: SettableClock,
    tokens: TokenChecker,
}

type Rpc<T> = Result<Response<T>, Status>;

/// How long a call waits for the followers or the read model.
const SETTLE: Duration = Duration::from_secs(30);
/// Most findings one page lists.
const MAX_PAGE: u32 = 500;
/// Longest reason an investigator may give.
const MAX_REASON: usize = 1000;

impl Fraud {
    pub fn new(
        store: EventStore,
        pool: PgPool,
        read: ProjectionHandle,
        watch: Arc<RwLock<Watch>>,
        sources: Sources,
    ) -> Self {
        Self {
            store,
            pool,
            read,
            watch,
            sources,
            clock: SettableClock::default(),
            tokens: TokenChecker::start(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn set_clock(&self, clock: Clock) {
        self.clock.set(clock);
    }

    pub fn watch(&self) -> RwLockReadGuard<'_, Watch> {
        match self.watch.read() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    async fn principal<T>(&self, req: &Request<T>) -> Result<Principal, ServiceError> {
        let token = pantau_authn::bearer_token(req.metadata())?;
        let now = self.clock.wall().timestamp();
        let claims = self
            .tokens
            .claims(token, now, |t, n| self.watch().token_keys.prepare(t, n))
            .await?;
        Ok(Principal::from_claims(claims))
    }

    /// Waits until the province holds everything its streams hold now.
    async fn settle_sources(&self) -> Result<(), ServiceError> {
        for (store, follower) in self.sources.streams.iter().zip(&self.sources.followers) {
            let last = store
                .last_sequence()
                .await
                .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
            if !follower.wait_for(last, SETTLE).await {
                return Err(ServiceError::Unavailable(format!(
                    "still reading {}; try again",
                    store.stream_name()
                )));
            }
        }
        Ok(())
    }

    async fn settle_read(&self) -> Result<(), ServiceError> {
        let last = self
            .store
            .last_sequence()
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        if !self.read.wait_for(last, SETTLE).await {
            return Err(ServiceError::Unavailable(
                "the findings are still being read; try again".into(),
            ));
        }
        Ok(())
    }

    fn agency_of(&self, subject: &str) -> String {
        self.watch()
            .province
            .worker(subject)
            .map(|w| w.agency_id.clone())
            .unwrap_or_default()
    }
}

/// Investigators: auditors and province admins.
fn must_investigate(p: &Principal) -> Result<(), DomainError> {
    if p.has(Role::Auditor) || p.is_province_admin() {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(
            "only auditors and province admins investigate findings".into(),
        ))
    }
}

fn kind(k: Kind) -> ev::FindingKind {
    match k {
        Kind::Ghost => ev::FindingKind::Ghost,
        Kind::Proxy => ev::FindingKind::Proxy,
        Kind::Supervision => ev::FindingKind::Supervision,
    }
}

fn raised(f: &Finding, agency_id: String, month: Month, at: DateTime<Utc>) -> ev::FindingRaised {
    ev::FindingRaised {
        finding_id: f.key.clone(),
        agency_id,
        subject_id: f.subject.clone(),
        kind: kind(f.kind) as i32,
        risk: (f.risk * 10_000.0).round() / 10_000.0,
        month: month.to_string(),
        signals: f
            .signals
            .iter()
            .map(|s| ev::Signal {
                detector: s.detector.name().to_owned(),
                weight: s.weight,
                explanation: s.explanation.clone(),
                evidence: s
                    .evidence
                    .iter()
                    .map(|e| ev::EvidenceRef {
                        stream: e.stream.to_owned(),
                        sequence: e.sequence,
                    })
                    .collect(),
                related_workers: s.related.clone(),
            })
            .collect(),
        raised_at: Some(pantau_platform::time::timestamp(at)),
    }
}

async fn run_detectors(
    f: &Fraud,
    p: &Principal,
    req: api::RunDetectorsRequest,
) -> Result<api::RunDetectorsResponse, ServiceError> {
    must_investigate(p)?;
    let request_id = parse_request_id(&req.request_id)?.to_owned();
    let month = Month::parse(&req.month, "month")?;
    f.settle_sources().await?;
    if !req.agency_id.is_empty()
        && !f
            .watch()
            .province
            .workers()
            .any(|x| x.agency_id == req.agency_id)
    {
        return Err(
            DomainError::NotFound(format!("agency {} has no workers", req.agency_id)).into(),
        );
    }
    let (raised, already_known) = raise(f, month, &req.agency_id, &p.subject, &request_id).await?;
    Ok(api::RunDetectorsResponse {
        raised,
        already_known,
    })
}

/// Runs every detector over `month` (of one agency, or all when empty) and
/// raises the findings not raised before; returns (raised, already known).
pub async fn raise(
    f: &Fraud,
    month: Month,
    agency: &str,
    actor: &str,
    request_id: &str,
) -> Result<(u32, u32), ServiceError> {
    let now = f.now();
    let mut signals = detect_all(&f.watch().province, month);
    // Nobody has been present "all month" before it ends: absences are
    // judged once the month has ended everywhere (Jakarta is westernmost).
    let today = now
        .with_timezone(&crate::domain::model::DEFAULT_TIME_ZONE)
        .date_naive();
    if today <= month.last_day() {
        signals.retain(|s| s.detector != Detector::NeverPresent);
    }
    let findings = combine(signals);
    let (mut raised_n, mut known) = (0u32, 0u32);
    let mut appends = Vec::new();
    for finding in &findings {
        let agency_id = f.agency_of(&finding.subject);
        if !agency.is_empty() && agency_id != agency {
            continue;
        }
        let e = Event::FindingRaised(raised(finding, agency_id, month, now));
        // The finding's id names its evidence: a finding raised before for
        // the same evidence (and perhaps cleared) already has its subject.
        appends.push(f.store.append(new_event(
            finding_subject(&finding.key),
            e,
            Expected::NoEvents,
            format!("finding:{}", finding.key),
            actor,
            request_id,
        )));
    }
    let mut last = 0;
    for r in futures::future::join_all(appends).await {
        match r {
            Ok(a) if a.duplicate => known += 1,
            Ok(a) => {
                raised_n += 1;
                last = last.max(a.sequence);
            }
            Err(AppendError::Conflict { .. }) => known += 1,
            Err(e) => return Err(ServiceError::Unavailable(e.to_string())),
        }
    }
    if last > 0 && !f.read.wait_for(last, SETTLE).await {
        tracing::warn!(last, "findings read model is lagging");
    }
    tracing::info!(%month, raised = raised_n, known, "detectors ran");
    Ok((raised_n, known))
}

/// Runs the detectors over the last month every `every`, so findings
/// appear without anyone asking. Only a month that has ended: absences can
/// only be judged then (on the 2nd, nobody has been present all month).
/// Every replica may sweep: a finding is raised once, whoever raises it.
pub fn spawn_sweep(f: Arc<Fraud>, every: Duration, shutdown: pantau_platform::shutdown::Shutdown) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.wait() => return,
            }
            // The month that has ended everywhere in Indonesia (Jakarta is
            // the westernmost zone).
            let today = f
                .now()
                .with_timezone(&crate::domain::model::DEFAULT_TIME_ZONE)
                .date_naive();
            let this = Month::of(today);
            let last = Month::of(this.first_day().pred_opt().unwrap_or(this.first_day()));
            let request_id = format!("sweep:{}", last.token());
            if let Err(e) = raise(&f, last, "", "fraud-sweep", &request_id).await {
                tracing::warn!(month = %last, error = %e, "detector sweep failed; retrying later");
            }
        }
    });
}

async fn list(
    f: &Fraud,
    p: &Principal,
    req: api::ListFindingsRequest,
) -> Result<api::ListFindingsResponse, ServiceError> {
    if req.agency_id.is_empty() {
        must_investigate(p)?;
    } else {
        p.may_read_agency(&req.agency_id)?;
    }
    if !req.month.is_empty() {
        Month::parse(&req.month, "month")?;
    }
    if !(0.0..=1.0).contains(&req.min_risk) {
        return Err(DomainError::invalid("min_risk", "must be 0-1").into());
    }
    let size = match req.page_size {
        0 => 100,
        n if n > MAX_PAGE => {
            return Err(DomainError::invalid("page_size", format!("at most {MAX_PAGE}")).into());
        }
        n => n as usize,
    };
    if !req.page_token.is_empty() && req.page_token.parse::<u64>().is_err() {
        return Err(DomainError::invalid("page_token", "is not a token from ListFindings").into());
    }
    f.settle_read().await?;
    Ok(readmodel::list(&f.pool, &req, size).await?)
}

async fn get(
    f: &Fraud,
    p: &Principal,
    req: api::GetFindingRequest,
) -> Result<api::GetFindingResponse, ServiceError> {
    f.settle_read().await?;
    let (finding, resolution) = readmodel::get(&f.pool, &req.finding_id)
        .await?
        .ok_or_else(|| DomainError::NotFound(format!("finding {}", req.finding_id)))?;
    if must_investigate(p).is_err() {
        p.may_read_agency(&finding.agency_id)?;
    }
    Ok(api::GetFindingResponse {
        finding: Some(finding),
        resolution,
    })
}

async fn resolve(
    f: &Fraud,
    p: &Principal,
    req: api::ResolveFindingRequest,
) -> Result<api::ResolveFindingResponse, ServiceError> {
    must_investigate(p)?;
    let request_id = parse_request_id(&req.request_id)?.to_owned();
    let resolution =
        ev::Resolution::try_from(req.resolution).unwrap_or(ev::Resolution::Unspecified);
    if resolution == ev::Resolution::Unspecified {
        return Err(DomainError::invalid(
            "resolution",
            "must be CONFIRMED_GHOST, CONFIRMED_PROXY or CLEARED",
        )
        .into());
    }
    let reason = req.reason.trim();
    if resolution == ev::Resolution::Cleared && reason.is_empty() {
        return Err(DomainError::invalid("reason", "is required to clear a finding").into());
    }
    if reason.chars().count() > MAX_REASON {
        return Err(
            DomainError::invalid("reason", format!("at most {MAX_REASON} characters")).into(),
        );
    }
    let subject = finding_subject(&req.finding_id);
    let events = f
        .store
        .load(&subject)
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    let Some(first) = events.first() else {
        return Err(DomainError::NotFound(format!("finding {}", req.finding_id)).into());
    };
    let msg_id = format!("resolve:{}:{}:{request_id}", req.finding_id, p.subject);
    if let Some(done) = events
        .iter()
        .skip(1)
        .find_map(|e| match crate::core::decode(e) {
            Some(Event::FindingResolved(r)) => Some((e.msg_id.clone(), r)),
            _ => None,
        })
    {
        if done.0.as_deref() == Some(msg_id.as_str()) {
            // A retry: the first answer.
            return Ok(api::ResolveFindingResponse {
                resolution: done.1.resolution,
            });
        }
        return Err(DomainError::precondition(format!(
            "finding {} is already resolved",
            req.finding_id
        ))
        .into());
    }
    let e = Event::FindingResolved(ev::FindingResolved {
        finding_id: req.finding_id.clone(),
        resolution: resolution as i32,
        reason: reason.to_owned(),
        resolved_by: p.subject.clone(),
        at: Some(pantau_platform::time::timestamp(f.now())),
    });
    let last = events.last().map_or(first.sequence, |e| e.sequence);
    match f
        .store
        .append(new_event(
            subject,
            e,
            Expected::Sequence(last),
            msg_id,
            &p.subject,
            &request_id,
        ))
        .await
    {
        Ok(a) => {
            if !f.read.wait_for(a.sequence, SETTLE).await {
                tracing::warn!("findings read model is lagging");
            }
        }
        Err(AppendError::Conflict { .. }) => {
            return Err(ServiceError::Aborted(
                "the finding changed concurrently; try again".into(),
            ));
        }
        Err(e) => return Err(ServiceError::Unavailable(e.to_string())),
    }
    Ok(api::ResolveFindingResponse {
        resolution: resolution as i32,
    })
}

/// The gRPC face of [`Fraud`].
#[derive(Clone)]
pub struct Api(pub Arc<Fraud>);

fn ok<T>(r: Result<T, ServiceError>) -> Rpc<T> {
    r.map(Response::new).map_err(Status::from)
}

macro_rules! rpc {
    ($self:ident, $req:ident, $handler:path) => {{
        let r = async {
            let p = $self.0.principal(&$req).await?;
            $handler(&$self.0, &p, $req.into_inner()).await
        };
        ok(r.await)
    }};
}

#[tonic::async_trait]
impl FraudService for Api {
    async fn run_detectors(
        &self,
        req: Request<api::RunDetectorsRequest>,
    ) -> Rpc<api::RunDetectorsResponse> {
        rpc!(self, req, run_detectors)
    }

    async fn list_findings(
        &self,
        req: Request<api::ListFindingsRequest>,
    ) -> Rpc<api::ListFindingsResponse> {
        rpc!(self, req, list)
    }

    async fn get_finding(
        &self,
        req: Request<api::GetFindingRequest>,
    ) -> Rpc<api::GetFindingResponse> {
        rpc!(self, req, get)
    }

    async fn resolve_finding(
        &self,
        req: Request<api::ResolveFindingRequest>,
    ) -> Rpc<api::ResolveFindingResponse> {
        rpc!(self, req, resolve)
    }
}

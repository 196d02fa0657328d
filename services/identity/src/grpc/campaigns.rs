//! Re-verification campaigns (e-PUPNS): open, re-verify, progress, close.

use pantau_proto::identity::v1 as api;

use super::Identity;
use super::workers::{build_update, derived_id, worker_state};
use crate::core::{Ctx, campaign_subject, create, execute, load};
use crate::domain::{
    Action, Campaign, CampaignCommand, CampaignState, DisplayName, DomainError, Principal,
    UpdateMask, WorkerCommand, authorize, campaign, check_reverification,
};
use crate::error::ServiceError;

pub async fn open(
    id: &Identity,
    p: &Principal,
    req: api::OpenCampaignRequest,
) -> Result<api::OpenCampaignResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    let agency = (!req.agency_id.is_empty()).then_some(req.agency_id.as_str());
    authorize(p, &Action::OpenCampaign { agency })?;
    let title = DisplayName::parse("title", &req.title)?;
    let deadline = chrono::DateTime::from_timestamp(req.deadline_unix, 0)
        .ok_or_else(|| DomainError::invalid("deadline_unix", "is not a valid time"))?;
    let campaign_id = derived_id("campaign", &ctx.request_id);
    id.idempotent(&ctx, "OpenCampaign", &req, async {
        if let Some(a) = agency {
            super::workers::agency_state(id, a, "agency_id").await?;
        }
        let now = id.now();
        let done = create(
            &id.store,
            &campaign_subject(&campaign_id),
            campaign::evolve,
            &ctx,
            |s| {
                campaign::decide(
                    s,
                    CampaignCommand::Open {
                        campaign_id: campaign_id.clone(),
                        title: title.clone(),
                        agency_id: agency.map(str::to_owned),
                        deadline,
                        now,
                    },
                )
            },
        )
        .await?;
        id.settle(done.last_sequence).await;
        Ok(api::OpenCampaignResponse {
            campaign_id: campaign_id.clone(),
        })
    })
    .await
}

pub async fn reverify(
    id: &Identity,
    p: &Principal,
    req: api::ReverifyWorkerRequest,
) -> Result<api::ReverifyWorkerResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    let w = worker_state(id, &req.worker_id).await?;
    authorize(
        p,
        &Action::Reverify {
            agency: &w.agency_id,
            worker_id: &w.worker_id,
        },
    )?;
    let corrections = UpdateMask::parse_corrections(&req.update_mask)?;
    id.idempotent(&ctx, "ReverifyWorker", &req, async {
        let c = load(
            &id.store,
            &campaign_subject(&req.campaign_id),
            campaign::evolve,
        )
        .await?;
        check_reverification(&c, &w.agency_id, id.now())?;
        let correction = match corrections {
            Some(mask) => {
                let (update, _) = build_update(
                    id,
                    &req.worker_id,
                    mask,
                    "",
                    "",
                    &[],
                    [&req.phone, &req.email, &req.bank_account, &req.address],
                )
                .await?;
                if let Some(s) = &update.personal {
                    super::personal::reserve(id, &req.worker_id, &s.fingerprints).await?;
                }
                Some(update)
            }
            None => None,
        };
        let command = WorkerCommand::Reverify {
            campaign_id: req.campaign_id.clone(),
            correction,
        };
        let done = super::workers::run_worker(id, &ctx, &req.worker_id, command).await?;
        id.settle(done.last_sequence).await;
        Ok(api::ReverifyWorkerResponse {})
    })
    .await
}

async fn campaign_state(
    id: &Identity,
    campaign_id: &str,
) -> Result<crate::domain::Campaign, ServiceError> {
    match load(&id.store, &campaign_subject(campaign_id), campaign::evolve).await? {
        CampaignState::Opened(c) => Ok(c),
        _ => Err(DomainError::NotFound(format!("campaign {campaign_id} does not exist")).into()),
    }
}

pub async fn progress(
    id: &Identity,
    p: &Principal,
    req: api::GetCampaignProgressRequest,
) -> Result<api::GetCampaignProgressResponse, ServiceError> {
    authorize(p, &Action::ReadCampaign)?;
    let c = campaign_state(id, &req.campaign_id).await?;
    let scope = c.agency_id.clone().unwrap_or_default();
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT a.agency_id,
           (SELECT count(*) FROM identity_read.workers w WHERE w.agency_id = a.agency_id AND w.active),
           (SELECT count(*) FROM identity_read.campaign_outcomes o WHERE o.campaign_id = $1 AND o.agency_id = a.agency_id AND o.outcome = 'verified'),
           (SELECT count(*) FROM identity_read.campaign_outcomes o WHERE o.campaign_id = $1 AND o.agency_id = a.agency_id AND o.outcome = 'missed')
         FROM identity_read.agencies a WHERE $2 = '' OR a.agency_id = $2 ORDER BY a.code",
    )
    .bind(&req.campaign_id)
    .bind(&scope)
    .fetch_all(&id.pool)
    .await?;
    Ok(api::GetCampaignProgressResponse {
        campaign_id: c.campaign_id.clone(),
        title: c.title.clone(),
        deadline_unix: c.deadline.timestamp(),
        closed: c.closed.is_some(),
        agencies: rows
            .into_iter()
            .map(
                |(agency_id, active, verified, missed)| api::AgencyProgress {
                    agency_id,
                    active_workers: active as u32,
                    verified: verified as u32,
                    missed: missed as u32,
                },
            )
            .collect(),
    })
}

/// CloseCampaign: an admin closes a campaign whose deadline has passed
/// (the deadline sweeper does the same by itself).
pub async fn close(
    id: &Identity,
    p: &Principal,
    req: api::CloseCampaignRequest,
) -> Result<api::CloseCampaignResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    let c = campaign_state(id, &req.campaign_id).await?;
    authorize(
        p,
        &Action::OpenCampaign {
            agency: c.agency_id.as_deref(),
        },
    )?;
    id.idempotent(&ctx, "CloseCampaign", &req, close_campaign(id, &ctx, &c))
        .await
}

/// Records every active worker in scope who did not re-verify, then closes.
async fn close_campaign(
    id: &Identity,
    ctx: &Ctx,
    c: &Campaign,
) -> Result<api::CloseCampaignResponse, ServiceError> {
    let now = id.now();
    if now < c.deadline {
        let reason = format!("the deadline {} has not passed", c.deadline);
        return Err(DomainError::precondition(reason).into());
    }
    // The read model must have seen every worker before we judge them.
    let last = id
        .store
        .last_sequence()
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    id.settle(last).await;
    let scope = c.agency_id.clone().unwrap_or_default();
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT w.worker_id FROM identity_read.workers w
         WHERE w.active AND ($2 = '' OR w.agency_id = $2)
           AND NOT EXISTS (SELECT 1 FROM identity_read.campaign_outcomes o
                           WHERE o.campaign_id = $1 AND o.worker_id = w.worker_id AND o.outcome = 'verified')",
    )
    .bind(&c.campaign_id)
    .bind(&scope)
    .fetch_all(&id.pool)
    .await?;
    let mut last_seq = 0;
    for w in &missing {
        let wctx = Ctx {
            request_id: format!("{}:missed:{w}", ctx.request_id),
            ..ctx.clone()
        };
        let command = WorkerCommand::RecordMissedReverification {
            campaign_id: c.campaign_id.clone(),
        };
        let done = super::workers::run_worker(id, &wctx, w, command).await?;
        last_seq = last_seq.max(done.last_sequence);
    }
    let verified: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity_read.campaign_outcomes WHERE campaign_id = $1 AND outcome = 'verified'",
    )
    .bind(&c.campaign_id)
    .fetch_one(&id.pool)
    .await?;
    let (verified, missed) = (verified as u32, missing.len() as u32);
    let subject = campaign_subject(&c.campaign_id);
    let done = execute(&id.store, &subject, campaign::evolve, ctx, |s| {
        campaign::decide(
            s,
            CampaignCommand::Close {
                now,
                verified,
                missed,
            },
        )
    })
    .await?;
    id.settle(done.last_sequence.max(last_seq)).await;
    Ok(api::CloseCampaignResponse { verified, missed })
}

/// Closes every open campaign whose deadline has passed, so whoever did
/// not re-verify is recorded without anyone having to ask. Safe to run in
/// every instance: the request id is per campaign, so racing instances
/// store each event once.
pub async fn sweep_deadlines(id: &Identity) -> Result<u32, ServiceError> {
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT campaign_id FROM identity_read.campaigns WHERE NOT closed AND deadline <= $1",
    )
    .bind(id.now())
    .fetch_all(&id.pool)
    .await?;
    let mut closed = 0;
    for campaign_id in due {
        let c = campaign_state(id, &campaign_id).await?;
        if c.closed.is_some() {
            continue;
        }
        let ctx = Ctx {
            request_id: format!("deadline:{campaign_id}"),
            actor: "pantau-identity".into(),
            correlation_id: format!("deadline:{campaign_id}"),
        };
        let r = close_campaign(id, &ctx, &c).await?;
        tracing::info!(%campaign_id, verified = r.verified, missed = r.missed, "campaign deadline passed: closed");
        closed += 1;
    }
    Ok(closed)
}

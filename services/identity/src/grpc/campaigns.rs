//! Re-verification campaigns (e-PUPNS): open, re-verify, progress, close.

use pantau_proto::identity::v1 as api;

use super::Identity;
use super::workers::{build_update, derived_id, worker_state};
use crate::core::{campaign_subject, create, execute, load};
use crate::domain::{
    Action, CampaignCommand, CampaignState, DisplayName, DomainError, Principal, UpdateMask,
    WorkerCommand, authorize, campaign, check_reverification,
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
                    super::personal::reserve(&id.pool, &req.worker_id, &s.fingerprints).await?;
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

/// Records every active worker in scope who did not re-verify, then closes.
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
    id.idempotent(&ctx, "CloseCampaign", &req, async {
        let now = id.now();
        if now < c.deadline {
            return Err(DomainError::precondition(format!("the deadline {} has not passed", c.deadline)).into());
        }
        // The read model must have seen every worker before we judge them.
        let last = id.store.last_sequence().await.map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        id.settle(last).await;
        let scope = c.agency_id.clone().unwrap_or_default();
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT w.worker_id FROM identity_read.workers w
             WHERE w.active AND ($2 = '' OR w.agency_id = $2)
               AND NOT EXISTS (SELECT 1 FROM identity_read.campaign_outcomes o WHERE o.campaign_id = $1 AND o.worker_id = w.worker_id AND o.outcome = 'verified')",
        )
        .bind(&req.campaign_id)
        .bind(&scope)
        .fetch_all(&id.pool)
        .await?;
        let mut last_seq = 0;
        for w in &missing {
            let wctx = crate::core::Ctx { request_id: format!("{}:missed:{w}", ctx.request_id), ..ctx.clone() };
            let command = WorkerCommand::RecordMissedReverification {
                campaign_id: req.campaign_id.clone(),
            };
            let done = super::workers::run_worker(id, &wctx, w, command).await?;
            last_seq = last_seq.max(done.last_sequence);
        }
        let verified: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM identity_read.campaign_outcomes WHERE campaign_id = $1 AND outcome = 'verified'",
        )
        .bind(&req.campaign_id)
        .fetch_one(&id.pool)
        .await?;
        let missed = missing.len() as u32;
        let done = execute(&id.store, &campaign_subject(&req.campaign_id), campaign::evolve, &ctx, |s| {
            campaign::decide(s, CampaignCommand::Close { now, verified: verified as u32, missed })
        })
        .await?;
        id.settle(done.last_sequence.max(last_seq)).await;
        Ok(api::CloseCampaignResponse { verified: verified as u32, missed })
    })
    .await
}

//! Monthly BerAKHLAK behaviour ratings.

use pantau_platform::ServiceError;
use pantau_proto::activity::v1 as api;
use pantau_proto::events::v1::activity_event::Event;

use super::Activity;
use crate::core::{self, rating_subject};
use crate::domain::access::may_rate;
use crate::domain::rating::{average, decide_rating};
use crate::domain::time::Month;
use crate::domain::{DomainError, Principal};

/// A rating subject keeps no state a decision needs: a later rating of the
/// month simply replaces the earlier one.
fn evolve((): (), _: &Event) {}

pub async fn rate(
    a: &Activity,
    p: &Principal,
    req: api::RateBehaviourRequest,
) -> Result<api::RateBehaviourResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id, &req)?;
    if req.worker_id.is_empty() {
        return Err(DomainError::invalid("worker_id", "is required").into());
    }
    let month = Month::parse(&req.month, "month")?;
    let (worker, agency) = a.worker(&req.worker_id)?;
    may_rate(p, &worker)?;
    let this_month = Month::of(a.local_now(&agency).0);
    let by = p.worker_id.clone().unwrap_or_else(|| p.subject.clone());
    let at = a.timestamp();
    core::execute(
        &a.store,
        None,
        &rating_subject(&worker.id, &month.to_string()),
        evolve,
        &ctx,
        "rating",
        |()| {
            decide_rating(
                &worker,
                month,
                this_month,
                req.scores.as_ref(),
                &req.note,
                &by,
                at,
            )
        },
    )
    .await?;
    Ok(api::RateBehaviourResponse {
        average: req.scores.as_ref().map_or(0.0, average),
    })
}

//! Publishing catalog versions and reading the catalog in force.

use pantau_platform::ServiceError;
use pantau_proto::activity::v1 as api;

use super::{Activity, not_found};
use crate::core::{self, catalog_subject};
use crate::domain::catalog::{self, decide_publish};
use crate::domain::time::parse_date;
use crate::domain::{DomainError, Principal};

pub async fn publish(
    a: &Activity,
    p: &Principal,
    req: api::PublishCatalogRequest,
) -> Result<api::PublishCatalogResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id, &req)?;
    let effective_from = parse_date(&req.effective_from, "effective_from")?;
    catalog::validate_activities(&req.activities)?;
    if req.agency_id.is_empty() {
        if !p.is_province_admin() {
            return Err(DomainError::PermissionDenied(
                "only province admins may publish the general catalog".into(),
            )
            .into());
        }
    } else {
        p.must_manage(&req.agency_id)?;
        if !a.dir().agencies.contains_key(&req.agency_id) {
            return Err(not_found("agency", &req.agency_id));
        }
    }
    let by = p.worker_id.clone().unwrap_or_else(|| p.subject.clone());
    let done = core::execute(
        &a.store,
        None,
        &catalog_subject(&req.agency_id),
        catalog::evolve,
        &ctx,
        "catalog",
        |latest| decide_publish(latest, &req.agency_id, effective_from, &req.activities, &by),
    )
    .await?;
    // Reports on this replica see the new version at once.
    a.settle_directory(done.last_sequence).await;
    Ok(api::PublishCatalogResponse {
        version: done.state.0.map_or(0, |(v, _)| v),
    })
}

pub async fn get(
    a: &Activity,
    _p: &Principal,
    req: api::GetCatalogRequest,
) -> Result<api::GetCatalogResponse, ServiceError> {
    let agency = a
        .dir()
        .agencies
        .get(&req.agency_id)
        .cloned()
        .ok_or_else(|| not_found("agency", &req.agency_id))?;
    let date = if req.date.is_empty() {
        a.local_now(&agency).0
    } else {
        parse_date(&req.date, "date")?
    };
    let dir = a.dir();
    let activities = dir
        .catalogs
        .entries(&req.agency_id, date)
        .into_iter()
        .map(|f| api::CatalogEntry {
            activity: Some(f.activity.clone()),
            catalog_agency_id: f.catalog_agency_id.to_owned(),
            catalog_version: f.version,
        })
        .collect();
    Ok(api::GetCatalogResponse {
        date: date.to_string(),
        activities,
    })
}

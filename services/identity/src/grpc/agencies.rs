//! Agencies and their units.

use pantau_proto::identity::v1 as api;

use super::Identity;
use super::workers::derived_id;
use crate::core::{agency_subject, create, execute};
use crate::domain::{
    Action, AgencyCode, AgencyCommand, AgencyState, DisplayName, DomainError, Principal, TimeZone,
    UnitCode, agency, authorize,
};
use crate::error::ServiceError;

pub async fn create_agency(
    id: &Identity,
    p: &Principal,
    req: api::CreateAgencyRequest,
) -> Result<api::CreateAgencyResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    authorize(p, &Action::ManageAgencies)?;
    let code = AgencyCode::parse(&req.code)?;
    let name = DisplayName::parse("name", &req.name)?;
    let time_zone = TimeZone::parse(&req.time_zone)?;
    let agency_id = derived_id("agency", &ctx.request_id);
    id.idempotent(&ctx, "CreateAgency", &req, async {
        // Agency codes are unique across aggregates: reserve before append.
        let owner: String = sqlx::query_scalar(
            "INSERT INTO agency_codes VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET code = EXCLUDED.code RETURNING agency_id",
        )
        .bind(code.as_str())
        .bind(&agency_id)
        .fetch_one(&id.pool)
        .await?;
        if owner != agency_id {
            return Err(DomainError::already_exists("code", "is used by another agency").into());
        }
        let done = create(&id.store, &agency_subject(&agency_id), agency::evolve, &ctx, |s| {
            agency::decide(
                s,
                AgencyCommand::CreateAgency {
                    agency_id: agency_id.clone(),
                    code: code.clone(),
                    name: name.clone(),
                    time_zone,
                },
            )
        })
        .await?;
        id.settle(done.last_sequence).await;
        Ok(api::CreateAgencyResponse {
            agency_id: agency_id.clone(),
        })
    })
    .await
}

pub async fn create_unit(
    id: &Identity,
    p: &Principal,
    req: api::CreateUnitRequest,
) -> Result<api::CreateUnitResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    authorize(
        p,
        &Action::ManageUnits {
            agency: &req.agency_id,
        },
    )?;
    let code = UnitCode::parse(&req.code)?;
    let name = DisplayName::parse("name", &req.name)?;
    let unit_id = derived_id("unit", &ctx.request_id);
    id.idempotent(&ctx, "CreateUnit", &req, async {
        let existing =
            crate::core::load(&id.store, &agency_subject(&req.agency_id), agency::evolve).await?;
        if matches!(existing, AgencyState::NotCreated) {
            return Err(
                DomainError::NotFound(format!("agency {} does not exist", req.agency_id)).into(),
            );
        }
        let done = execute(
            &id.store,
            &agency_subject(&req.agency_id),
            agency::evolve,
            &ctx,
            |s| {
                agency::decide(
                    s,
                    AgencyCommand::CreateUnit {
                        unit_id: unit_id.clone(),
                        code: code.clone(),
                        name: name.clone(),
                    },
                )
            },
        )
        .await?;
        id.settle(done.last_sequence).await;
        Ok(api::CreateUnitResponse {
            unit_id: unit_id.clone(),
        })
    })
    .await
}

pub async fn list(id: &Identity) -> Result<api::ListAgenciesResponse, ServiceError> {
    let agencies: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT agency_id, code, name, time_zone FROM identity_read.agencies ORDER BY code",
    )
    .fetch_all(&id.pool)
    .await?;
    let units: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT agency_id, unit_id, code, name FROM identity_read.units ORDER BY code",
    )
    .fetch_all(&id.pool)
    .await?;
    Ok(api::ListAgenciesResponse {
        agencies: agencies
            .into_iter()
            .map(|(agency_id, code, name, time_zone)| api::Agency {
                units: units
                    .iter()
                    .filter(|u| u.0 == agency_id)
                    .map(|u| api::Unit {
                        unit_id: u.1.clone(),
                        code: u.2.clone(),
                        name: u.3.clone(),
                    })
                    .collect(),
                agency_id,
                code,
                name,
                time_zone,
            })
            .collect(),
    })
}

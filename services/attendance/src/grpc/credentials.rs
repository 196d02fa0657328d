//! QR credentials: printed (signed) and rotating codes, reissue, export.

use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};
use pantau_qr::Credential;

use super::{Attendance, not_found};
use crate::core::{credential_subject, execute};
use crate::domain::session::{Registry, identify};
use crate::domain::{DomainError, Principal, Role, parse_id};
use crate::error::ServiceError;

pub fn qr_keys(a: &Attendance) -> api::GetQrKeysResponse {
    api::GetQrKeysResponse {
        keys: vec![api::QrKey {
            key_id: a.signer.key_id(),
            public_key: a.signer.public_key_bytes().to_vec(),
        }],
    }
}

fn credential_of(a: &Attendance, worker_id: uuid::Uuid) -> Credential {
    Credential {
        worker_id,
        version: a.dir().credential_version(&worker_id.to_string()),
    }
}

/// The worker themself, or an admin of their agency.
fn may_hold(p: &Principal, worker_id: &str, agency_id: &str) -> Result<(), DomainError> {
    if p.is_worker(worker_id) || p.manages_agency(agency_id) {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(
            "only the worker and their agency's admins may see or replace this credential".into(),
        ))
    }
}

pub fn get(
    a: &Attendance,
    p: &Principal,
    req: &api::GetCredentialRequest,
) -> Result<api::GetCredentialResponse, ServiceError> {
    let id = parse_id(&req.worker_id, "worker_id")?;
    let agency = {
        let dir = a.dir();
        let w = dir
            .workers
            .get(&req.worker_id)
            .ok_or_else(|| not_found("worker", &req.worker_id))?;
        w.agency_id.clone()
    };
    may_hold(p, &req.worker_id, &agency)?;
    let credential = credential_of(a, id);
    let code = a.signer.sign(credential);
    let render =
        |e: pantau_qr::render::RenderError| ServiceError::Internal(format!("qr render: {e}"));
    Ok(api::GetCredentialResponse {
        worker_id: req.worker_id.clone(),
        version: credential.version,
        svg: pantau_qr::render::svg(&code).map_err(render)?,
        png: pantau_qr::render::png(&code, 8).map_err(render)?,
        code,
    })
}

pub fn rotating_secret(
    a: &Attendance,
    p: &Principal,
) -> Result<api::GetRotatingSecretResponse, ServiceError> {
    let Some(worker_id) = p.worker_id.clone() else {
        return Err(DomainError::PermissionDenied(
            "only a worker's own account holds a rotating code".into(),
        )
        .into());
    };
    let id = parse_id(&worker_id, "worker_id")?;
    let dir = a.dir();
    if !dir.workers.contains_key(&worker_id) {
        return Err(not_found("worker", &worker_id));
    }
    let credential = Credential {
        worker_id: id,
        version: dir.credential_version(&worker_id),
    };
    Ok(api::GetRotatingSecretResponse {
        worker_id,
        version: credential.version,
        secret: dir.worker_secret(credential).to_vec(),
        step_seconds: u32::try_from(pantau_qr::STEP_SECS).unwrap_or(30),
    })
}

/// Versions as the credential's own subject tells them (0: never reissued,
/// which means version 1).
fn evolve_version(v: u32, e: &Event) -> u32 {
    match e {
        Event::CredentialReissued(c) => v.max(c.version),
        _ => v,
    }
}

pub async fn reissue(
    a: &Attendance,
    p: &Principal,
    req: api::ReissueCredentialRequest,
) -> Result<api::ReissueCredentialResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    let id = parse_id(&req.worker_id, "worker_id")?;
    if req.reason.chars().count() > 200 {
        return Err(DomainError::invalid("reason", "at most 200 characters").into());
    }
    let agency = a
        .dir()
        .workers
        .get(&req.worker_id)
        .map(|w| w.agency_id.clone())
        .ok_or_else(|| not_found("worker", &req.worker_id))?;
    may_hold(p, &req.worker_id, &agency)?;
    let done = execute(
        &a.store,
        &credential_subject(&req.worker_id),
        evolve_version,
        &ctx,
        |v: &u32| {
            Ok(vec![Event::CredentialReissued(ev::CredentialReissued {
                worker_id: req.worker_id.clone(),
                version: (*v).max(1) + 1,
                reason: req.reason.trim().to_owned(),
            })])
        },
    )
    .await?;
    a.settle_directory(done.last_sequence).await;
    let credential = Credential {
        worker_id: id,
        version: done.state.max(1),
    };
    tracing::info!(worker_id = %req.worker_id, version = credential.version, "credential reissued");
    Ok(api::ReissueCredentialResponse {
        version: credential.version,
        code: a.signer.sign(credential),
    })
}

pub fn export(
    a: &Attendance,
    p: &Principal,
    req: &api::ExportCredentialsRequest,
) -> Result<Vec<api::ExportCredentialsResponse>, ServiceError> {
    if req.agency_id.is_empty() {
        return Err(DomainError::invalid("agency_id", "is required").into());
    }
    p.must_manage(&req.agency_id)?;
    let dir = a.dir();
    let agency = dir
        .agencies
        .get(&req.agency_id)
        .ok_or_else(|| not_found("agency", &req.agency_id))?;
    if !req.unit_id.is_empty() && !agency.units.contains_key(&req.unit_id) {
        return Err(not_found("unit", &req.unit_id));
    }
    let mut workers: Vec<_> = dir
        .workers
        .values()
        .filter(|w| {
            w.active
                && w.agency_id == req.agency_id
                && (req.unit_id.is_empty() || w.unit_id == req.unit_id)
        })
        .collect();
    workers.sort_by(|x, y| {
        (dir.unit_name(&x.agency_id, &x.unit_id), &x.name, &x.id).cmp(&(
            dir.unit_name(&y.agency_id, &y.unit_id),
            &y.name,
            &y.id,
        ))
    });
    let total = u32::try_from(workers.len()).unwrap_or(u32::MAX);
    let mut rows = Vec::with_capacity(workers.len());
    for w in workers {
        let Ok(id) = uuid::Uuid::parse_str(&w.id) else {
            continue;
        };
        let credential = Credential {
            worker_id: id,
            version: dir.credential_version(&w.id),
        };
        rows.push(api::ExportCredentialsResponse {
            worker_id: w.id.clone(),
            employee_id: w.employee_id.clone(),
            name: w.name.clone(),
            agency_name: agency.name.clone(),
            unit_name: dir.unit_name(&w.agency_id, &w.unit_id),
            code: a.signer.sign(credential),
            version: credential.version,
            total,
        });
    }
    Ok(rows)
}

pub fn verify(
    a: &Attendance,
    p: &Principal,
    req: &api::VerifyCodeRequest,
) -> Result<api::VerifyCodeResponse, ServiceError> {
    let staff = [
        Role::Scanner,
        Role::Supervisor,
        Role::AgencyAdmin,
        Role::ProvinceAdmin,
        Role::Auditor,
    ];
    if !staff.iter().any(|r| p.has(*r)) {
        return Err(DomainError::PermissionDenied("staff only".into()).into());
    }
    if req.code.len() > 4096 {
        return Err(DomainError::invalid("code", "is too long to be a Pantau code").into());
    }
    let dir = a.dir();
    Ok(
        match identify(&*dir, &req.code, a.now(), a.qr_tolerance_steps) {
            Ok((worker, _, _)) => api::VerifyCodeResponse {
                valid: true,
                reason: ev::RejectionReason::Unspecified as i32,
                detail: String::new(),
                worker: Some(super::sessions::card(&dir, worker)),
            },
            Err(r) => api::VerifyCodeResponse {
                valid: false,
                reason: r.reason as i32,
                detail: r.detail,
                worker: dir
                    .workers
                    .get(&r.worker_id)
                    .map(|w| super::sessions::card(&dir, w)),
            },
        },
    )
}

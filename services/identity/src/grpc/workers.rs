//! Worker registration, changes, erasure and queries.

use pantau_proto::events::v1::{self as ev, identity_event::Event};
use pantau_proto::identity::v1 as api;
use prost::Message;

use super::{Identity, local_today, personal};
use crate::core::{Ctx, Executed, agency_subject, create, execute, load, worker_subject};
use crate::domain::{
    Action, AgencyState, BankAccount, DeactivationReason, DomainError, Email, EmployeeId,
    LocalDate, Nik, Nip, PersonName, Phone, Principal, RegisterWorker, RegistrationSource, Role,
    UpdateField, UpdateMask, WorkerCommand, WorkerKind, WorkerState, WorkerUpdate, agency,
    authorize, parse_sites, worker,
};
use crate::error::ServiceError;
use crate::readmodel::WorkerView;

/// A deterministic id from the request id: a retried create addresses the
/// same aggregate, so it is recognised rather than duplicated.
pub fn derived_id(kind: &str, request_id: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("pantau:{kind}:{request_id}").as_bytes(),
    )
    .to_string()
}

pub async fn agency_state(
    id: &Identity,
    agency_id: &str,
    field: &str,
) -> Result<crate::domain::Agency, ServiceError> {
    match load(&id.store, &agency_subject(agency_id), agency::evolve).await? {
        AgencyState::Created(a) => Ok(a),
        AgencyState::NotCreated => {
            Err(DomainError::NotFound(format!("{field}: agency {agency_id} does not exist")).into())
        }
    }
}

fn check_unit(a: &crate::domain::Agency, unit_id: &str, field: &str) -> Result<(), ServiceError> {
    if unit_id.is_empty() || a.units.values().any(|u| u == unit_id) {
        Ok(())
    } else {
        Err(DomainError::NotFound(format!(
            "{field}: unit {unit_id} is not a unit of agency {}",
            a.agency_id
        ))
        .into())
    }
}

pub async fn worker_state(
    id: &Identity,
    worker_id: &str,
) -> Result<crate::domain::Worker, ServiceError> {
    match load(&id.store, &worker_subject(worker_id), worker::evolve).await? {
        WorkerState::Registered(w) => Ok(*w),
        WorkerState::NotRegistered => {
            Err(DomainError::NotFound(format!("worker {worker_id} does not exist")).into())
        }
    }
}

pub(super) fn contact_data(
    nik: &str,
    phone: &str,
    email: &str,
    bank: &str,
    address: &str,
) -> Result<ev::PersonalData, ServiceError> {
    Ok(ev::PersonalData {
        nik: nik.to_owned(),
        phone: if phone.is_empty() {
            String::new()
        } else {
            Phone::parse(phone)?.as_str().to_owned()
        },
        email: if email.is_empty() {
            String::new()
        } else {
            Email::parse(email)?.as_str().to_owned()
        },
        bank_account: if bank.is_empty() {
            String::new()
        } else {
            BankAccount::parse(bank)?.as_str().to_owned()
        },
        address: address.trim().to_owned(),
    })
}

async fn generated_id(id: &Identity, kind: WorkerKind) -> Result<String, ServiceError> {
    let n: i64 = sqlx::query_scalar("SELECT nextval('generated_id_seq')")
        .fetch_one(&id.pool)
        .await?;
    Ok(format!("{}-{n:07}", kind.as_str().to_uppercase()))
}

pub async fn register(
    id: &Identity,
    p: &Principal,
    req: api::RegisterWorkerRequest,
) -> Result<api::RegisterWorkerResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    authorize(
        p,
        &Action::RegisterWorker {
            agency: &req.agency_id,
        },
    )?;
    let kind = WorkerKind::from_api(req.kind)?;
    let name = PersonName::parse(&req.name)?;
    let sites = parse_sites(&req.sites)?;
    id.idempotent(&ctx, "RegisterWorker", &req, async {
        let agency = agency_state(id, &req.agency_id, "agency_id").await?;
        check_unit(&agency, &req.unit_id, "unit_id")?;
        let today = local_today(id.now(), &agency.time_zone);
        let nik = Nik::parse(&req.nik, today)?;
        let employee_id = if kind.requires_nip() {
            EmployeeId::Nip(Nip::parse(&req.nip)?)
        } else if !req.nip.is_empty() {
            return Err(DomainError::invalid("nip", "only civil servants (PNS) have a NIP").into());
        } else {
            EmployeeId::Generated(generated_id(id, kind).await?)
        };
        let supervisor_id = if req.supervisor_id.is_empty() {
            None
        } else {
            Some(supervisor(id, &req.supervisor_id).await?)
        };
        let joined_on = if req.joined_on.is_empty() {
            LocalDate::from(today)
        } else {
            LocalDate::parse("joined_on", &req.joined_on)?
        };
        let worker_id = derived_id("worker", &ctx.request_id);
        let data = contact_data(
            nik.as_str(),
            &req.phone,
            &req.email,
            &req.bank_account,
            &req.address,
        )?;
        let key = personal::key_for(&id.pool, &worker_id).await?;
        let sealed = personal::seal(id, &worker_id, &key, &data)?;
        personal::reserve(id, &worker_id, &sealed.fingerprints).await?;
        let command = RegisterWorker {
            worker_id: worker_id.clone(),
            kind,
            employee_id,
            nik,
            name,
            agency_id: req.agency_id.clone(),
            unit_id: req.unit_id.clone(),
            supervisor_id,
            photo_ref: req.photo_ref.clone(),
            sites: sites
                .iter()
                .enumerate()
                .map(|(i, s)| s.clone().with_id(format!("{worker_id}-site-{i}")))
                .collect(),
            personal: sealed,
            source: RegistrationSource::Direct,
            anomalies: vec![],
            joined_on,
        };
        let done = register_new(id, &ctx, command).await;
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                personal::release(&id.pool, &worker_id).await?;
                return Err(e);
            }
        };
        let employee_id = done
            .state
            .worker()
            .map(|w| w.employee_id.clone())
            .unwrap_or_default();
        if !req.initial_password.is_empty() {
            let account_id = derived_id("account", &ctx.request_id);
            let account = super::accounts::NewAccount {
                account_id: &account_id,
                login_id: &employee_id,
                password: &req.initial_password,
                roles: &[Role::Worker],
                agency: Some(&req.agency_id),
                worker: Some(&worker_id),
                request_id: &ctx.request_id,
            };
            super::accounts::insert_account(id, account).await?;
        }
        id.settle(done.last_sequence).await;
        Ok(api::RegisterWorkerResponse {
            worker_id,
            employee_id,
        })
    })
    .await
}

/// The worker's current personal data, opened with their key.
pub async fn current_personal(
    id: &Identity,
    worker_id: &str,
) -> Result<(ev::PersonalData, ev::Fingerprints), ServiceError> {
    let events = id
        .store
        .load(&worker_subject(worker_id))
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    let mut latest: Option<(ev::EncryptedPersonalData, ev::Fingerprints)> = None;
    for r in &events {
        match crate::core::decode(r)? {
            Event::WorkerRegistered(w) => latest = w.personal.zip(w.fingerprints),
            Event::WorkerUpdated(u) => {
                if let Some(pd) = u.personal {
                    latest = Some((pd, u.fingerprints.unwrap_or_default()));
                }
            }
            _ => {}
        }
    }
    let (sealed, fps) =
        latest.ok_or_else(|| ServiceError::Internal("worker has no personal data".into()))?;
    let key = personal::existing_key(&id.pool, worker_id)
        .await?
        .ok_or_else(|| DomainError::precondition("the worker's personal data was erased"))?;
    let data =
        crate::crypto::open(&key, &sealed).map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok((data, fps))
}

/// Builds a WorkerUpdate from mask + values, resealing personal data.
#[allow(clippy::too_many_arguments)]
pub async fn build_update(
    id: &Identity,
    worker_id: &str,
    mask: UpdateMask,
    name: &str,
    photo_ref: &str,
    sites: &[api::WorkSite],
    contacts: [&str; 4],
) -> Result<(WorkerUpdate, Option<ev::Fingerprints>), ServiceError> {
    let [phone, email, bank, address] = contacts;
    let mut update = WorkerUpdate {
        name: mask
            .contains(UpdateField::Name)
            .then(|| PersonName::parse(name))
            .transpose()?,
        photo_ref: mask
            .contains(UpdateField::PhotoRef)
            .then(|| photo_ref.to_owned()),
        sites: if mask.contains(UpdateField::Sites) {
            let parsed = parse_sites(sites)?;
            let stamp = uuid::Uuid::new_v4().simple().to_string();
            Some(
                parsed
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| s.with_id(format!("{worker_id}-site-{stamp}-{i}")))
                    .collect(),
            )
        } else {
            None
        },
        personal: None,
        mask,
    };
    let mut old_fps = None;
    if update.mask.has_personal() {
        let (mut data, fps) = current_personal(id, worker_id).await?;
        let fresh = contact_data(&data.nik, phone, email, bank, address)?;
        if update.mask.contains(UpdateField::Phone) {
            data.phone = fresh.phone;
        }
        if update.mask.contains(UpdateField::Email) {
            data.email = fresh.email;
        }
        if update.mask.contains(UpdateField::BankAccount) {
            data.bank_account = fresh.bank_account;
        }
        if update.mask.contains(UpdateField::Address) {
            data.address = fresh.address;
        }
        let key = personal::key_for(&id.pool, worker_id).await?;
        update.personal = Some(personal::seal(id, worker_id, &key, &data)?);
        old_fps = Some(fps);
    }
    Ok((update, old_fps))
}

/// The worker, once the caller may change it.
async fn changeable(
    id: &Identity,
    p: &Principal,
    worker_id: &str,
) -> Result<crate::domain::Worker, ServiceError> {
    let w = worker_state(id, worker_id).await?;
    authorize(
        p,
        &Action::ChangeWorker {
            agency: &w.agency_id,
        },
    )?;
    Ok(w)
}

/// Registers a worker under a fresh id (see [`create`]).
pub async fn register_new(
    id: &Identity,
    ctx: &Ctx,
    command: RegisterWorker,
) -> Result<Executed<WorkerState>, ServiceError> {
    let subject = worker_subject(&command.worker_id);
    create(&id.store, &subject, worker::evolve, ctx, |s| {
        worker::decide(s, WorkerCommand::Register(Box::new(command.clone())))
    })
    .await
}

/// Runs one command on a worker aggregate; the caller settles the read
/// model once it has done its own follow-up work.
pub async fn run_worker(
    id: &Identity,
    ctx: &Ctx,
    worker_id: &str,
    command: WorkerCommand,
) -> Result<Executed<WorkerState>, ServiceError> {
    execute(
        &id.store,
        &worker_subject(worker_id),
        worker::evolve,
        ctx,
        |s| worker::decide(s, command.clone()),
    )
    .await
}

pub async fn update(
    id: &Identity,
    p: &Principal,
    req: api::UpdateWorkerRequest,
) -> Result<api::UpdateWorkerResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    changeable(id, p, &req.worker_id).await?;
    let mask = UpdateMask::parse(&req.update_mask)?;
    id.idempotent(&ctx, "UpdateWorker", &req, async {
        let contacts = [&*req.phone, &req.email, &req.bank_account, &req.address];
        let (update, old_fps) = build_update(
            id,
            &req.worker_id,
            mask,
            &req.name,
            &req.photo_ref,
            &req.sites,
            contacts,
        )
        .await?;
        if let Some(new) = update.personal.as_ref().map(|s| &s.fingerprints) {
            personal::reserve(id, &req.worker_id, new).await?;
        }
        let done = run_worker(
            id,
            &ctx,
            &req.worker_id,
            WorkerCommand::Update(update.clone()),
        )
        .await?;
        if let (Some(old), Some(new)) = (old_fps, update.personal.as_ref()) {
            personal::release_changed(&id.pool, &req.worker_id, &old, &new.fingerprints).await?;
        }
        id.settle(done.last_sequence).await;
        Ok(api::UpdateWorkerResponse {})
    })
    .await
}

pub async fn transfer(
    id: &Identity,
    p: &Principal,
    req: api::TransferWorkerRequest,
) -> Result<api::TransferWorkerResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    changeable(id, p, &req.worker_id).await?;
    authorize(
        p,
        &Action::ChangeWorker {
            agency: &req.to_agency_id,
        },
    )?;
    let effective_on = LocalDate::parse("effective_on", &req.effective_on)?;
    id.idempotent(&ctx, "TransferWorker", &req, async {
        let target = agency_state(id, &req.to_agency_id, "to_agency_id").await?;
        check_unit(&target, &req.to_unit_id, "to_unit_id")?;
        let command = WorkerCommand::Transfer {
            to_agency: req.to_agency_id.clone(),
            to_unit: req.to_unit_id.clone(),
            effective_on,
        };
        let done = run_worker(id, &ctx, &req.worker_id, command).await?;
        id.settle(done.last_sequence).await;
        Ok(api::TransferWorkerResponse {})
    })
    .await
}

pub async fn assign_supervisor(
    id: &Identity,
    p: &Principal,
    req: api::AssignSupervisorRequest,
) -> Result<api::AssignSupervisorResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    changeable(id, p, &req.worker_id).await?;
    let effective_on = LocalDate::parse("effective_on", &req.effective_on)?;
    id.idempotent(&ctx, "AssignSupervisor", &req, async {
        supervisor(id, &req.supervisor_id).await?;
        let command = WorkerCommand::AssignSupervisor {
            supervisor_id: req.supervisor_id.clone(),
            effective_on,
        };
        let done = run_worker(id, &ctx, &req.worker_id, command).await?;
        id.settle(done.last_sequence).await;
        Ok(api::AssignSupervisorResponse {})
    })
    .await
}

pub async fn deactivate(
    id: &Identity,
    p: &Principal,
    req: api::DeactivateWorkerRequest,
) -> Result<api::DeactivateWorkerResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    changeable(id, p, &req.worker_id).await?;
    let reason = DeactivationReason::from_api(req.reason)?;
    let effective_on = LocalDate::parse("effective_on", &req.effective_on)?;
    id.idempotent(&ctx, "DeactivateWorker", &req, async {
        let command = WorkerCommand::Deactivate {
            reason,
            effective_on,
            note: req.note.clone(),
        };
        let done = run_worker(id, &ctx, &req.worker_id, command).await?;
        personal::release(&id.pool, &req.worker_id).await?;
        id.settle(done.last_sequence).await;
        Ok(api::DeactivateWorkerResponse {})
    })
    .await
}

pub async fn erase(
    id: &Identity,
    p: &Principal,
    req: api::EraseWorkerRequest,
) -> Result<api::EraseWorkerResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    let w = worker_state(id, &req.worker_id).await?;
    authorize(
        p,
        &Action::EraseWorker {
            agency: &w.agency_id,
        },
    )?;
    id.idempotent(&ctx, "EraseWorker", &req, async {
        let command = WorkerCommand::Erase {
            requested_by: p.subject.clone(),
        };
        let done = run_worker(id, &ctx, &req.worker_id, command).await?;
        // Destroying the key is the erasure; the event tells everyone else.
        sqlx::query("DELETE FROM worker_keys WHERE worker_id = $1")
            .bind(&req.worker_id)
            .execute(&id.pool)
            .await?;
        personal::release(&id.pool, &req.worker_id).await?;
        id.settle(done.last_sequence).await;
        Ok(api::EraseWorkerResponse {})
    })
    .await
}

/// A supervisor must be a registered worker.
async fn supervisor(id: &Identity, supervisor_id: &str) -> Result<String, ServiceError> {
    worker_state(id, supervisor_id)
        .await
        .map(|w| w.worker_id)
        .map_err(|_| {
            DomainError::NotFound(format!(
                "supervisor_id: worker {supervisor_id} does not exist"
            ))
            .into()
        })
}

pub const ERASED: &str = "[erased]";

pub async fn to_api(id: &Identity, v: WorkerView) -> Result<api::Worker, ServiceError> {
    let key = if v.erased {
        None
    } else {
        personal::existing_key(&id.pool, &v.worker_id).await?
    };
    let data = match (key, ev::EncryptedPersonalData::decode(v.sealed.as_slice())) {
        (Some(k), Ok(sealed)) if !v.sealed.is_empty() => crate::crypto::open(&k, &sealed).ok(),
        _ => None,
    };
    let erased = data.is_none();
    let field = |f: fn(&ev::PersonalData) -> &String| {
        data.as_ref()
            .map(|d| f(d).clone())
            .unwrap_or_else(|| ERASED.to_owned())
    };
    Ok(api::Worker {
        nik: field(|d| &d.nik),
        phone: field(|d| &d.phone),
        email: field(|d| &d.email),
        bank_account: field(|d| &d.bank_account),
        address: field(|d| &d.address),
        worker_id: v.worker_id,
        kind: v.kind,
        employee_id: v.employee_id,
        name: v.name,
        agency_id: v.agency_id,
        unit_id: v.unit_id,
        supervisor_id: v.supervisor_id,
        photo_ref: v.photo_ref,
        sites: v
            .sites
            .into_iter()
            .map(|s| api::WorkSite {
                name: s.name,
                latitude: s.latitude,
                longitude: s.longitude,
                radius_m: s.radius_m,
                site_id: s.site_id,
            })
            .collect(),
        status: if v.active {
            api::WorkerStatus::Active
        } else {
            api::WorkerStatus::Inactive
        } as i32,
        deactivation_reason: v.deactivation_reason,
        deactivated_on: v.deactivated_on,
        joined_on: v.joined_on,
        erased: v.erased || erased,
        anomalies: v.anomalies,
        version: v.version,
    })
}

pub async fn get(
    id: &Identity,
    p: &Principal,
    req: api::GetWorkerRequest,
) -> Result<api::GetWorkerResponse, ServiceError> {
    let view: Option<sqlx::types::Json<WorkerView>> =
        sqlx::query_scalar("SELECT view FROM identity_read.workers WHERE worker_id = $1")
            .bind(&req.worker_id)
            .fetch_optional(&id.pool)
            .await?;
    let view = view
        .ok_or_else(|| DomainError::NotFound(format!("worker {} does not exist", req.worker_id)))?
        .0;
    authorize(
        p,
        &Action::ReadWorker {
            agency: &view.agency_id,
            worker_id: &view.worker_id,
        },
    )?;
    Ok(api::GetWorkerResponse {
        worker: Some(to_api(id, view).await?),
    })
}

pub async fn list(
    id: &Identity,
    p: &Principal,
    req: api::ListWorkersRequest,
) -> Result<api::ListWorkersResponse, ServiceError> {
    let agency = (!req.agency_id.is_empty()).then_some(req.agency_id.as_str());
    authorize(p, &Action::ListWorkers { agency })?;
    let size = match req.page_size {
        0 => 100,
        n @ 1..=1000 => n,
        _ => return Err(DomainError::invalid("page_size", "must be 1-1000").into()),
    } as i64;
    let status = match api::WorkerStatus::try_from(req.status) {
        Ok(api::WorkerStatus::Active) => Some(true),
        Ok(api::WorkerStatus::Inactive) => Some(false),
        Ok(api::WorkerStatus::Unspecified) => None,
        Err(_) => return Err(DomainError::invalid("status", "unknown status").into()),
    };
    let kind = if req.kind == 0 {
        None
    } else {
        Some(WorkerKind::from_api(req.kind)?.to_event() as i32)
    };
    let rows: Vec<sqlx::types::Json<WorkerView>> = sqlx::query_scalar(
        "SELECT view FROM identity_read.workers
         WHERE ($1::text IS NULL OR agency_id = $1) AND ($2 = '' OR unit_id = $2)
           AND ($3::bool IS NULL OR active = $3) AND ($4::int IS NULL OR kind = $4)
           AND ($5 = '' OR supervisor_id = $5) AND ($6 = '' OR name ILIKE '%' || $6 || '%')
           AND worker_id > $7
         ORDER BY worker_id LIMIT $8",
    )
    .bind(agency)
    .bind(&req.unit_id)
    .bind(status)
    .bind(kind)
    .bind(&req.supervisor_id)
    .bind(req.name_contains.replace(['%', '_'], ""))
    .bind(&req.page_token)
    .bind(size + 1)
    .fetch_all(&id.pool)
    .await?;
    let more = rows.len() as i64 > size;
    let mut workers = Vec::new();
    for r in rows.into_iter().take(size as usize) {
        workers.push(to_api(id, r.0).await?);
    }
    let next_page_token = if more {
        workers
            .last()
            .map(|w| w.worker_id.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(api::ListWorkersResponse {
        workers,
        next_page_token,
    })
}

//! Legacy payroll import (client streaming). Auditing legacy payrolls is the
//! point, so duplicates of NIK, bank account or phone and NIP/NIK
//! disagreements are imported and recorded as anomalies on the event; rows
//! that cannot be parsed at all are rejected with the field and reason.
//! Rows are appended concurrently, so the event store group-commits them.

use std::collections::HashMap;

use futures::StreamExt;
use pantau_proto::events::v1 as ev;
use pantau_proto::identity::v1 as api;
use tonic::Streaming;

use super::workers::{agency_state, derived_id};
use super::{Identity, local_today, personal};
use crate::core::{Ctx, execute, worker_subject};
use crate::domain::{
    Action, Agency, DomainError, EmployeeId, LocalDate, Nik, Nip, PersonName, Principal,
    RegisterWorker, RegistrationSource, WorkerCommand, WorkerKind, authorize, nip_nik_consistent,
    worker,
};
use crate::error::ServiceError;

const CHUNK: usize = 1000;

struct Prepared {
    line: u32,
    command: RegisterWorker,
}

pub async fn import(
    id: &Identity,
    p: &Principal,
    mut stream: Streaming<api::ImportWorkersRequest>,
) -> Result<api::ImportWorkersResponse, ServiceError> {
    let mut out = api::ImportWorkersResponse::default();
    let mut request_id = String::new();
    let mut agencies: HashMap<String, Agency> = HashMap::new();
    // Fingerprints seen earlier in this import, to flag duplicates within it.
    let mut seen: HashMap<(&'static str, String), String> = HashMap::new();
    let mut last_seq = 0;
    let mut pending: Vec<api::ImportRow> = Vec::new();
    loop {
        let next = stream.next().await;
        let done = next.is_none();
        if let Some(msg) = next {
            let msg = msg.map_err(|e| ServiceError::Unavailable(format!("import stream: {e}")))?;
            if request_id.is_empty() {
                request_id = msg.request_id.clone();
            }
            pending.extend(msg.rows);
        }
        if pending.len() < CHUNK && !done {
            continue;
        }
        let ctx = id.ctx(p, &request_id)?;
        let rows = std::mem::take(&mut pending);
        out.received += rows.len() as u32;
        let mut prepared = Vec::new();
        for row in rows {
            match prepare(id, p, &ctx, &row, &mut agencies, &mut seen).await {
                Ok(c) => prepared.push(c),
                Err(ServiceError::Domain(e)) => out.rejected.push(api::RejectedRow {
                    line: row.line,
                    field: e.field().unwrap_or("").to_owned(),
                    reason: e.to_string(),
                }),
                Err(e) => return Err(e),
            }
        }
        let results = futures::future::join_all(prepared.into_iter().map(|pr| {
            let ctx = Ctx {
                request_id: format!("{}:{}", ctx.request_id, pr.line),
                ..ctx.clone()
            };
            async move {
                // The decider adds a NIP/NIK mismatch anomaly itself.
                let mismatch = match &pr.command.employee_id {
                    EmployeeId::Nip(nip) => nip_nik_consistent(nip, &pr.command.nik).is_err(),
                    EmployeeId::Generated(_) => false,
                };
                let flagged = mismatch || !pr.command.anomalies.is_empty();
                let subject = worker_subject(&pr.command.worker_id);
                let r = execute(&id.store, &subject, worker::evolve, &ctx, |s| {
                    if s.worker().is_some() {
                        return Ok(vec![]); // imported by an earlier attempt
                    }
                    worker::decide(s, WorkerCommand::Register(Box::new(pr.command.clone())))
                })
                .await;
                (pr.line, flagged, r)
            }
        }))
        .await;
        for (line, flagged, r) in results {
            match r {
                Ok(e) if e.appended == 0 => {
                    last_seq = last_seq.max(e.last_sequence);
                    out.already_imported += 1;
                }
                Ok(e) => {
                    last_seq = last_seq.max(e.last_sequence);
                    out.imported += 1;
                    out.flagged += u32::from(flagged);
                }
                Err(ServiceError::Domain(e)) => out.rejected.push(api::RejectedRow {
                    line,
                    field: e.field().unwrap_or("").to_owned(),
                    reason: e.to_string(),
                }),
                Err(e) => return Err(e),
            }
        }
        if done {
            break;
        }
    }
    id.settle(last_seq).await;
    out.rejected.sort_by_key(|r| r.line);
    Ok(out)
}

async fn prepare(
    id: &Identity,
    p: &Principal,
    ctx: &Ctx,
    row: &api::ImportRow,
    agencies: &mut HashMap<String, Agency>,
    seen: &mut HashMap<(&'static str, String), String>,
) -> Result<Prepared, ServiceError> {
    let agency = match agencies.get(&row.agency_code) {
        Some(a) => a.clone(),
        None => {
            let agency_id: Option<String> =
                sqlx::query_scalar("SELECT agency_id FROM agency_codes WHERE code = $1")
                    .bind(&row.agency_code)
                    .fetch_optional(&id.pool)
                    .await?;
            let agency_id = agency_id.ok_or_else(|| {
                DomainError::invalid(
                    "agency_code",
                    format!("no agency has code {:?}", row.agency_code),
                )
            })?;
            let a = agency_state(id, &agency_id, "agency_code").await?;
            agencies.insert(row.agency_code.clone(), a.clone());
            a
        }
    };
    authorize(
        p,
        &Action::RegisterWorker {
            agency: &agency.agency_id,
        },
    )?;
    let unit_id = if row.unit_code.is_empty() {
        String::new()
    } else {
        agency.units.get(&row.unit_code).cloned().ok_or_else(|| {
            DomainError::invalid(
                "unit_code",
                format!("agency {} has no unit {:?}", agency.code, row.unit_code),
            )
        })?
    };
    let kind = WorkerKind::from_api(row.kind)?;
    let today = local_today(id.now(), &agency.time_zone);
    let nik = Nik::parse(&row.nik, today)?;
    let name = PersonName::parse(&row.name)?;
    let worker_id = derived_id("worker", &format!("{}:{}", ctx.request_id, row.line));
    let employee_id = if kind.requires_nip() {
        EmployeeId::Nip(Nip::parse(&row.nip)?)
    } else if !row.legacy_id.is_empty() {
        EmployeeId::Generated(format!(
            "{}-{}",
            kind.as_str().to_uppercase(),
            row.legacy_id.trim()
        ))
    } else {
        EmployeeId::Generated(format!(
            "{}-{}",
            kind.as_str().to_uppercase(),
            &worker_id[..8].to_uppercase()
        ))
    };
    let joined_on = if row.joined_on.is_empty() {
        LocalDate::from(today)
    } else {
        LocalDate::parse("joined_on", &row.joined_on)?
    };
    let data = ev::PersonalData {
        nik: nik.as_str().to_owned(),
        phone: if row.phone.is_empty() {
            String::new()
        } else {
            crate::domain::Phone::parse(&row.phone)?.as_str().to_owned()
        },
        email: if row.email.is_empty() {
            String::new()
        } else {
            crate::domain::Email::parse(&row.email)?.as_str().to_owned()
        },
        bank_account: if row.bank_account.is_empty() {
            String::new()
        } else {
            crate::domain::BankAccount::parse(&row.bank_account)?
                .as_str()
                .to_owned()
        },
        address: row.address.trim().to_owned(),
    };
    let key = personal::key_for(&id.pool, &worker_id).await?;
    let sealed = personal::seal(id, &worker_id, &key, &data)?;
    let mut anomalies = Vec::new();
    for (kind, other) in personal::holders(&id.pool, &sealed.fingerprints).await? {
        if other != worker_id {
            anomalies.push(ev::ImportAnomaly {
                kind: format!("duplicate_{kind}"),
                detail: format!("{kind} already held by worker {other}"),
                other_worker_id: other,
            });
        }
    }
    for (kind, fp) in [
        ("nik", &sealed.fingerprints.nik),
        ("bank_account", &sealed.fingerprints.bank_account),
        ("phone", &sealed.fingerprints.phone),
    ] {
        if fp.is_empty() {
            continue;
        }
        match seen.get(&(kind, fp.clone())) {
            Some(other)
                if *other != worker_id
                    && !anomalies
                        .iter()
                        .any(|a| a.kind == format!("duplicate_{kind}")) =>
            {
                anomalies.push(ev::ImportAnomaly {
                    kind: format!("duplicate_{kind}"),
                    detail: format!("{kind} also on an earlier row of this import"),
                    other_worker_id: other.clone(),
                });
            }
            Some(_) => {}
            None => {
                seen.insert((kind, fp.clone()), worker_id.clone());
            }
        }
    }
    // First holder keeps the reservation; later duplicates are recorded only.
    for (kind, fp) in [
        ("nik", &sealed.fingerprints.nik),
        ("bank_account", &sealed.fingerprints.bank_account),
        ("phone", &sealed.fingerprints.phone),
    ] {
        if !fp.is_empty() {
            sqlx::query("INSERT INTO reservations VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(kind)
                .bind(fp)
                .bind(&worker_id)
                .execute(&id.pool)
                .await?;
        }
    }
    Ok(Prepared {
        line: row.line,
        command: RegisterWorker {
            worker_id,
            kind,
            employee_id,
            nik,
            name,
            agency_id: agency.agency_id.clone(),
            unit_id,
            supervisor_id: None,
            photo_ref: String::new(),
            sites: vec![],
            personal: sealed,
            source: RegistrationSource::LegacyImport,
            anomalies,
            joined_on,
        },
    })
}

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

use super::workers::{agency_state, contact_data, derived_id, register_new};
use super::{Identity, local_today, personal};
use crate::core::Ctx;
use crate::domain::{
    Action, Agency, DomainError, EmployeeId, LocalDate, Nik, Nip, PersonName, Principal,
    RegisterWorker, RegistrationSource, WorkerKind, authorize, nip_nik_consistent,
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
        let mut parsed = Vec::new();
        for row in rows {
            match parse_row(id, p, &ctx, &row, &mut agencies).await {
                Ok(r) => parsed.push(r),
                Err(ServiceError::Domain(e)) => out.rejected.push(rejected(row.line, &e)),
                Err(e) => return Err(e),
            }
        }
        let prepared = seal_chunk(id, parsed, &mut seen).await?;
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
                let r = register_new(id, &ctx, pr.command).await;
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
                Err(ServiceError::Domain(e)) => out.rejected.push(rejected(line, &e)),
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

fn rejected(line: u32, e: &DomainError) -> api::RejectedRow {
    api::RejectedRow {
        line,
        field: e.field().unwrap_or("").to_owned(),
        reason: e.to_string(),
    }
}

/// A row parsed into domain values, not yet sealed.
struct Parsed {
    line: u32,
    worker_id: String,
    kind: WorkerKind,
    employee_id: EmployeeId,
    nik: Nik,
    name: PersonName,
    agency_id: String,
    unit_id: String,
    joined_on: LocalDate,
    data: ev::PersonalData,
}

async fn parse_row(
    id: &Identity,
    p: &Principal,
    ctx: &Ctx,
    row: &api::ImportRow,
    agencies: &mut HashMap<String, Agency>,
) -> Result<Parsed, ServiceError> {
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
    let prefix = kind.as_str().to_uppercase();
    let employee_id = if kind.requires_nip() {
        EmployeeId::Nip(Nip::parse(&row.nip)?)
    } else if !row.legacy_id.is_empty() {
        EmployeeId::Generated(format!("{prefix}-{}", row.legacy_id.trim()))
    } else {
        EmployeeId::Generated(format!("{prefix}-{}", worker_id[..8].to_uppercase()))
    };
    let joined_on = if row.joined_on.is_empty() {
        LocalDate::from(today)
    } else {
        LocalDate::parse("joined_on", &row.joined_on)?
    };
    let data = contact_data(
        nik.as_str(),
        &row.phone,
        &row.email,
        &row.bank_account,
        &row.address,
    )?;
    Ok(Parsed {
        line: row.line,
        worker_id,
        kind,
        employee_id,
        nik,
        name,
        agency_id: agency.agency_id.clone(),
        unit_id,
        joined_on,
        data,
    })
}

/// Keys, sealing, duplicate detection and reservations for a whole chunk in
/// a few statements (a statement per row would cap the import at the
/// database round-trip rate).
async fn seal_chunk(
    id: &Identity,
    parsed: Vec<Parsed>,
    seen: &mut HashMap<(&'static str, String), String>,
) -> Result<Vec<Prepared>, ServiceError> {
    let ids: Vec<String> = parsed.iter().map(|r| r.worker_id.clone()).collect();
    let mut fresh = Vec::with_capacity(ids.len());
    for _ in &ids {
        fresh.push(
            crate::crypto::new_key()
                .map_err(|e| ServiceError::Internal(e.to_string()))?
                .to_vec(),
        );
    }
    sqlx::query(
        "INSERT INTO worker_keys (worker_id, key) SELECT * FROM UNNEST($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&fresh)
    .execute(&id.pool)
    .await?;
    // A retried import keeps the keys of its first attempt.
    let keys: HashMap<String, Vec<u8>> =
        sqlx::query_as("SELECT worker_id, key FROM worker_keys WHERE worker_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&id.pool)
            .await?
            .into_iter()
            .collect();
    let mut sealed = Vec::with_capacity(parsed.len());
    for r in parsed {
        let key: [u8; 32] = keys
            .get(&r.worker_id)
            .and_then(|k| k.as_slice().try_into().ok())
            .ok_or_else(|| ServiceError::Internal(format!("no key for {}", r.worker_id)))?;
        let s = personal::seal(id, &r.worker_id, &key, &r.data)?;
        sealed.push((r, s));
    }
    let (mut kinds, mut fps, mut owners) = (Vec::new(), Vec::new(), Vec::new());
    for (r, s) in &sealed {
        for (kind, fp) in personal::unique_values(&s.fingerprints) {
            if !fp.is_empty() {
                kinds.push(kind.to_owned());
                fps.push(fp.to_owned());
                owners.push(r.worker_id.clone());
            }
        }
    }
    let holders: HashMap<(String, String), String> = sqlx::query_as(
        "SELECT r.kind, r.fingerprint, r.worker_id FROM reservations r
         JOIN UNNEST($1::text[], $2::text[]) AS u(kind, fingerprint) USING (kind, fingerprint)",
    )
    .bind(&kinds)
    .bind(&fps)
    .fetch_all(&id.pool)
    .await?
    .into_iter()
    .map(|(k, f, w): (String, String, String)| ((k, f), w))
    .collect();
    // The first holder keeps the reservation; later duplicates are recorded.
    sqlx::query(
        "INSERT INTO reservations SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&kinds)
    .bind(&fps)
    .bind(&owners)
    .execute(&id.pool)
    .await?;
    let mut out = Vec::with_capacity(sealed.len());
    for (r, s) in sealed {
        let mut anomalies = Vec::new();
        for (kind, fp) in personal::unique_values(&s.fingerprints) {
            if fp.is_empty() {
                continue;
            }
            let held = holders
                .get(&(kind.to_owned(), fp.to_owned()))
                .filter(|w| **w != r.worker_id);
            let earlier = seen
                .get(&(kind, fp.to_owned()))
                .filter(|w| **w != r.worker_id);
            if let Some(other) = held.or(earlier) {
                let detail = if held.is_some() {
                    format!("{kind} already held by worker {other}")
                } else {
                    format!("{kind} also on an earlier row of this import")
                };
                anomalies.push(ev::ImportAnomaly {
                    kind: format!("duplicate_{kind}"),
                    detail,
                    other_worker_id: other.clone(),
                });
            }
            seen.entry((kind, fp.to_owned()))
                .or_insert_with(|| r.worker_id.clone());
        }
        out.push(Prepared {
            line: r.line,
            command: RegisterWorker {
                worker_id: r.worker_id,
                kind: r.kind,
                employee_id: r.employee_id,
                nik: r.nik,
                name: r.name,
                agency_id: r.agency_id,
                unit_id: r.unit_id,
                supervisor_id: None,
                photo_ref: String::new(),
                sites: vec![],
                personal: s,
                source: RegistrationSource::LegacyImport,
                anomalies,
                joined_on: r.joined_on,
            },
        });
    }
    Ok(out)
}

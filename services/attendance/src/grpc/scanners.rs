//! Scanner devices (officer phones): registration, revocation, the device
//! token they call with, and the sessions they may scan for. The token's
//! secret is derived from the service's master secret and the scanner id,
//! so a retried registration returns the same token and no secret is ever
//! stored; the stream carries only its SHA-256.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use pantau_authn::{DeviceToken, DeviceTokenError};
use pantau_proto::attendance::v1 as api;
use pantau_proto::events::v1::{self as ev, attendance_event::Event};
use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use super::{Attendance, not_found};
use crate::core::{execute, scanner_subject};
use crate::directory::Scanner;
use crate::domain::session::invites;
use crate::domain::time::format_local_datetime;
use crate::domain::{DomainError, Principal, parse_id};
use crate::error::ServiceError;

fn device_secret(master: &[u8], scanner_id: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes keys of any length");
    mac.update(b"pantau-scanner-v1");
    mac.update(scanner_id.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[derive(Default, Clone)]
struct ScannerState {
    registered: bool,
    revoked: bool,
}

fn evolve(mut s: ScannerState, e: &Event) -> ScannerState {
    match e {
        Event::ScannerRegistered(_) => s.registered = true,
        Event::ScannerRevoked(_) => s.revoked = true,
        _ => {}
    }
    s
}

pub async fn register(
    a: &Attendance,
    p: &Principal,
    req: api::RegisterScannerRequest,
) -> Result<api::RegisterScannerResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::invalid("name", "must be 1-100 characters").into());
    }
    if req.agency_id.is_empty() {
        if !p.is_province_admin() {
            return Err(DomainError::PermissionDenied(
                "only province admins register province-wide scanners".into(),
            )
            .into());
        }
    } else {
        p.must_manage(&req.agency_id)?;
        if !a.dir().agencies.contains_key(&req.agency_id) {
            return Err(not_found("agency", &req.agency_id));
        }
    }
    let scanner_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("scanner:{}:{}", ctx.actor, ctx.request_id).as_bytes(),
    )
    .to_string();
    let secret = device_secret(&a.dir().master_secret, &scanner_id);
    let digest = Sha256::digest(&secret).to_vec();
    let done = execute(
        &a.store,
        &scanner_subject(&scanner_id),
        evolve,
        &ctx,
        |s: &ScannerState| {
            if s.registered {
                return Err(DomainError::already_exists("scanner_id", &scanner_id));
            }
            Ok(vec![Event::ScannerRegistered(ev::ScannerRegistered {
                scanner_id: scanner_id.clone(),
                name: name.to_owned(),
                agency_id: req.agency_id.clone(),
                secret_sha256: digest.clone(),
            })])
        },
    )
    .await?;
    a.settle_directory(done.last_sequence).await;
    Ok(api::RegisterScannerResponse {
        device_token: DeviceToken::format(&scanner_id, &secret),
        scanner_id,
    })
}

pub async fn revoke(
    a: &Attendance,
    p: &Principal,
    req: api::RevokeScannerRequest,
) -> Result<api::RevokeScannerResponse, ServiceError> {
    let ctx = a.ctx(p, &req.request_id)?;
    parse_id(&req.scanner_id, "scanner_id")?;
    let agency = a
        .dir()
        .scanners
        .get(&req.scanner_id)
        .map(|s| s.agency_id.clone())
        .ok_or_else(|| not_found("scanner", &req.scanner_id))?;
    if agency.is_empty() {
        if !p.is_province_admin() {
            return Err(DomainError::PermissionDenied(
                "only province admins manage province-wide scanners".into(),
            )
            .into());
        }
    } else {
        p.must_manage(&agency)?;
    }
    let done = execute(
        &a.store,
        &scanner_subject(&req.scanner_id),
        evolve,
        &ctx,
        |s: &ScannerState| {
            if s.revoked {
                return Err(DomainError::precondition("the scanner is already revoked"));
            }
            Ok(vec![Event::ScannerRevoked(ev::ScannerRevoked {
                scanner_id: req.scanner_id.clone(),
                reason: req.reason.trim().chars().take(200).collect(),
            })])
        },
    )
    .await?;
    a.settle_directory(done.last_sequence).await;
    Ok(api::RevokeScannerResponse {})
}

/// The scanner holding `authorization: Bearer pantau-device.<id>.<secret>`.
pub fn authenticate(a: &Attendance, metadata: &MetadataMap) -> Result<Scanner, ServiceError> {
    let token = pantau_authn::bearer_token(metadata)?;
    let unauthenticated = |m: &str| ServiceError::Unauthenticated(m.to_owned());
    let token = DeviceToken::parse(token).map_err(|e| match e {
        DeviceTokenError::NotADeviceToken => {
            unauthenticated("scanner calls take a scanner's device token")
        }
        DeviceTokenError::Malformed => unauthenticated("malformed device token"),
    })?;
    let id = token.scanner_id.as_str();
    let dir = a.dir();
    let scanner = dir
        .scanners
        .get(id)
        .ok_or_else(|| unauthenticated("unknown scanner"))?;
    if !token.matches(&scanner.secret_sha256) {
        return Err(unauthenticated("wrong device secret"));
    }
    if scanner.revoked {
        return Err(DomainError::PermissionDenied(format!("scanner {id} has been revoked")).into());
    }
    Ok(scanner.clone())
}

/// A row of `attendance_read.sessions`.
#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: String,
    title: String,
    place: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    time_zone: String,
    invited_agencies: Vec<String>,
    invited_units: Vec<String>,
}

/// The sessions `scanner` is allowed in that have not ended by the
/// service's clock, soonest start first.
pub async fn sessions(
    a: &Attendance,
    scanner: &Scanner,
) -> Result<api::ListScannerSessionsResponse, ServiceError> {
    a.settle_read_to_now().await;
    let rows: Vec<SessionRow> = sqlx::query_as(
        "SELECT session_id, title, place, starts_at, ends_at, time_zone, invited_agencies,
            invited_units
         FROM attendance_read.sessions
         WHERE scanner_ids @> ARRAY[$1] AND ends_at > $2
         ORDER BY starts_at, session_id",
    )
    .bind(&scanner.id)
    .bind(a.now())
    .fetch_all(&a.pool)
    .await?;
    let dir = a.dir();
    let sessions = rows
        .into_iter()
        .map(|r| {
            let tz = r.time_zone.parse().unwrap_or(chrono_tz::Asia::Jakarta);
            let invited: Vec<(String, String)> = r
                .invited_agencies
                .into_iter()
                .zip(r.invited_units)
                .collect();
            let count = dir
                .workers
                .values()
                .filter(|w| w.active && invites(&invited, &w.agency_id, &w.unit_id))
                .count();
            api::ScannerSession {
                session_id: r.session_id,
                title: r.title,
                place: r.place,
                starts_at: format_local_datetime(r.starts_at, tz),
                ends_at: format_local_datetime(r.ends_at, tz),
                time_zone: r.time_zone,
                invited: u32::try_from(count).unwrap_or(u32::MAX),
            }
        })
        .collect();
    Ok(api::ListScannerSessionsResponse { sessions })
}

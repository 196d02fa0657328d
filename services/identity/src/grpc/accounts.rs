//! Accounts and login. Password hashes stay in PostgreSQL; the event stream
//! only learns that an account exists.

use pantau_authn::{Claims, hash_password, verify_password};
use pantau_eventstore::{Expected, NewEvent};
use pantau_platform::ratelimit::whole_secs;
use pantau_proto::events::v1::{self as ev, identity_event::Event};
use pantau_proto::identity::v1 as api;

use super::Identity;
use crate::core::{account_subject, encode};
use crate::domain::{Action, DomainError, Principal, Role, authorize};
use crate::error::ServiceError;

/// A real argon2 hash, verified when the login id is unknown so both
/// answers take the same time.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

pub async fn login(
    id: &Identity,
    req: api::LoginRequest,
) -> Result<api::LoginResponse, ServiceError> {
    // Guessing: a login id with too many failures is locked for a while,
    // even against the right password, whether or not the id exists.
    let key = req.login_id.trim().to_owned();
    let now = std::time::Instant::now();
    let locked = |wait| {
        ServiceError::ResourceExhausted(format!(
            "too many failed sign-ins for this login id; try again in {} s",
            whole_secs(wait)
        ))
    };
    id.login_failures.check(&key, now).map_err(locked)?;
    let failed = || {
        // The bucket may empty here; the next attempt is the one refused.
        let _ = id.login_failures.spend(&key, now);
        ServiceError::Unauthenticated("unknown login id or wrong password".into())
    };
    let row: Option<AccountRow> = sqlx::query_as(
        "SELECT account_id, password_hash, roles, agency_id, worker_id FROM accounts WHERE login_id = $1",
    )
    .bind(&key)
    .fetch_optional(&id.pool)
    .await?;
    let Some(AccountRow {
        account_id,
        password_hash: hash,
        roles,
        agency_id: agency,
        worker_id: worker,
    }) = row
    else {
        let _ = verify_password(&req.password, dummy_hash());
        return Err(failed());
    };
    if !verify_password(&req.password, &hash) {
        return Err(failed());
    }
    let now = id.wall().timestamp();
    let claims = Claims::new(
        account_id,
        roles.clone(),
        agency.clone(),
        worker,
        now,
        id.token_ttl_secs,
        uuid::Uuid::new_v4().to_string(),
    );
    Ok(api::LoginResponse {
        access_token: id.issuer.issue(&claims),
        expires_at_unix: claims.exp,
        roles: roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .map(|r| r.to_api() as i32)
            .collect(),
        agency_id: agency.unwrap_or_default(),
    })
}

/// An account to create.
pub struct NewAccount<'a> {
    pub account_id: &'a str,
    pub login_id: &'a str,
    pub password: &'a str,
    pub roles: &'a [Role],
    pub agency: Option<&'a str>,
    pub worker: Option<&'a str>,
    pub request_id: &'a str,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    account_id: String,
    password_hash: String,
    roles: Vec<String>,
    agency_id: Option<String>,
    worker_id: Option<String>,
}

/// Creates an account row and announces it; used by CreateAccount, worker
/// registration and the bootstrap admin.
pub async fn insert_account(id: &Identity, account: NewAccount<'_>) -> Result<(), ServiceError> {
    let NewAccount {
        account_id,
        login_id,
        password,
        roles,
        agency,
        worker,
        request_id,
    } = account;
    if password.chars().count() < 8 {
        return Err(DomainError::invalid("password", "must be at least 8 characters").into());
    }
    let hash = hash_password(password).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let role_names: Vec<String> = roles.iter().map(|r| r.as_str().to_owned()).collect();
    let inserted = sqlx::query(
        "INSERT INTO accounts (account_id, login_id, password_hash, roles, agency_id, worker_id)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(login_id)
    .bind(&hash)
    .bind(&role_names)
    .bind(agency)
    .bind(worker)
    .execute(&id.pool)
    .await?
    .rows_affected();
    if inserted == 0 {
        let owner: Option<String> =
            sqlx::query_scalar("SELECT account_id FROM accounts WHERE login_id = $1")
                .bind(login_id)
                .fetch_optional(&id.pool)
                .await?;
        if owner.as_deref() != Some(account_id) {
            return Err(DomainError::already_exists("login_id", "is taken").into());
        }
    }
    let event = Event::AccountCreated(ev::AccountCreated {
        account_id: account_id.to_owned(),
        login_id: login_id.to_owned(),
        roles: role_names,
        agency_id: agency.unwrap_or_default().to_owned(),
        worker_id: worker.unwrap_or_default().to_owned(),
    });
    id.store
        .append(NewEvent {
            subject: account_subject(account_id),
            event_type: "AccountCreated".into(),
            schema_version: 1,
            payload: encode(&event),
            expected: Expected::Any,
            msg_id: Some(format!("account:{account_id}")),
            metadata: pantau_eventstore::Metadata {
                request_id: Some(request_id.to_owned()),
                ..Default::default()
            },
        })
        .await
        .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
    Ok(())
}

pub async fn create(
    id: &Identity,
    p: &Principal,
    req: api::CreateAccountRequest,
) -> Result<api::CreateAccountResponse, ServiceError> {
    let ctx = id.ctx(p, &req.request_id)?;
    let roles = req
        .roles
        .iter()
        .map(|r| Role::from_api(*r))
        .collect::<Result<Vec<_>, _>>()?;
    if roles.is_empty() {
        return Err(DomainError::invalid("roles", "at least one role is required").into());
    }
    let agency = (!req.agency_id.is_empty()).then_some(req.agency_id.as_str());
    authorize(
        p,
        &Action::CreateAccount {
            agency,
            roles: &roles,
        },
    )?;
    let needs_agency = roles.iter().any(|r| !r.is_province_wide());
    if needs_agency && agency.is_none() {
        return Err(DomainError::invalid("agency_id", "is required for these roles").into());
    }
    let login = req.login_id.trim();
    if login.is_empty() || login.len() > 64 {
        return Err(DomainError::invalid("login_id", "must be 1-64 characters").into());
    }
    let account_id = super::workers::derived_id("account", &ctx.request_id);
    id.idempotent(&ctx, "CreateAccount", &req, async {
        let worker = (!req.worker_id.is_empty()).then_some(req.worker_id.as_str());
        let account = NewAccount {
            account_id: &account_id,
            login_id: login,
            password: &req.password,
            roles: &roles,
            agency,
            worker,
            request_id: &ctx.request_id,
        };
        insert_account(id, account).await?;
        Ok(api::CreateAccountResponse {
            account_id: account_id.clone(),
        })
    })
    .await
}

//! Database bootstrap: each service owns one database on the shared
//! PostgreSQL server and creates it on first start.

use anyhow::Context;
use sqlx::Connection;

/// Creates database `name` on the server at `server_url` if it does not
/// exist, and returns the URL of that database.
pub async fn ensure_database(server_url: &str, name: &str) -> anyhow::Result<String> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("database name {name:?}: only letters, digits and _ are allowed");
    }
    let mut conn = sqlx::PgConnection::connect(server_url)
        .await
        .with_context(|| "failed to connect to PostgreSQL (PANTAU_DATABASE_URL)")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await;
        if let Err(e) = created {
            // A concurrent instance may have won the race: PostgreSQL says
            // duplicate_database, or, when both got past the catalog check at
            // once, a unique violation on pg_database's name index.
            let code = e
                .as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned());
            if !matches!(code.as_deref(), Some("42P04" | "23505")) {
                return Err(e).with_context(|| format!("failed to create database {name}"));
            }
        }
    }
    let base = server_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(server_url);
    let (base, query) = match server_url.split_once('?') {
        Some((_, q)) => (base.split('?').next().unwrap_or(base), format!("?{q}")),
        None => (base, String::new()),
    };
    Ok(format!("{base}/{name}{query}"))
}

/// Ensures database `name` on the server at `server_url` (see
/// [`ensure_database`]) and opens a pool of up to `max_connections` to it.
pub async fn connect(
    server_url: &str,
    name: &str,
    max_connections: u32,
) -> anyhow::Result<sqlx::PgPool> {
    connect_with(server_url, name, max_connections, &[]).await
}

/// [`connect`] with server `settings` (`SET name = value`) on every
/// connection of the pool.
pub async fn connect_with(
    server_url: &str,
    name: &str,
    max_connections: u32,
    settings: &[(&str, &str)],
) -> anyhow::Result<sqlx::PgPool> {
    let url = ensure_database(server_url, name).await?;
    let options: sqlx::postgres::PgConnectOptions = url
        .parse()
        .with_context(|| format!("invalid database URL for {name}"))?;
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        // While PostgreSQL is down a call waits this long for a connection,
        // then fails (UNAVAILABLE) rather than hanging sqlx's default 30 s.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options.options(settings.iter().copied()))
        .await
        .with_context(|| format!("failed to connect to database {name}"))
}

/// How long a query waits for a pooled connection.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A PostgreSQL advisory-lock key for `parts` (FNV-1a over their bytes):
/// the same in every process and release, so replicas agree on it.
pub fn advisory_key(parts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

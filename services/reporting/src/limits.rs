//! Per-client limits on what anyone on the internet can call: the public
//! HTTP API (`/api/`) and sign-ins through the field app's gateway (the
//! gateway is the only place that sees the phone's address; identity itself
//! locks a login id after repeated failures). Over the limit, the API
//! answers 429 with `Retry-After`, the gateway RESOURCE_EXHAUSTED.
//!
//! The client is the connection's peer, or, behind a proxy that appends it
//! (`PANTAU_REPORTING_FORWARDED_FOR=true`), the last `X-Forwarded-For`
//! address: the one the proxy itself saw, which a client cannot forge.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pantau_platform::ratelimit::{KeyedLimiter, whole_secs};
use serde_json::json;

/// The gateway path of identity's sign-in.
const LOGIN_PATH: &str = "/app/rpc/pantau.identity.v1.IdentityService/Login";

/// The limits, per client address.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Public API requests a second (0: no limit), with bursts of `api_burst`.
    pub api_per_sec: u32,
    pub api_burst: u32,
    /// Sign-ins through the gateway a minute (0: no limit).
    pub logins_per_min: u32,
    pub forwarded_for: bool,
}

impl Settings {
    /// No limits: tests and benchmarks that load the API from one address.
    pub const OFF: Settings = Settings {
        api_per_sec: 0,
        api_burst: 0,
        logins_per_min: 0,
        forwarded_for: false,
    };
}

#[derive(Debug)]
pub struct Limits {
    api: KeyedLimiter<IpAddr>,
    logins: KeyedLimiter<IpAddr>,
    forwarded_for: bool,
}

impl Limits {
    pub fn new(s: Settings) -> Arc<Limits> {
        // `burst` requests, earned back at `per_sec`: a window of burst / rate.
        let api_window = if s.api_per_sec == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(f64::from(s.api_burst) / f64::from(s.api_per_sec))
        };
        Arc::new(Limits {
            api: KeyedLimiter::new(s.api_burst, api_window),
            logins: KeyedLimiter::new(s.logins_per_min, Duration::from_secs(60)),
            forwarded_for: s.forwarded_for,
        })
    }

    fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if !self.forwarded_for {
            return peer.ip();
        }
        // Only the last entry is the proxy's own; anything before it the
        // client may have written.
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|a| a.trim().parse::<IpAddr>().ok())
            .unwrap_or_else(|| peer.ip())
    }
}

/// The middleware: limits `/api/` and the gateway's sign-in, passes the rest.
pub async fn limit(
    State(limits): State<Arc<Limits>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let (limiter, login) = if path.starts_with("/api/") {
        (&limits.api, false)
    } else if path == LOGIN_PATH {
        (&limits.logins, true)
    } else {
        return next.run(req).await;
    };
    let client = limits.client(peer, req.headers());
    match limiter.spend(&client, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let secs = whole_secs(wait);
            tracing::debug!(%client, path, secs, "rate limited");
            let message = format!("too many requests from this address; try again in {secs} s");
            let mut answer = if login {
                // gRPC RESOURCE_EXHAUSTED, as the field app reads a failed call.
                crate::gateway::grpc_status(8, &message)
            } else {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({ "error": message })),
                )
                    .into_response()
            };
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            answer
        }
    }
}

//! The field app's single origin: its built files at `/app/` (from
//! `PANTAU_REPORTING_APP_DIR`) and a gRPC-Web pass-through at
//! `/app/rpc/<package.Service>/<Method>` to the service that owns the
//! package. Every service already speaks gRPC-Web over HTTP/1.1, so the
//! gateway forwards bytes (streaming both ways, server streams included) and
//! understands nothing of the calls: the services authenticate and judge
//! them as they do for any client. A phone needs one URL and no CORS.
//!
//! With gRPC TLS (`pantau_platform::tls`), an `https://` upstream is called
//! over TLS trusting only `PANTAU_TLS_CA`, presenting this service's own
//! certificate to upstreams that require one, in HTTP/2 (the servers' ALPN
//! offers only h2; gRPC-Web rides on it as well). This service's own server
//! is then reached as `https://localhost:<port>`, so its certificate must
//! name `localhost` too. Plaintext upstreams keep HTTP/1.1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::TryStreamExt;
use pantau_platform::tls::GrpcTls;

/// Request bodies up to this size (a 5 MiB photo, framed, with room).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The services the app may call, by their fully qualified gRPC name, and
/// the base URL of each (`http://host:port`).
#[derive(Debug, Clone, Default)]
pub struct Upstreams(pub HashMap<String, String>);

struct Gateway {
    app_dir: PathBuf,
    upstreams: Upstreams,
    client: reqwest::Client,
}

/// The host name this service's own gRPC server is called by when it
/// serves TLS: one its certificate can name wherever it runs.
pub const OWN_HOST: &str = "localhost";

/// The URL the gateway calls this service's gRPC server at, listening on
/// `addr`.
pub fn own_upstream(addr: SocketAddr, tls: &GrpcTls) -> String {
    if tls.serves_tls() {
        format!("https://{OWN_HOST}:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

/// The gateway's router; `own_addr` is where this service's gRPC server
/// listens. Fails only if `tls` cannot make a client (the files were
/// checked with the settings).
pub fn router(
    app_dir: PathBuf,
    upstreams: Upstreams,
    tls: &GrpcTls,
    own_addr: SocketAddr,
) -> anyhow::Result<Router> {
    let gateway = Arc::new(Gateway {
        app_dir,
        upstreams,
        client: client(tls, own_addr)?,
    });
    Ok(Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/", get(file))
        .route("/app/{*path}", get(file))
        .route("/app/rpc/{service}/{method}", post(forward))
        .with_state(gateway))
}

/// HTTP/1.1 in plaintext, as before TLS; with a CA, TLS trusting only it
/// (HTTP/2 by ALPN), this service's certificate as the client's, and
/// [`OWN_HOST`] resolving to this service's own server.
fn client(tls: &GrpcTls, own_addr: SocketAddr) -> anyhow::Result<reqwest::Client> {
    use anyhow::Context;
    let builder = reqwest::Client::builder();
    let Some(ca) = &tls.ca else {
        return Ok(builder.http1_only().build()?);
    };
    let mut builder = builder.tls_built_in_root_certs(false);
    for cert in reqwest::Certificate::from_pem_bundle(ca.pem())
        .context("PANTAU_TLS_CA: not usable by the gateway")?
    {
        builder = builder.add_root_certificate(cert);
    }
    if let Some(own) = &tls.identity {
        let pem = [own.cert.pem(), &b"\n"[..], own.key.pem()].concat();
        builder = builder.identity(
            reqwest::Identity::from_pem(&pem)
                .context("PANTAU_TLS_CERT, PANTAU_TLS_KEY: not usable by the gateway")?,
        );
    }
    Ok(builder
        .resolve(OWN_HOST, pantau_platform::grpc::dial_addr(own_addr))
        .build()?)
}

/// A gRPC-Web answer carrying only a status, in headers (as gRPC-Web
/// clients read a call that failed before any message).
pub(crate) fn grpc_status(code: u8, message: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc-web+proto"),
    );
    headers.insert("grpc-status", HeaderValue::from(u16::from(code)));
    let encoded: String = message
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b" -_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&encoded) {
        headers.insert("grpc-message", v);
    }
    (StatusCode::OK, headers).into_response()
}

/// Headers a gRPC-Web call carries that the upstream needs.
const FORWARDED: &[&str] = &[
    "content-type",
    "x-grpc-web",
    "authorization",
    "grpc-timeout",
    "traceparent",
    "tracestate",
    "x-user-agent",
    "accept",
];

#[tracing::instrument(name = "gateway", skip_all, fields(rpc = %format!("{service}/{method}")))]
async fn forward(
    State(g): State<Arc<Gateway>>,
    UrlPath((service, method)): UrlPath<(String, String)>,
    req: Request,
) -> Response {
    const UNIMPLEMENTED: u8 = 12;
    const UNAVAILABLE: u8 = 14;
    let Some(base) = g.upstreams.0.get(&service).filter(|u| !u.is_empty()) else {
        return grpc_status(
            UNIMPLEMENTED,
            &format!("the gateway does not forward to {service}"),
        );
    };
    const RESOURCE_EXHAUSTED: u8 = 8;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return grpc_status(
            RESOURCE_EXHAUSTED,
            &format!("the request is larger than {MAX_BODY_BYTES} bytes"),
        );
    }
    let url = format!("{}/{service}/{method}", base.trim_end_matches('/'));
    let mut out = g.client.post(&url);
    for name in FORWARDED {
        if let Some(v) = req.headers().get(*name) {
            out = out.header(*name, v.clone());
        }
    }
    // A body sent without a length is cut off at the limit (the call fails).
    let body = Body::new(http_body_util::Limited::new(
        req.into_body(),
        MAX_BODY_BYTES,
    ))
    .into_data_stream()
    .map_err(std::io::Error::other);
    let answer = match out.body(reqwest::Body::wrap_stream(body)).send().await {
        Ok(a) => a,
        Err(e) if e.is_body() => {
            return grpc_status(
                RESOURCE_EXHAUSTED,
                &format!("the request could not be read: {e}"),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, %url, "upstream unreachable");
            return grpc_status(UNAVAILABLE, &format!("{service} is unreachable"));
        }
    };
    let mut response = Response::builder().status(answer.status());
    // Framing is this connection's own: the body is streamed anew.
    let hop_by_hop = [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
    ];
    for (name, value) in answer.headers() {
        if !hop_by_hop.contains(name) {
            response = response.header(HeaderName::from(name), value.clone());
        }
    }
    let stream = answer.bytes_stream().map_err(std::io::Error::other);
    response
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| grpc_status(UNAVAILABLE, "bad upstream answer"))
}

/// `path` under `root`, or None if it tries to leave it.
fn contained(root: &Path, path: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// A file of the built app; a path without an extension is a screen of the
/// app, answered with its page.
async fn file(State(g): State<Arc<Gateway>>, path: Option<UrlPath<String>>) -> Response {
    let path = path.map(|UrlPath(p)| p).unwrap_or_default();
    let not_found = || (StatusCode::NOT_FOUND, "no such file in the field app").into_response();
    let Some(mut target) = contained(&g.app_dir, &path) else {
        return not_found();
    };
    let last = path.rsplit('/').next().unwrap_or("");
    if path.is_empty() || !last.contains('.') {
        target = g.app_dir.join("index.html");
    }
    let bytes = match tokio::fs::read(&target).await {
        Ok(b) => b,
        Err(_) if target.ends_with("index.html") => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!(
                    "The field app has not been built: run `make app` (looked in {}; \
                     PANTAU_REPORTING_APP_DIR sets the folder).\n",
                    g.app_dir.display()
                ),
            )
                .into_response();
        }
        Err(_) => return not_found(),
    };
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (header::CONTENT_TYPE, content_type(&target)),
            (header::CACHE_CONTROL, cache),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_app_folder() {
        let root = Path::new("/srv/app");
        assert_eq!(
            contained(root, "assets/x.js"),
            Some(PathBuf::from("/srv/app/assets/x.js"))
        );
        assert_eq!(contained(root, "../Cargo.toml"), None);
        assert_eq!(contained(root, "assets/../../etc/passwd"), None);
        assert_eq!(contained(root, "/etc/passwd"), None);
    }
}

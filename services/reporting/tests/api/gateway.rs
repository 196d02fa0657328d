//! The field app's origin: its files at /app/ and the gRPC-Web gateway at
//! /app/rpc/, as a phone's browser uses them.

use pantau_proto::reporting::v1 as api;
use prost::Message;

use crate::Cluster;

/// A gRPC-Web call through the gateway: (HTTP status, headers, body).
async fn call(
    c: &Cluster,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, reqwest::header::HeaderMap, Vec<u8>)> {
    let resp = c
        .http
        .post(format!("{}/app/rpc/{path}", c.base))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(body)
        .send()
        .await?;
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    Ok((status, headers, resp.bytes().await?.to_vec()))
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn the_gateway_serves_the_app_and_forwards_its_calls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let closed = pantau_testkit::free_port();
    let app_dir = dir.path().to_path_buf();
    let c = Cluster::start_with(|config| {
        config.app_dir = app_dir;
        config.upstreams.0.insert(
            "pantau.identity.v1.IdentityService".into(),
            format!("http://127.0.0.1:{closed}"),
        );
    })
    .await?;

    // Not built yet: a clear answer, and the rest of the server works.
    let resp = c.http.get(format!("{}/app/", c.base)).send().await?;
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await?.contains("make app"));
    assert_eq!(
        c.http
            .get(format!("{}/healthz", c.base))
            .send()
            .await?
            .status(),
        200
    );

    std::fs::create_dir_all(dir.path().join("assets"))?;
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>field app</title>",
    )?;
    std::fs::write(dir.path().join("assets/app-1234.js"), "console.log(1)")?;
    std::fs::write(dir.path().join("sw.js"), "self.x = 1")?;

    for path in ["/app", "/app/", "/app/scanner/session"] {
        let resp = c.http.get(format!("{}{path}", c.base)).send().await?;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            header(resp.headers(), "cache-control"),
            "no-cache",
            "{path}"
        );
        assert!(header(resp.headers(), "content-type").starts_with("text/html"));
        assert!(resp.text().await?.contains("field app"), "{path}");
    }
    let js = c
        .http
        .get(format!("{}/app/assets/app-1234.js", c.base))
        .send()
        .await?;
    assert!(header(js.headers(), "content-type").starts_with("text/javascript"));
    assert!(header(js.headers(), "cache-control").contains("immutable"));
    let sw = c.http.get(format!("{}/app/sw.js", c.base)).send().await?;
    assert_eq!(header(sw.headers(), "cache-control"), "no-cache");
    for path in [
        "/app/missing.js",
        "/app/%2e%2e/Cargo.toml",
        "/app/assets/%2e%2e/%2e%2e/etc/passwd",
    ] {
        let resp = c.http.get(format!("{}{path}", c.base)).send().await?;
        assert_eq!(resp.status(), 404, "{path}");
    }

    // A call to this service's own gRPC server, through the gateway: one
    // data frame with the answer, then the trailers frame.
    let (status, headers, body) = call(
        &c,
        "pantau.reporting.v1.ReportingService/ListMonths",
        vec![0, 0, 0, 0, 0],
    )
    .await?;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        "application/grpc-web+proto"
    );
    anyhow::ensure!(body.first() == Some(&0), "a data frame first: {body:?}");
    let len = u32::from_be_bytes(body[1..5].try_into()?) as usize;
    api::ListMonthsResponse::decode(&body[5..5 + len])?;
    assert_eq!(body.get(5 + len), Some(&0x80));
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]);
    assert!(trailers.contains("grpc-status:0"), "{trailers}");

    let (_, headers, _) = call(&c, "pantau.nope.v1.Nope/Do", vec![0, 0, 0, 0, 0]).await?;
    assert_eq!(header(&headers, "grpc-status"), "12");
    let (_, headers, _) = call(
        &c,
        "pantau.identity.v1.IdentityService/Login",
        vec![0, 0, 0, 0, 0],
    )
    .await?;
    assert_eq!(header(&headers, "grpc-status"), "14");
    assert!(header(&headers, "grpc-message").contains("unreachable"));
    let too_big = vec![0u8; pantau_reporting::gateway::MAX_BODY_BYTES + 1];
    let (_, headers, _) = call(
        &c,
        "pantau.reporting.v1.ReportingService/ListMonths",
        too_big,
    )
    .await?;
    assert_eq!(header(&headers, "grpc-status"), "8");
    Ok(())
}

#[tokio::test]
async fn a_client_over_its_limits_gets_429_on_the_api_and_resource_exhausted_on_sign_in()
-> anyhow::Result<()> {
    let c = Cluster::start_with(|config| {
        config.limits = pantau_reporting::limits::Settings {
            api_per_sec: 1,
            api_burst: 3,
            logins_per_min: 2,
            forwarded_for: true,
        };
    })
    .await?;
    let api = |from: &'static str| {
        c.http
            .get(format!("{}/api/v1/months", c.base))
            .header("x-forwarded-for", from)
            .send()
    };
    for i in 0..3 {
        assert_eq!(api("203.0.113.7").await?.status(), 200, "request {i}");
    }
    let refused = api("203.0.113.7").await?;
    assert_eq!(refused.status(), 429);
    let retry = header(refused.headers(), "retry-after").parse::<u64>()?;
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert!(refused.text().await?.contains("too many requests"));
    // The proxy appended the address it saw last: that is the client, not
    // what the client claimed in front of it.
    assert_eq!(api("203.0.113.7, 198.51.100.1").await?.status(), 200);
    assert_eq!(api("198.51.100.1, 203.0.113.7").await?.status(), 429);
    // The dashboard and the app's files are not limited.
    for _ in 0..5 {
        let page = c
            .http
            .get(format!("{}/healthz", c.base))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await?;
        assert_eq!(page.status(), 200);
    }

    // Sign-ins through the gateway: two a minute from one address (no
    // identity upstream here, so the allowed ones fail as unforwardable).
    let login = "pantau.identity.v1.IdentityService/Login";
    let send = |from: &'static str| {
        c.http
            .post(format!("{}/app/rpc/{login}", c.base))
            .header("content-type", "application/grpc-web+proto")
            .header("x-forwarded-for", from)
            .body(vec![0u8, 0, 0, 0, 0])
            .send()
    };
    for _ in 0..2 {
        let h = send("203.0.113.9").await?.headers().clone();
        assert_ne!(header(&h, "grpc-status"), "8");
    }
    let h = send("203.0.113.9").await?.headers().clone();
    assert_eq!(header(&h, "grpc-status"), "8", "{h:?}");
    assert!(header(&h, "grpc-message").contains("too many"), "{h:?}");
    assert_ne!(
        header(
            &send("203.0.113.10").await?.headers().clone(),
            "grpc-status"
        ),
        "8"
    );
    Ok(())
}

//! Observability: the service's Prometheus metrics, scraped over HTTP as
//! Prometheus would, and one trace from a gRPC call through its append to
//! the projection that applied the event.

use std::time::Duration;

use opentelemetry_sdk::trace::InMemorySpanExporter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

use crate::helpers::*;

const SERVICE: &str = "pantau.activity.v1.ActivityService";

/// `GET /metrics` over plain HTTP/1.1, as Prometheus asks.
async fn scrape(addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: pantau\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    conn.read_to_string(&mut response).await?;
    anyhow::ensure!(response.starts_with("HTTP/1.1 200"), "{response}");
    anyhow::ensure!(
        response.contains("content-type: text/plain; version=0.0.4"),
        "{response}"
    );
    Ok(response)
}

/// The value of the series written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn calls_are_counted_by_code_and_timed_appends_counted_and_projection_lag_falls_to_zero()
-> anyhow::Result<()> {
    let app = spawn_app_with(|c| c.metrics_addr = Some(([127, 0, 0, 1], 0).into())).await?;
    let metrics = app.running.metrics_addr.expect("a metrics listener");
    let apel = || vec![activity("APEL", "kali", false, false)];

    let published = app.publish(&app.admin, "", "2026-01-01", apel()).await;
    assert_eq!(published?, 1);
    assert_code(
        app.publish("not-a-token", "", "2026-01-01", apel()).await,
        Code::Unauthenticated,
        "a call without a valid token",
    );

    let method = format!(r#"grpc_service="{SERVICE}",grpc_method="PublishCatalog""#);
    let text = scrape(metrics).await?;
    for (code, n) in [("OK", 1.0), ("UNAUTHENTICATED", 1.0)] {
        let series = format!(r#"pantau_grpc_server_requests_total{{{method},grpc_code="{code}"}}"#);
        assert_eq!(value(&text, &series), Some(n), "{series} in\n{text}");
    }
    let count = format!("pantau_grpc_server_handling_seconds_count{{{method}}}");
    assert_eq!(value(&text, &count), Some(2.0), "{text}");
    let le_inf = format!(r#"pantau_grpc_server_handling_seconds_bucket{{{method},le="+Inf"}}"#);
    assert_eq!(value(&text, &le_inf), Some(2.0), "{text}");
    let appended = value(
        &text,
        r#"pantau_eventstore_events_appended_total{stream="PANTAU_ACTIVITY"}"#,
    );
    assert!(appended.is_some_and(|n| n >= 1.0), "{text}");

    // The read model catches up: its lag reaches 0 and the event counts.
    let lag = r#"pantau_projection_lag_events{projection="activity_read"}"#;
    let applied = r#"pantau_projection_events_applied_total{projection="activity_read"}"#;
    let mut text = text;
    for _ in 0..100 {
        if value(&text, lag) == Some(0.0) && value(&text, applied).is_some_and(|n| n >= 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape(metrics).await?;
    }
    assert_eq!(value(&text, lag), Some(0.0), "{text}");
    assert!(value(&text, applied).is_some_and(|n| n >= 1.0), "{text}");
    app.running.stop().await;
    Ok(())
}

#[tokio::test]
async fn one_trace_runs_from_the_grpc_call_through_the_append_to_the_projection()
-> anyhow::Result<()> {
    let spans = InMemorySpanExporter::default();
    assert!(
        pantau_platform::telemetry::init_for_tests_exporting(spans.clone()),
        "this test needs its own process (cargo nextest)"
    );
    let app = spawn_app().await?;
    let apel = vec![activity("APEL", "kali", false, false)];
    assert_eq!(app.publish(&app.admin, "", "2026-01-01", apel).await?, 1);

    // The call's server span, and its trace.
    let path = format!("/{SERVICE}/PublishCatalog");
    let find = |name: &str, attr: Option<(&str, &str)>| {
        spans.get_finished_spans().ok().and_then(|all| {
            all.into_iter().find(|s| {
                s.name == name
                    && attr.is_none_or(|(k, v)| {
                        s.attributes
                            .iter()
                            .any(|a| a.key.as_str() == k && a.value.as_str() == v)
                    })
            })
        })
    };
    let mut grpc = None;
    for _ in 0..100 {
        grpc = find("grpc", Some(("method", &path)));
        if grpc.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let grpc = grpc.expect("the gRPC call's span");
    let trace = grpc.span_context.trace_id();

    // The fixtures' appends are spans of their own traces; the call's is in
    // the call's trace.
    let publish = spans
        .get_finished_spans()?
        .into_iter()
        .find(|s| s.name == "jetstream.publish" && s.span_context.trace_id() == trace)
        .expect("the append's span in the call's trace");

    let mut project = None;
    for _ in 0..100 {
        project = find("project_batch", Some(("projection", "activity_read")))
            .filter(|s| s.span_context.trace_id() == trace);
        if project.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let project = project.expect("the projection's span in the call's trace");
    assert_eq!(
        project.parent_span_id,
        publish.span_context.span_id(),
        "the projection continues from the append that stored the event"
    );
    app.running.stop().await;
    Ok(())
}

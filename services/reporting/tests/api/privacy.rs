//! No public answer carries anything personal: a generated province (with
//! names, employee ids and exact positions in its events) goes onto the
//! streams, and every public JSON and CSV answer is searched for each
//! (positions as the events spell them, every digit).

use std::collections::BTreeSet;

use pantau_fraud::domain::simulate::SimEvent;
use pantau_proto::events::v1::{attendance_event::Event as T, identity_event::Event as I};
use pantau_testkit::{given, then, when};

use crate::Cluster;

#[tokio::test]
async fn no_public_answer_carries_a_name_an_id_or_a_position() -> anyhow::Result<()> {
    let c = given("a reporting service", Cluster::start()).await?;
    let events = when(
        "a generated month of 150 workers is on the streams",
        c.seed(&crate::september(150)),
    )
    .await?;
    let mut personal: BTreeSet<String> = BTreeSet::new();
    for e in &events {
        match e {
            SimEvent::Identity {
                event: I::WorkerRegistered(w),
                ..
            } => {
                personal.insert(w.worker_id.clone());
                personal.insert(w.name.clone());
                if !w.employee_id.is_empty() {
                    personal.insert(w.employee_id.clone());
                }
            }
            SimEvent::Attendance {
                event: T::CheckedIn(x),
                ..
            } => {
                if let Some(p) = x.presence.as_ref().and_then(|p| p.position.as_ref()) {
                    personal.insert(p.latitude.to_string());
                    personal.insert(p.longitude.to_string());
                }
            }
            _ => {}
        }
    }
    c.settle().await?;

    let league = c.json("/api/v1/league?month=2026-09").await?;
    let agencies: Vec<String> = league["agencies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["agency"]["agency_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    then("the generated agencies are listed", !agencies.is_empty());
    let mut paths = vec![
        "/api/v1/months".to_owned(),
        "/api/v1/league?month=2026-09".into(),
        "/api/v1/league.csv?month=2026-09".into(),
        "/api/v1/map?month=2026-09".into(),
        "/api/v1/map.csv?month=2026-09".into(),
        "/api/v1/trends".into(),
        "/api/v1/trends.csv".into(),
    ];
    for a in &agencies {
        for p in [
            format!("/api/v1/agencies/{a}?month=2026-09"),
            format!("/api/v1/agencies/{a}/days.csv?month=2026-09"),
            format!("/api/v1/agencies/{a}/activities.csv?month=2026-09"),
            format!("/api/v1/map?month=2026-09&agency_id={a}"),
            format!("/api/v1/map.csv?month=2026-09&agency_id={a}"),
            format!("/api/v1/trends?agency_id={a}"),
        ] {
            paths.push(p);
        }
    }
    let mut leaks = Vec::new();
    let mut cells_seen = 0;
    for p in &paths {
        let (status, body) = c.get(p, None).await?;
        anyhow::ensure!(status == 200, "GET {p}: {status} {body}");
        for s in &personal {
            if s.len() >= 5 && body.contains(s.as_str()) {
                leaks.push(format!("{p} carries {s:?}"));
            }
        }
        if p.starts_with("/api/v1/map?") {
            let v: serde_json::Value = serde_json::from_str(&body)?;
            for cell in v["cells"].as_array().cloned().unwrap_or_default() {
                cells_seen += 1;
                if cell["workers"].as_u64().unwrap_or(0) < 5 {
                    leaks.push(format!("{p} shows a cell of {} workers", cell["workers"]));
                }
            }
        }
        if p.starts_with("/api/v1/league?") {
            let v: serde_json::Value = serde_json::from_str(&body)?;
            for r in v["agencies"].as_array().cloned().unwrap_or_default() {
                let f = &r["figures"];
                if f["workers"].as_u64().unwrap_or(0) < 5 && f["suppressed"] != true {
                    leaks.push(format!("{p} shows a group of {} workers", f["workers"]));
                }
            }
        }
    }
    then(
        "the public map shows cells (the search is not vacuous)",
        cells_seen > 0,
    );
    then(
        &format!("no public answer is personal or a small cell: {leaks:?}"),
        leaks.is_empty(),
    );
    let leader = c.token(&["province_admin"], None);
    let (status, body) = c
        .get(
            &format!("/api/v1/agencies/{}/workers?month=2026-09", agencies[0]),
            Some(&leader),
        )
        .await?;
    then(
        "a leader's drill-down does name workers (the search would find them)",
        status == 200
            && personal
                .iter()
                .any(|s| s.len() > 8 && body.contains(s.as_str())),
    );
    c.stop().await;
    Ok(())
}

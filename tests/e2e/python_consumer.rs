//! The Python analytics example (examples/python) against a real stream: what
//! the README promises an outside consumer can do, it can do.
//!
//! Needs the pinned Python packages in `.tools/py` (installed by `make test`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use pantau_eventstore::{
    AppendMode, EventStore, Expected, Metadata, NewEvent, StreamSpec, Upcasters,
};
use pantau_proto::events::v1::{
    AgencyCreated, DeactivationReason, IdentityEvent, WorkSite, WorkerDeactivated, WorkerKind,
    WorkerRegistered, identity_event::Event,
};
use pantau_testkit::NatsServer;
use prost::Message as _;
use serde_json::Value;
use uuid::Uuid;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `PYTHONPATH` with the generated classes and `.tools/py` in front of
/// whatever the environment already has.
fn python_path(generated: &Path) -> anyhow::Result<std::ffi::OsString> {
    let tools_py = workspace_root().join(".tools/py");
    if !tools_py.join("nats").is_dir() || !tools_py.join("grpc_tools").is_dir() {
        bail!(
            "{} has no nats-py / grpcio-tools: run `make test`, which installs PY_TEST_DEPS there",
            tools_py.display()
        );
    }
    let mut paths = vec![generated.to_path_buf(), tools_py];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    Ok(std::env::join_paths(paths)?)
}

async fn append(
    store: &EventStore,
    subject: String,
    event_type: &str,
    event: Event,
) -> anyhow::Result<u64> {
    let payload = IdentityEvent { event: Some(event) }.encode_to_vec();
    let id = Uuid::now_v7().to_string();
    let appended = store
        .append(NewEvent {
            subject,
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload: Bytes::from(payload),
            expected: Expected::Any,
            msg_id: None,
            metadata: Metadata {
                correlation_id: id.clone(),
                causation_id: id.clone(),
                request_id: Some(id),
                actor: None,
            },
        })
        .await?;
    Ok(appended.sequence)
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("failed to run {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test]
async fn a_python_consumer_decodes_the_identity_stream() -> anyhow::Result<()> {
    // Its own server, even when PANTAU_NATS_URL names a shared one: the
    // consumer replays the whole stream, so it must hold only these events.
    let nats = NatsServer::spawn(true).await?;
    let client = async_nats::connect(&nats.url).await?;
    let store = EventStore::open(
        client,
        &StreamSpec::for_context("identity"),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;

    let agency_id = Uuid::new_v4().to_string();
    let worker_id = Uuid::new_v4().to_string();
    let agency_subject = format!("pantau.identity.agency.{agency_id}");
    let worker_subject = format!("pantau.identity.worker.{worker_id}");
    let mut sequences = vec![
        append(
            &store,
            agency_subject,
            "AgencyCreated",
            Event::AgencyCreated(AgencyCreated {
                agency_id: agency_id.clone(),
                code: "DISDIK".into(),
                name: "Dinas Pendidikan".into(),
                time_zone: "Asia/Makassar".into(),
            }),
        )
        .await?,
    ];
    sequences.push(
        append(
            &store,
            worker_subject.clone(),
            "WorkerRegistered",
            Event::WorkerRegistered(WorkerRegistered {
                worker_id: worker_id.clone(),
                kind: WorkerKind::Phl as i32,
                employee_id: "PHL-000042".into(),
                agency_id: agency_id.clone(),
                sites: vec![WorkSite {
                    site_id: "site-1".into(),
                    name: "Kantor Dinas".into(),
                    latitude: -5.147_665,
                    longitude: 119.432_732,
                    radius_m: 150,
                }],
                joined_on: "2025-01-02".into(),
                ..Default::default()
            }),
        )
        .await?,
    );
    sequences.push(
        append(
            &store,
            worker_subject,
            "WorkerDeactivated",
            Event::WorkerDeactivated(WorkerDeactivated {
                worker_id: worker_id.clone(),
                reason: DeactivationReason::Resigned as i32,
                effective_on: "2025-06-30".into(),
                note: String::new(),
            }),
        )
        .await?,
    );
    assert_eq!(sequences, [1, 2, 3], "a fresh stream numbers from 1");

    // The classes are generated the way the README says, into a temp dir.
    let root = workspace_root();
    let generated = tempfile::tempdir()?;
    let pythonpath = python_path(generated.path())?;
    run(Command::new(root.join("examples/python/generate.sh"))
        .arg(generated.path())
        .env("PYTHONPATH", &pythonpath))?;

    let stdout = run(Command::new("python3")
        .arg(root.join("examples/python/consume.py"))
        .args(["--url", &nats.url, "--json", "--limit", "3"])
        .env("PYTHONPATH", &pythonpath))?;

    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not a JSON line: {l}")))
        .collect::<anyhow::Result<_>>()?;
    let seqs: Vec<u64> = lines.iter().filter_map(|l| l["seq"].as_u64()).collect();
    let types: Vec<&str> = lines.iter().filter_map(|l| l["type"].as_str()).collect();
    assert_eq!(seqs, sequences, "stream sequences, in order:\n{stdout}");
    assert_eq!(
        types,
        ["AgencyCreated", "WorkerRegistered", "WorkerDeactivated"],
        "event types from the Pantau-Event-Type header:\n{stdout}"
    );

    // The payloads decoded: the oneof variant and its fields are what we wrote.
    let created = &lines[0]["event"]["agency_created"];
    assert_eq!(created["agency_id"], agency_id.as_str(), "{stdout}");
    assert_eq!(created["time_zone"], "Asia/Makassar", "{stdout}");
    let registered = &lines[1]["event"]["worker_registered"];
    assert_eq!(registered["worker_id"], worker_id.as_str(), "{stdout}");
    assert_eq!(registered["agency_id"], agency_id.as_str(), "{stdout}");
    assert_eq!(registered["kind"], "WORKER_KIND_PHL", "{stdout}");
    assert_eq!(registered["sites"][0]["radius_m"], 150, "{stdout}");
    let deactivated = &lines[2]["event"]["worker_deactivated"];
    assert_eq!(deactivated["worker_id"], worker_id.as_str(), "{stdout}");
    assert_eq!(
        deactivated["reason"], "DEACTIVATION_REASON_RESIGNED",
        "{stdout}"
    );
    Ok(())
}

#[tokio::test]
async fn a_python_consumer_decodes_the_attendance_stream() -> anyhow::Result<()> {
    use pantau_proto::events::v1::{
        AttendanceEvent, CheckedIn, GeoPoint, Presence, RejectionReason, ScanRejected, ScanReport,
        attendance_event::Event as A,
    };
    let nats = NatsServer::spawn(true).await?;
    let client = async_nats::connect(&nats.url).await?;
    let store = EventStore::open(
        client,
        &StreamSpec::for_context("attendance"),
        AppendMode::default(),
        Upcasters::new(),
    )
    .await?;
    let worker_id = Uuid::new_v4().to_string();
    let session_id = Uuid::new_v4().to_string();
    let events = [
        (
            format!("pantau.attendance.worker.{worker_id}"),
            "CheckedIn",
            A::CheckedIn(CheckedIn {
                presence: Some(Presence {
                    worker_id: worker_id.clone(),
                    local_date: "2026-11-23".into(),
                    local_minute: 452,
                    position: Some(GeoPoint {
                        latitude: -0.5022,
                        longitude: 117.1536,
                    }),
                    inside: true,
                    ..Default::default()
                }),
            }),
        ),
        (
            format!("pantau.attendance.session.{session_id}"),
            "ScanRejected",
            A::ScanRejected(ScanRejected {
                session_id: session_id.clone(),
                scan: Some(ScanReport {
                    scanner_id: "scanner-1".into(),
                    device_seq: 7,
                    ..Default::default()
                }),
                reason: RejectionReason::ExpiredCode as i32,
                worker_id: worker_id.clone(),
                ..Default::default()
            }),
        ),
    ];
    for (subject, event_type, event) in events {
        store
            .append(NewEvent {
                subject,
                event_type: event_type.to_owned(),
                schema_version: 1,
                payload: Bytes::from(AttendanceEvent { event: Some(event) }.encode_to_vec()),
                expected: Expected::Any,
                msg_id: None,
                metadata: Metadata::default(),
            })
            .await?;
    }
    let root = workspace_root();
    let generated = tempfile::tempdir()?;
    let pythonpath = python_path(generated.path())?;
    run(Command::new(root.join("examples/python/generate.sh"))
        .arg(generated.path())
        .env("PYTHONPATH", &pythonpath))?;
    let stdout = run(Command::new("python3")
        .arg(root.join("examples/python/consume.py"))
        .args([
            "--url",
            &nats.url,
            "--subject",
            "pantau.attendance.>",
            "--json",
        ])
        .env("PYTHONPATH", &pythonpath))?;
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not a JSON line: {l}")))
        .collect::<anyhow::Result<_>>()?;
    assert_eq!(lines.len(), 2, "{stdout}");
    let presence = &lines[0]["event"]["checked_in"]["presence"];
    assert_eq!(presence["worker_id"], worker_id.as_str(), "{stdout}");
    assert_eq!(presence["local_date"], "2026-11-23", "{stdout}");
    assert_eq!(presence["inside"], true, "{stdout}");
    let rejected = &lines[1]["event"]["scan_rejected"];
    assert_eq!(
        rejected["reason"], "REJECTION_REASON_EXPIRED_CODE",
        "{stdout}"
    );
    assert_eq!(
        rejected["scan"]["device_seq"], "7",
        "uint64 is a JSON string: {stdout}"
    );

    // The plain listing names the worker of a check-in through its presence.
    let plain = run(Command::new("python3")
        .arg(root.join("examples/python/consume.py"))
        .args([
            "--url",
            &nats.url,
            "--subject",
            "pantau.attendance.worker.*",
        ])
        .env("PYTHONPATH", &pythonpath))?;
    assert!(plain.contains(&format!("worker_id={worker_id}")), "{plain}");
    Ok(())
}

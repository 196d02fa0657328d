//! An analytics consumer in Python reads the fraud stream: findings with
//! their signals and evidence, and how investigators resolved them.

use pantau_proto::events::v1::{
    EvidenceRef, FindingKind, FindingRaised, FindingResolved, FraudEvent, Resolution, Signal,
    fraud_event::Event as F,
};
use uuid::Uuid;

use crate::python_consumer::{Python, append, assert_listed, stream};

#[tokio::test]
async fn a_python_consumer_decodes_the_fraud_stream() -> anyhow::Result<()> {
    let (nats, store) = stream("fraud").await?;
    let finding_id = "ab".repeat(32);
    let worker_id = Uuid::new_v4().to_string();
    let other = Uuid::new_v4().to_string();
    let subject = format!("pantau.fraud.finding.{finding_id}");
    let events = [
        (
            "FindingRaised",
            F::FindingRaised(FindingRaised {
                finding_id: finding_id.clone(),
                agency_id: "dlh".into(),
                subject_id: worker_id.clone(),
                kind: FindingKind::Ghost as i32,
                risk: 0.93,
                month: "2026-10".into(),
                signals: vec![Signal {
                    detector: "duplicate_nik".into(),
                    weight: 0.9,
                    explanation: "shares a NIK with 1 other worker on the payroll".into(),
                    evidence: vec![EvidenceRef {
                        stream: "PANTAU_IDENTITY".into(),
                        sequence: 42,
                    }],
                    related_workers: vec![other.clone()],
                }],
                raised_at: None,
            }),
        ),
        (
            "FindingResolved",
            F::FindingResolved(FindingResolved {
                finding_id: finding_id.clone(),
                resolution: Resolution::ConfirmedGhost as i32,
                reason: "tidak ditemukan di lapangan".into(),
                resolved_by: "auditor-1".into(),
                at: None,
            }),
        ),
    ];
    let mut sequences = Vec::new();
    for (event_type, event) in events {
        let payload = FraudEvent { event: Some(event) };
        sequences.push(append(&store, subject.clone(), event_type, &payload).await?);
    }
    let python = Python::generate()?;
    let (stdout, lines) = python.consume_json(&nats.url, &["--subject", "pantau.fraud.>"])?;
    assert_listed(
        &stdout,
        &lines,
        &sequences,
        &["FindingRaised", "FindingResolved"],
    );
    let raised = &lines[0]["event"]["finding_raised"];
    assert_eq!(raised["subject_id"], worker_id.as_str(), "{stdout}");
    assert_eq!(raised["kind"], "FINDING_KIND_GHOST", "{stdout}");
    assert_eq!(raised["risk"], 0.93, "{stdout}");
    let signal = &raised["signals"][0];
    assert_eq!(signal["detector"], "duplicate_nik", "{stdout}");
    assert_eq!(
        signal["evidence"][0]["sequence"], "42",
        "uint64 is a JSON string: {stdout}"
    );
    assert_eq!(signal["related_workers"][0], other.as_str(), "{stdout}");
    let resolved = &lines[1]["event"]["finding_resolved"];
    assert_eq!(
        resolved["resolution"], "RESOLUTION_CONFIRMED_GHOST",
        "{stdout}"
    );
    let plain = python.consume(&nats.url, &["--subject", "pantau.fraud.finding.*"])?;
    assert!(
        plain.contains(&format!("finding_id={finding_id}")),
        "{plain}"
    );
    Ok(())
}

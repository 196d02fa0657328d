//! `pantau sim` writes a small province through the real APIs of
//! in-process identity, attendance, activity, scoring and fraud services
//! (dev clock on), publishing the rule set and closing every agency's
//! month in scoring, and `pantau sim evaluate --check` finds the planted
//! frauds at the targets: recall >= 0.95, precision >= 0.9, no scanner
//! officer named.
//! A cluster keeping real time, or one already holding the province, is
//! refused before anything is written.

use std::collections::BTreeSet;

use anyhow::{Context, ensure};
use pantau_testkit::{NatsServer, PgServer};

use crate::{PASSWORD, run_within};

/// The five services with `PANTAU_DEV_CLOCK=true`, and their URLs.
struct Cluster {
    urls: [(&'static str, String); 5],
    _fraud: pantau_fraud::app::Running,
    _scoring: pantau_scoring::app::Running,
    _activity: pantau_activity::app::Running,
    _attendance: pantau_attendance::app::Running,
    _identity: pantau_identity::app::Running,
    _nats: NatsServer,
    _pg: PgServer,
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        let nats = NatsServer::spawn(true).await?;
        let pg = PgServer::spawn().await?;
        let mut identity =
            pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
        identity.dev_clock = true;
        let identity = pantau_identity::app::start(identity).await?;
        let mut attendance = pantau_attendance::config::Config::in_process(&nats.url, &pg.url);
        attendance.dev_clock = true;
        let attendance = pantau_attendance::app::start(attendance).await?;
        let mut activity = pantau_activity::config::Config::in_process(&nats.url, &pg.url);
        activity.dev_clock = true;
        let activity = pantau_activity::app::start(activity).await?;
        let mut fraud = pantau_fraud::config::Config::in_process(&nats.url, &pg.url);
        fraud.dev_clock = true;
        let fraud = pantau_fraud::app::start(fraud).await?;
        let mut scoring = pantau_scoring::config::Config::in_process(&nats.url, &pg.url);
        scoring.dev_clock = true;
        let scoring = Box::pin(pantau_scoring::app::start(scoring)).await?;
        Ok(Cluster {
            urls: [
                ("PANTAU_IDENTITY_URL", format!("http://{}", identity.addr)),
                (
                    "PANTAU_ATTENDANCE_URL",
                    format!("http://{}", attendance.addr),
                ),
                ("PANTAU_ACTIVITY_URL", format!("http://{}", activity.addr)),
                ("PANTAU_FRAUD_URL", format!("http://{}", fraud.addr)),
                ("PANTAU_SCORING_URL", format!("http://{}", scoring.addr)),
            ],
            _fraud: fraud,
            _scoring: scoring,
            _activity: activity,
            _attendance: attendance,
            _identity: identity,
            _nats: nats,
            _pg: pg,
        })
    }

    fn pantau(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pantau"));
        cmd.env("PANTAU_LOGIN_ID", "admin")
            .env("PANTAU_PASSWORD", PASSWORD)
            .args(args)
            .kill_on_drop(true);
        for (k, v) in &self.urls {
            cmd.env(k, v);
        }
        cmd
    }
}

#[tokio::test]
async fn a_simulated_province_through_the_apis_has_its_planted_frauds_found() -> anyhow::Result<()>
{
    pantau_testkit::init_logs();
    let cluster = Cluster::start().await?;
    let dir = tempfile::tempdir()?;
    let truth = dir.path().join("truth.json");
    let truth_arg = truth.to_string_lossy().into_owned();
    let sim = [
        "sim",
        "--workers",
        "160",
        "--fraud-rate",
        "0.25",
        "--seed",
        "11",
        "--month",
        "2026-10",
        "--truth",
        &truth_arg,
    ];
    // Identity keeping real time: nothing can be written for October.
    let real_time = pantau_identity::app::start(pantau_identity::config::Config::in_process(
        &cluster._nats.url,
        &cluster._pg.url,
        PASSWORD,
    ))
    .await?;
    let mut refused = cluster.pantau(&sim);
    refused.env("PANTAU_IDENTITY_URL", format!("http://{}", real_time.addr));
    let out = run_within(&mut refused, 120).await?;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("PANTAU_DEV_CLOCK=true"),
        "{}",
        out.stderr
    );
    assert!(!truth.exists());
    real_time.stop().await;

    let out = run_within(&mut cluster.pantau(&sim), 900).await?;
    ensure!(
        out.code == Some(0),
        "pantau sim failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&truth)?)?;
    assert_eq!(written["failed_calls"], 0);
    let detectors: BTreeSet<&str> = written["planted"]
        .as_array()
        .context("planted")?
        .iter()
        .filter_map(|r| r["detector"].as_str())
        .collect();
    assert_eq!(detectors.len(), 18, "{detectors:?}");
    // Every agency's October is closed with the simulated decree's rules:
    // honest work scores, so the categories spread above the lowest.
    for agency in ["DLH-JKT", "DPU-MKS", "BKPSDM-JYP"] {
        let month = ["scores", "month", "--agency", agency, "--month", "2026-10"];
        let out = run_within(&mut cluster.pantau(&month), 120).await?;
        ensure!(out.code == Some(0), "{}\n{}", out.stdout, out.stderr);
        eprintln!("{}", out.stdout);
        assert!(
            out.stdout
                .contains("closed, revision 1 (finalized figures)"),
            "{}",
            out.stdout
        );
        let score: f64 = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("average score:"))
            .and_then(|v| v.trim().replace(',', "").parse().ok())
            .context("average score")?;
        assert!(
            (50.0..=95.0).contains(&score),
            "{agency}: an average score of {score} is not a working province's\n{}",
            out.stdout
        );
        assert!(out.stdout.contains("baik"), "{}", out.stdout);
    }

    let eval = ["sim", "evaluate", "--truth", &truth_arg, "--check"];
    let out = run_within(&mut cluster.pantau(&eval), 300).await?;
    eprintln!("{}\n{}", out.stdout, out.stderr);
    ensure!(
        out.code == Some(0),
        "below target:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("overall"), "{}", out.stdout);
    assert!(out.stdout.contains("flagged scanners: 0"), "{}", out.stdout);

    // A second simulation on the same cluster is refused before it writes.
    let out = run_within(&mut cluster.pantau(&sim), 120).await?;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("holds a simulated province already"),
        "{}",
        out.stderr
    );
    Ok(())
}

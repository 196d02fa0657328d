//! `pantau scores ...` against in-process identity (for Login, agencies and
//! workers) and scoring. The scoring clock is real time: every month before
//! the current one has ended and may be closed.

use anyhow::{Context, ensure};
use pantau_proto::events::v1::{CategoryThresholds, Rules};
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_proto::identity::v1::{
    CreateAgencyRequest, CreateUnitRequest, RegisterWorkerRequest, WorkerKind,
};
use pantau_proto::scoring::v1::PublishRuleSetRequest;
use pantau_proto::scoring::v1::scoring_service_client::ScoringServiceClient;
use pantau_testkit::{NatsServer, PgServer};

use crate::{Output, PASSWORD, admin_token, authed, command, nik, run};

const OCTOBER: &str = "2026-10";
const CODE: &str = "DLH";

/// Identity with agency DLH (unit DLH-SAPU, `workers` contract workers
/// employed since 2020) and scoring started after it, so scoring's
/// directory already knows them.
struct Cluster {
    identity: pantau_identity::app::Running,
    scoring: pantau_scoring::app::Running,
    identity_url: String,
    scoring_url: String,
    token: String,
    agency_id: String,
    _nats: NatsServer,
    _pg: PgServer,
}

impl Cluster {
    async fn start(workers: u32) -> anyhow::Result<Self> {
        let nats = NatsServer::spawn(true).await?;
        let pg = PgServer::spawn().await?;
        let config = pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
        let identity = pantau_identity::app::start(config).await?;
        let identity_url = format!("http://{}", identity.addr);
        let mut client = IdentityServiceClient::connect(identity_url.clone()).await?;
        let token = admin_token(&mut client).await?;
        let agency = CreateAgencyRequest {
            request_id: "scores-agency".into(),
            code: CODE.into(),
            name: "Dinas Lingkungan Hidup".into(),
            time_zone: "Asia/Jakarta".into(),
        };
        let agency_id = client
            .create_agency(authed(&token, agency)?)
            .await?
            .into_inner()
            .agency_id;
        let unit = CreateUnitRequest {
            request_id: "scores-unit".into(),
            agency_id: agency_id.clone(),
            code: "DLH-SAPU".into(),
            name: "Penyapu Jalan".into(),
        };
        let unit_id = client
            .create_unit(authed(&token, unit)?)
            .await?
            .into_inner()
            .unit_id;
        for n in 0..workers {
            let worker = RegisterWorkerRequest {
                request_id: format!("scores-worker-{n}"),
                kind: WorkerKind::Phl as i32,
                nik: nik(3 + n, 4, 85, false, n + 1),
                name: format!("Penyapu Nomor {n}"),
                agency_id: agency_id.clone(),
                unit_id: unit_id.clone(),
                joined_on: "2020-01-06".into(),
                ..Default::default()
            };
            client.register_worker(authed(&token, worker)?).await?;
        }
        let config = pantau_scoring::config::Config::in_process(&nats.url, &pg.url);
        let scoring = pantau_scoring::app::start(config).await?;
        let scoring_url = format!("http://{}", scoring.addr);
        Ok(Self {
            identity,
            scoring,
            identity_url,
            scoring_url,
            token,
            agency_id,
            _nats: nats,
            _pg: pg,
        })
    }

    /// `pantau scores ...` as the province admin.
    async fn scores(&self, args: &[&str]) -> anyhow::Result<Output> {
        run(command(&self.identity_url, PASSWORD)
            .env("PANTAU_SCORING_URL", &self.scoring_url)
            .arg("scores")
            .args(args))
        .await
    }

    /// The agency's next rule set version, effective from the start of
    /// October, through the API as the province admin.
    async fn publish(&self, request_id: &str, rules: Rules) -> anyhow::Result<u32> {
        let mut client = ScoringServiceClient::connect(self.scoring_url.clone()).await?;
        let request = PublishRuleSetRequest {
            request_id: request_id.into(),
            agency_id: self.agency_id.clone(),
            effective_from: "2026-10-01".into(),
            decree: "Keputusan Bupati 371/22/HK/2021".into(),
            rules: Some(rules),
        };
        Ok(client
            .publish_rule_set(authed(&self.token, request)?)
            .await?
            .into_inner()
            .version)
    }

    async fn stop(self) {
        self.scoring.stop().await;
        self.identity.stop().await;
    }
}

/// The value after `key:` on its own line.
fn field<'a>(out: &'a Output, key: &str) -> anyhow::Result<&'a str> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
        .with_context(|| format!("no {key:?} in:\n{}", out.stdout))
}

#[track_caller]
fn succeeded(out: &Output, what: &str) -> anyhow::Result<()> {
    ensure!(
        out.code == Some(0),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.code,
        out.stdout,
        out.stderr
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_with_corrected_rules_is_accepted_as_the_months_second_revision()
-> anyhow::Result<()> {
    let cluster = Cluster::start(2).await?;
    // The first decree put a score of 0 in "kurang"; the correction uses
    // the national thresholds, which put it in "kurang sekali". Nobody has
    // facts, so every worker scores 0 and changes category.
    let lenient = Rules {
        thresholds: Some(CategoryThresholds {
            sangat_baik: 30.0,
            baik: 20.0,
            cukup: 10.0,
            kurang: 0.0,
        }),
        ..Default::default()
    };
    assert_eq!(cluster.publish("rules-lenient", lenient).await?, 1);

    let close = cluster
        .scores(&["close", "--agency", CODE, "--month", OCTOBER])
        .await?;
    succeeded(&close, "close")?;
    assert_eq!(
        close.stdout.trim(),
        "closed 2026-10 of DLH: revision 1, 2 workers finalized"
    );
    let month = cluster
        .scores(&["month", "--agency", CODE, "--month", OCTOBER])
        .await?;
    succeeded(&month, "month")?;
    assert_eq!(
        field(&month, "status")?,
        "closed, revision 1 (finalized figures)"
    );
    assert!(
        month.stdout.contains("\nkurang         2\n"),
        "{}",
        month.stdout
    );

    assert_eq!(
        cluster.publish("rules-corrected", Rules::default()).await?,
        2
    );
    let rebuild = cluster
        .scores(&["rebuild", "--agency", CODE, "--month", OCTOBER, "--accept"])
        .await?;
    succeeded(&rebuild, "rebuild --accept")?;
    assert_eq!(field(&rebuild, "workers")?, "2");
    assert_eq!(field(&rebuild, "changed")?, "2");
    assert_eq!(field(&rebuild, "category changed")?, "2");
    assert_eq!(field(&rebuild, "points (total)")?, "0.00 -> 0.00");
    let rebuild_id = field(&rebuild, "rebuild id")?;
    ensure!(uuid::Uuid::parse_str(rebuild_id).is_ok(), "{rebuild_id}");
    // The difference names each worker and the category change.
    for n in 0..2 {
        let row = rebuild
            .stdout
            .lines()
            .find(|l| l.contains(&format!("Penyapu Nomor {n}")))
            .with_context(|| format!("worker {n} not in the difference:\n{}", rebuild.stdout))?;
        assert!(
            row.contains("0.00 -> 0.00") && row.ends_with("kurang -> kurang sekali"),
            "{row}"
        );
    }
    assert!(
        rebuild
            .stdout
            .contains("accepted: 2026-10 of DLH is now revision 2 (2 workers changed)"),
        "{}",
        rebuild.stdout
    );

    let month = cluster
        .scores(&["month", "--agency", &cluster.agency_id, "--month", OCTOBER])
        .await?;
    succeeded(&month, "month after the rebuild")?;
    assert_eq!(
        field(&month, "status")?,
        "closed, revision 2 (finalized figures)"
    );
    assert_eq!(field(&month, "workers")?, "2");
    assert!(
        month.stdout.contains("\nkurang sekali  2\n"),
        "{}",
        month.stdout
    );
    assert!(month.stdout.contains("\nDLH-SAPU  2 "), "{}", month.stdout);

    // Rebuilt again with nothing new: no change, nothing published until
    // accepted; discarded, it can no longer be accepted.
    let again = cluster
        .scores(&["rebuild", "--agency", CODE, "--month", OCTOBER])
        .await?;
    succeeded(&again, "second rebuild")?;
    assert_eq!(field(&again, "changed")?, "0");
    assert!(
        again.stdout.contains("no worker's figures change"),
        "{}",
        again.stdout
    );
    let again_id = field(&again, "rebuild id")?;
    assert!(
        again
            .stdout
            .contains(&format!("  pantau scores accept {again_id}\n")),
        "{}",
        again.stdout
    );
    let discard = cluster.scores(&["discard", again_id]).await?;
    succeeded(&discard, "discard")?;
    assert_eq!(
        discard.stdout.trim(),
        format!("discarded rebuild {again_id}")
    );
    let accept = cluster.scores(&["accept", again_id]).await?;
    assert_eq!(accept.code, Some(1), "stdout: {}", accept.stdout);
    assert!(
        accept
            .stderr
            .contains("the rebuild is discarded, not ready (FailedPrecondition)"),
        "stderr: {}",
        accept.stderr
    );

    let disparity = cluster
        .scores(&["disparity", "--agency", CODE, "--month", OCTOBER])
        .await?;
    succeeded(&disparity, "disparity")?;
    assert!(
        disparity.stdout.contains("\nDLH-SAPU  2 ")
            && disparity.stdout.contains("points ratio: n/a"),
        "{}",
        disparity.stdout
    );

    cluster.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rebuilding_an_open_month_fails_with_failed_precondition() -> anyhow::Result<()> {
    let cluster = Cluster::start(1).await?;
    let current = chrono::Utc::now().format("%Y-%m").to_string();
    let out = cluster
        .scores(&["rebuild", "--agency", CODE, "--month", &current])
        .await?;
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
    let expected = format!("error: rebuilding {current} of DLH failed: {current} is not closed");
    assert!(
        out.stderr.starts_with(&expected)
            && out.stderr.trim_end().ends_with("(FailedPrecondition)"),
        "stderr: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);

    // A malformed month never reaches the service.
    let bad = cluster
        .scores(&["month", "--agency", CODE, "--month", "2026-13"])
        .await?;
    assert_eq!(bad.code, Some(2), "stdout: {}", bad.stdout);
    assert!(
        bad.stderr.contains("is not a month: use YYYY-MM"),
        "{}",
        bad.stderr
    );
    cluster.stop().await;
    Ok(())
}

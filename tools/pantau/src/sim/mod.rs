//! `pantau sim`: a synthetic province written through the real gRPC APIs,
//! and `pantau sim evaluate`: the fraud service's findings scored against
//! the ground truth the simulator wrote.
//!
//! The province comes from the fraud service's deterministic generator
//! (`pantau_fraud::domain::simulate`): three agencies in three time zones,
//! workers with supervisors and sites, a month of check-ins, ceremony scans,
//! reports, reviews and leave, and planted frauds of every detector. The
//! simulator makes the calls those people would make, each at its moment of
//! the simulated month (the services' dev clock, `PANTAU_DEV_CLOCK=true`),
//! so every event on the streams is one a service decided to write.

mod cluster;
mod plan;
mod registry;
mod scoring;
mod steps;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{Datelike, Utc};
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use pantau_fraud::domain::Month;
use pantau_fraud::domain::detectors::Detector;
use pantau_fraud::domain::simulate::{self, Named, Planted, SimConfig};
use pantau_proto::fraud::v1 as fraud;
use pantau_proto::fraud::v1::fraud_service_client::FraudServiceClient;
use pantau_proto::identity::v1 as id;
use serde::{Deserialize, Serialize};

use cluster::{Cluster, Who};

/// The services the simulator talks to.
pub struct Urls {
    pub identity: String,
    pub attendance: String,
    pub activity: String,
    pub scoring: String,
    pub fraud: String,
    /// For the `https://` URLs.
    pub tls: pantau_platform::tls::GrpcTls,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: Option<SimCommand>,
    #[command(flatten)]
    pub generate: Generate,
}

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Score the fraud service's findings against a simulation's ground
    /// truth: precision and recall per detector and overall.
    ///
    /// Runs the detectors over the simulated month first, so the findings
    /// are complete.
    Evaluate {
        /// The ground truth `pantau sim` wrote.
        #[arg(long, default_value = "sim-truth.json")]
        truth: PathBuf,
        /// Fail unless recall >= 0.95 and precision >= 0.9 overall, with no
        /// scanner officer named.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct Generate {
    /// Workers in the province.
    #[arg(long, default_value_t = 2000)]
    pub workers: usize,
    /// Share of workers taking part in a planted fraud.
    #[arg(long, default_value_t = 0.02)]
    pub fraud_rate: f64,
    /// The generator's seed: the same seed writes the same province.
    #[arg(long, default_value_t = 0x5EED_2026)]
    pub seed: u64,
    /// The month to simulate, YYYY-MM; defaults to last month.
    #[arg(long)]
    pub month: Option<String>,
    /// Where to write the ground truth.
    #[arg(long, default_value = "sim-truth.json")]
    pub truth: PathBuf,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// The password of every simulated account (workers, supervisors, the
    /// agencies' admins `kadis-<agency>`).
    #[arg(long, default_value = "pantau-sim", hide_default_value = true)]
    pub worker_password: String,
    /// Leave the month open: publish no rule set and close nothing in
    /// scoring (by default the province's rule set is published before the
    /// month and every agency's month is closed once it has ended, so the
    /// scores are final and public).
    #[arg(long)]
    pub no_scoring: bool,
}

/// What `pantau sim` writes and `pantau sim evaluate` reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Truth {
    pub month: String,
    pub seed: u64,
    pub workers: usize,
    pub fraud_rate: f64,
    /// Each planted (worker, detector): who the detector should name.
    pub planted: Vec<TruthRow>,
    /// The scanner officers' worker ids: they must never be named.
    pub scanners: Vec<String>,
    /// Calls the services refused or that failed.
    pub failed_calls: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TruthRow {
    pub worker_id: String,
    pub login_id: String,
    /// The generator's name for the worker.
    pub sim_id: String,
    pub detector: String,
}

/// A request id for the simulator's call `what`: the same simulation
/// rerun sends the same ids, so the services answer instead of writing
/// twice.
pub fn rid(tag: &str, what: &str) -> String {
    if what.is_empty() {
        tag.to_owned()
    } else {
        format!("{tag}-{what}")
    }
}

fn last_month() -> Month {
    let today = Utc::now().date_naive();
    let this = Month {
        year: today.year(),
        month: today.month(),
    };
    let first = this.first_day() - chrono::Duration::days(1);
    Month::of(first)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_finish(ProgressFinish::AndLeave);
    let template =
        format!("{{spinner}} {what} {{bar:40}} {{pos}}/{{len}} ({{elapsed}}, ETA {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

pub async fn run(urls: &Urls, admin: (String, String), args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Evaluate { truth, check }) => evaluate(urls, admin, &truth, check).await,
        None => simulate(urls, admin, args.generate).await,
    }
}

async fn simulate(urls: &Urls, admin: (String, String), g: Generate) -> anyhow::Result<()> {
    if !(0.0..=0.5).contains(&g.fraud_rate) {
        bail!("--fraud-rate must be between 0 and 0.5");
    }
    if g.workers < 20 {
        bail!("--workers must be at least 20 (a supervisor's team)");
    }
    let month = match &g.month {
        Some(m) => Month::parse(m, "month").map_err(|e| anyhow::anyhow!("--month: {e}"))?,
        None => last_month(),
    };
    let config = SimConfig {
        workers: g.workers,
        fraud_rate: g.fraud_rate,
        seed: g.seed,
        month,
    };
    eprintln!(
        "sim: generating {} workers for {month} (fraud rate {}, seed {:#x})",
        g.workers, g.fraud_rate, g.seed
    );
    let started = std::time::Instant::now();
    let sim = simulate::generate(&config);
    let plan = plan::plan(&sim);
    let c = Cluster::connect(urls, admin, g.worker_password.clone()).await?;
    preflight(&c, &plan).await?;
    let tag = format!("sim-{:x}-{}-{month}", g.seed, g.workers);

    registry::agencies(&c, &plan, &tag).await;
    registry::units(&c, &plan, &tag).await;
    if !g.no_scoring {
        scoring::rules_for(&c, &plan, month, &tag).await;
    }
    let registering = bar(plan.workers.len() as u64, "registering workers");
    registry::workers(&c, &plan, &tag, g.concurrency, &|| registering.inc(1)).await;
    registering.finish();
    let known = c.ids().workers.len();
    eprintln!("sim: {known} of {} workers registered", plan.workers.len());

    let writing = bar(plan.steps.len() as u64, &format!("writing {month}"));
    steps::run(&c, &plan.steps, &tag, g.concurrency, &|n| writing.inc(n)).await;
    writing.finish();
    if !g.no_scoring {
        scoring::close(&c, month, &tag).await;
    }

    let failed = c.failures().total();
    let truth = truth_of(&c, &sim, &config, failed);
    write_truth(&g.truth, &truth)?;
    eprintln!(
        "sim: {} calls for {} workers in {:.0} s; {} planted frauds; ground truth in {}",
        plan.steps.len() + plan.workers.len(),
        known,
        started.elapsed().as_secs_f64(),
        truth.planted.len(),
        g.truth.display()
    );
    if failed > 0 {
        for line in c.failures().lines() {
            eprintln!("{line}");
        }
        bail!("{failed} calls failed (listed above); the ground truth may not match the streams");
    }
    Ok(())
}

/// A cluster keeping real time refuses simulated calls: say so before
/// writing anything.
async fn preflight(c: &Cluster, plan: &plan::Plan) -> anyhow::Result<()> {
    let at = plan.agencies.first().map(|(t, _)| *t);
    let probe = c
        .try_call(&Who::Admin, at, id::ListAgenciesRequest {}, |r| {
            let mut s = c.identity.clone();
            async move { s.list_agencies(r).await }
        })
        .await;
    match probe {
        Err(s) if s.code() == tonic::Code::FailedPrecondition => bail!(
            "the identity service keeps real time, so a past month cannot be written: \
             start the cluster with PANTAU_DEV_CLOCK=true (make run does) ({})",
            s.message()
        ),
        Err(s) => bail!("the identity service refused ListAgencies: {}", s.message()),
        Ok(list) => {
            let taken: Vec<String> = plan
                .agencies
                .iter()
                .map(|(_, a)| a.agency_id.to_uppercase())
                .filter(|code| list.agencies.iter().any(|x| &x.code == code))
                .collect();
            if !taken.is_empty() {
                bail!(
                    "this cluster holds a simulated province already (agencies {}); \
                     start from empty data to simulate again (make clean-data, then make run)",
                    taken.join(", ")
                );
            }
            Ok(())
        }
    }
}

fn truth_of(c: &Cluster, sim: &simulate::Simulated, config: &SimConfig, failed: usize) -> Truth {
    let ids = c.ids();
    let real = |w: &str| ids.workers.get(w);
    let planted = sim
        .truth
        .iter()
        .filter_map(
            |Planted {
                 worker_id,
                 detector,
             }| {
                let k = real(worker_id)?;
                Some(TruthRow {
                    worker_id: k.worker_id.clone(),
                    login_id: k.login_id.clone(),
                    sim_id: worker_id.clone(),
                    detector: detector.name().to_owned(),
                })
            },
        )
        .collect();
    Truth {
        month: config.month.to_string(),
        seed: config.seed,
        workers: config.workers,
        fraud_rate: config.fraud_rate,
        planted,
        scanners: sim
            .scanners
            .iter()
            .filter_map(|s| real(s).map(|k| k.worker_id.clone()))
            .collect(),
        failed_calls: failed,
    }
}

fn write_truth(path: &Path, truth: &Truth) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(truth)?;
    std::fs::write(path, json).with_context(|| format!("failed to write {}", path.display()))
}

async fn evaluate(
    urls: &Urls,
    admin: (String, String),
    truth_path: &Path,
    check: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(truth_path)
        .with_context(|| format!("failed to read {}", truth_path.display()))?;
    let truth: Truth = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a ground truth file", truth_path.display()))?;
    let c = Cluster::connect(urls, admin, String::new()).await?;
    let mut f =
        FraudServiceClient::new(crate::client::channel(&urls.fraud, "fraud", &urls.tls).await?);
    let run = fraud::RunDetectorsRequest {
        request_id: format!("sim-evaluate-{}", uuid::Uuid::new_v4()),
        month: truth.month.clone(),
        agency_id: String::new(),
    };
    let ran = f
        .run_detectors(c.request(&Who::Admin, None, run).await?)
        .await
        .map_err(|s| anyhow::anyhow!("RunDetectors failed: {} ({:?})", s.message(), s.code()))?
        .into_inner();
    eprintln!(
        "sim evaluate: detectors raised {} new findings ({} known already)",
        ran.raised, ran.already_known
    );
    let named = findings(&c, &mut f, &truth.month).await?;
    let planted: Vec<Planted> = truth
        .planted
        .iter()
        .filter_map(|r| {
            Some(Planted {
                worker_id: r.worker_id.clone(),
                detector: Detector::parse(&r.detector)?,
            })
        })
        .collect();
    let e = simulate::evaluate_named(&named, &planted, &truth.scanners);
    let logins: BTreeMap<&str, &str> = truth
        .planted
        .iter()
        .map(|r| (r.worker_id.as_str(), r.login_id.as_str()))
        .collect();
    print!("{}", e.table());
    for (w, d) in &e.missed {
        println!(
            "missed: {} {}",
            logins.get(w.as_str()).unwrap_or(&w.as_str()),
            d.name()
        );
    }
    for (w, d) in &e.false_positives {
        println!("false positive: {w} {}", d.name());
    }
    if check {
        let (p, r) = (e.overall.precision(), e.overall.recall());
        if r < 0.95 || p < 0.9 || e.flagged_scanners > 0 {
            bail!(
                "below target: recall {r:.3} (>= 0.95), precision {p:.3} (>= 0.9), \
                 scanner officers named {} (0)",
                e.flagged_scanners
            );
        }
    }
    Ok(())
}

/// Every finding of `month`, resolved or not, with each signal's detector
/// and related workers.
async fn findings(
    c: &Cluster,
    f: &mut FraudServiceClient<tonic::transport::Channel>,
    month: &str,
) -> anyhow::Result<Vec<Named>> {
    let mut named = Vec::new();
    let mut page_token = String::new();
    loop {
        let list = fraud::ListFindingsRequest {
            month: month.to_owned(),
            include_resolved: true,
            page_size: 500,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = f
            .list_findings(c.request(&Who::Admin, None, list).await?)
            .await
            .map_err(|s| anyhow::anyhow!("ListFindings failed: {}", s.message()))?
            .into_inner();
        for summary in &page.findings {
            let get = fraud::GetFindingRequest {
                finding_id: summary.finding_id.clone(),
            };
            let finding = f
                .get_finding(c.request(&Who::Admin, None, get).await?)
                .await
                .map_err(|s| anyhow::anyhow!("GetFinding failed: {}", s.message()))?
                .into_inner()
                .finding
                .unwrap_or_default();
            for s in &finding.signals {
                let Some(detector) = Detector::parse(&s.detector) else {
                    continue;
                };
                named.push(Named {
                    subject: finding.subject_id.clone(),
                    detector,
                    related: s.related_workers.clone(),
                });
            }
        }
        if page.next_page_token.is_empty() {
            return Ok(named);
        }
        page_token = page.next_page_token;
    }
}

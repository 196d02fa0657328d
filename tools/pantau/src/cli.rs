//! Command-line arguments and dispatch.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use pantau_platform::Settings;
use pantau_platform::tls::{self, GrpcTls};

use crate::{client, import, list, qr, scores, sim};

#[derive(Debug, Parser)]
#[command(name = "pantau", version, about = "Operate the Pantau services")]
pub struct Cli {
    /// URL of the identity service.
    #[arg(
        long,
        global = true,
        env = "PANTAU_IDENTITY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub identity: String,
    /// URL of the attendance service (used by `qr`).
    #[arg(
        long,
        global = true,
        env = "PANTAU_ATTENDANCE_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub attendance: String,
    /// URL of the scoring service (used by `scores` and `sim`).
    #[arg(
        long,
        global = true,
        env = "PANTAU_SCORING_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub scoring: String,
    /// URL of the activity service (used by `sim`).
    #[arg(
        long,
        global = true,
        env = "PANTAU_ACTIVITY_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub activity: String,
    /// URL of the fraud service (used by `sim evaluate`).
    #[arg(
        long,
        global = true,
        env = "PANTAU_FRAUD_URL",
        default_value = "http://127.0.0.1:50055"
    )]
    pub fraud: String,
    /// Login id to sign in with.
    #[arg(long, global = true, env = "PANTAU_LOGIN_ID", default_value = "admin")]
    pub login: String,
    /// Password to sign in with.
    #[arg(
        long,
        global = true,
        env = "PANTAU_PASSWORD",
        default_value = "pantau-dev-admin",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub password: String,
    /// CA certificate (PEM file) trusted for `https://` service URLs.
    #[arg(long, global = true, env = "PANTAU_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM file), presented to services that require
    /// one (mutual TLS). Needs --tls-key.
    #[arg(long, global = true, env = "PANTAU_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM file) of --tls-cert.
    #[arg(long, global = true, env = "PANTAU_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// TLS for the `https://` service URLs: the files are read (and
    /// checked) here, so a wrong path stops the command before it calls
    /// anything.
    pub fn tls(&self) -> anyhow::Result<GrpcTls> {
        let env: Vec<(String, String)> = [
            (tls::CA, &self.tls_ca),
            (tls::CERT, &self.tls_cert),
            (tls::KEY, &self.tls_key),
        ]
        .into_iter()
        .filter_map(|(key, path)| Some((key.to_owned(), path.as_ref()?.display().to_string())))
        .collect();
        let settings = Settings::from_sources(&[], &env)?;
        GrpcTls::from_settings(&settings).map_err(|e| anyhow::anyhow!("TLS: {e}"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Workers: import a legacy payroll, list.
    #[command(subcommand)]
    Workers(Workers),
    /// Agencies and their units.
    #[command(subcommand)]
    Agencies(Agencies),
    /// Printed QR credentials for attendance.
    #[command(subcommand)]
    Qr(Qr),
    /// Monthly scores: reports, closing a month, rebuilding a closed one.
    #[command(subcommand)]
    Scores(Scores),
    /// Sign in and print the access token, for HTTP clients: the
    /// reporting dashboard's leader view, or
    /// `curl -H "Authorization: Bearer $(pantau token)" ...`.
    Token,
    /// Write a synthetic province through the APIs, or evaluate the fraud
    /// detectors against one.
    ///
    /// Without a subcommand: generates agencies in three time zones, their
    /// workers, supervisors and sites, a month of check-ins, ceremony scans,
    /// reports, reviews and leave, with planted frauds of every kind, and
    /// makes every call those people would make at its simulated moment. The
    /// cluster must run with PANTAU_DEV_CLOCK=true (`make run` does). The
    /// ground truth goes to --truth for `pantau sim evaluate`.
    #[command(after_help = "Examples:\n  \
        pantau sim --workers 2000 --fraud-rate 0.02 --truth sim-truth.json\n  \
        pantau sim evaluate --truth sim-truth.json --check")]
    Sim(sim::SimArgs),
}

#[derive(Debug, Subcommand)]
pub enum Workers {
    /// Import workers from a legacy payroll CSV with the header
    /// kind,nip,nik,name,agency_code,unit_code,phone,email,bank_account,address,joined_on,legacy_id
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Idempotency key; defaults to "import-" + SHA-256 of the file, so
        /// rerunning the same file imports nothing twice.
        #[arg(long)]
        request_id: Option<String>,
        /// Also write the rejected rows (line,field,reason) to this CSV.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// List every worker (all pages).
    List {
        /// Only this agency (its id or its code).
        #[arg(long)]
        agency: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Agencies {
    /// List every agency with its units.
    List,
}

#[derive(Debug, Subcommand)]
pub enum Qr {
    /// Write the printed QR cards of an agency's active workers.
    ///
    /// Every active worker of the agency (or of one unit) gets a card with
    /// their signed QR code, as a PDF to print and cut out or a ZIP of PNGs
    /// with an index.csv. Needs a province admin or that agency's admin.
    #[command(after_help = "Examples:\n  \
        pantau qr export --agency DISPERTAMAN\n  \
        pantau qr export --agency DISPERTAMAN --unit UPTD-BENIH --format zip --out benih.zip")]
    Export {
        /// The agency: its id or its code.
        #[arg(long)]
        agency: String,
        /// Only this unit of the agency: its id or its code.
        #[arg(long)]
        unit: Option<String>,
        /// The file format.
        #[arg(long, value_enum, default_value_t = qr::Format::Pdf)]
        format: qr::Format,
        /// The file to write; defaults to qr-<AGENCY CODE>[-<UNIT CODE>].pdf
        /// (or .zip) in the current directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Scores {
    /// Recompute a closed month with the rule sets known now.
    ///
    /// Replays the month's history into shadow tables, showing progress,
    /// then prints how the rebuilt scores differ from the finalized ones.
    /// Nothing readers see changes until the rebuild is accepted (here with
    /// --accept, or later with `pantau scores accept`).
    #[command(after_help = "Examples:\n  \
        pantau scores rebuild --agency DISPERTAMAN --month 2026-10\n  \
        pantau scores rebuild --agency DISPERTAMAN --month 2026-10 --accept")]
    Rebuild {
        #[command(flatten)]
        month: AgencyMonth,
        /// Publish the rebuilt scores as the month's next revision.
        #[arg(long)]
        accept: bool,
        /// Idempotency key of the rebuild; defaults to a fresh UUID. Rerun
        /// with the same key to see that rebuild's outcome again.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Publish a rebuild's scores as its month's next revision.
    Accept {
        /// The id `pantau scores rebuild` printed.
        rebuild_id: String,
        /// Idempotency key; defaults to a fresh UUID.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Drop a rebuild that was not accepted.
    Discard {
        /// The id `pantau scores rebuild` printed.
        rebuild_id: String,
    },
    /// Freeze an agency's month for payroll, once it has ended.
    Close {
        #[command(flatten)]
        month: AgencyMonth,
        /// Idempotency key; defaults to a fresh UUID.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// An agency's month: workers, averages, categories and units.
    Month {
        #[command(flatten)]
        month: AgencyMonth,
    },
    /// Points and hours reported per worker, by unit.
    Disparity {
        #[command(flatten)]
        month: AgencyMonth,
    },
}

#[derive(Debug, clap::Args)]
pub struct AgencyMonth {
    /// The agency: its id or its code.
    #[arg(long)]
    pub agency: String,
    /// The month, YYYY-MM.
    #[arg(long, value_parser = scores::parse_month)]
    pub month: String,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let tls = cli.tls()?;
    if let Command::Sim(args) = cli.command {
        let urls = sim::Urls {
            identity: cli.identity,
            attendance: cli.attendance,
            activity: cli.activity,
            scoring: cli.scoring,
            fraud: cli.fraud,
            tls,
        };
        return sim::run(&urls, (cli.login, cli.password), args).await;
    }
    let mut session = client::connect(&cli.identity, &cli.login, &cli.password, tls).await?;
    let client = &mut session.identity;
    match cli.command {
        Command::Workers(Workers::Import {
            file,
            request_id,
            report,
        }) => import::run(client, &file, request_id, report.as_deref()).await,
        Command::Workers(Workers::List { agency }) => list::workers(client, agency).await,
        Command::Agencies(Agencies::List) => list::agencies(client).await,
        Command::Qr(Qr::Export {
            agency,
            unit,
            format,
            out,
        }) => {
            let export = qr::Export {
                agency,
                unit,
                format,
                out,
            };
            qr::export(&mut session, &cli.attendance, export).await
        }
        Command::Scores(command) => scores::run(session, &cli.scoring, command).await,
        Command::Token => {
            println!("{}", session.access_token());
            Ok(())
        }
        Command::Sim(_) => Ok(()),
    }
}

//! Command-line arguments and dispatch.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{client, import, list, qr};

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
    #[command(subcommand)]
    pub command: Command,
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut session = client::connect(&cli.identity, &cli.login, &cli.password).await?;
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
    }
}

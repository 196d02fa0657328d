//! Command-line arguments and dispatch.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{client, import, list};

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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut client = client::connect(&cli.identity, &cli.login, &cli.password).await?;
    match cli.command {
        Command::Workers(Workers::Import {
            file,
            request_id,
            report,
        }) => import::run(&mut client, &file, request_id, report.as_deref()).await,
        Command::Workers(Workers::List { agency }) => list::workers(&mut client, agency).await,
        Command::Agencies(Agencies::List) => list::agencies(&mut client).await,
    }
}

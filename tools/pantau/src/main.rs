//! `pantau`: the operators' command-line tool for the Pantau services.

mod cli;
mod client;
mod import;
mod list;
mod qr;
mod rebuild;
mod scores;
mod sim;
mod table;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

//! `pantau qr export`: streams an agency's printed QR credentials from the
//! attendance service and writes them as a PDF of cards or a ZIP of PNGs.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use pantau_proto::attendance::v1::{ExportCredentialsRequest, ExportCredentialsResponse};
use pantau_proto::identity::v1::{Agency, Unit};
use pantau_qr::Code;
use pantau_qr::sheet::{self, Card};

use crate::client::{Attendance, Session, rpc_error};
use crate::list::{self, find_agency, listing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A4 pages of eight cards to cut out.
    Pdf,
    /// One PNG per worker plus index.csv.
    Zip,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Zip => "zip",
        }
    }
}

#[derive(Debug)]
pub struct Export {
    /// Agency id or code.
    pub agency: String,
    /// Unit id or code within the agency.
    pub unit: Option<String>,
    pub format: Format,
    pub out: Option<PathBuf>,
}

pub async fn export(
    session: &mut Session,
    attendance_url: &str,
    args: Export,
) -> anyhow::Result<()> {
    // Names are resolved before attendance is contacted, so a typo fails fast
    // and says so, whatever state the attendance service is in.
    let agencies = list::all_agencies(&mut session.identity).await?;
    let agency = find_agency(&agencies, &args.agency)?;
    let unit = args
        .unit
        .as_deref()
        .map(|u| find_unit(agency, u))
        .transpose()?;
    let mut client = session.attendance(attendance_url).await?;
    let cards = fetch(&mut client, agency, unit).await?;
    let title = title(agency, unit);
    let bytes = match args.format {
        Format::Pdf => sheet::pdf(&title, &cards),
        Format::Zip => sheet::zip_of_pngs(&cards),
    }
    .context("failed to render the cards")?;
    let path = args
        .out
        .unwrap_or_else(|| default_file(agency, unit, args.format));
    std::fs::write(&path, bytes).with_context(|| format!("failed to write {}", path.display()))?;
    let noun = if cards.len() == 1 { "card" } else { "cards" };
    let empty = if cards.is_empty() {
        " (no active workers)"
    } else {
        ""
    };
    println!("wrote {} {noun} to {}{empty}", cards.len(), path.display());
    Ok(())
}

/// The unit of `agency` whose id is `key`, or whose code is `key` in any case.
fn find_unit<'a>(agency: &'a Agency, key: &str) -> anyhow::Result<&'a Unit> {
    if let Some(u) = agency
        .units
        .iter()
        .find(|u| u.unit_id == key || u.code.eq_ignore_ascii_case(key))
    {
        return Ok(u);
    }
    let known = listing(agency.units.iter().map(|u| u.code.as_str()));
    bail!(
        "unit {key:?} not found: agency {} has no unit with that id or code (units: {known})",
        agency.code
    )
}

/// Every card, in the service's order (unit, then name), with a progress bar
/// sized by the first message's `total`.
async fn fetch(
    client: &mut Attendance,
    agency: &Agency,
    unit: Option<&Unit>,
) -> anyhow::Result<Vec<Card>> {
    let request = ExportCredentialsRequest {
        agency_id: agency.agency_id.clone(),
        unit_id: unit.map(|u| u.unit_id.clone()).unwrap_or_default(),
    };
    let what = "exporting credentials";
    let mut stream = client
        .export_credentials(request)
        .await
        .map_err(|s| rpc_error(what, &s))?
        .into_inner();
    let bar = progress();
    let mut cards = Vec::new();
    while let Some(row) = stream.message().await.map_err(|s| rpc_error(what, &s))? {
        if cards.is_empty() {
            bar.set_length(u64::from(row.total));
        }
        cards.push(card(row)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(cards)
}

/// Refuses a code that would print as a useless card: one scanners cannot
/// read, a phone's rotating code, or one naming another worker.
fn card(row: ExportCredentialsResponse) -> anyhow::Result<Card> {
    let bad = |why: &str| format!("the service sent {why} for worker {}", row.worker_id);
    let credential = match pantau_qr::parse(&row.code) {
        Ok(Code::Static(code)) => code.credential,
        Ok(Code::Rotating(_)) => bail!(bad("a rotating (phone) code")),
        Err(e) => return Err(e).with_context(|| bad("an unreadable code")),
    };
    if credential.worker_id.to_string() != row.worker_id.to_ascii_lowercase() {
        bail!(bad(&format!(
            "a code naming worker {}",
            credential.worker_id
        )));
    }
    Ok(Card {
        name: row.name,
        employee_id: row.employee_id,
        unit: row.unit_name,
        agency: row.agency_name,
        code: row.code,
    })
}

fn title(agency: &Agency, unit: Option<&Unit>) -> String {
    match unit {
        Some(u) => format!("{} / {} — kartu QR presensi", agency.name, u.name),
        None => format!("{} — kartu QR presensi", agency.name),
    }
}

/// `qr-<agency code>[-<unit code>].<ext>`, kept to characters safe in any
/// file name.
fn default_file(agency: &Agency, unit: Option<&Unit>, format: Format) -> PathBuf {
    let mut stem = format!("qr-{}", agency.code);
    if let Some(u) = unit {
        stem.push('-');
        stem.push_str(&u.code);
    }
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!("{stem}.{}", format.extension()))
}

fn progress() -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_finish(ProgressFinish::AndClear);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} exporting cards {bar:40} {pos}/{len} ({elapsed})")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency() -> Agency {
        Agency {
            agency_id: "a-1".into(),
            code: "DISPERTAMAN".into(),
            name: "Dinas Pertanian".into(),
            time_zone: "Asia/Jakarta".into(),
            units: vec![Unit {
                unit_id: "u-1".into(),
                code: "UPTD-BENIH".into(),
                name: "UPTD Benih".into(),
            }],
        }
    }

    #[test]
    fn agencies_and_units_are_found_by_id_or_code_in_any_case() -> anyhow::Result<()> {
        let agencies = [agency()];
        assert_eq!(find_agency(&agencies, "a-1")?.code, "DISPERTAMAN");
        let found = find_agency(&agencies, "dispertaman")?;
        assert_eq!(find_unit(found, "u-1")?.code, "UPTD-BENIH");
        assert_eq!(find_unit(found, "uptd-benih")?.unit_id, "u-1");
        Ok(())
    }

    #[test]
    fn an_unknown_agency_or_unit_is_named_with_what_exists() {
        let agencies = [agency()];
        let err = find_agency(&agencies, "NOPE").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "agency \"NOPE\" not found: no agency has that id or code \
                 (agencies: DISPERTAMAN)"
            )
        );
        let err = find_unit(&agencies[0], "X").err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unit \"X\" not found") && e.contains("UPTD-BENIH")),
            "{err:?}"
        );
    }

    #[test]
    fn default_file_names_carry_the_codes() {
        let a = agency();
        assert_eq!(
            default_file(&a, None, Format::Pdf),
            PathBuf::from("qr-DISPERTAMAN.pdf")
        );
        assert_eq!(
            default_file(&a, a.units.first(), Format::Zip),
            PathBuf::from("qr-DISPERTAMAN-UPTD-BENIH.zip")
        );
    }

    #[test]
    fn a_row_whose_code_does_not_parse_is_refused() {
        let row = ExportCredentialsResponse {
            worker_id: "w".into(),
            code: "not a code".into(),
            ..Default::default()
        };
        let err = card(row).err().map(|e| format!("{e:#}"));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unreadable code for worker w")),
            "{err:?}"
        );
    }
}

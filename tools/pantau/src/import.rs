//! `pantau workers import`: streams a legacy payroll CSV to ImportWorkers.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, bail};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use pantau_proto::identity::v1::{
    ImportRow, ImportWorkersRequest, ImportWorkersResponse, RejectedRow, WorkerKind,
};
use sha2::{Digest, Sha256};

use crate::client::{Client, rpc_error};

/// The columns the CSV header may name, in the documented order.
pub const COLUMNS: [&str; 12] = [
    "kind",
    "nip",
    "nik",
    "name",
    "agency_code",
    "unit_code",
    "phone",
    "email",
    "bank_account",
    "address",
    "joined_on",
    "legacy_id",
];
/// Columns without which no row could be imported.
const REQUIRED: [&str; 4] = ["kind", "nik", "name", "agency_code"];
const ROWS_PER_MESSAGE: usize = 500;

pub async fn run(
    client: &mut Client,
    file: &Path,
    request_id: Option<String>,
    report: Option<&Path>,
) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    let request_id = request_id.unwrap_or_else(|| default_request_id(&bytes));
    let rows = parse_rows(&bytes).with_context(|| format!("{}", file.display()))?;
    let total = rows.len() as u64;
    let bar = progress(total);
    let sent = bar.clone();
    let stream = futures::stream::iter(into_messages(request_id, rows))
        .inspect(move |m| sent.inc(m.rows.len() as u64));
    let response = client.import_workers(stream).await;
    bar.finish_and_clear();
    let response = response.map_err(|s| rpc_error("import", &s))?.into_inner();
    print!("{}", summary(&response));
    if let Some(path) = report {
        write_report(path, &response.rejected)
            .with_context(|| format!("failed to write the report {}", path.display()))?;
        eprintln!(
            "wrote {} rejected rows to {}",
            response.rejected.len(),
            path.display()
        );
    }
    Ok(())
}

/// "import-" + hex SHA-256 of the file: the same file is the same import.
pub fn default_request_id(bytes: &[u8]) -> String {
    format!("import-{}", hex::encode(Sha256::digest(bytes)))
}

/// Reads the CSV into rows, numbering each by the line it starts on (the
/// header is line 1). Columns are found by header name; any missing optional
/// column reads as empty. Cells are sent as written (trimmed): validating
/// them is the service's job, and it reports every bad row.
pub fn parse_rows(bytes: &[u8]) -> anyhow::Result<Vec<ImportRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.byte_headers().context("failed to read the header")?;
    let index: HashMap<String, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = String::from_utf8_lossy(h);
            (name.trim_start_matches('\u{feff}').to_lowercase(), i)
        })
        .collect();
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|c| !index.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the header lacks the column(s) {}; expected {}",
            missing.join(", "),
            COLUMNS.join(",")
        );
    }
    let mut unknown: Vec<&str> = index
        .keys()
        .map(String::as_str)
        .filter(|k| !COLUMNS.contains(k))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        eprintln!("warning: ignoring unknown column(s) {}", unknown.join(", "));
    }
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let record = record.context("failed to read the CSV")?;
        let line = record.position().map_or(0, |p| first_line(bytes, p));
        let cell = |name: &str| -> String {
            index
                .get(name)
                .and_then(|&i| record.get(i))
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        rows.push(ImportRow {
            line: u32::try_from(line).context("the file has too many lines")?,
            kind: kind(&cell("kind")) as i32,
            nip: cell("nip"),
            nik: cell("nik"),
            name: cell("name"),
            agency_code: cell("agency_code"),
            unit_code: cell("unit_code"),
            phone: cell("phone"),
            email: cell("email"),
            bank_account: cell("bank_account"),
            address: cell("address"),
            joined_on: cell("joined_on"),
            legacy_id: cell("legacy_id"),
        });
    }
    Ok(rows)
}

/// The line a record starts on: csv counts blank lines skipped before a
/// record as part of it, so step over them.
fn first_line(bytes: &[u8], p: &csv::Position) -> u64 {
    let mut line = p.line();
    let rest = bytes.get(p.byte() as usize..).unwrap_or_default();
    for b in rest {
        match b {
            b'\n' => line += 1,
            b'\r' => {}
            _ => break,
        }
    }
    line
}

/// PNS/PHL/THL/TJP in any case; anything else is sent as unspecified so the
/// service rejects the row with its reason.
pub fn kind(s: &str) -> WorkerKind {
    match s.trim().to_ascii_uppercase().as_str() {
        "PNS" => WorkerKind::Pns,
        "PHL" => WorkerKind::Phl,
        "THL" => WorkerKind::Thl,
        "TJP" => WorkerKind::Tjp,
        _ => WorkerKind::Unspecified,
    }
}

/// Messages of at most [`ROWS_PER_MESSAGE`] rows; the first carries the
/// request id. An empty file still sends one message.
fn into_messages(request_id: String, rows: Vec<ImportRow>) -> Vec<ImportWorkersRequest> {
    let mut messages = Vec::with_capacity(rows.len() / ROWS_PER_MESSAGE + 1);
    let mut rows = rows.into_iter().peekable();
    loop {
        let chunk: Vec<ImportRow> = rows.by_ref().take(ROWS_PER_MESSAGE).collect();
        let request_id = if messages.is_empty() {
            request_id.clone()
        } else {
            String::new()
        };
        messages.push(ImportWorkersRequest {
            request_id,
            rows: chunk,
        });
        if rows.peek().is_none() {
            return messages;
        }
    }
}

fn progress(total: u64) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} sending rows {bar:40} {pos}/{len} ({per_sec}, {elapsed})",
    ) {
        bar.set_style(style);
    }
    bar
}

/// The counts, then every rejected row as `line N: field: reason`.
pub fn summary(r: &ImportWorkersResponse) -> String {
    let mut out = format!(
        "received:          {}\nimported:          {}\nflagged:           {}\nalready imported:  {}\nrejected:          {}\n",
        r.received,
        r.imported,
        r.flagged,
        r.already_imported,
        r.rejected.len()
    );
    for row in &r.rejected {
        if row.field.is_empty() {
            out.push_str(&format!("line {}: {}\n", row.line, row.reason));
        } else {
            out.push_str(&format!(
                "line {}: {}: {}\n",
                row.line, row.field, row.reason
            ));
        }
    }
    out
}

fn write_report(path: &Path, rejected: &[RejectedRow]) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["line", "field", "reason"])?;
    for r in rejected {
        w.write_record([r.line.to_string().as_str(), &r.field, &r.reason])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_by_line_and_mapped_by_header() -> anyhow::Result<()> {
        let csv = "nik,kind,name,agency_code\r\n3171011505900001,phl,Budi,DISPERTAMAN\r\n\r\n\"3171011505900002\",XYZ,\"Siti\nAminah\",DISPERTAMAN\n9,PNS,Ani,X\n\n\n";
        let rows = parse_rows(csv.as_bytes())?;
        let lines: Vec<u32> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4, 6]);
        assert_eq!(rows[0].kind, WorkerKind::Phl as i32);
        assert_eq!(rows[1].kind, WorkerKind::Unspecified as i32);
        assert_eq!(rows[2].kind, WorkerKind::Pns as i32);
        assert_eq!(rows[0].nik, "3171011505900001");
        assert_eq!(rows[1].name, "Siti\nAminah");
        assert_eq!(rows[0].phone, "");
        Ok(())
    }

    #[test]
    fn a_header_without_required_columns_is_refused() {
        let err = parse_rows(b"kind,name\nPHL,Budi\n").err();
        assert!(err.is_some_and(|e| e.to_string().contains("nik, agency_code")));
    }

    #[test]
    fn messages_hold_500_rows_and_the_first_carries_the_request_id() {
        let rows = (1..=1001).map(|line| ImportRow {
            line,
            ..Default::default()
        });
        let msgs = into_messages("r1".into(), rows.collect());
        let sizes: Vec<usize> = msgs.iter().map(|m| m.rows.len()).collect();
        assert_eq!(sizes, [500, 500, 1]);
        assert_eq!(msgs[0].request_id, "r1");
        assert!(msgs[1].request_id.is_empty());
        assert_eq!(into_messages("r2".into(), vec![]).len(), 1);
    }

    #[test]
    fn the_default_request_id_is_the_file_hash() {
        let id = default_request_id(b"abc");
        assert_eq!(
            id,
            "import-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

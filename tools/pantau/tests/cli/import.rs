//! `pantau workers import`, `workers list` and `agencies list`.

use std::path::Path;

use anyhow::{Context, ensure};
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_proto::identity::v1::{
    CreateAgencyRequest, CreateUnitRequest, ListWorkersRequest, Worker,
};
use pantau_testkit::{NatsServer, PgServer};
use tonic::transport::Channel;

use crate::{Output, PASSWORD, admin_token, authed, nik, pantau};

const ROWS: usize = 50;
/// Data row indexes (line = index + 2) with something special about them.
const BAD_NIK: usize = 10;
const DUPLICATE_NIK: usize = 20;
const MISMATCH: usize = 30;
const MISMATCH_NIP: &str = "198801012010011001";
/// The number after `key:` in the import summary.
fn count(out: &Output, key: &str) -> anyhow::Result<u32> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .with_context(|| format!("no {key:?} in the summary:\n{}", out.stdout))?
        .trim()
        .parse()
        .with_context(|| format!("{key:?} is not a number"))
}

/// One data row per index: mostly contract workers, two consistent PNS, and
/// the three special rows.
fn write_payroll(path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
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
    ])?;
    for i in 0..ROWS {
        let n = i as u32;
        let day = 1 + n % 28;
        let female = i % 3 == 0;
        let (kind, nip, nik) = match i {
            BAD_NIK => ("PHL", String::new(), "31710115059".to_owned()),
            DUPLICATE_NIK => ("THL", String::new(), nik(1, 5, 90, true, 1)),
            // Male born 1990-05-15 by the NIK; the NIP says 1988-01-01.
            MISMATCH => ("PNS", MISMATCH_NIP.to_owned(), nik(15, 5, 90, false, 900)),
            1 | 2 => (
                "PNS",
                format!("1990{:02}{day:02}2012031{n:03}", 5 + n),
                nik(day, 5 + n, 90, false, n + 1),
            ),
            5 => ("phl", String::new(), nik(day, 5, 90, female, n + 1)),
            _ => (
                ["PHL", "THL", "TJP"][i % 3],
                String::new(),
                nik(day, 5, 90, female, n + 1),
            ),
        };
        let unit = if i % 2 == 0 { "UPTD-BENIH" } else { "" };
        let email = if i % 4 == 0 {
            format!("pekerja{i}@dispertaman.go.id")
        } else {
            String::new()
        };
        let joined = if i % 5 == 0 { "2015-01-05" } else { "" };
        w.write_record([
            kind,
            &nip,
            &nik,
            &format!("Pekerja Nomor {i}"),
            "DISPERTAMAN",
            unit,
            &format!("0812{:08}", 10_000_000 + i),
            &email,
            &format!("7001{i:06}"),
            &format!("Jl. Merdeka No. {i}, Jakarta"),
            joined,
            &format!("L{i:05}"),
        ])?;
    }
    w.flush()?;
    Ok(())
}

async fn all_workers(
    client: &mut IdentityServiceClient<Channel>,
    token: &str,
) -> anyhow::Result<Vec<Worker>> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_workers(authed(
                token,
                ListWorkersRequest {
                    page_size: 20,
                    page_token,
                    ..Default::default()
                },
            )?)
            .await?
            .into_inner();
        out.extend(page.workers);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

async fn last_sequence(nats_url: &str) -> anyhow::Result<u64> {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url).await?);
    let mut stream = js.get_stream("PANTAU_IDENTITY").await?;
    Ok(stream.info().await?.state.last_sequence)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn import_reports_rows_and_a_rerun_imports_nothing_new() -> anyhow::Result<()> {
    let nats = NatsServer::spawn(true).await?;
    let pg = PgServer::spawn().await?;
    let config = pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
    let running = pantau_identity::app::start(config).await?;
    let url = format!("http://{}", running.addr);

    let mut client = IdentityServiceClient::connect(url.clone()).await?;
    let token = admin_token(&mut client).await?;
    let agency_id = client
        .create_agency(authed(
            &token,
            CreateAgencyRequest {
                request_id: "cli-test-agency".into(),
                code: "DISPERTAMAN".into(),
                name: "Dinas Pertanian".into(),
                time_zone: "Asia/Jakarta".into(),
            },
        )?)
        .await?
        .into_inner()
        .agency_id;
    client
        .create_unit(authed(
            &token,
            CreateUnitRequest {
                request_id: "cli-test-unit".into(),
                agency_id,
                code: "UPTD-BENIH".into(),
                name: "UPTD Benih".into(),
            },
        )?)
        .await?;

    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("payroll.csv");
    let report = dir.path().join("report.csv");
    write_payroll(&csv)?;
    let csv_arg = csv.to_string_lossy().to_string();
    let report_arg = report.to_string_lossy().to_string();

    // A wrong password fails with the service's message and exit code 1.
    let denied = pantau(&url, "wrong", &["workers", "import", &csv_arg]).await?;
    ensure!(denied.code == Some(1), "wrong password: {:?}", denied.code);
    ensure!(denied.stderr.contains("login"), "stderr: {}", denied.stderr);

    let first = pantau(
        &url,
        PASSWORD,
        &["workers", "import", &csv_arg, "--report", &report_arg],
    )
    .await?;
    ensure!(
        first.code == Some(0),
        "import failed: {}{}",
        first.stdout,
        first.stderr
    );
    let bad_line = format!("line {}: nik: ", BAD_NIK + 2);
    assert_eq!(count(&first, "received")?, ROWS as u32, "{}", first.stdout);
    assert_eq!(
        count(&first, "imported")?,
        ROWS as u32 - 1,
        "{}",
        first.stdout
    );
    assert_eq!(count(&first, "already imported")?, 0, "{}", first.stdout);
    assert_eq!(count(&first, "rejected")?, 1, "{}", first.stdout);
    assert!(first.stdout.contains(&bad_line), "{}", first.stdout);
    let report_text = std::fs::read_to_string(&report)?;
    assert!(
        report_text.starts_with("line,field,reason\n")
            && report_text.contains(&format!("{},nik,", BAD_NIK + 2)),
        "report: {report_text}"
    );

    let workers = all_workers(&mut client, &token).await?;
    assert_eq!(workers.len(), ROWS - 1);
    let mismatch = workers
        .iter()
        .find(|w| w.employee_id == MISMATCH_NIP)
        .context("the NIP/NIK mismatch row was not imported")?;
    assert!(
        mismatch
            .anomalies
            .iter()
            .any(|a| a.starts_with("nip_nik_mismatch")),
        "anomalies: {:?}",
        mismatch.anomalies
    );
    let duplicate = workers
        .iter()
        .find(|w| w.employee_id == format!("THL-L{DUPLICATE_NIK:05}"))
        .context("the duplicate-NIK row was not imported")?;
    assert!(
        duplicate
            .anomalies
            .iter()
            .any(|a| a.starts_with("duplicate_nik")),
        "anomalies: {:?}",
        duplicate.anomalies
    );
    // Exactly those two rows carry anomalies, and the summary flags them.
    let flagged: Vec<(&str, &Vec<String>)> = workers
        .iter()
        .filter(|w| !w.anomalies.is_empty())
        .map(|w| (w.employee_id.as_str(), &w.anomalies))
        .collect();
    assert_eq!(flagged.len(), 2, "workers with anomalies: {flagged:?}");
    assert_eq!(count(&first, "flagged")?, 2, "{}", first.stdout);

    // The same file again: nothing new is stored.
    let before = last_sequence(&nats.url).await?;
    let second = pantau(&url, PASSWORD, &["workers", "import", &csv_arg]).await?;
    ensure!(
        second.code == Some(0),
        "rerun failed: {}{}",
        second.stdout,
        second.stderr
    );
    assert_eq!(
        last_sequence(&nats.url).await?,
        before,
        "rerun stored events"
    );
    assert_eq!(
        count(&second, "received")?,
        ROWS as u32,
        "{}",
        second.stdout
    );
    assert_eq!(count(&second, "imported")?, 0, "{}", second.stdout);
    assert_eq!(
        count(&second, "already imported")?,
        ROWS as u32 - 1,
        "{}",
        second.stdout
    );
    assert_eq!(count(&second, "rejected")?, 1, "{}", second.stdout);
    assert!(second.stdout.contains(&bad_line), "{}", second.stdout);
    assert_eq!(all_workers(&mut client, &token).await?.len(), ROWS - 1);

    // The listings.
    let listed = pantau(
        &url,
        PASSWORD,
        &["workers", "list", "--agency", "DISPERTAMAN"],
    )
    .await?;
    ensure!(listed.code == Some(0), "list failed: {}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), ROWS, "header + rows:\n{}", listed.stdout);
    assert!(lines[0].starts_with("ID") && lines[0].contains("EMPLOYEE ID"));
    assert!(listed.stdout.contains(MISMATCH_NIP) && listed.stdout.contains("DISPERTAMAN"));
    let agencies = pantau(&url, PASSWORD, &["agencies", "list"]).await?;
    ensure!(
        agencies.code == Some(0),
        "agencies failed: {}",
        agencies.stderr
    );
    assert!(agencies.stdout.contains("DISPERTAMAN") && agencies.stdout.contains("UPTD-BENIH"));

    running.stop().await;
    Ok(())
}

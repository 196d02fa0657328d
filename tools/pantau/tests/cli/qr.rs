//! `pantau qr export` against both services.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use futures::StreamExt as _;
use pantau_proto::attendance::v1::attendance_service_client::AttendanceServiceClient;
use pantau_proto::attendance::v1::{ExportCredentialsRequest, GetQrKeysRequest};
use pantau_proto::identity::v1::identity_service_client::IdentityServiceClient;
use pantau_proto::identity::v1::{
    CreateAgencyRequest, CreateUnitRequest, RegisterWorkerRequest, WorkerKind,
};
use pantau_qr::{Code, StaticVerifier};
use pantau_testkit::{NatsServer, PgServer};
use tonic::transport::Channel;

use crate::{Output, PASSWORD, admin_token, authed, command, nik, run};

/// `pantau qr ...` run in `dir` against both services.
async fn qr(identity: &str, attendance: &str, dir: &Path, args: &[&str]) -> anyhow::Result<Output> {
    run(command(identity, PASSWORD)
        .env("PANTAU_ATTENDANCE_URL", attendance)
        .current_dir(dir)
        .arg("qr")
        .args(args))
    .await
}

/// Waits until ExportCredentials returns `expected` rows: the attendance
/// directory follows the identity stream asynchronously.
async fn wait_for_export(
    client: &mut AttendanceServiceClient<Channel>,
    token: &str,
    agency_id: &str,
    expected: usize,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let request = ExportCredentialsRequest {
            agency_id: agency_id.into(),
            unit_id: String::new(),
        };
        let rows: Result<Vec<_>, tonic::Status> =
            match client.export_credentials(authed(token, request)?).await {
                Ok(stream) => stream
                    .into_inner()
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect(),
                Err(status) => Err(status),
            };
        match rows {
            Ok(rows) if rows.len() == expected => return Ok(()),
            other if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("export never reached {expected} workers: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Scans the one QR code in an 8-bit greyscale PNG, as a phone camera would.
fn scan_png(bytes: &[u8]) -> anyhow::Result<String> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size().context("no buffer size")?];
    let frame = reader.next_frame(&mut pixels)?;
    ensure!(
        frame.color_type == png::ColorType::Grayscale && frame.bit_depth == png::BitDepth::Eight
    );
    let width = frame.width as usize;
    let height = frame.height as usize;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    ensure!(
        grids.len() == 1,
        "expected one QR code, found {}",
        grids.len()
    );
    Ok(grids[0].decode()?.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qr_export_writes_one_scannable_card_per_active_worker_as_pdf_or_zip() -> anyhow::Result<()>
{
    let nats = NatsServer::spawn(true).await?;
    let pg = PgServer::spawn().await?;
    let config = pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
    let identity = pantau_identity::app::start(config).await?;
    let url = format!("http://{}", identity.addr);
    let mut client = IdentityServiceClient::connect(url.clone()).await?;
    let token = admin_token(&mut client).await?;
    let agency_id = client
        .create_agency(authed(
            &token,
            CreateAgencyRequest {
                request_id: "qr-agency".into(),
                code: "DISPERTAMAN".into(),
                name: "Dinas Pertanian".into(),
                time_zone: "Asia/Jakarta".into(),
            },
        )?)
        .await?
        .into_inner()
        .agency_id;
    let mut units = Vec::new();
    for code in ["UPTD-BENIH", "UPTD-KOSONG"] {
        let request = CreateUnitRequest {
            request_id: format!("qr-unit-{code}"),
            agency_id: agency_id.clone(),
            code: code.into(),
            name: format!("Unit {code}"),
        };
        units.push(
            client
                .create_unit(authed(&token, request)?)
                .await?
                .into_inner()
                .unit_id,
        );
    }
    // Name -> worker id: the names are what the cards and the index print.
    let mut workers: HashMap<String, String> = HashMap::new();
    for n in 0..3u32 {
        let name = format!("Petani Nomor {n}");
        let request = RegisterWorkerRequest {
            request_id: format!("qr-worker-{n}"),
            kind: WorkerKind::Phl as i32,
            nik: nik(10 + n, 6, 88, n == 1, n + 1),
            name: name.clone(),
            agency_id: agency_id.clone(),
            unit_id: units[0].clone(),
            ..Default::default()
        };
        let worker_id = client
            .register_worker(authed(&token, request)?)
            .await?
            .into_inner()
            .worker_id;
        workers.insert(name, worker_id);
    }

    let config = pantau_attendance::config::Config::in_process(&nats.url, &pg.url);
    let attendance = pantau_attendance::app::start(config).await?;
    let att_url = format!("http://{}", attendance.addr);
    let mut att = AttendanceServiceClient::connect(att_url.clone()).await?;
    wait_for_export(&mut att, &token, &agency_id, workers.len()).await?;
    let mut verifier = StaticVerifier::new();
    for key in att
        .get_qr_keys(authed(&token, GetQrKeysRequest {})?)
        .await?
        .into_inner()
        .keys
    {
        let bytes = <[u8; 32]>::try_from(key.public_key.as_slice())?;
        verifier.add_key(bytes)?;
    }
    let dir = tempfile::tempdir()?;

    // The PDF, by agency code in any case, under the default name.
    let pdf = qr(
        &url,
        &att_url,
        dir.path(),
        &["export", "--agency", "dispertaman"],
    )
    .await?;
    ensure!(pdf.code == Some(0), "pdf export failed: {}", pdf.stderr);
    assert_eq!(pdf.stdout.trim(), "wrote 3 cards to qr-DISPERTAMAN.pdf");
    let bytes = std::fs::read(dir.path().join("qr-DISPERTAMAN.pdf"))?;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("%PDF"), "not a PDF");
    assert!(text.contains("(Dinas Pertanian \\227 kartu QR presensi) Tj"));
    for name in workers.keys() {
        assert!(
            text.contains(&format!("({name}) Tj")),
            "{name} not in the PDF"
        );
    }

    // The ZIP, by agency id and unit code: every PNG scans to a code that
    // verifies and names the worker the index puts beside that file.
    let out = dir.path().join("cards.zip");
    let out_arg = out.to_string_lossy().to_string();
    let zip = qr(
        &url,
        &att_url,
        dir.path(),
        &[
            "export",
            "--agency",
            &agency_id,
            "--unit",
            "UPTD-BENIH",
            "--format",
            "zip",
            "--out",
            &out_arg,
        ],
    )
    .await?;
    ensure!(zip.code == Some(0), "zip export failed: {}", zip.stderr);
    assert_eq!(zip.stdout.trim(), format!("wrote 3 cards to {out_arg}"));
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&out)?)?;
    let mut names = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort_unstable();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".png")).count(),
        3,
        "{names:?}"
    );
    let mut index = String::new();
    archive.by_name("index.csv")?.read_to_string(&mut index)?;
    let mut reader = csv::Reader::from_reader(index.as_bytes());
    let mut seen = Vec::new();
    for row in reader.records() {
        let row = row?;
        let (name, file) = (&row[1], &row[4]);
        let mut image = Vec::new();
        archive.by_name(file)?.read_to_end(&mut image)?;
        let Code::Static(code) = pantau_qr::parse(&scan_png(&image)?)? else {
            anyhow::bail!("{file} is not a printed code");
        };
        let credential = verifier.verify(&code)?;
        assert_eq!(
            Some(&credential.worker_id.to_string()),
            workers.get(name),
            "{file}"
        );
        assert_eq!(&row[2], "Unit UPTD-BENIH");
        seen.push(name.to_owned());
    }
    seen.sort_unstable();
    let mut expected: Vec<String> = workers.keys().cloned().collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);

    // A unit without workers still gets a valid file, and says so.
    let empty = qr(
        &url,
        &att_url,
        dir.path(),
        &["export", "--agency", "DISPERTAMAN", "--unit", "uptd-kosong"],
    )
    .await?;
    ensure!(
        empty.code == Some(0),
        "empty export failed: {}",
        empty.stderr
    );
    assert_eq!(
        empty.stdout.trim(),
        "wrote 0 cards to qr-DISPERTAMAN-UPTD-KOSONG.pdf (no active workers)"
    );
    let bytes = std::fs::read(dir.path().join("qr-DISPERTAMAN-UPTD-KOSONG.pdf"))?;
    assert!(
        bytes.starts_with(b"%PDF") && String::from_utf8_lossy(&bytes).contains("(no workers) Tj")
    );

    // An unknown unit names itself and the units that exist.
    let unknown = qr(
        &url,
        &att_url,
        dir.path(),
        &["export", "--agency", "DISPERTAMAN", "--unit", "NOPE"],
    )
    .await?;
    assert_eq!(unknown.code, Some(1), "{}", unknown.stdout);
    assert!(
        unknown.stderr.contains("unit \"NOPE\" not found")
            && unknown.stderr.contains("UPTD-KOSONG"),
        "stderr: {}",
        unknown.stderr
    );

    attendance.stop().await;
    identity.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qr_export_of_an_unknown_agency_fails_naming_it() -> anyhow::Result<()> {
    let nats = NatsServer::spawn(true).await?;
    let pg = PgServer::spawn().await?;
    let config = pantau_identity::config::Config::in_process(&nats.url, &pg.url, PASSWORD);
    let identity = pantau_identity::app::start(config).await?;
    let url = format!("http://{}", identity.addr);
    let dir = tempfile::tempdir()?;
    // Nothing listens on the attendance URL: the name is checked first.
    let out = qr(
        &url,
        "http://127.0.0.1:1",
        dir.path(),
        &["export", "--agency", "DINAS-ENTAH"],
    )
    .await?;
    assert_eq!(out.code, Some(1), "stdout: {}", out.stdout);
    assert!(
        out.stderr.contains("agency \"DINAS-ENTAH\" not found"),
        "stderr: {}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        0,
        "wrote a file anyway"
    );
    identity.stop().await;
    Ok(())
}

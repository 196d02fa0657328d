//! The field app in headless Chromium against the real services: identity,
//! attendance, activity and scoring in-process, and reporting serving the app
//! at /app/ and forwarding its gRPC-Web calls to them. This test seeds an
//! agency (workers with portraits, a supervisor, a catalog, a rule set, a
//! scanner device and an open ceremony), runs `app/tests/field.mjs`
//! (playwright-core driving Debian's chromium, with geolocation set on the
//! browser context and the camera faked by a y4m file of a QR code), and
//! then checks what arrived at the services: two workers present at the
//! ceremony, each scanned exactly once, and the approved report's points.
//!
//! The app must have been built (`make app`; `make test` does it first).
//! Screenshots of each screen are kept in the target dir's
//! `tmp/field-app/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, ensure};
use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Asia::Makassar;
use futures::TryStreamExt;
use pantau_proto::activity::v1::{self as act, activity_service_client::ActivityServiceClient};
use pantau_proto::attendance::v1::{
    self as att, attendance_service_client::AttendanceServiceClient,
};
use pantau_proto::events::v1::{
    ActivityLocation, Evidence, EvidenceKind, GeoPoint, Geofence, Invitation,
};
use pantau_proto::identity::v1::{self as id, Role};
use pantau_proto::scoring::v1::{self as sc, scoring_service_client::ScoringServiceClient};
use tonic::transport::Channel;

use crate::common::{
    PASSWORD, Registered, Registry, SQUARE, authed, away_from_midnight, eventually, heard, rid,
    today_in_makassar, worker_request,
};
use crate::drains::{self, DRAIN, POINTS_PER_METRE};

/// Metres of drain the worker reports in the app.
const QUANTITY: f64 = 12.0;
/// Reports of Budi's that the supervisor reviews: one rejected, one
/// returned, the rest approved together.
const REVIEWED: u32 = 4;
/// The reason the supervisor types when rejecting and returning.
const REASON: &str = "Foto tidak menunjukkan saluran";
/// How long the browser script may take, start to finish.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

/// The services the app talks to, and reporting serving it.
struct Cluster {
    attendance: AttendanceServiceClient<Channel>,
    activity: ActivityServiceClient<Channel>,
    scoring: ScoringServiceClient<Channel>,
    /// http://127.0.0.1:<port>/app/
    app_url: String,
    _reporting: pantau_reporting::app::Running,
    _scoring: pantau_scoring::app::Running,
    _activity: pantau_activity::app::Running,
    _attendance: pantau_attendance::app::Running,
    registry: Registry,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// A program on PATH (or `var` when set), or an error naming how to get it.
pub fn tool(var: &str, names: &[&str], how: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
        .with_context(|| format!("{} not found: set {var} or {how}", names.join(" or ")))
}

impl Cluster {
    async fn start() -> anyhow::Result<Cluster> {
        let app_dir = repo_root().join("app/dist");
        ensure!(
            app_dir.join("index.html").is_file(),
            "the field app is not built at {}: run `make app` (make test does)",
            app_dir.display()
        );
        let registry = Registry::start().await?;
        let (nats, pg) = (&registry.nats.url, &registry.pg.url);
        let attendance =
            pantau_attendance::app::start(pantau_attendance::config::Config::in_process(nats, pg))
                .await
                .context("failed to start attendance")?;
        let activity =
            pantau_activity::app::start(pantau_activity::config::Config::in_process(nats, pg))
                .await
                .context("failed to start activity")?;
        let scoring =
            pantau_scoring::app::start(pantau_scoring::config::Config::in_process(nats, pg))
                .await
                .context("failed to start scoring")?;
        let mut config = pantau_reporting::config::Config::in_process(nats, pg);
        config.app_dir = app_dir;
        for (service, addr) in [
            ("pantau.identity.v1.IdentityService", registry.addr),
            ("pantau.attendance.v1.AttendanceService", attendance.addr),
            ("pantau.activity.v1.ActivityService", activity.addr),
            ("pantau.scoring.v1.ScoringService", scoring.addr),
        ] {
            config
                .upstreams
                .0
                .insert(service.to_owned(), format!("http://{addr}"));
        }
        // Boxed: the start-up future is large for a test thread's stack.
        let reporting = Box::pin(pantau_reporting::app::start(config))
            .await
            .context("failed to start reporting")?;
        Ok(Cluster {
            attendance: AttendanceServiceClient::connect(format!("http://{}", attendance.addr))
                .await?,
            activity: ActivityServiceClient::connect(format!("http://{}", activity.addr)).await?,
            scoring: ScoringServiceClient::connect(format!("http://{}", scoring.addr)).await?,
            app_url: format!("http://{}/app/", reporting.http_addr),
            _reporting: reporting,
            _scoring: scoring,
            _activity: activity,
            _attendance: attendance,
            registry,
        })
    }

    /// A worker at the town square with `portrait` as their photo.
    async fn worker(
        &self,
        name: &str,
        serial: u32,
        (agency_id, unit_id): (&str, &str),
        portrait: &str,
    ) -> anyhow::Result<Registered> {
        let mut req = worker_request(name, serial, agency_id, unit_id);
        portrait.clone_into(&mut req.photo_ref);
        self.registry.register(req).await
    }

    /// A scanner device for the agency and a ceremony at the town square
    /// from ten minutes ago for two hours, inviting the agency, that the
    /// device may scan: (device token, session id).
    async fn ceremony(&self, agency_id: &str) -> anyhow::Result<(String, String)> {
        let admin = &self.registry.admin;
        let request_id = rid();
        let scanner = eventually(
            "attendance learns the agency",
            || {
                let mut client = self.attendance.clone();
                let req = authed(
                    admin,
                    att::RegisterScannerRequest {
                        request_id: request_id.clone(),
                        name: "Ponsel apel 1".into(),
                        agency_id: agency_id.into(),
                    },
                );
                async move { client.register_scanner(req).await }
            },
            heard,
        )
        .await??
        .into_inner();
        let local = |at: DateTime<Utc>| {
            at.with_timezone(&Makassar)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        };
        let now = Utc::now();
        let session_id = self
            .attendance
            .clone()
            .open_session(authed(
                admin,
                att::OpenSessionRequest {
                    request_id: rid(),
                    title: "Apel pagi".into(),
                    starts_at: local(now - chrono::Duration::minutes(10)),
                    ends_at: local(now + chrono::Duration::hours(2)),
                    time_zone: String::new(),
                    place: "Halaman Kantor Gubernur".into(),
                    geofence: Some(Geofence {
                        center: Some(GeoPoint {
                            latitude: SQUARE.0,
                            longitude: SQUARE.1,
                        }),
                        radius_m: 200,
                        polygon: vec![],
                    }),
                    invited: vec![Invitation {
                        agency_id: agency_id.into(),
                        unit_id: String::new(),
                    }],
                    scanner_ids: vec![scanner.scanner_id],
                },
            ))
            .await?
            .into_inner()
            .session_id;
        eventually(
            "the device's session list shows the ceremony",
            || {
                let mut client = self.attendance.clone();
                let req = authed(&scanner.device_token, att::ListScannerSessionsRequest {});
                async move { client.list_scanner_sessions(req).await }
            },
            |r| matches!(r, Ok(l) if l.get_ref().sessions.iter().any(|s| s.session_id == session_id)),
        )
        .await??;
        Ok((scanner.device_token, session_id))
    }

    /// The worker's printed (PNT1) code, once attendance knows them.
    async fn printed_code(&self, worker_id: &str) -> anyhow::Result<String> {
        let answer = eventually(
            "attendance learns the worker",
            || {
                let mut client = self.attendance.clone();
                let req = authed(
                    &self.registry.admin,
                    att::GetCredentialRequest {
                        worker_id: worker_id.into(),
                    },
                );
                async move { client.get_credential(req).await }
            },
            heard,
        )
        .await??;
        Ok(answer.into_inner().code)
    }

    /// Waits until each service the app calls for `token`'s worker knows
    /// them (and the catalog and rule set), so the browser's first calls
    /// are answered as they would be in a settled deployment.
    async fn known_to_all(&self, token: &str, agency_id: &str) -> anyhow::Result<()> {
        eventually(
            "activity lists the catalog for the worker",
            || {
                let mut client = self.activity.clone();
                let req = authed(
                    token,
                    act::GetCatalogRequest {
                        agency_id: agency_id.into(),
                        date: String::new(),
                    },
                );
                async move { client.get_catalog(req).await }
            },
            |r| matches!(r, Ok(c) if !c.get_ref().activities.is_empty()),
        )
        .await??;
        self.own_month(token).await?;
        Ok(())
    }

    /// Files [`REVIEWED`] reports of a minute each, the last minutes up to
    /// now, as the holder of `token`, with a photo and the site's position:
    /// their ids, oldest first.
    async fn reports_to_review(&self, token: &str) -> anyhow::Result<Vec<String>> {
        let photo = self
            .activity
            .clone()
            .upload_photo(authed(
                token,
                act::UploadPhotoRequest {
                    content: std::fs::read(repo_root().join("app/public/icon-512.png"))?,
                },
            ))
            .await?
            .into_inner()
            .sha256;
        let now = Utc::now().with_timezone(&Makassar);
        let minute = now.hour() * 60 + now.minute();
        let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        let mut ids = Vec::new();
        for i in (1..=REVIEWED).rev() {
            let req = act::ReportActivityRequest {
                request_id: rid(),
                code: DRAIN.into(),
                quantity: 5.0,
                date: now.date_naive().to_string(),
                start_time: hhmm(minute - i),
                end_time: hhmm(minute - i + 1),
                description: format!("Saluran blok {i}"),
                location: Some(ActivityLocation {
                    latitude: SQUARE.0,
                    longitude: SQUARE.1,
                    site_id: String::new(),
                }),
                evidence: vec![Evidence {
                    kind: EvidenceKind::Photo.into(),
                    r#ref: photo.clone(),
                }],
                ..Default::default()
            };
            ids.push(drains::file(&self.activity, token, req).await?.report_id);
        }
        Ok(ids)
    }

    /// The state and review note of each of `ids`, all filed by `worker_id` today.
    async fn review_outcomes(
        &self,
        worker_id: &str,
        ids: &[String],
    ) -> anyhow::Result<Vec<(act::ReportStatus, String)>> {
        let day = self
            .activity
            .clone()
            .get_worker_day(authed(
                &self.registry.admin,
                act::GetWorkerDayRequest {
                    worker_id: worker_id.into(),
                    date: today_in_makassar().to_string(),
                },
            ))
            .await?
            .into_inner();
        ids.iter()
            .map(|id| {
                let r = day
                    .reports
                    .iter()
                    .find(|r| &r.report_id == id)
                    .with_context(|| format!("report {id} is not in the worker's day"))?;
                Ok((r.status(), r.review_note.clone()))
            })
            .collect()
    }

    async fn own_month(&self, token: &str) -> anyhow::Result<sc::GetWorkerMonthResponse> {
        let month = today_in_makassar().format("%Y-%m").to_string();
        drains::own_month(&self.scoring, token, &month).await
    }
}

/// Runs the browser script with `cfg`, failing with its output if it fails.
async fn run_script(cfg: &serde_json::Value) -> anyhow::Result<()> {
    let node = tool(
        "PANTAU_NODE",
        &["node"],
        "install Node.js 20 or later (make app needs it too)",
    )?;
    let script = repo_root().join("app/tests/field.mjs");
    // Its progress goes to the test's own output, shown when the test fails.
    let mut child = tokio::process::Command::new(&node)
        .arg(&script)
        .current_dir(repo_root().join("app"))
        .env("PANTAU_FIELD_TEST", cfg.to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} {}", node.display(), script.display()))?;
    let status = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait())
        .await
        .with_context(|| format!("the browser script ran over {SCRIPT_TIMEOUT:?}"))??;
    ensure!(
        status.success(),
        "the browser script failed ({status}); its output above names the step"
    );
    Ok(())
}

#[tokio::test]
async fn workers_supervisors_and_scanner_officers_do_their_jobs_in_the_field_app()
-> anyhow::Result<()> {
    // Check-ins, the report and the ceremony all fall on one WITA day.
    away_from_midnight().await;
    let chromium = tool(
        "PANTAU_CHROMIUM",
        &["chromium", "chromium-browser"],
        "run the tests through `make test` (scripts/tools.sh chromium installs Debian's chromium)",
    )?;
    let cluster = Cluster::start().await?;
    let registry = &cluster.registry;
    let (agency_id, unit_id) = registry.agency("DLH").await?;
    let portrait = registry
        .client
        .clone()
        .upload_photo(authed(
            &registry.admin,
            id::UploadPhotoRequest {
                content: std::fs::read(repo_root().join("app/public/icon-192.png"))?,
            },
        ))
        .await?
        .into_inner()
        .sha256;
    let unit = (agency_id.as_str(), unit_id.as_str());
    let siti = cluster.worker("Siti Aminah", 1, unit, &portrait).await?;
    let budi = cluster.worker("Budi Santoso", 2, unit, &portrait).await?;
    let yusuf = cluster.worker("Mandor Yusuf", 3, unit, &portrait).await?;
    registry
        .staff(
            "mandor-yusuf",
            Role::Supervisor,
            &agency_id,
            &yusuf.worker_id,
        )
        .await?;
    for w in [&siti, &budi] {
        registry
            .assign_supervisor(&w.worker_id, &yusuf.worker_id, today_in_makassar())
            .await?;
    }
    drains::publish_catalog(&cluster.activity, &registry.admin, true).await?;
    drains::publish_rule_set(&cluster.scoring, &registry.admin).await?;
    let (device_token, session_id) = cluster.ceremony(&agency_id).await?;
    let printed = cluster.printed_code(&budi.worker_id).await?;
    let phone = registry.login(&siti.employee_id, PASSWORD).await?;
    cluster.known_to_all(&phone, &agency_id).await?;
    // Budi's reports, for the supervisor to reject, return and approve in bulk.
    let budi_phone = registry.login(&budi.employee_id, PASSWORD).await?;
    let budis = cluster.reports_to_review(&budi_phone).await?;

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("field-app");
    let _ = std::fs::remove_dir_all(&shots);
    let browser_dir = tempfile::tempdir()?;
    let cfg = serde_json::json!({
        "app": cluster.app_url,
        "chromium": chromium,
        "shots": shots,
        "profile": browser_dir.path().join("scanner-profile"),
        "password": PASSWORD,
        "worker": { "login": siti.employee_id, "name": "Siti Aminah" },
        "supervisor": { "login": "mandor-yusuf" },
        "scanner": { "token": device_token, "session": session_id },
        "printed": { "code": printed, "name": "Budi Santoso" },
        "review": { "reject": budis[0], "return": budis[1], "bulk": &budis[2..], "reason": REASON },
        "site": { "lat": SQUARE.0, "lon": SQUARE.1 },
        "quantity": QUANTITY,
        "points": QUANTITY * POINTS_PER_METRE,
    });
    run_script(&cfg).await?;

    // What the phones sent arrived, once each.
    let view = cluster
        .attendance
        .clone()
        .get_session_view(authed(
            &registry.admin,
            att::GetSessionViewRequest {
                session_id: session_id.clone(),
            },
        ))
        .await?
        .into_inner()
        .view
        .context("the session has a view")?;
    assert_eq!(view.present, 2, "{view:?}");
    assert_eq!(view.rejected_scans, 0, "{view:?}");
    let js = async_nats::jetstream::new(async_nats::connect(&registry.nats.url).await?);
    let stream = js.get_stream("PANTAU_ATTENDANCE").await?;
    let subject = format!("pantau.attendance.session.{session_id}");
    let counts: Vec<(String, usize)> = stream
        .info_with_subjects(subject.as_str())
        .await?
        .try_collect()
        .await?;
    let events: usize = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(
        events, 3,
        "the session opened and two scans, each once: {counts:?}"
    );
    use act::ReportStatus::{Approved, Rejected, Returned};
    let outcomes = cluster.review_outcomes(&budi.worker_id, &budis).await?;
    assert_eq!(
        outcomes,
        [
            (Rejected, REASON.to_owned()),
            (Returned, REASON.to_owned()),
            (Approved, String::new()),
            (Approved, String::new()),
        ],
        "Budi's reports after the supervisor's screen"
    );
    let month = cluster.own_month(&phone).await?;
    let points = month.live.as_ref().map_or(0.0, |f| f.points);
    assert!(
        (points - QUANTITY * POINTS_PER_METRE).abs() < 1e-9,
        "{month:?}"
    );
    for shot in [
        "worker-checkin-inside",
        "supervisor-queue",
        "scanner-offline-queued",
    ] {
        ensure!(
            std::fs::read_dir(&shots)?
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().contains(shot)),
            "no {shot} screenshot in {}",
            shots.display()
        );
    }
    Ok(())
}

//! The dashboard in a real browser (headless Chromium over WebDriver): a
//! seeded province, the page loaded, the month switched, and the league
//! table, the category chart and the map markers checked against the public
//! API the page reads; a leader signing in with a token sees an agency's
//! named workers and today's positions, which the public never does. Screenshots go to the target dir (or
//! PANTAU_SCREENSHOT_DIR) for a person to look at.

use std::path::PathBuf;
use std::time::Duration;

use pantau_fraud::domain::simulate::SimEvent;
use pantau_proto::events::v1::{
    self as ev, attendance_event::Event as T, identity_event::Event as I,
};
use pantau_testkit::{given, then, when};
use serde_json::Value;

use crate::Cluster;
use crate::webdriver::Browser;

const CATS: [&str; 5] = ["sangat_baik", "baik", "cukup", "kurang", "kurang_sekali"];
const LOAD: Duration = Duration::from_secs(60);

fn screenshot_dir() -> PathBuf {
    std::env::var_os("PANTAU_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

/// What the page shows, read from its DOM.
async fn shown(b: &Browser) -> anyhow::Result<Value> {
    b.eval(
        "const rows = [...document.querySelectorAll('#league tbody tr[data-agency-id]')];
         const bars = {};
         document.querySelectorAll('#categories svg rect.bar[data-category]')
           .forEach((r) => (bars[r.dataset.category] = Number(r.dataset.count)));
         return {
           month: document.body.dataset.month,
           selected: document.querySelector('#month').value,
           options: [...document.querySelectorAll('#month option')].map((o) => o.value),
           agencies: rows.map((r) => r.dataset.agencyId),
           bars,
           markers: document.querySelectorAll('#map path.cell').length,
           // A removed label fades out before it leaves the page.
           labels: [...document.querySelectorAll('#map .cell-label')]
             .filter((l) => getComputedStyle(l).opacity !== '0')
             .map((l) => Number(l.textContent)),
           heading: document.querySelector('h2[data-t=league]').textContent,
           url: location.search,
         };",
    )
    .await
}

/// The page agrees with the API: the same agencies in the same order, the
/// province's categories as bars, and a marker per published cell labelled
/// with its workers.
async fn agrees(c: &Cluster, page: &Value, month: &str) -> anyhow::Result<()> {
    let league = c.json(&format!("/api/v1/league?month={month}")).await?;
    let map = c.json(&format!("/api/v1/map?month={month}")).await?;
    let agencies: Vec<&str> = league["agencies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["agency"]["agency_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let shown_agencies: Vec<&str> = page["agencies"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    then(
        &format!(
            "{month}: the table lists the league's {} agencies in its order",
            agencies.len()
        ),
        !agencies.is_empty() && shown_agencies == agencies,
    );
    for k in CATS {
        let want = league["province"]["categories"][k].as_u64();
        then(
            &format!("{month}: the chart's {k} bar counts {want:?}"),
            want.is_some() && page["bars"][k].as_u64() == want,
        );
    }
    let mut cells: Vec<u64> = map["cells"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["workers"].as_u64()).collect())
        .unwrap_or_default();
    let mut labels: Vec<u64> = page["labels"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    cells.sort_unstable();
    labels.sort_unstable();
    then(
        &format!(
            "{month}: a map marker per published cell ({cells:?}), labelled with its workers: {} {labels:?}",
            page["markers"]
        ),
        page["markers"].as_u64() == Some(cells.len() as u64) && labels == cells,
    );
    Ok(())
}

async fn save(b: &Browser, name: &str) -> anyhow::Result<PathBuf> {
    let png = b.screenshot().await?;
    then(
        &format!("the {name} screenshot is a PNG of some substance"),
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
    );
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, png)?;
    eprintln!("screenshot: {}", path.display());
    Ok(path)
}

#[tokio::test]
async fn the_dashboard_follows_the_month_and_shows_a_leader_names_and_positions()
-> anyhow::Result<()> {
    let c = given("a reporting service", Cluster::start()).await?;
    let events = when(
        "September of a 150-worker province is on the streams",
        c.seed(&crate::september(150)),
    )
    .await?;
    let workers: Vec<(String, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            SimEvent::Identity {
                event: I::WorkerRegistered(w),
                ..
            } => Some((w.agency_id.clone(), w.unit_id.clone(), w.worker_id.clone())),
            _ => None,
        })
        .collect();
    let scores = |spread: usize, floor: f64| -> Vec<pantau_feed::Score> {
        workers
            .iter()
            .enumerate()
            .map(|(i, (a, u, w))| pantau_feed::Score {
                agency_id: a.clone(),
                unit_id: u.clone(),
                worker_id: w.clone(),
                score: (floor + f64::from(u32::try_from((i * spread) % 50).unwrap_or(0)))
                    .min(100.0),
            })
            .collect()
    };
    when("September's and August's scores are published", async {
        c.publish_scores("2026-09", &scores(37, 50.0)).await?;
        c.publish_scores("2026-08", &scores(53, 40.0)).await
    })
    .await?;
    c.settle().await?;

    let b = given("headless Chromium", Browser::start(1280, 1800)).await?;
    let run = async {
        when("the dashboard is opened", b.goto(&format!("{}/", c.base))).await?;
        b.wait_for(
            "the page to be ready",
            "return document.body.dataset.state === 'ready'",
            LOAD,
        )
        .await?;
        let sept = shown(&b).await?;
        then(
            "it opens on the latest month, with both months to choose",
            sept["month"] == "2026-09"
                && sept["selected"] == "2026-09"
                && sept["options"] == serde_json::json!(["2026-09", "2026-08"]),
        );
        then(
            "the text is Indonesian by default",
            sept["heading"] == "Peringkat instansi",
        );
        agrees(&c, &sept, "2026-09").await?;
        then(
            "September's map has markers (the check is not vacuous)",
            sept["markers"].as_u64().unwrap_or(0) > 0,
        );
        save(&b, "dashboard.png").await?;

        when("August is chosen", b.click("#month option[value='2026-08']")).await?;
        b.wait_for(
            "August to be shown",
            "return document.body.dataset.month === '2026-08' && document.body.dataset.state === 'ready'",
            LOAD,
        )
        .await?;
        let aug = shown(&b).await?;
        then(
            "the address names the month",
            aug["url"] == "?month=2026-08",
        );
        agrees(&c, &aug, "2026-08").await?;
        then(
            "the chart changed with the month",
            aug["bars"] != sept["bars"],
        );

        when("English is chosen", b.click("#lang button[data-lang='en']")).await?;
        b.wait_for(
            "the English text",
            "return document.querySelector('h2[data-t=league]').textContent === 'Agency league' \
             && document.body.dataset.state === 'ready'",
            LOAD,
        )
        .await?;

        leader_view(&c, &b, &events).await?;

        when("the page is opened on a phone-sized screen", async {
            b.resize(390, 844).await?;
            b.goto(&format!("{}/?month=2026-09", c.base)).await
        })
        .await?;
        b.wait_for(
            "the page to be ready on the phone",
            "return document.body.dataset.state === 'ready' && document.body.dataset.month === '2026-09'",
            LOAD,
        )
        .await?;
        let fits = b
            .eval(
                "const box = document.querySelector('#league').parentElement;
                 return [document.documentElement.scrollWidth, window.innerWidth,
                         box.scrollWidth, box.clientWidth]",
            )
            .await?;
        then(
            &format!(
                "nothing is wider than the phone's screen, the league's figures included \
                 (page, screen, table, its box): {fits}"
            ),
            fits[0].as_u64().is_some()
                && fits[0].as_u64() <= fits[1].as_u64()
                && fits[2].as_u64() <= fits[3].as_u64(),
        );
        let phone = shown(&b).await?;
        then(
            "the phone keeps the language chosen and shows the same figures",
            phone["heading"] == "Agency league",
        );
        agrees(&c, &phone, "2026-09").await?;
        save(&b, "dashboard-phone.png").await?;
        anyhow::Ok(())
    }
    .await;
    b.quit().await;
    c.stop().await;
    run
}

/// A province admin signs in with a token, picks the first agency and sees
/// its named workers and where five of them checked in today; signed out,
/// the names and positions are gone.
async fn leader_view(c: &Cluster, b: &Browser, events: &[SimEvent]) -> anyhow::Result<()> {
    let league = c.json("/api/v1/league?month=2026-09").await?;
    let agency = &league["agencies"][0]["agency"];
    let agency_id = agency["agency_id"].as_str().unwrap_or_default().to_owned();
    let tz: chrono_tz::Tz = agency["time_zone"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(chrono_tz::Asia::Jakarta);
    let today = chrono::Utc::now()
        .with_timezone(&tz)
        .date_naive()
        .to_string();
    let staff: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            SimEvent::Identity {
                event: I::WorkerRegistered(w),
                ..
            } if w.agency_id == agency_id => Some((w.worker_id.clone(), w.unit_id.clone())),
            _ => None,
        })
        .take(5)
        .collect();
    when("five of the agency's workers check in today", async {
        let attendance = pantau_eventstore::EventStore::open_context(
            &c.client().await?,
            "attendance",
            pantau_eventstore::AppendMode::Pipelined,
        )
        .await?;
        for (i, (worker, unit)) in staff.iter().enumerate() {
            let step = f64::from(u32::try_from(i).unwrap_or(0)) * 0.01;
            attendance
                .append(pantau_feed::attendance(&T::CheckedIn(ev::CheckedIn {
                    presence: Some(ev::Presence {
                        worker_id: worker.clone(),
                        agency_id: agency_id.clone(),
                        unit_id: unit.clone(),
                        at: Some(pantau_platform::time::timestamp(chrono::Utc::now())),
                        position: Some(ev::GeoPoint {
                            latitude: -6.2 + step,
                            longitude: 106.8 + step,
                        }),
                        local_date: today.clone(),
                        inside: true,
                        site_id: "site".into(),
                        ..Default::default()
                    }),
                })))
                .await?;
        }
        c.settle().await
    })
    .await?;
    let token = c.token(&["province_admin"], None);
    let (_, body) = c
        .get(
            &format!("/api/v1/agencies/{agency_id}/workers?month=2026-09"),
            Some(&token),
        )
        .await?;
    let workers: Value = serde_json::from_str(&body)?;
    let mut named: Vec<String> = workers["workers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w["worker_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();

    when(
        "a leader signs in with a token and picks the agency",
        async {
            b.goto(&format!("{}/?month=2026-09", c.base)).await?;
            b.wait_for(
                "the page",
                "return document.body.dataset.state === 'ready'",
                LOAD,
            )
            .await?;
            then(
                "the public page shows no leader's figures or positions",
                b.eval(
                    "return document.querySelector('#leader').hidden \
                 && document.querySelectorAll('#map path.position').length === 0",
                )
                .await?
                    == Value::Bool(true),
            );
            b.click("#leader-btn").await?;
            b.type_into("#leader-token", &token).await?;
            b.click("#leader-form button[type=submit]").await?;
            b.wait_for(
                "the leader's note",
                "return document.body.dataset.state === 'ready' \
             && !document.querySelector('#leader-body').hidden",
                LOAD,
            )
            .await?;
            b.click(&format!("#league tbody tr[data-agency-id='{agency_id}']"))
                .await?;
            b.wait_for(
                "the agency's workers",
                "return document.body.dataset.state === 'ready' \
             && document.querySelectorAll('#leader-workers tbody tr').length > 0",
                LOAD,
            )
            .await
        },
    )
    .await?;
    let seen = b
        .eval(
            "return {
               workers: [...document.querySelectorAll('#leader-workers tbody tr')]
                 .map((r) => r.dataset.workerId),
               units: document.querySelectorAll('#leader-units tbody tr').length,
               positions: document.querySelectorAll('#map path.position').length,
               form_shown: document.querySelector('#leader-form').offsetParent !== null,
             }",
        )
        .await?;
    let mut shown: Vec<String> = seen["workers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    named.sort();
    shown.sort();
    then(
        &format!("the leader sees the agency's {} named workers", named.len()),
        !named.is_empty() && shown == named,
    );
    then("and its units", seen["units"].as_u64().unwrap_or(0) > 0);
    then(
        "the sign-in form is gone once signed in",
        seen["form_shown"] == false,
    );
    then(
        &format!(
            "and today's five positions on the map: {}",
            seen["positions"]
        ),
        seen["positions"] == 5,
    );
    save(b, "dashboard-leader.png").await?;

    when("the leader signs out", b.click("#leader-out")).await?;
    b.wait_for(
        "the public page again",
        "return document.body.dataset.state === 'ready' \
         && document.querySelectorAll('#map path.position').length === 0 \
         && document.querySelectorAll('#leader-workers tbody tr').length === 0",
        LOAD,
    )
    .await?;
    then(
        "the token is forgotten",
        b.eval("return sessionStorage.getItem('pantau-token')")
            .await?
            == Value::Null,
    );
    Ok(())
}

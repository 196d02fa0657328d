//! The dashboard in a real browser (headless Chromium over WebDriver): a
//! seeded province, the page loaded, the month switched, and the league
//! table, the category chart and the map markers checked against the public
//! API the page reads. Screenshots go to the target dir (or
//! PANTAU_SCREENSHOT_DIR) for a person to look at.

use std::path::PathBuf;
use std::time::Duration;

use pantau_fraud::domain::simulate::SimEvent;
use pantau_proto::events::v1::identity_event::Event as I;
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
async fn the_dashboard_shows_the_league_chart_and_map_and_follows_the_month() -> anyhow::Result<()>
{
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
    let scores = |spread: usize, floor: f64| -> Vec<(String, String, String, f64)> {
        workers
            .iter()
            .enumerate()
            .map(|(i, (a, u, w))| {
                let s = floor + f64::from(u32::try_from((i * spread) % 50).unwrap_or(0));
                (a.clone(), u.clone(), w.clone(), s.min(100.0))
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

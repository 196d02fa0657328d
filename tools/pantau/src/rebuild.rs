//! `pantau scores rebuild`, `accept` and `discard`: recomputing a closed
//! month with the rule sets known now, showing how it differs from the
//! finalized scores, and publishing it as the month's next revision (or
//! dropping it).

use std::collections::HashMap;
use std::io::IsTerminal;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use pantau_proto::events::v1::MonthFigures;
use pantau_proto::identity::v1::Worker;
use pantau_proto::scoring::v1::{
    AcceptRebuildRequest, AcceptRebuildResponse, DiscardRebuildRequest, GetRebuildDiffRequest,
    RebuildDiffSummary, RebuildMonthRequest, WorkerDiff,
};

use crate::cli::AgencyMonth;
use crate::client::{Scoring, rpc_error};
use crate::scores::{self, Scores, category, number};
use crate::{list, table};

/// Changed workers the rebuild lists; the rest are counted.
const DIFF_PAGE: u32 = 100;

pub async fn rebuild(
    s: &mut Scores,
    args: &AgencyMonth,
    accept: bool,
    request_id: Option<String>,
) -> anyhow::Result<()> {
    let agency = s.agency(&args.agency).await?;
    let what = format!("rebuilding {} of {}", args.month, agency.code);
    let mut stream = s
        .scoring
        .rebuild_month(RebuildMonthRequest {
            request_id: scores::request_id(request_id),
            agency_id: agency.agency_id.clone(),
            month: args.month.clone(),
        })
        .await
        .map_err(|e| rpc_error(&what, &e))?
        .into_inner();
    let bar = progress(&args.month);
    let mut done = None;
    while let Some(m) = stream.message().await.map_err(|e| rpc_error(&what, &e))? {
        bar.set_length(m.events_total);
        bar.set_position(m.events_read);
        if m.done {
            done = Some(m);
            break;
        }
    }
    bar.finish_and_clear();
    let done = done.with_context(|| {
        format!("{what} failed: the scoring service ended the stream before the rebuild was done")
    })?;
    let summary = done.summary.unwrap_or_default();
    println!(
        "rebuilt {} of {} with the rule sets known now",
        args.month, agency.code
    );
    print_summary(&summary, &done.rebuild_id);
    println!();
    let diff = s
        .scoring
        .get_rebuild_diff(GetRebuildDiffRequest {
            rebuild_id: done.rebuild_id.clone(),
            page_size: DIFF_PAGE,
            page_token: String::new(),
        })
        .await
        .map_err(|e| rpc_error("reading the rebuild's difference", &e))?
        .into_inner();
    if diff.workers.is_empty() {
        println!("no worker's figures change");
    } else {
        let names = names(s, &agency.agency_id).await;
        print_diff(&diff.workers, &names)?;
        let shown = u32::try_from(diff.workers.len()).unwrap_or(u32::MAX);
        let more = summary.changed.saturating_sub(shown);
        if !diff.next_page_token.is_empty() && more > 0 {
            println!("... and {more} more changed workers");
        }
    }
    println!();
    if accept {
        let accepted = call_accept(&mut s.scoring, &done.rebuild_id, None).await?;
        println!(
            "accepted: {} of {} is now revision {} ({} changed)",
            args.month,
            agency.code,
            accepted.revision,
            workers(accepted.changed)
        );
    } else {
        println!("nothing is published yet; to make these scores the month's next revision:");
        println!("  pantau scores accept {}", done.rebuild_id);
        println!("or to drop them:");
        println!("  pantau scores discard {}", done.rebuild_id);
    }
    Ok(())
}

pub async fn accept(
    client: &mut Scoring,
    rebuild_id: &str,
    request_id: Option<String>,
) -> anyhow::Result<()> {
    let accepted = call_accept(client, rebuild_id, request_id).await?;
    println!(
        "accepted rebuild {rebuild_id}: its month is now revision {} ({} changed)",
        accepted.revision,
        workers(accepted.changed)
    );
    Ok(())
}

pub async fn discard(client: &mut Scoring, rebuild_id: &str) -> anyhow::Result<()> {
    client
        .discard_rebuild(DiscardRebuildRequest {
            rebuild_id: rebuild_id.to_owned(),
        })
        .await
        .map_err(|e| rpc_error(&format!("discarding rebuild {rebuild_id}"), &e))?;
    println!("discarded rebuild {rebuild_id}");
    Ok(())
}

async fn call_accept(
    client: &mut Scoring,
    rebuild_id: &str,
    request_id: Option<String>,
) -> anyhow::Result<AcceptRebuildResponse> {
    Ok(client
        .accept_rebuild(AcceptRebuildRequest {
            request_id: scores::request_id(request_id),
            rebuild_id: rebuild_id.to_owned(),
        })
        .await
        .map_err(|e| rpc_error(&format!("accepting rebuild {rebuild_id}"), &e))?
        .into_inner())
}

fn workers(n: u32) -> String {
    if n == 1 {
        "1 worker".to_owned()
    } else {
        format!("{n} workers")
    }
}

fn print_summary(s: &RebuildDiffSummary, rebuild_id: &str) {
    println!("workers:          {}", s.workers);
    println!("changed:          {}", s.changed);
    println!("category changed: {}", s.category_changed);
    println!(
        "points (total):   {} -> {}",
        number(s.points_before),
        number(s.points_after)
    );
    println!("rebuild id:       {rebuild_id}");
}

/// Employee id and name by worker id. The difference is still worth
/// showing by ids alone when identity cannot say.
async fn names(s: &mut Scores, agency_id: &str) -> HashMap<String, Worker> {
    match list::all_workers(&mut s.identity, agency_id.to_owned()).await {
        Ok(ws) => ws.into_iter().map(|w| (w.worker_id.clone(), w)).collect(),
        Err(e) => {
            eprintln!("warning: workers are shown by id: {e:#}");
            HashMap::new()
        }
    }
}

fn print_diff(diff: &[WorkerDiff], names: &HashMap<String, Worker>) -> anyhow::Result<()> {
    let change = |f: fn(&MonthFigures) -> String, d: &WorkerDiff| {
        let before = d.before.as_ref().map_or_else(|| "-".to_owned(), f);
        let after = d.after.as_ref().map_or_else(|| "-".to_owned(), f);
        format!("{before} -> {after}")
    };
    let rows: Vec<Vec<String>> = diff
        .iter()
        .map(|d| {
            let w = names.get(&d.worker_id);
            vec![
                d.worker_id.clone(),
                w.map(|w| w.employee_id.clone()).unwrap_or_default(),
                w.map(|w| w.name.clone()).unwrap_or_default(),
                change(|f| number(f.points), d),
                change(|f| category(f.category).to_owned(), d),
            ]
        })
        .collect();
    table::print(
        &["worker", "employee id", "name", "points", "category"],
        &rows,
    )
    .context("failed to write the difference")
}

/// A bar of events replayed, drawn on stderr when it is a terminal.
fn progress(month: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0).with_finish(ProgressFinish::AndClear);
    let template =
        format!("{{spinner}} rebuilding {month} {{bar:40}} {{pos}}/{{len}} events ({{elapsed}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

//! `pantau workers list` and `pantau agencies list`, and the look-ups of
//! agencies and workers other commands share.

use std::collections::HashMap;

use anyhow::bail;
use pantau_proto::identity::v1::{
    Agency, ListAgenciesRequest, ListWorkersRequest, Worker, WorkerStatus,
};

use crate::client::{Client, rpc_error};
use crate::table;

const PAGE_SIZE: u32 = 1000;
/// Agencies or units named in a "not found" message before it says "...".
const MAX_LISTED: usize = 20;

pub async fn all_agencies(client: &mut Client) -> anyhow::Result<Vec<Agency>> {
    Ok(client
        .list_agencies(ListAgenciesRequest {})
        .await
        .map_err(|s| rpc_error("listing agencies", &s))?
        .into_inner()
        .agencies)
}

/// The agency whose id is `key`, or whose code is `key` in any case.
pub fn find_agency<'a>(agencies: &'a [Agency], key: &str) -> anyhow::Result<&'a Agency> {
    if let Some(a) = agencies
        .iter()
        .find(|a| a.agency_id == key || a.code.eq_ignore_ascii_case(key))
    {
        return Ok(a);
    }
    let known = listing(agencies.iter().map(|a| a.code.as_str()));
    bail!("agency {key:?} not found: no agency has that id or code (agencies: {known})")
}

/// Codes sorted and joined for a message, at most [`MAX_LISTED`] of them.
pub fn listing<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    let mut codes: Vec<&str> = codes.collect();
    if codes.is_empty() {
        return "none".to_owned();
    }
    codes.sort_unstable();
    let more = codes.len() > MAX_LISTED;
    codes.truncate(MAX_LISTED);
    let mut out = codes.join(", ");
    if more {
        out.push_str(", ...");
    }
    out
}

pub async fn agencies(client: &mut Client) -> anyhow::Result<()> {
    let agencies = all_agencies(client).await?;
    let rows: Vec<Vec<String>> = agencies
        .into_iter()
        .map(|a| {
            let units: Vec<String> = a.units.into_iter().map(|u| u.code).collect();
            vec![a.agency_id, a.code, a.name, a.time_zone, units.join(",")]
        })
        .collect();
    table::print(&["id", "code", "name", "time zone", "units"], &rows)?;
    Ok(())
}

/// Every worker, page by page; `agency` is an agency id or code.
pub async fn workers(client: &mut Client, agency: Option<String>) -> anyhow::Result<()> {
    let agencies = all_agencies(client).await?;
    let codes: HashMap<&str, &str> = agencies
        .iter()
        .map(|a| (a.agency_id.as_str(), a.code.as_str()))
        .collect();
    let agency_id = agency
        .map(|a| {
            agencies
                .iter()
                .find(|x| x.code.eq_ignore_ascii_case(&a))
                .map_or(a, |x| x.agency_id.clone())
        })
        .unwrap_or_default();
    let workers = all_workers(client, agency_id).await?;
    let rows: Vec<Vec<String>> = workers
        .into_iter()
        .map(|w| {
            let agency = codes
                .get(w.agency_id.as_str())
                .map_or_else(|| w.agency_id.clone(), |c| (*c).to_owned());
            let status = status(&w);
            vec![w.worker_id, w.employee_id, w.name, agency, status]
        })
        .collect();
    table::print(&["id", "employee id", "name", "agency", "status"], &rows)?;
    eprintln!("{} workers", rows.len());
    Ok(())
}

/// Every worker of `agency_id` (an id; empty: every agency), page by page.
pub async fn all_workers(client: &mut Client, agency_id: String) -> anyhow::Result<Vec<Worker>> {
    let mut workers: Vec<Worker> = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_workers(ListWorkersRequest {
                agency_id: agency_id.clone(),
                page_size: PAGE_SIZE,
                page_token,
                ..Default::default()
            })
            .await
            .map_err(|s| rpc_error("listing workers", &s))?
            .into_inner();
        workers.extend(page.workers);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok(workers)
}

fn status(w: &Worker) -> String {
    let s = match WorkerStatus::try_from(w.status) {
        Ok(WorkerStatus::Active) => "active",
        Ok(WorkerStatus::Inactive) => "inactive",
        _ => "unknown",
    };
    if w.erased {
        format!("{s} (erased)")
    } else {
        s.to_owned()
    }
}

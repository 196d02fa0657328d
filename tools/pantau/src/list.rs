//! `pantau workers list` and `pantau agencies list`.

use std::collections::HashMap;

use pantau_proto::identity::v1::{
    Agency, ListAgenciesRequest, ListWorkersRequest, Worker, WorkerStatus,
};

use crate::client::{Client, rpc_error};
use crate::table;

const PAGE_SIZE: u32 = 1000;

pub async fn all_agencies(client: &mut Client) -> anyhow::Result<Vec<Agency>> {
    Ok(client
        .list_agencies(ListAgenciesRequest {})
        .await
        .map_err(|s| rpc_error("listing agencies", &s))?
        .into_inner()
        .agencies)
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

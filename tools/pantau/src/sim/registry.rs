//! The registry phase: agencies with their admins and activity catalogs,
//! units, then every worker with an account. A worker the registry refuses
//! (a NIK, bank account, phone or e-mail already held by someone, a NIP
//! that disagrees with the NIK) comes in as a row of the legacy payroll
//! import, which takes such rows and records the anomaly: that is how the
//! ghosts the detectors look for get onto a payroll.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use pantau_proto::activity::v1 as act;
use pantau_proto::events::v1 as ev;
use pantau_proto::identity::v1 as id;
use tonic::Code;

use super::cluster::{Cluster, Known, Who, agency_admin_login};
use super::plan::Plan;
use super::rid;

/// The activity every simulated report is of.
pub const ACTIVITY: &str = "KEBERSIHAN";

pub async fn agencies(c: &Cluster, plan: &Plan, tag: &str) {
    for (at, a) in &plan.agencies {
        let req = id::CreateAgencyRequest {
            request_id: rid(tag, &format!("agency-{}", a.agency_id)),
            code: a.agency_id.to_uppercase(),
            name: a.name.clone(),
            time_zone: a.time_zone.clone(),
        };
        let created = c
            .call("CreateAgency", &Who::Admin, Some(*at), req, |r| {
                let mut s = c.identity.clone();
                async move { s.create_agency(r).await }
            })
            .await;
        let Some(created) = created else { continue };
        c.ids()
            .agencies
            .insert(a.agency_id.clone(), created.agency_id.clone());
        let account = id::CreateAccountRequest {
            request_id: rid(tag, &format!("kadis-{}", a.agency_id)),
            login_id: agency_admin_login(&a.agency_id),
            password: c.worker_password().to_owned(),
            roles: vec![id::Role::AgencyAdmin as i32],
            agency_id: created.agency_id.clone(),
            worker_id: String::new(),
        };
        c.call("CreateAccount", &Who::Admin, Some(*at), account, |r| {
            let mut s = c.identity.clone();
            async move { s.create_account(r).await }
        })
        .await;
        let catalog = act::PublishCatalogRequest {
            request_id: rid(tag, &format!("catalog-{}", a.agency_id)),
            agency_id: created.agency_id.clone(),
            effective_from: at.date_naive().to_string(),
            activities: vec![ev::CatalogActivity {
                code: ACTIVITY.into(),
                name: "Kebersihan dan pemeliharaan".into(),
                unit: "laporan".into(),
                photo_required: true,
                location_required: false,
            }],
        };
        c.call("PublishCatalog", &Who::Admin, Some(*at), catalog, |r| {
            let mut s = c.activity.clone();
            async move { s.publish_catalog(r).await }
        })
        .await;
    }
}

pub async fn units(c: &Cluster, plan: &Plan, tag: &str) {
    for (at, u) in &plan.units {
        let Some(agency) = c.ids().agencies.get(&u.agency_id).cloned() else {
            continue;
        };
        let req = id::CreateUnitRequest {
            request_id: rid(tag, &format!("unit-{}", u.unit_id)),
            agency_id: agency,
            code: u.code.clone(),
            name: u.name.clone(),
        };
        let created = c
            .call("CreateUnit", &Who::Admin, Some(*at), req, |r| {
                let mut s = c.identity.clone();
                async move { s.create_unit(r).await }
            })
            .await;
        if let Some(created) = created {
            c.ids().units.insert(u.unit_id.clone(), created.unit_id);
        }
    }
}

/// Registers every worker, supervisors before the workers they supervise,
/// `concurrency` at a time; `done` is told of each.
pub async fn workers(c: &Cluster, plan: &Plan, tag: &str, concurrency: usize, done: &dyn Fn()) {
    let supervisors: std::collections::HashSet<&str> = plan
        .workers
        .iter()
        .map(|(_, w)| w.supervisor_id.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    let mut levels: Vec<Vec<&(DateTime<Utc>, ev::WorkerRegistered)>> = Vec::new();
    let by_id: HashMap<&str, &ev::WorkerRegistered> = plan
        .workers
        .iter()
        .map(|(_, w)| (w.worker_id.as_str(), w))
        .collect();
    for item in &plan.workers {
        let mut depth = 0;
        let mut up = item.1.supervisor_id.as_str();
        while let Some(s) = by_id.get(up) {
            depth += 1;
            up = s.supervisor_id.as_str();
            if depth > by_id.len() {
                break;
            }
        }
        if levels.len() <= depth {
            levels.resize(depth + 1, Vec::new());
        }
        levels[depth].push(item);
    }
    let supervisors = &supervisors;
    for level in levels {
        futures::stream::iter(level)
            .map(|(at, w)| async move {
                let supervises = supervisors.contains(w.worker_id.as_str());
                register(c, *at, w, supervises, tag).await;
                done();
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }
}

fn kind(w: &ev::WorkerRegistered) -> id::WorkerKind {
    match w.kind() {
        ev::WorkerKind::Pns => id::WorkerKind::Pns,
        ev::WorkerKind::Thl => id::WorkerKind::Thl,
        ev::WorkerKind::Tjp => id::WorkerKind::Tjp,
        _ => id::WorkerKind::Phl,
    }
}

fn sites(w: &ev::WorkerRegistered) -> Vec<id::WorkSite> {
    w.sites
        .iter()
        .map(|s| id::WorkSite {
            name: s.name.clone(),
            latitude: s.latitude,
            longitude: s.longitude,
            radius_m: s.radius_m,
            site_id: String::new(),
        })
        .collect()
}

async fn register(
    c: &Cluster,
    at: DateTime<Utc>,
    w: &ev::WorkerRegistered,
    supervises: bool,
    tag: &str,
) {
    let (agency, unit, supervisor) = {
        let ids = c.ids();
        (
            ids.agencies.get(&w.agency_id).cloned(),
            ids.units.get(&w.unit_id).cloned(),
            ids.workers
                .get(&w.supervisor_id)
                .map(|k| k.worker_id.clone()),
        )
    };
    let (Some(agency), Some(unit)) = (agency, unit) else {
        c.fail(
            "RegisterWorker",
            "skipped",
            "the worker's agency or unit was not created",
        );
        return;
    };
    let fp = w.fingerprints.clone().unwrap_or_default();
    let pns = kind(w) == id::WorkerKind::Pns;
    let req = id::RegisterWorkerRequest {
        request_id: rid(tag, &format!("register-{}", w.worker_id)),
        kind: kind(w) as i32,
        nip: if pns {
            w.employee_id.clone()
        } else {
            String::new()
        },
        nik: fp.nik.clone(),
        name: w.name.clone(),
        agency_id: agency.clone(),
        unit_id: unit,
        supervisor_id: supervisor.clone().unwrap_or_default(),
        phone: fp.phone.clone(),
        email: fp.email.clone(),
        bank_account: fp.bank_account.clone(),
        sites: sites(w),
        joined_on: w.joined_on.clone(),
        // A supervisor's account gets its second role below.
        initial_password: if supervises {
            String::new()
        } else {
            c.worker_password().to_owned()
        },
        ..Default::default()
    };
    let registered = c
        .try_call(&Who::Admin, Some(at), req, |r| {
            let mut s = c.identity.clone();
            async move { s.register_worker(r).await }
        })
        .await;
    let (worker_id, login_id) = match registered {
        Ok(r) => {
            if supervises {
                account(c, at, w, &r.worker_id, &r.employee_id, &agency, true, tag).await;
            }
            (r.worker_id, r.employee_id)
        }
        Err(s) if matches!(s.code(), Code::AlreadyExists | Code::InvalidArgument) => {
            match import(c, at, w, &agency, supervisor.as_deref(), tag).await {
                Some((worker_id, employee_id)) => {
                    account(c, at, w, &worker_id, &employee_id, &agency, supervises, tag).await;
                    (worker_id, employee_id)
                }
                None => return,
            }
        }
        Err(s) => {
            c.fail("RegisterWorker", &format!("{:?}", s.code()), s.message());
            return;
        }
    };
    c.ids().workers.insert(
        w.worker_id.clone(),
        Known {
            worker_id,
            login_id,
            agency: w.agency_id.clone(),
        },
    );
}

/// The worker's account: role worker, and supervisor when they supervise.
#[allow(clippy::too_many_arguments)]
async fn account(
    c: &Cluster,
    at: DateTime<Utc>,
    w: &ev::WorkerRegistered,
    worker_id: &str,
    login_id: &str,
    agency: &str,
    supervises: bool,
    tag: &str,
) {
    let mut roles = vec![id::Role::Worker as i32];
    if supervises {
        roles.push(id::Role::Supervisor as i32);
    }
    let req = id::CreateAccountRequest {
        request_id: rid(tag, &format!("account-{}", w.worker_id)),
        login_id: login_id.to_owned(),
        password: c.worker_password().to_owned(),
        roles,
        agency_id: agency.to_owned(),
        worker_id: worker_id.to_owned(),
    };
    c.call("CreateAccount", &Who::Admin, Some(at), req, |r| {
        let mut s = c.identity.clone();
        async move { s.create_account(r).await }
    })
    .await;
}

/// One legacy payroll row for a worker the registry refused; then the
/// sites and supervisor a row cannot carry. Gives (worker id, employee id).
async fn import(
    c: &Cluster,
    at: DateTime<Utc>,
    w: &ev::WorkerRegistered,
    agency: &str,
    supervisor: Option<&str>,
    tag: &str,
) -> Option<(String, String)> {
    let fp = w.fingerprints.clone().unwrap_or_default();
    let (agency_code, unit_code) = codes(w);
    let pns = kind(w) == id::WorkerKind::Pns;
    let row = id::ImportRow {
        line: 1,
        kind: kind(w) as i32,
        nip: if pns {
            w.employee_id.clone()
        } else {
            String::new()
        },
        nik: fp.nik.clone(),
        name: w.name.clone(),
        agency_code,
        unit_code,
        phone: fp.phone.clone(),
        email: fp.email.clone(),
        bank_account: fp.bank_account.clone(),
        address: String::new(),
        joined_on: w.joined_on.clone(),
        legacy_id: if pns {
            String::new()
        } else {
            w.employee_id.clone()
        },
    };
    let msg = id::ImportWorkersRequest {
        request_id: rid(tag, &format!("import-{}", w.worker_id)),
        rows: vec![row],
    };
    let req = match c
        .request(&Who::Admin, Some(at), futures::stream::iter([msg]))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            c.fail("ImportWorkers", "sign-in", &format!("{e:#}"));
            return None;
        }
    };
    let report = match c.identity.clone().import_workers(req).await {
        Ok(r) => r.into_inner(),
        Err(s) => {
            c.fail("ImportWorkers", &format!("{:?}", s.code()), s.message());
            return None;
        }
    };
    if let Some(r) = report.rejected.first() {
        c.fail(
            "ImportWorkers",
            "rejected",
            &format!("{}: {}", r.field, r.reason),
        );
        return None;
    }
    // An import answers with counts; the worker is found by name.
    let list = id::ListWorkersRequest {
        agency_id: agency.to_owned(),
        name_contains: w.name.clone(),
        page_size: 10,
        ..Default::default()
    };
    let found = c
        .call("ListWorkers", &Who::Admin, Some(at), list, |r| {
            let mut s = c.identity.clone();
            async move { s.list_workers(r).await }
        })
        .await?;
    let Some(worker) = found.workers.into_iter().find(|x| x.name == w.name) else {
        c.fail("ImportWorkers", "lost", "an imported worker is not listed");
        return None;
    };
    let update = id::UpdateWorkerRequest {
        request_id: rid(tag, &format!("sites-{}", w.worker_id)),
        worker_id: worker.worker_id.clone(),
        update_mask: vec!["sites".into()],
        sites: sites(w),
        ..Default::default()
    };
    c.call("UpdateWorker", &Who::Admin, Some(at), update, |r| {
        let mut s = c.identity.clone();
        async move { s.update_worker(r).await }
    })
    .await;
    if let Some(supervisor) = supervisor {
        let assign = id::AssignSupervisorRequest {
            request_id: rid(tag, &format!("supervisor-{}", w.worker_id)),
            worker_id: worker.worker_id.clone(),
            supervisor_id: supervisor.to_owned(),
            effective_on: w.joined_on.clone(),
        };
        c.call("AssignSupervisor", &Who::Admin, Some(at), assign, |r| {
            let mut s = c.identity.clone();
            async move { s.assign_supervisor(r).await }
        })
        .await;
    }
    Some((worker.worker_id, worker.employee_id))
}

/// The agency and unit codes the simulator created for `w`'s ids.
fn codes(w: &ev::WorkerRegistered) -> (String, String) {
    let unit = w
        .unit_id
        .rsplit_once("-u")
        .map_or_else(String::new, |(_, n)| format!("U{n}"));
    (w.agency_id.to_uppercase(), unit)
}

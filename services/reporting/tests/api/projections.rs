//! Every projection from hand-built histories: the figures they add up to,
//! what the public sees of a small agency, the map's withheld cells, the
//! published revision of the scores, and the leaders' drill-down.

use pantau_eventstore::{AppendMode, EventStore};
use pantau_proto::events::v1::{
    self as ev, activity_event::Event as A, attendance_event::Event as T, fraud_event::Event as F,
    identity_event::Event as I, scoring_event::Event as S,
};
use pantau_testkit::{given, then, when};

use crate::{Cluster, fraud, scoring};

const MONTH: &str = "2026-10";

fn ts(s: &str) -> Option<ev::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(s).expect("time");
    Some(ev::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn register(agency: &str, unit: &str, worker: &str) -> I {
    I::WorkerRegistered(ev::WorkerRegistered {
        worker_id: worker.into(),
        kind: ev::WorkerKind::Phl as i32,
        employee_id: format!("EMP-{worker}"),
        name: format!("Name of {worker}"),
        agency_id: agency.into(),
        unit_id: unit.into(),
        joined_on: "2026-09-01".into(),
        ..Default::default()
    })
}

fn check_in(agency: &str, unit: &str, worker: &str, day: &str, lat: f64, lon: f64) -> T {
    T::CheckedIn(ev::CheckedIn {
        presence: Some(ev::Presence {
            worker_id: worker.into(),
            agency_id: agency.into(),
            unit_id: unit.into(),
            at: ts(&format!("{day}T00:30:00Z")),
            position: Some(ev::GeoPoint {
                latitude: lat,
                longitude: lon,
            }),
            local_date: day.into(),
            inside: true,
            site_id: "site".into(),
            ..Default::default()
        }),
    })
}

fn finalized(agency: &str, worker: &str, revision: u32, score: f64, category: ev::Category) -> S {
    S::MonthlyScoreFinalized(ev::MonthlyScoreFinalized {
        agency_id: agency.into(),
        unit_id: "ua".into(),
        worker_id: worker.into(),
        month: MONTH.into(),
        revision,
        figures: Some(ev::MonthFigures {
            points: score * 2.0,
            score,
            category: category as i32,
            ..Default::default()
        }),
    })
}

#[tokio::test]
async fn the_projections_add_up_every_stream_and_the_public_sees_no_small_group()
-> anyhow::Result<()> {
    let c = given("a reporting service on empty streams", Cluster::start()).await?;
    let nats = c.client().await?;
    let open = |ctx: &'static str| EventStore::open_context(&nats, ctx, AppendMode::Pipelined);
    let (identity, attendance, activity, scoring_s, fraud_s) = (
        open("identity").await?,
        open("attendance").await?,
        open("activity").await?,
        open("scoring").await?,
        open("fraud").await?,
    );
    let a_workers: Vec<String> = (1..=6).map(|i| format!("a{i}")).collect();
    let b_workers: Vec<String> = (1..=3).map(|i| format!("b{i}")).collect();
    when(
        "agency A (6 workers) and B (3) work in October",
        Box::pin(async {
            for (id, code) in [("A", "DLH"), ("B", "DISHUB")] {
                identity
                    .append(pantau_feed::identity(&I::AgencyCreated(
                        ev::AgencyCreated {
                            agency_id: id.into(),
                            code: code.into(),
                            name: format!("Agency {id}"),
                            time_zone: "Asia/Jakarta".into(),
                        },
                    )))
                    .await?;
            }
            identity
                .append(pantau_feed::identity(&I::UnitCreated(ev::UnitCreated {
                    agency_id: "A".into(),
                    unit_id: "ua".into(),
                    code: "U1".into(),
                    name: "Unit one".into(),
                })))
                .await?;
            for w in &a_workers {
                identity
                    .append(pantau_feed::identity(&register("A", "ua", w)))
                    .await?;
            }
            for w in &b_workers {
                identity
                    .append(pantau_feed::identity(&register("B", "ub", w)))
                    .await?;
            }
            // Everyone in A on Thursday 1 October, half of A on Friday; B once,
            // at its own place.
            for w in &a_workers {
                attendance
                    .append(pantau_feed::attendance(&check_in(
                        "A",
                        "ua",
                        w,
                        "2026-10-01",
                        -6.2001,
                        106.8167,
                    )))
                    .await?;
            }
            for w in &a_workers[..3] {
                attendance
                    .append(pantau_feed::attendance(&check_in(
                        "A",
                        "ua",
                        w,
                        "2026-10-02",
                        -6.2002,
                        106.8168,
                    )))
                    .await?;
            }
            // a4 on approved leave from Friday to Monday, a5's leave for
            // Friday refused: a4 is not expected at work those days.
            for (leave, worker, approved) in [("l4", "a4", true), ("l5", "a5", false)] {
                attendance
                    .append(pantau_feed::attendance(&T::LeaveRequested(
                        ev::LeaveRequested {
                            leave_id: leave.into(),
                            worker_id: worker.into(),
                            agency_id: "A".into(),
                            unit_id: "ua".into(),
                            first_day: "2026-10-02".into(),
                            last_day: if approved { "2026-10-05" } else { "2026-10-02" }.into(),
                            ..Default::default()
                        },
                    )))
                    .await?;
                let decided = if approved {
                    T::LeaveApproved(ev::LeaveApproved {
                        leave_id: leave.into(),
                        worker_id: worker.into(),
                        decided_by: "kadis".into(),
                    })
                } else {
                    T::LeaveRejected(ev::LeaveRejected {
                        leave_id: leave.into(),
                        worker_id: worker.into(),
                        decided_by: "kadis".into(),
                        note: String::new(),
                    })
                };
                attendance.append(pantau_feed::attendance(&decided)).await?;
            }
            for w in &b_workers {
                attendance
                    .append(pantau_feed::attendance(&check_in(
                        "B",
                        "ub",
                        w,
                        "2026-10-01",
                        -7.25,
                        112.75,
                    )))
                    .await?;
            }
            let mut days = pantau_feed::ReportDays::default();
            for (report, decision) in [("r1", true), ("r2", false)] {
                activity
                    .append(days.activity(&A::ActivityReported(ev::ActivityReported {
                        report_id: report.into(),
                        worker_id: "a1".into(),
                        agency_id: "A".into(),
                        unit_id: "ua".into(),
                        local_date: "2026-10-01".into(),
                        details: Some(ev::ActivityDetails {
                            code: "SAPU-JALAN".into(),
                            quantity: 1.0,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }))?)
                    .await?;
                let decided = if decision {
                    A::ActivityApproved(ev::ActivityApproved {
                        report_id: report.into(),
                        worker_id: "a1".into(),
                        ..Default::default()
                    })
                } else {
                    A::ActivityRejected(ev::ActivityRejected {
                        report_id: report.into(),
                        worker_id: "a1".into(),
                        ..Default::default()
                    })
                };
                activity.append(days.activity(&decided)?).await?;
            }
            // A's month closed at revision 1; a later revision's score arrives
            // without its marker (not published yet); an adjustment of revision 1.
            let cats = [
                ev::Category::SangatBaik,
                ev::Category::SangatBaik,
                ev::Category::Baik,
                ev::Category::Cukup,
                ev::Category::Kurang,
                ev::Category::KurangSekali,
            ];
            for (i, w) in a_workers.iter().enumerate() {
                let score = 95.0 - 10.0 * f64::from(u32::try_from(i).unwrap_or(0));
                scoring_s
                    .append(scoring(
                        format!("pantau.scoring.score.A.202610.{w}"),
                        finalized("A", w, 1, score, cats[i]),
                    ))
                    .await?;
            }
            scoring_s
                .append(scoring(
                    "pantau.scoring.month.A.202610".into(),
                    S::MonthClosed(ev::MonthClosed {
                        agency_id: "A".into(),
                        month: MONTH.into(),
                        revision: 1,
                        workers: 6,
                        ..Default::default()
                    }),
                ))
                .await?;
            scoring_s
                .append(scoring(
                    "pantau.scoring.score.A.202610.a6".into(),
                    finalized("A", "a6", 2, 100.0, ev::Category::SangatBaik),
                ))
                .await?;
            scoring_s
                .append(scoring(
                    "pantau.scoring.score.A.202610.a5".into(),
                    S::ScoreAdjusted(ev::ScoreAdjusted {
                        agency_id: "A".into(),
                        worker_id: "a5".into(),
                        month: MONTH.into(),
                        revision: 1,
                        number: 1,
                        after: Some(ev::MonthFigures {
                            points: 110.0,
                            score: 55.0,
                            category: ev::Category::Cukup as i32,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                ))
                .await?;
            for (id, agency, subject, resolve) in [
                ("f1", "A", "a1", true),
                ("f2", "A", "a2", false),
                ("f3", "B", "b1", true),
            ] {
                fraud_s
                    .append(fraud(
                        format!("pantau.fraud.finding.{id}"),
                        F::FindingRaised(ev::FindingRaised {
                            finding_id: id.into(),
                            agency_id: agency.into(),
                            subject_id: subject.into(),
                            kind: ev::FindingKind::Ghost as i32,
                            risk: 0.9,
                            month: MONTH.into(),
                            ..Default::default()
                        }),
                    ))
                    .await?;
                if resolve {
                    fraud_s
                        .append(fraud(
                            format!("pantau.fraud.finding.{id}"),
                            F::FindingResolved(ev::FindingResolved {
                                finding_id: id.into(),
                                resolution: ev::Resolution::ConfirmedGhost as i32,
                                ..Default::default()
                            }),
                        ))
                        .await?;
                }
            }
            anyhow::Ok(())
        }),
    )
    .await?;
    c.settle().await?;

    let months = c.json("/api/v1/months").await?;
    then(
        "October is a month with data",
        months["months"] == serde_json::json!([MONTH]),
    );
    let league = c.json("/api/v1/league").await?;
    then(
        "the league defaults to the newest month",
        league["month"] == MONTH,
    );
    let row = |id: &str| {
        league["agencies"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["agency"]["agency_id"] == id))
            .cloned()
            .unwrap_or_default()
    };
    let a = row("A")["figures"].clone();
    then(
        "A employs 6 workers",
        a["workers"] == 6 && a["suppressed"] == false,
    );
    then("October 2026 has 22 workdays", a["workdays"] == 22);
    // (6/6 + 3/5 + 0/5) over 22 workdays: a4's approved leave excuses
    // Friday and Monday, a5's refused leave does not.
    let presence = a["presence"].as_f64().unwrap_or(-1.0);
    then(
        "A's presence is the mean daily share of the workers expected",
        (presence - 1.6 / 22.0).abs() < 1e-4,
    );
    then(
        "A reported two activities, one approved",
        a["activities_reported"] == 2 && a["activities_approved"] == 1,
    );
    then(
        "A's month is scored by its revision 1",
        a["scored"] == true && a["scored_workers"] == 6,
    );
    // 95, 85, 75, 65, 55 (adjusted from 55), 45: the unpublished revision 2 is not counted.
    let avg = a["average_score"].as_f64().unwrap_or(-1.0);
    then(
        "the average score is of the published revision, adjusted",
        (avg - 70.0).abs() < 1e-9,
    );
    then(
        "the categories are counted (a5 adjusted to cukup)",
        a["categories"]
            == serde_json::json!({"sangat_baik": 2, "baik": 1, "cukup": 2, "kurang": 0, "kurang_sekali": 1}),
    );
    then(
        "A has two findings, one confirmed",
        a["findings_raised"] == 2 && a["findings_confirmed"] == 1,
    );
    let b = row("B");
    then(
        "B's 3 workers are withheld, ranked last",
        b["figures"]["suppressed"] == true
            && b["figures"]["workers"] == 3
            && b["figures"]["findings_raised"] == 0
            && b["figures"]["presence"].is_null()
            && b["rank"] == 2,
    );
    then(
        "the province is its published agencies' (A only)",
        league["province"]["workers"] == 6 && league["province"]["findings_raised"] == 2,
    );

    let detail = c.json("/api/v1/agencies/A?month=2026-10").await?;
    then(
        "A's days show presence per workday",
        detail["days"][0]
            == serde_json::json!({"date": "2026-10-01", "employed": 6, "on_leave": 0, "present": 6})
            && detail["days"][1]
                == serde_json::json!({"date": "2026-10-02", "employed": 6, "on_leave": 1, "present": 3})
            && detail["days"][2]
                == serde_json::json!({"date": "2026-10-05", "employed": 6, "on_leave": 1, "present": 0})
            && detail["days"][3]["on_leave"] == 0
            && detail["days"].as_array().map(Vec::len) == Some(22),
    );
    let (status, days_csv) = c
        .get("/api/v1/agencies/A/days.csv?month=2026-10", None)
        .await?;
    then(
        &format!("the days as CSV, leave included: {days_csv}"),
        status == 200
            && days_csv.starts_with("date,employed,on_leave,present\n")
            && days_csv.contains("\n2026-10-02,6,1,3\n"),
    );
    then(
        "A's activities are counted by type",
        detail["activities"]
            == serde_json::json!([{"code": "SAPU-JALAN", "reported": 2, "approved": 1, "rejected": 1}]),
    );
    let b_detail = c.json("/api/v1/agencies/B?month=2026-10").await?;
    then(
        "B's detail is withheld",
        b_detail["days"] == serde_json::json!([]),
    );

    let map = c.json("/api/v1/map?month=2026-10").await?;
    then(
        "the map shows A's cell of 6 workers and withholds B's of 3",
        map["cells"].as_array().map(Vec::len) == Some(1)
            && map["cells"][0]["workers"] == 6
            && map["cells"][0]["check_ins"] == 9
            && map["withheld_cells"] == 1,
    );
    let lat = map["cells"][0]["latitude"].as_f64().unwrap_or(0.0);
    then(
        "a cell shows its centre, not a position",
        (lat - -6.2001).abs() > 1e-6 && (lat - -6.2001).abs() < 0.0045,
    );
    let b_map = c.json("/api/v1/map?month=2026-10&agency_id=B").await?;
    then(
        "B's own map withholds its cell",
        b_map["cells"] == serde_json::json!([]),
    );

    let (status, body) = c.get("/api/v1/league?month=2026-13", None).await?;
    then(
        "a bad month is refused naming the field",
        status == 400 && body.contains("\"field\":\"month\""),
    );
    let (status, _) = c.get("/api/v1/agencies/nope?month=2026-10", None).await?;
    then("an unknown agency is not found", status == 404);
    let (status, csv) = c.get("/api/v1/league.csv?month=2026-10", None).await?;
    then(
        "the league downloads as CSV",
        status == 200 && csv.lines().count() == 3 && csv.contains("Agency A"),
    );

    let (status, _) = c
        .get("/api/v1/agencies/A/workers?month=2026-10", None)
        .await?;
    then("named workers need a token", status == 401);
    let other = c.token(&["agency_admin"], Some("B"));
    let (status, _) = c
        .get("/api/v1/agencies/A/workers?month=2026-10", Some(&other))
        .await?;
    then("another agency's admin may not see them", status == 403);
    let leader = c.token(&["province_admin"], None);
    let (status, body) = c
        .get("/api/v1/agencies/A/workers?month=2026-10", Some(&leader))
        .await?;
    let workers: serde_json::Value = serde_json::from_str(&body)?;
    let a1 = workers["workers"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["worker_id"] == "a1"))
        .cloned()
        .unwrap_or_default();
    then(
        "a province admin sees A's named workers with their month",
        status == 200
            && workers["workers"].as_array().map(Vec::len) == Some(6)
            && a1["name"] == "Name of a1"
            && a1["days_present"] == 2
            && a1["activities_approved"] == 1
            && a1["score"] == 95.0
            && a1["category"] == "sangat_baik"
            && a1["findings_open"] == 0,
    );
    let own = c.token(&["agency_admin"], Some("A"));
    let (status, body) = c
        .get("/api/v1/agencies/A/units?month=2026-10", Some(&own))
        .await?;
    let units: serde_json::Value = serde_json::from_str(&body)?;
    then(
        "A's own admin drills down to its units",
        status == 200
            && units["units"][0]["unit_id"] == "ua"
            && units["units"][0]["figures"]["workers"] == 6,
    );
    let (status, body) = c.get("/api/v1/agencies/A/positions", Some(&own)).await?;
    let positions: serde_json::Value = serde_json::from_str(&body)?;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Jakarta)
        .date_naive()
        .to_string();
    then(
        "today's positions answer for the agency's local date, and October's are not today's",
        status == 200
            && positions["date"] == today.as_str()
            && positions["positions"] == serde_json::json!([]),
    );
    c.stop().await;
    Ok(())
}

//! Duplicate work across workers: the same task at the same site in
//! overlapping time is flagged on the later report (and refuses nothing).

use std::time::{Duration, Instant};

use pantau_proto::events::v1::activity_event::Event;

use crate::helpers::*;

#[tokio::test]
async fn the_same_task_at_the_same_place_and_time_is_flagged_on_the_later_report()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let wati = app.member(&team, "Wati").await?;
    let pupr = app.team("PUPR").await?;
    app.team_catalog(&pupr).await?;
    let tono = app.member(&pupr, "Tono").await?;
    let drain = |d: i64, start: &str, end: &str, site: &str, pos: (f64, f64)| {
        let mut r = report("DRAIN", &day(d), start, end);
        r.location = place(site, pos);
        r.evidence = vec![photo("ab12")];
        r
    };
    let far = north_of(SQUARE, 500.0);

    // Not duplicates: one after the other at the same site; the same time
    // at sites 500 m apart; another task; another agency.
    let mut clean = vec![
        app.filed(&siti.token, drain(1, "06:00", "07:00", "pasar", SQUARE))
            .await?,
        app.filed(&budi.token, drain(1, "07:00", "08:00", "pasar", SQUARE))
            .await?,
        app.filed(&siti.token, drain(2, "08:00", "10:00", "taman", SQUARE))
            .await?,
        app.filed(&budi.token, drain(2, "08:00", "10:00", "juanda", far))
            .await?,
    ];
    let mut sweep = report("SWEEP", &day(3), "08:00", "10:00");
    sweep.location = place("taman", SQUARE);
    clean.push(app.filed(&siti.token, sweep).await?);
    let budis_morning = app
        .filed(&budi.token, drain(3, "08:00", "10:00", "taman", SQUARE))
        .await?;
    clean.push(budis_morning.clone());
    clean.push(
        app.filed(&tono.token, drain(3, "09:00", "10:00", "taman", SQUARE))
            .await?,
    );
    // Right after Budi, for now.
    let touching = drain(3, "10:00", "11:00", "taman", SQUARE);
    let moved = app.filed(&wati.token, touching.clone()).await?;

    // Duplicates: the same site id (positions aside), 60 minutes shared;
    // no site ids but positions 30 m apart, 30 minutes shared.
    let earlier = app
        .filed(&siti.token, drain(1, "08:00", "10:00", "taman", SQUARE))
        .await?;
    let later = app
        .filed(
            &budi.token,
            drain(1, "09:00", "11:00", "taman", north_of(SQUARE, 300.0)),
        )
        .await?;
    let first_there = app
        .filed(&wati.token, drain(1, "12:00", "13:00", "", SQUARE))
        .await?;
    let next_there = app
        .filed(
            &siti.token,
            drain(1, "12:30", "14:00", "", north_of(SQUARE, 30.0)),
        )
        .await?;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = app.shown(&later).await?.duplicate_of;
        let b = app.shown(&next_there).await?.duplicate_of;
        if a == [earlier.as_str()] && b == [first_there.as_str()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not flagged within 10 s: {later} {a:?}, {next_there} {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Either way round.
    assert_eq!(app.shown(&earlier).await?.duplicate_of, [later.as_str()]);

    let flags = app.events(&format!("pantau.activity.flag.{later}")).await?;
    let [Event::DuplicateWorkFlagged(f)] = flags.as_slice() else {
        panic!("{flags:?}")
    };
    assert_eq!(
        (
            f.report_id.as_str(),
            f.worker_id.as_str(),
            f.other_report_id.as_str(),
            f.other_worker_id.as_str()
        ),
        (
            later.as_str(),
            budi.id.as_str(),
            earlier.as_str(),
            siti.id.as_str()
        )
    );
    assert_eq!(
        (
            f.agency_id.as_str(),
            f.local_date.as_str(),
            f.code.as_str(),
            f.site_id.as_str(),
            f.overlap_minutes
        ),
        (team.agency.as_str(), day(1).as_str(), "DRAIN", "taman", 60)
    );
    let flags = app
        .events(&format!("pantau.activity.flag.{next_there}"))
        .await?;
    assert!(
        matches!(flags.as_slice(), [Event::DuplicateWorkFlagged(f)]
            if f.other_report_id == first_there && f.overlap_minutes == 30),
        "{flags:?}"
    );
    assert!(
        app.events(&format!("pantau.activity.flag.{earlier}"))
            .await?
            .is_empty()
    );

    // Nothing else was flagged.
    for id in &clean {
        assert!(app.shown(id).await?.duplicate_of.is_empty(), "{id}");
        assert!(
            app.events(&format!("pantau.activity.flag.{id}"))
                .await?
                .is_empty(),
            "{id}"
        );
    }
    assert!(app.shown(&moved).await?.duplicate_of.is_empty());

    // An amendment into Budi's time is checked again, and flagged.
    let mut overlapping = touching.clone();
    overlapping.start_time = "09:30".into();
    app.amend(&wati.token, amendment(&moved, &overlapping))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.shown(&moved).await?.duplicate_of != [budis_morning.clone()] {
        assert!(
            Instant::now() < deadline,
            "the amended {moved} was not flagged within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let flags = app.events(&format!("pantau.activity.flag.{moved}")).await?;
    assert!(
        matches!(flags.as_slice(), [Event::DuplicateWorkFlagged(f)]
            if f.other_report_id == budis_morning && f.overlap_minutes == 30),
        "{flags:?}"
    );

    // Flags refuse nothing: both reports wait for review as usual.
    assert_eq!(
        app.approve(&team.boss_token, &later).await?,
        pantau_proto::activity::v1::ReportStatus::Approved
    );
    Ok(())
}

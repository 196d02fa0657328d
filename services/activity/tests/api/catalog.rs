//! Catalogs: published by their admins in versions that never go back in
//! time; a report is judged against the version in force on its day.

use pantau_proto::activity::v1::ReportStatus;
use tonic::Code;

use crate::helpers::*;

fn codes(entries: &[pantau_proto::activity::v1::CatalogEntry]) -> Vec<(String, String, u32)> {
    entries
        .iter()
        .map(|e| {
            (
                e.activity
                    .as_ref()
                    .map(|a| a.code.clone())
                    .unwrap_or_default(),
                e.catalog_agency_id.clone(),
                e.catalog_version,
            )
        })
        .collect()
}

#[tokio::test]
async fn catalogs_are_published_by_their_admins_in_versions_that_never_go_back()
-> anyhow::Result<()> {
    let app = spawn_app().await?;
    let dlh = app.team("DLH").await?;
    let pupr = app.team("PUPR").await?;
    let apel = || vec![activity("APEL", "kali", false, false)];

    // The general catalog: province admins only.
    let before = app.last_seq().await?;
    assert_code(
        app.publish(&dlh.admin, "", "2026-01-01", apel()).await,
        Code::PermissionDenied,
        "an agency admin publishing the general catalog",
    );
    assert_code(
        app.publish(&dlh.boss_token, "", "2026-01-01", apel()).await,
        Code::PermissionDenied,
        "a supervisor publishing the general catalog",
    );
    assert_eq!(app.last_seq().await?, before, "refusals write nothing");
    assert_eq!(app.publish(&app.admin, "", "2026-01-01", apel()).await?, 1);

    // An agency's catalog: its own admins (and province admins).
    let v1 = vec![
        activity("DRAIN", "meter", true, true),
        activity("SWEEP", "jam", false, false),
    ];
    assert_eq!(
        app.publish(&dlh.admin, &dlh.agency, "2026-11-01", v1.clone())
            .await?,
        1
    );
    let before = app.last_seq().await?;
    assert_code(
        app.publish(&pupr.admin, &dlh.agency, "2026-11-01", v1.clone())
            .await,
        Code::PermissionDenied,
        "another agency's admin",
    );
    assert_code(
        app.publish(&dlh.boss_token, &dlh.agency, "2026-11-01", v1.clone())
            .await,
        Code::PermissionDenied,
        "a supervisor",
    );
    assert_code(
        app.publish(
            &app.admin,
            &uuid::Uuid::new_v4().to_string(),
            "2026-11-01",
            v1.clone(),
        )
        .await,
        Code::NotFound,
        "an unknown agency",
    );
    // Not before the previous version's day.
    assert_invalid(
        app.publish(&dlh.admin, &dlh.agency, "2026-10-31", v1.clone())
            .await,
        "effective_from",
    );
    assert_invalid(
        app.publish(&dlh.admin, &dlh.agency, "1 Nov 2026", v1.clone())
            .await,
        "effective_from",
    );
    // Codes are upper-case letters, digits, '-' and '_', once each.
    for (bad, field) in [
        (
            vec![
                activity("DRAIN", "meter", false, false),
                activity("sapu", "jam", false, false),
            ],
            "activities[1].code",
        ),
        (
            vec![activity("DLH DRAIN", "meter", false, false)],
            "activities[0].code",
        ),
        (
            vec![activity("", "meter", false, false)],
            "activities[0].code",
        ),
        (
            vec![activity(&"X".repeat(33), "meter", false, false)],
            "activities[0].code",
        ),
        (
            vec![
                activity("DRAIN", "meter", false, false),
                activity("DRAIN", "jam", false, false),
            ],
            "activities[1].code",
        ),
        (
            vec![activity("DRAIN", "", false, false)],
            "activities[0].unit",
        ),
        (vec![], "activities"),
    ] {
        assert_invalid(
            app.publish(&dlh.admin, &dlh.agency, "2026-11-20", bad)
                .await,
            field,
        );
    }
    assert_eq!(app.last_seq().await?, before, "refusals write nothing");

    // Version 2 from the 20th drops SWEEP and adds PLANT; the same day
    // again is a correction (version 3).
    let v2 = vec![
        activity("DRAIN", "meter", true, true),
        activity("PLANT", "pohon", true, false),
    ];
    assert_eq!(
        app.publish(&dlh.admin, &dlh.agency, "2026-11-20", v2.clone())
            .await?,
        2
    );
    assert_eq!(
        app.publish(&app.admin, &dlh.agency, "2026-11-20", v2)
            .await?,
        3,
        "province admins manage every agency; the same day is allowed"
    );
    assert_eq!(
        app.publish(&pupr.admin, &pupr.agency, "2026-11-20", apel())
            .await?,
        1,
        "each agency counts its own versions"
    );

    // GetCatalog: the agency's version in force on the day, then the
    // general activities it does not override.
    let dlh_id = dlh.agency.as_str();
    assert_eq!(
        codes(&app.catalog(&dlh.boss_token, dlh_id, "2026-11-19").await?),
        [
            ("DRAIN".to_owned(), dlh.agency.clone(), 1),
            ("SWEEP".to_owned(), dlh.agency.clone(), 1),
            ("APEL".to_owned(), String::new(), 1),
        ]
    );
    assert_eq!(
        codes(&app.catalog(&dlh.boss_token, dlh_id, "2026-11-20").await?),
        [
            ("DRAIN".to_owned(), dlh.agency.clone(), 3),
            ("PLANT".to_owned(), dlh.agency.clone(), 3),
            ("APEL".to_owned(), String::new(), 1),
        ]
    );
    assert_eq!(
        codes(&app.catalog(&dlh.boss_token, dlh_id, "2026-10-31").await?),
        [("APEL".to_owned(), String::new(), 1)],
        "before the agency's first version only the general catalog"
    );
    let today = app.catalog(&dlh.boss_token, dlh_id, "").await?;
    assert_eq!(today.len(), 3, "empty date: today ({TODAY})");
    let drain = today[0].activity.clone().unwrap_or_default();
    assert!(drain.photo_required && drain.location_required);
    assert_eq!(
        (drain.name.as_str(), drain.unit.as_str()),
        ("Kegiatan DRAIN", "meter")
    );
    // PUPR overrides APEL with its own.
    assert_eq!(
        codes(&app.catalog(&pupr.admin, &pupr.agency, "2026-11-20").await?),
        [("APEL".to_owned(), pupr.agency.clone(), 1)]
    );
    assert_code(
        app.catalog(&dlh.boss_token, &uuid::Uuid::new_v4().to_string(), "")
            .await,
        Code::NotFound,
        "an unknown agency's catalog",
    );
    assert_invalid(
        app.catalog(&dlh.boss_token, dlh_id, "2026-11-31").await,
        "date",
    );
    Ok(())
}

#[tokio::test]
async fn a_report_is_judged_by_the_catalog_version_in_force_on_its_day() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    let siti = app.member(&team, "Siti").await?;
    let (d1, d2) = (day(30), day(1));
    assert_eq!(
        app.publish(
            &team.admin,
            &team.agency,
            &d1,
            vec![
                activity("OLD", "kali", false, false),
                activity("KEEP", "kali", false, false),
            ],
        )
        .await?,
        1
    );
    assert_eq!(
        app.publish(
            &team.admin,
            &team.agency,
            &d2,
            vec![
                activity("KEEP", "kali", false, false),
                activity("NEW", "kali", false, false),
            ],
        )
        .await?,
        2
    );

    // Filed today, but for the day before version 2: version 1 applies.
    let r = app
        .report(&siti.token, report("OLD", &day(2), "08:00", "09:00"))
        .await?;
    assert_eq!(r.catalog_version, 1);
    assert_eq!(r.status(), ReportStatus::Submitted);
    assert_eq!(app.shown(&r.report_id).await?.catalog_version, 1);
    assert_invalid(
        app.report(&siti.token, report("NEW", &day(2), "10:00", "11:00"))
            .await,
        "code",
    );

    // From version 2's day, OLD is gone.
    let before = app.last_seq().await?;
    for date in [day(1), day(0)] {
        assert_invalid(
            app.report(&siti.token, report("OLD", &date, "08:00", "09:00"))
                .await,
            "code",
        );
    }
    assert_eq!(app.last_seq().await?, before);
    let r = app
        .report(&siti.token, report("KEEP", &d2, "08:00", "09:00"))
        .await?;
    assert_eq!(r.catalog_version, 2);
    let r = app
        .report(&siti.token, report("NEW", &d2, "09:00", "10:00"))
        .await?;
    assert_eq!(r.catalog_version, 2);
    let shown = app.shown(&r.report_id).await?;
    assert_eq!(
        (shown.activity_name.as_str(), shown.catalog_version),
        ("Kegiatan NEW", 2)
    );
    Ok(())
}

//! Monthly BerAKHLAK ratings by the worker's current supervisor (or their
//! agency's admins), shown with the month's reports.

use pantau_proto::activity::v1::{DaySummary, ReviewDecision};
use pantau_proto::events::v1::activity_event::Event;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn supervisors_rate_behaviour_monthly_and_the_month_shows_it() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let mandor = app.other_supervisor(&team, "Pak Mandor Dua").await?;
    let pupr = app.team("PUPR").await?;
    let newcomer = app
        .register("Wati", &team.agency, &team.unit, &team.boss, "2026-11-02")
        .await?;

    let mut mixed = scores(4);
    mixed.kolaboratif = 5;
    let average = app
        .rate(&team.boss_token, &rid(), &siti.id, "2026-11", mixed)
        .await?;
    assert!((average - 29.0 / 7.0).abs() < 1e-9, "{average}");

    let before = app.last_seq().await?;
    let mut low = scores(3);
    low.loyal = 0;
    let mut high = scores(3);
    high.berorientasi_pelayanan = 6;
    for (s, month, field) in [
        (low, "2026-11", "scores.loyal"),
        (high, "2026-11", "scores.berorientasi_pelayanan"),
        (scores(3), "2026-12", "month"),
        (scores(3), "2026-13", "month"),
        (scores(3), "2026-1", "month"),
    ] {
        assert_invalid(
            app.rate(&team.boss_token, &rid(), &siti.id, month, s).await,
            field,
        );
    }
    assert_invalid(
        app.rate(&team.boss_token, &rid(), &newcomer, "2026-10", scores(3))
            .await,
        "month",
    );
    assert_invalid(
        app.rate(&team.boss_token, &rid(), "", "2026-11", scores(3))
            .await,
        "worker_id",
    );
    assert_invalid(
        app.rate(&team.boss_token, "", &siti.id, "2026-11", scores(3))
            .await,
        "request_id",
    );
    assert_code(
        app.rate(
            &team.boss_token,
            &rid(),
            &uuid::Uuid::new_v4().to_string(),
            "2026-11",
            scores(3),
        )
        .await,
        Code::NotFound,
        "unknown worker",
    );
    for (who, token) in [
        ("the worker herself", &siti.token),
        ("a colleague", &budi.token),
        ("another supervisor", &mandor.token),
        ("another agency's admin", &pupr.admin),
        ("another agency's supervisor", &pupr.boss_token),
    ] {
        assert_code(
            app.rate(token, &rid(), &siti.id, "2026-11", scores(3))
                .await,
            Code::PermissionDenied,
            who,
        );
    }
    assert_eq!(app.last_seq().await?, before, "refusals write nothing");

    // A later rating of the month replaces the earlier; the agency admin
    // rates October.
    app.rate(&team.boss_token, &rid(), &siti.id, "2026-11", scores(5))
        .await?;
    let october = app
        .rate(&team.admin, &rid(), &siti.id, "2026-10", scores(2))
        .await?;
    assert!((october - 2.0).abs() < 1e-9);
    let rated = app
        .events(&format!("pantau.activity.rating.{}.202611", siti.id))
        .await?;
    assert_eq!(rated.len(), 2);
    assert!(
        matches!(&rated[0], Event::BehaviourRated(r) if r.rated_by == team.boss && r.month == "2026-11")
    );

    // The month's reports.
    let approved = app
        .filed(&siti.token, report("SWEEP", &day(1), "08:00", "09:30"))
        .await?;
    app.approve(&team.boss_token, &approved).await?;
    app.filed(&siti.token, report("SWEEP", &day(1), "10:00", "10:30"))
        .await?;
    let rejected = app
        .filed(&siti.token, report("SWEEP", &day(2), "08:00", "09:00"))
        .await?;
    app.review(&team.boss_token, &rejected, ReviewDecision::Reject, "salah")
        .await?;
    let returned = app
        .filed(&siti.token, report("SWEEP", &day(3), "08:00", "09:00"))
        .await?;
    app.review(&team.boss_token, &returned, ReviewDecision::Return, "foto")
        .await?;

    let month = app.worker_month(&siti.token, &siti.id, "2026-11").await?;
    assert_eq!(
        month.days,
        [
            DaySummary {
                date: day(3),
                reports: 1,
                approved: 0,
                pending: 0,
                approved_minutes: 0,
            },
            DaySummary {
                date: day(2),
                reports: 1,
                approved: 0,
                pending: 0,
                approved_minutes: 0,
            },
            DaySummary {
                date: day(1),
                reports: 2,
                approved: 1,
                pending: 1,
                approved_minutes: 90,
            },
        ]
    );
    assert_eq!(month.reports.len(), 4);
    assert_eq!(month.reports[0].report_id, returned);
    let rating = month.rating.unwrap();
    assert_eq!(rating.scores, Some(scores(5)));
    assert!((rating.average - 5.0).abs() < 1e-9);
    assert_eq!(
        (rating.rated_by.as_str(), rating.note.as_str()),
        (team.boss.as_str(), "Rajin dan tepat waktu")
    );
    let october = app
        .worker_month(&team.boss_token, &siti.id, "2026-10")
        .await?;
    assert!(october.days.is_empty() && october.reports.is_empty());
    assert!((october.rating.unwrap().average - 2.0).abs() < 1e-9);
    let budis = app.worker_month(&budi.token, &budi.id, "2026-11").await?;
    assert_eq!(budis.rating, None, "not rated yet");

    // After a reassignment, only the new supervisor rates.
    app.assign(&siti.id, &mandor.id, TODAY).await?;
    assert_code(
        app.rate(&team.boss_token, &rid(), &siti.id, "2026-11", scores(3))
            .await,
        Code::PermissionDenied,
        "the former supervisor",
    );
    app.rate(&mandor.token, &rid(), &siti.id, "2026-11", scores(3))
        .await?;
    // Nobody rates a worker who left.
    app.deactivate(&budi.id).await?;
    assert_code(
        app.rate(&team.boss_token, &rid(), &budi.id, "2026-11", scores(3))
            .await,
        Code::FailedPrecondition,
        "a worker no longer active",
    );
    Ok(())
}

//! Review: the supervisor the worker had on the day of the work (or the
//! agency's admins) approves, rejects with a reason, or returns a report for
//! correction; approval is final. Bulk approval judges each report alone.

use pantau_proto::activity::v1::{ReportStatus, ReviewDecision};
use pantau_proto::events::v1::activity_event::Event;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_report_is_returned_amended_and_approved_once() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let mandor = app.other_supervisor(&team, "Pak Mandor Dua").await?;
    let pupr = app.team("PUPR").await?;
    let date = day(1);
    let sweep = report("SWEEP", &date, "08:00", "09:00");
    let id = app.filed(&siti.token, sweep.clone()).await?;

    let before = app.last_seq().await?;
    for (decision, reason) in [
        (ReviewDecision::Return, ""),
        (ReviewDecision::Reject, "   "),
        (ReviewDecision::Reject, &"x".repeat(501)),
    ] {
        assert_invalid(
            app.review(&team.boss_token, &id, decision, reason).await,
            "reason",
        );
    }
    assert_invalid(
        app.review(&team.boss_token, &id, ReviewDecision::Unspecified, "")
            .await,
        "decision",
    );
    assert_invalid(
        app.review_as(&team.boss_token, "bad id", &id, ReviewDecision::Approve, "")
            .await,
        "request_id",
    );
    for (who, token) in [
        ("the worker herself", &siti.token),
        ("a colleague", &budi.token),
        ("a supervisor of other workers", &mandor.token),
        ("another agency's admin", &pupr.admin),
        ("another agency's supervisor", &pupr.boss_token),
        ("an auditor", &app.token(&["auditor"], None, None)),
    ] {
        assert_code(app.approve(token, &id).await, Code::PermissionDenied, who);
    }
    let unknown_worker = format!("{}-{}-1", date.replace('-', ""), uuid::Uuid::new_v4());
    for unknown in [
        "nope".to_owned(),
        String::new(),
        format!("{}-{}-9", date.replace('-', ""), siti.id),
        format!("{}-{}-1", day(2).replace('-', ""), siti.id),
        unknown_worker,
    ] {
        assert_code(
            app.approve(&team.boss_token, &unknown).await,
            Code::NotFound,
            &format!("report {unknown:?}"),
        );
    }
    assert_eq!(app.last_seq().await?, before, "refusals write nothing");

    // Returned with a reason: not approvable until amended.
    assert_eq!(
        app.review(
            &team.boss_token,
            &id,
            ReviewDecision::Return,
            " foto kurang jelas "
        )
        .await?,
        ReportStatus::Returned
    );
    let shown = app.shown(&id).await?;
    assert_eq!(shown.status(), ReportStatus::Returned);
    assert_eq!(
        (shown.reviewer.as_str(), shown.review_note.as_str()),
        (team.boss.as_str(), "foto kurang jelas")
    );
    assert_code(
        app.approve(&team.boss_token, &id).await,
        Code::FailedPrecondition,
        "a returned report waits for its amendment",
    );
    assert_code(
        app.amend(&budi.token, amendment(&id, &sweep)).await,
        Code::PermissionDenied,
        "a colleague amending",
    );

    let mut fixed = sweep.clone();
    fixed.end_time = "09:30".into();
    fixed.quantity = 1.5;
    assert_eq!(
        app.amend(&siti.token, amendment(&id, &fixed)).await?,
        ReportStatus::Submitted
    );
    let shown = app.shown(&id).await?;
    assert_eq!(shown.status(), ReportStatus::Submitted);
    assert_eq!(shown.end_time, "09:30");
    assert!((shown.quantity - 1.5).abs() < 1e-9);

    assert_eq!(
        app.approve(&team.boss_token, &id).await?,
        ReportStatus::Approved
    );
    // Approving again is fine and stores nothing; anything else is refused.
    let before = app.last_seq().await?;
    assert_eq!(
        app.approve(&team.boss_token, &id).await?,
        ReportStatus::Approved
    );
    assert_eq!(app.approve(&team.admin, &id).await?, ReportStatus::Approved);
    assert_eq!(app.last_seq().await?, before);
    fixed.end_time = "09:15".into();
    assert_code(
        app.amend(&siti.token, amendment(&id, &fixed)).await,
        Code::FailedPrecondition,
        "amending an approved report",
    );
    assert_code(
        app.review(&team.boss_token, &id, ReviewDecision::Reject, "salah")
            .await,
        Code::FailedPrecondition,
        "rejecting an approved report",
    );
    assert_code(
        app.review(&team.boss_token, &id, ReviewDecision::Return, "ulang")
            .await,
        Code::FailedPrecondition,
        "returning an approved report",
    );
    assert_eq!(app.last_seq().await?, before);
    let shown = app.shown(&id).await?;
    assert_eq!(
        (
            shown.status(),
            shown.reviewer.as_str(),
            shown.end_time.as_str()
        ),
        (ReportStatus::Approved, team.boss.as_str(), "09:30")
    );
    let kinds: Vec<&str> = app
        .day_events(&siti.id, &date)
        .await?
        .iter()
        .map(|e| match e {
            Event::ActivityReported(_) => "reported",
            Event::ActivityReturned(_) => "returned",
            Event::ActivityAmended(_) => "amended",
            Event::ActivityApproved(_) => "approved",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["reported", "returned", "amended", "approved"]);

    // The agency admin rejects another; a rejected report no longer blocks
    // its hours.
    let other = app
        .filed(&siti.token, report("SWEEP", &date, "10:00", "11:00"))
        .await?;
    assert_eq!(
        app.review(
            &team.admin,
            &other,
            ReviewDecision::Reject,
            "bukan tugasnya"
        )
        .await?,
        ReportStatus::Rejected
    );
    assert_eq!(app.shown(&other).await?.review_note, "bukan tugasnya");
    app.filed(&siti.token, report("SWEEP", &date, "10:00", "11:00"))
        .await?;
    // A province admin may review too.
    let budis = app
        .filed(&budi.token, report("SWEEP", &date, "08:00", "09:00"))
        .await?;
    assert_eq!(
        app.approve(&app.admin, &budis).await?,
        ReportStatus::Approved
    );
    Ok(())
}

#[tokio::test]
async fn reviews_follow_the_supervisor_of_the_day_of_the_work() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let new_boss = app.other_supervisor(&team, "Bu Kepala Baru").await?;
    // From yesterday, Siti works under the new supervisor.
    let x = day(1);
    app.assign(&siti.id, &new_boss.id, &x).await?;

    let before_x = app
        .filed(&siti.token, report("SWEEP", &day(2), "08:00", "09:00"))
        .await?;
    let on_x = app
        .filed(&siti.token, report("SWEEP", &x, "08:00", "09:00"))
        .await?;
    let today = app
        .filed(&siti.token, report("SWEEP", TODAY, "08:00", "09:00"))
        .await?;
    assert_eq!(app.shown(&before_x).await?.supervisor_id, team.boss);
    assert_eq!(app.shown(&on_x).await?.supervisor_id, new_boss.id);

    let old_queue = app.queue(&team.boss_token, "", 0).await?;
    assert_eq!(queue_ids(&old_queue), [before_x.as_str()]);
    let new_queue = app.queue(&new_boss.token, "", 0).await?;
    let mut listed = queue_ids(&new_queue);
    listed.sort();
    let mut expected = vec![on_x.clone(), today.clone()];
    expected.sort();
    assert_eq!(listed, expected);

    assert_code(
        app.approve(&new_boss.token, &before_x).await,
        Code::PermissionDenied,
        "the new supervisor, for a day before the assignment",
    );
    assert_code(
        app.approve(&team.boss_token, &on_x).await,
        Code::PermissionDenied,
        "the old supervisor, from the assignment's day",
    );
    assert_code(
        app.approve(&team.boss_token, &today).await,
        Code::PermissionDenied,
        "the old supervisor, today",
    );
    assert_eq!(
        app.approve(&team.boss_token, &before_x).await?,
        ReportStatus::Approved
    );
    assert_eq!(
        app.approve(&new_boss.token, &on_x).await?,
        ReportStatus::Approved
    );

    // Filling in follows the same rule.
    let mut behalf = report("SWEEP", &x, "10:00", "11:00");
    behalf.worker_id = siti.id.clone();
    assert_code(
        app.report(&team.boss_token, behalf.clone()).await,
        Code::PermissionDenied,
        "the old supervisor filling in from the assignment's day",
    );
    app.report(&new_boss.token, behalf).await?;
    let mut behalf = report("SWEEP", &day(2), "10:00", "11:00");
    behalf.worker_id = siti.id.clone();
    assert_code(
        app.report(&new_boss.token, behalf.clone()).await,
        Code::PermissionDenied,
        "the new supervisor filling in before the assignment",
    );
    app.report(&team.boss_token, behalf).await?;
    // Both supervisors may still read her days.
    assert_eq!(
        app.worker_day(&team.boss_token, &siti.id, &x).await?.len(),
        2
    );
    assert_eq!(
        app.worker_day(&new_boss.token, &siti.id, &day(2))
            .await?
            .len(),
        2
    );
    Ok(())
}

/// A reassignment registered after reports were filed, effective from a day
/// those reports cover: the filed reports stay with the supervisor they were
/// filed with (in their queue, theirs to review); reports filed from then on
/// go to the new supervisor.
#[tokio::test]
async fn a_backdated_reassignment_leaves_filed_reports_with_their_supervisor() -> anyhow::Result<()>
{
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let new_boss = app.other_supervisor(&team, "Bu Kepala Baru").await?;
    let before_x = app
        .filed(&siti.token, report("SWEEP", &day(2), "08:00", "09:00"))
        .await?;
    let on_x = app
        .filed(&siti.token, report("SWEEP", &day(1), "08:00", "09:00"))
        .await?;
    // Registered now, effective from yesterday.
    app.assign(&siti.id, &new_boss.id, &day(1)).await?;
    let after = app
        .filed(&siti.token, report("SWEEP", &day(1), "10:00", "11:00"))
        .await?;
    assert_eq!(app.shown(&on_x).await?.supervisor_id, team.boss);
    assert_eq!(app.shown(&after).await?.supervisor_id, new_boss.id);

    let old_queue = queue_ids(&app.queue(&team.boss_token, "", 0).await?);
    let new_queue = queue_ids(&app.queue(&new_boss.token, "", 0).await?);
    let mut expected_old = vec![before_x.clone(), on_x.clone()];
    expected_old.sort();
    let mut sorted_old = old_queue.clone();
    sorted_old.sort();
    assert_eq!(
        (sorted_old, new_queue),
        (expected_old, vec![after.clone()]),
        "each queue lists what its supervisor may review"
    );
    assert_code(
        app.approve(&new_boss.token, &on_x).await,
        Code::PermissionDenied,
        "the new supervisor, for a report filed with the old one",
    );
    assert_code(
        app.approve(&team.boss_token, &after).await,
        Code::PermissionDenied,
        "the old supervisor, for a report filed with the new one",
    );
    for id in &old_queue {
        assert_eq!(
            app.approve(&team.boss_token, id).await?,
            ReportStatus::Approved
        );
    }
    assert_eq!(
        app.approve(&new_boss.token, &after).await?,
        ReportStatus::Approved
    );
    // Filling in follows the supervision of the day.
    let mut behalf = report("SWEEP", &day(1), "12:00", "13:00");
    behalf.worker_id = siti.id.clone();
    assert_code(
        app.report(&team.boss_token, behalf.clone()).await,
        Code::PermissionDenied,
        "the old supervisor filling in for yesterday",
    );
    app.report(&new_boss.token, behalf).await?;
    Ok(())
}

#[tokio::test]
async fn bulk_approval_approves_what_it_may_and_says_why_not_for_the_rest() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let budi = app.member(&team, "Budi").await?;
    let mandor = app.other_supervisor(&team, "Pak Mandor Dua").await?;
    let joko = app
        .register("Joko", &team.agency, &team.unit, &mandor.id, JOINED)
        .await?;
    let joko_token = app.token(&["worker"], Some(&team.agency), Some(&joko));
    let sweep = |d: i64| report("SWEEP", &day(d), "08:00", "09:00");

    let a = app.filed(&siti.token, sweep(1)).await?;
    let b = app.filed(&budi.token, sweep(1)).await?;
    let c = app.filed(&siti.token, sweep(2)).await?;
    let others = app.filed(&joko_token, sweep(1)).await?;
    let approved = app.filed(&budi.token, sweep(3)).await?;
    app.approve(&team.boss_token, &approved).await?;
    let rejected = app.filed(&budi.token, sweep(2)).await?;
    app.review(&team.boss_token, &rejected, ReviewDecision::Reject, "salah")
        .await?;
    let unknown = format!("{}-{}-9", day(1).replace('-', ""), siti.id);
    let batch = [
        a.as_str(),
        &b,
        &c,
        &others,
        &approved,
        &rejected,
        "nope",
        &unknown,
    ];

    let request = rid();
    let results = app.bulk(&team.boss_token, &request, &batch).await?;
    let summary: Vec<(&str, bool, &str)> = results
        .iter()
        .map(|r| (r.report_id.as_str(), r.approved, r.error_code.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (a.as_str(), true, ""),
            (&b, true, ""),
            (&c, true, ""),
            (&others, false, "PERMISSION_DENIED"),
            (&approved, true, ""),
            (&rejected, false, "FAILED_PRECONDITION"),
            ("nope", false, "NOT_FOUND"),
            (&unknown, false, "NOT_FOUND"),
        ]
    );
    assert!(results.iter().all(|r| r.approved == r.error.is_empty()));
    for id in [&a, &b, &c] {
        let shown = app.shown(id).await?;
        assert_eq!(
            (shown.status(), shown.reviewer.as_str()),
            (ReportStatus::Approved, team.boss.as_str()),
            "{id}"
        );
    }
    assert_eq!(app.shown(&others).await?.status(), ReportStatus::Submitted);
    let mine = app.queue(&team.boss_token, "", 0).await?;
    assert_eq!((mine.total, mine.items.len()), (0, 0));
    let theirs = app.queue(&mandor.token, "", 0).await?;
    assert_eq!(queue_ids(&theirs), [others.as_str()]);

    // The same request again: the same answers, nothing stored twice.
    let before = app.last_seq().await?;
    let again = app.bulk(&team.boss_token, &request, &batch).await?;
    assert_eq!(again, results);
    assert_eq!(app.last_seq().await?, before);

    // Malformed batches are refused whole.
    assert_invalid(app.bulk(&team.boss_token, &rid(), &[]).await, "report_ids");
    assert_invalid(
        app.bulk(&team.boss_token, &rid(), &[others.as_str(), &others])
            .await,
        "report_ids",
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("r{i}")).collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    assert_invalid(
        app.bulk(&team.boss_token, &rid(), &too_many).await,
        "report_ids",
    );
    assert_invalid(
        app.bulk(&team.boss_token, "", &[others.as_str()]).await,
        "request_id",
    );
    // A worker approves nothing, their own reports least of all.
    let results = app.bulk(&joko_token, &rid(), &[others.as_str()]).await?;
    assert_eq!(
        (results[0].approved, results[0].error_code.as_str()),
        (false, "PERMISSION_DENIED")
    );
    assert_eq!(app.last_seq().await?, before);
    Ok(())
}

/// Each report of a bulk approval is its own command under the request's
/// id; two reports of the same worker and day share one subject, and one
/// approval must not be taken for a retry of the other.
#[tokio::test]
async fn bulk_approval_of_two_reports_of_one_worker_day_approves_both() -> anyhow::Result<()> {
    let app = spawn_app().await?;
    let team = app.team("DLH").await?;
    app.team_catalog(&team).await?;
    let siti = app.member(&team, "Siti").await?;
    let morning = app
        .filed(&siti.token, report("SWEEP", &day(1), "08:00", "09:00"))
        .await?;
    let noon = app
        .filed(&siti.token, report("SWEEP", &day(1), "11:00", "12:00"))
        .await?;

    // Other traffic through the service keeps its appender moving (without
    // any, two appends to one subject at once can stall: see reports.rs).
    let budi = app.member(&team, "Budi").await?;
    let traffic = async {
        for i in 0..40 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let (start, end) = (
                format!("{:02}:{:02}", i / 4, (i % 4) * 15),
                format!("{:02}:{:02}", i / 4, (i % 4) * 15 + 10),
            );
            let _ = app
                .report(&budi.token, report("SWEEP", &day(2), &start, &end))
                .await;
        }
    };
    let (request, batch) = (rid(), [morning.as_str(), noon.as_str()]);
    let results = tokio::select! {
        r = app.bulk(&team.boss_token, &request, &batch) => r?,
        () = traffic => panic!("bulk approval of two reports of one day: no answer"),
    };
    assert!(results.iter().all(|r| r.approved), "{results:?}");
    let approvals = app
        .day_events(&siti.id, &day(1))
        .await?
        .into_iter()
        .filter(|e| matches!(e, Event::ActivityApproved(_)))
        .count();
    let statuses: Vec<ReportStatus> = app
        .worker_day(&siti.token, &siti.id, &day(1))
        .await?
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        (approvals, statuses),
        (2, vec![ReportStatus::Approved, ReportStatus::Approved]),
        "both reports said approved: both must be"
    );
    Ok(())
}

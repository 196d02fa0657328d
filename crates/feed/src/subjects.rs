//! Where each generated event goes: the subject the owning service appends
//! it to (its aggregate), with the envelope its appends carry
//! (`Pantau-Event-Type` from the service's own naming, causal metadata),
//! so every consumer reads the month exactly as it would in production.

use std::collections::HashMap;

use bytes::Bytes;
use chrono::NaiveDate;
use pantau_activity as activity_svc;
use pantau_attendance as attendance_svc;
use pantau_eventstore::{Expected, Metadata, NewEvent};
use pantau_identity as identity_svc;
use pantau_proto::events::v1::{
    activity_event::Event as A, attendance_event::Event as T, identity_event::Event as I,
};

/// Who the month is appended as: one command for the whole month.
fn metadata() -> Metadata {
    Metadata {
        correlation_id: "generated-month".into(),
        causation_id: "generated-month".into(),
        request_id: Some("generated-month".into()),
        actor: Some("pantau-feed".into()),
    }
}

fn new_event(subject: String, event_type: &str, payload: Bytes) -> NewEvent {
    NewEvent {
        subject,
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload,
        expected: Expected::Any,
        msg_id: None,
        metadata: metadata(),
    }
}

/// An identity event on its aggregate's subject: the worker, the agency
/// (units belong to it), the campaign, the account or the signing key.
pub fn identity(e: &I) -> NewEvent {
    use identity_svc::core::{
        account_subject, agency_subject, campaign_subject, signing_key_subject, worker_subject,
    };
    let subject = match e {
        I::AgencyCreated(x) => agency_subject(&x.agency_id),
        I::UnitCreated(x) => agency_subject(&x.agency_id),
        I::WorkerRegistered(x) => worker_subject(&x.worker_id),
        I::WorkerUpdated(x) => worker_subject(&x.worker_id),
        I::WorkerTransferred(x) => worker_subject(&x.worker_id),
        I::SupervisorAssigned(x) => worker_subject(&x.worker_id),
        I::WorkerDeactivated(x) => worker_subject(&x.worker_id),
        I::WorkerErased(x) => worker_subject(&x.worker_id),
        I::WorkerReverified(x) => worker_subject(&x.worker_id),
        I::ReverificationMissed(x) => worker_subject(&x.worker_id),
        I::CampaignOpened(x) => campaign_subject(&x.campaign_id),
        I::CampaignClosed(x) => campaign_subject(&x.campaign_id),
        I::AccountCreated(x) => account_subject(&x.account_id),
        I::SigningKeyPublished(x) => signing_key_subject(&x.key_id),
    };
    new_event(
        subject,
        identity_svc::core::event_type(e),
        identity_svc::core::encode(e),
    )
}

/// An attendance event on its aggregate's subject: the worker's presence,
/// the ceremony session, the scanner, the leave request and so on.
pub fn attendance(e: &T) -> NewEvent {
    use attendance_svc::core::{
        credential_subject, leave_subject, qr_key_subject, scanner_subject, schedule_subject,
        session_subject, worker_subject,
    };
    let worker = |p: &Option<pantau_proto::events::v1::Presence>| {
        worker_subject(p.as_ref().map_or("", |p| p.worker_id.as_str()))
    };
    let subject = match e {
        T::QrKeyPublished(x) => qr_key_subject(&x.key_id),
        T::CredentialReissued(x) => credential_subject(&x.worker_id),
        T::ScannerRegistered(x) => scanner_subject(&x.scanner_id),
        T::ScannerRevoked(x) => scanner_subject(&x.scanner_id),
        T::SessionOpened(x) => session_subject(&x.session_id),
        T::ScanAccepted(x) => session_subject(&x.session_id),
        T::ScanRejected(x) => session_subject(&x.session_id),
        T::CheckedIn(x) => worker(&x.presence),
        T::CheckedOut(x) => worker(&x.presence),
        T::ScheduleSet(x) => schedule_subject(&x.agency_id),
        T::LeaveRequested(x) => leave_subject(&x.leave_id),
        T::LeaveApproved(x) => leave_subject(&x.leave_id),
        T::LeaveRejected(x) => leave_subject(&x.leave_id),
    };
    new_event(
        subject,
        attendance_svc::core::event_type(e),
        attendance_svc::core::encode(e),
    )
}

/// Activity's reports live on the worker's day: a review names only the
/// report, so the day is remembered from the report until its decision.
#[derive(Default)]
pub struct ReportDays(HashMap<String, String>);

impl ReportDays {
    /// An activity event on its aggregate's subject.
    pub fn activity(&mut self, e: &A) -> anyhow::Result<NewEvent> {
        use activity_svc::core::{catalog_subject, day_subject, flag_subject, rating_subject};
        let subject = match e {
            A::ActivityReported(x) => {
                let date = NaiveDate::parse_from_str(&x.local_date, "%Y-%m-%d").map_err(|err| {
                    anyhow::anyhow!(
                        "report {}: local_date {:?}: {err}",
                        x.report_id,
                        x.local_date
                    )
                })?;
                let subject = day_subject(&x.worker_id, date);
                self.0.insert(x.report_id.clone(), subject.clone());
                subject
            }
            A::ActivityAmended(x) => self.day(&x.report_id)?,
            A::ActivityReturned(x) => self.day(&x.report_id)?,
            A::ActivityApproved(x) => self.decided(&x.report_id)?,
            A::ActivityRejected(x) => self.decided(&x.report_id)?,
            A::CatalogPublished(x) => catalog_subject(&x.agency_id),
            A::DuplicateWorkFlagged(x) => flag_subject(&x.report_id),
            A::BehaviourRated(x) => rating_subject(&x.worker_id, &x.month),
        };
        Ok(new_event(
            subject,
            activity_svc::core::event_type(e),
            activity_svc::core::encode(e),
        ))
    }

    fn day(&self, report_id: &str) -> anyhow::Result<String> {
        self.0
            .get(report_id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("report {report_id} reviewed before it was reported"))
    }

    /// A decided report is reviewed no more.
    fn decided(&mut self, report_id: &str) -> anyhow::Result<String> {
        self.0
            .remove(report_id)
            .ok_or_else(|| anyhow::anyhow!("report {report_id} decided before it was reported"))
    }
}

//! Re-verification campaigns (after e-PUPNS 2015): every worker in scope
//! confirms their record before a deadline; whoever does not is recorded as
//! missed when the campaign closes. Time comes in through the commands.

use chrono::{DateTime, Utc};
use pantau_proto::events::v1::{self as ev, identity_event::Event};

use super::error::DomainError;
use super::values::DisplayName;

#[derive(Debug, Clone, PartialEq)]
pub enum CampaignCommand {
    Open {
        campaign_id: String,
        title: DisplayName,
        /// `None`: every agency.
        agency_id: Option<String>,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// `verified` and `missed` are the counts the adapter tallied while
    /// recording each missed worker on the worker's own stream.
    Close {
        now: DateTime<Utc>,
        verified: u32,
        missed: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub campaign_id: String,
    pub title: String,
    pub agency_id: Option<String>,
    pub deadline: DateTime<Utc>,
    /// `(verified, missed)` once closed.
    pub closed: Option<(u32, u32)>,
}

impl Campaign {
    /// Whether workers of `agency_id` must re-verify in this campaign.
    pub fn covers(&self, agency_id: &str) -> bool {
        self.agency_id.as_deref().is_none_or(|a| a == agency_id)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CampaignState {
    #[default]
    NotOpened,
    Opened(Campaign),
}

impl CampaignState {
    pub fn campaign(&self) -> Option<&Campaign> {
        match self {
            CampaignState::NotOpened => None,
            CampaignState::Opened(c) => Some(c),
        }
    }
}

pub fn to_timestamp(t: DateTime<Utc>) -> ev::Timestamp {
    ev::Timestamp {
        seconds: t.timestamp(),
        // Always below 2e9 (leap-second nanos included), so the cast is exact.
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// `None` for a missing or out-of-range timestamp.
pub fn from_timestamp(t: Option<&ev::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// Folds one event; events of other aggregates leave the state unchanged.
pub fn evolve(state: CampaignState, event: &Event) -> CampaignState {
    match (state, event) {
        (_, Event::CampaignOpened(e)) => CampaignState::Opened(Campaign {
            campaign_id: e.campaign_id.clone(),
            title: e.title.clone(),
            agency_id: (!e.agency_id.is_empty()).then(|| e.agency_id.clone()),
            // A missing deadline can only come from a corrupt event; the epoch
            // makes such a campaign closable rather than stuck open.
            deadline: from_timestamp(e.deadline.as_ref()).unwrap_or(DateTime::UNIX_EPOCH),
            closed: None,
        }),
        (CampaignState::Opened(mut c), Event::CampaignClosed(e)) => {
            c.closed = Some((e.verified, e.missed));
            CampaignState::Opened(c)
        }
        (state, _) => state,
    }
}

pub fn decide(state: &CampaignState, command: CampaignCommand) -> Result<Vec<Event>, DomainError> {
    match (state, command) {
        (
            CampaignState::NotOpened,
            CampaignCommand::Open {
                campaign_id,
                title,
                agency_id,
                deadline,
                now,
            },
        ) => {
            if campaign_id.is_empty() {
                return Err(DomainError::invalid("campaign_id", "must not be empty"));
            }
            if deadline <= now {
                return Err(DomainError::invalid(
                    "deadline_unix",
                    format!("{deadline} is not after the current time {now}"),
                ));
            }
            Ok(vec![Event::CampaignOpened(ev::CampaignOpened {
                campaign_id,
                title: title.as_str().to_owned(),
                agency_id: agency_id.unwrap_or_default(),
                deadline: Some(to_timestamp(deadline)),
            })])
        }
        (CampaignState::Opened(c), CampaignCommand::Open { .. }) => Err(
            DomainError::already_exists("campaign_id", c.campaign_id.clone()),
        ),
        (CampaignState::NotOpened, CampaignCommand::Close { .. }) => {
            Err(DomainError::NotFound("campaign does not exist".into()))
        }
        (
            CampaignState::Opened(c),
            CampaignCommand::Close {
                now,
                verified,
                missed,
            },
        ) => {
            if c.closed.is_some() {
                return Err(DomainError::precondition(format!(
                    "campaign {} is already closed",
                    c.campaign_id
                )));
            }
            if now < c.deadline {
                return Err(DomainError::precondition(format!(
                    "campaign {} cannot close before its deadline {}",
                    c.campaign_id, c.deadline
                )));
            }
            Ok(vec![Event::CampaignClosed(ev::CampaignClosed {
                campaign_id: c.campaign_id.clone(),
                verified,
                missed,
            })])
        }
    }
}

/// Whether a worker of `worker_agency` may re-verify in this campaign at
/// `now`. The worker decider checks the worker's side; this is the campaign's.
pub fn check_reverification(
    state: &CampaignState,
    worker_agency: &str,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    let c = state
        .campaign()
        .ok_or_else(|| DomainError::NotFound("campaign does not exist".into()))?;
    if c.closed.is_some() {
        return Err(DomainError::precondition(format!(
            "campaign {} is closed",
            c.campaign_id
        )));
    }
    if now >= c.deadline {
        return Err(DomainError::precondition(format!(
            "the deadline of campaign {} ({}) has passed",
            c.campaign_id, c.deadline
        )));
    }
    if !c.covers(worker_agency) {
        return Err(DomainError::precondition(format!(
            "campaign {} does not cover agency {worker_agency}",
            c.campaign_id
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 9, 1, h, 0, 0)
            .single()
            .expect("time")
    }

    fn open(agency: Option<&str>, deadline: DateTime<Utc>, now: DateTime<Utc>) -> CampaignCommand {
        CampaignCommand::Open {
            campaign_id: "c1".into(),
            title: DisplayName::parse("title", "Re-registrasi 2025").expect("title"),
            agency_id: agency.map(str::to_owned),
            deadline,
            now,
        }
    }

    fn close(now: DateTime<Utc>) -> CampaignCommand {
        CampaignCommand::Close {
            now,
            verified: 10,
            missed: 2,
        }
    }

    fn given(history: &[Event]) -> CampaignState {
        history.iter().fold(CampaignState::default(), evolve)
    }

    fn opened() -> Vec<Event> {
        decide(&CampaignState::default(), open(Some("a1"), at(12), at(8))).expect("opened")
    }

    #[test]
    fn opening_a_campaign_records_its_deadline_and_scope() {
        let state = given(&opened());
        let c = state.campaign().expect("opened");
        assert_eq!(c.deadline, at(12));
        assert_eq!(c.agency_id.as_deref(), Some("a1"));
        assert!(c.covers("a1") && !c.covers("a2"));
    }

    #[test]
    fn a_campaign_for_every_agency_covers_them_all() {
        let events = decide(&CampaignState::default(), open(None, at(12), at(8))).expect("ok");
        assert!(given(&events).campaign().expect("opened").covers("any"));
    }

    #[test]
    fn a_deadline_that_is_not_after_now_is_invalid() {
        for now in [at(12), at(13)] {
            let r = decide(&CampaignState::default(), open(None, at(12), now));
            assert!(
                matches!(r, Err(DomainError::Invalid { field, .. }) if field == "deadline_unix")
            );
        }
    }

    #[test]
    fn opening_twice_already_exists() {
        let r = decide(&given(&opened()), open(None, at(12), at(8)));
        assert!(matches!(r, Err(DomainError::AlreadyExists { .. })));
    }

    #[test]
    fn closing_before_the_deadline_is_refused() {
        let r = decide(&given(&opened()), close(at(11)));
        assert!(matches!(r, Err(DomainError::FailedPrecondition(m)) if m.contains("deadline")));
    }

    #[test]
    fn closing_at_the_deadline_records_the_tally() {
        let events = decide(&given(&opened()), close(at(12))).expect("closed");
        assert!(matches!(events.as_slice(),
            [Event::CampaignClosed(e)] if e.verified == 10 && e.missed == 2 && e.campaign_id == "c1"));
    }

    #[test]
    fn closing_twice_is_refused() {
        let mut history = opened();
        history.extend(decide(&given(&history), close(at(12))).expect("closed"));
        let r = decide(&given(&history), close(at(13)));
        assert!(
            matches!(r, Err(DomainError::FailedPrecondition(m)) if m.contains("already closed"))
        );
    }

    #[test]
    fn closing_an_unknown_campaign_is_not_found() {
        let r = decide(&CampaignState::default(), close(at(12)));
        assert!(matches!(r, Err(DomainError::NotFound(_))));
    }

    #[test]
    fn reverification_is_open_only_before_the_deadline_and_within_scope() {
        let state = given(&opened());
        assert_eq!(check_reverification(&state, "a1", at(11)), Ok(()));
        assert!(matches!(
            check_reverification(&state, "a1", at(12)),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert!(matches!(
            check_reverification(&state, "a2", at(11)),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert!(matches!(
            check_reverification(&CampaignState::default(), "a1", at(11)),
            Err(DomainError::NotFound(_))
        ));
    }

    #[test]
    fn timestamps_round_trip_with_their_nanoseconds() {
        let t = at(12) + chrono::Duration::nanoseconds(123);
        assert_eq!(from_timestamp(Some(&to_timestamp(t))), Some(t));
        assert_eq!(from_timestamp(None), None);
        assert_eq!(
            from_timestamp(Some(&ev::Timestamp {
                seconds: 0,
                nanos: -1
            })),
            None
        );
    }
}

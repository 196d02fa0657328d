//! The three streams scoring takes its facts from: which subjects of each
//! it reads, and how a message becomes [`Change`]s. The live projections
//! and the rebuild's replay read them the same way.

use pantau_proto::events::v1::{ActivityEvent, AttendanceEvent, IdentityEvent};
use prost::Message;

use crate::domain::facts::{Change, from_activity, from_attendance, from_identity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Identity,
    Attendance,
    Activity,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Identity, Source::Attendance, Source::Activity];

    /// The stream's name.
    pub fn stream(self) -> &'static str {
        match self {
            Source::Identity => "PANTAU_IDENTITY",
            Source::Attendance => "PANTAU_ATTENDANCE",
            Source::Activity => "PANTAU_ACTIVITY",
        }
    }

    /// The subjects holding facts (the rest of the stream is not read).
    pub fn subjects(self) -> Vec<String> {
        let s: &[&str] = match self {
            Source::Identity => &["pantau.identity.agency.*", "pantau.identity.worker.*"],
            Source::Attendance => &[
                "pantau.attendance.schedule.*",
                "pantau.attendance.worker.*",
                "pantau.attendance.session.*",
                "pantau.attendance.leave.*",
            ],
            Source::Activity => &["pantau.activity.day.>"],
        };
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Whether a message on `subject` holds facts (the same subjects as
    /// [`Source::subjects`], matched on the client: a server-side filter
    /// of several subjects costs the server several times the read).
    pub fn reads(self, subject: &str) -> bool {
        let prefixes: &[&str] = match self {
            Source::Identity => &["pantau.identity.agency.", "pantau.identity.worker."],
            Source::Attendance => &[
                "pantau.attendance.schedule.",
                "pantau.attendance.worker.",
                "pantau.attendance.session.",
                "pantau.attendance.leave.",
            ],
            Source::Activity => &["pantau.activity.day."],
        };
        prefixes.iter().any(|p| subject.starts_with(p))
    }

    /// What a message changes; None when its payload does not decode.
    pub fn changes(self, payload: &[u8]) -> Option<Vec<Change>> {
        Some(match self {
            Source::Identity => from_identity(&IdentityEvent::decode(payload).ok()?.event?),
            Source::Attendance => from_attendance(&AttendanceEvent::decode(payload).ok()?.event?),
            Source::Activity => from_activity(&ActivityEvent::decode(payload).ok()?.event?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subjects_read_on_the_client_are_the_ones_filtered_on_the_server() {
        for source in Source::ALL {
            for filter in source.subjects() {
                let example = filter.replace('*', "x").replace('>', "x.20261001");
                assert!(source.reads(&example), "{source:?} {example}");
            }
        }
        assert!(!Source::Identity.reads("pantau.identity.account.a"));
        assert!(!Source::Attendance.reads("pantau.attendance.scanner.s"));
        assert!(!Source::Activity.reads("pantau.activity.catalog.general"));
    }
}

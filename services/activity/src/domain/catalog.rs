//! Activity catalogs, versioned. The general catalog (apel, kerja bakti,
//! Car Free Day duty) is shared by every agency; each agency adds its own
//! duties (tugas pokok). A version applies to the days from its
//! `effective_from` until the next version's, so a report is always judged
//! against the catalog in force on the day of the work, even when filed
//! after a new version came out.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use pantau_proto::events::v1::{self as ev, activity_event::Event};

use super::DomainError;

pub const MAX_ACTIVITIES: usize = 500;

#[derive(Debug, Clone)]
pub struct CatalogVersion {
    /// Empty for the general catalog.
    pub agency_id: String,
    pub version: u32,
    pub effective_from: NaiveDate,
    pub activities: Vec<ev::CatalogActivity>,
}

impl CatalogVersion {
    pub fn from_event(e: &ev::CatalogPublished) -> Option<CatalogVersion> {
        Some(CatalogVersion {
            agency_id: e.agency_id.clone(),
            version: e.version,
            effective_from: e.effective_from.parse().ok()?,
            activities: e.activities.clone(),
        })
    }

    pub fn activity(&self, code: &str) -> Option<&ev::CatalogActivity> {
        self.activities.iter().find(|a| a.code == code)
    }
}

/// An activity as found for a report: which catalog and version it came
/// from.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    pub catalog_agency_id: &'a str,
    pub version: u32,
    pub activity: &'a ev::CatalogActivity,
}

/// Every catalog version, by scope ("" for the general catalog).
#[derive(Debug, Default)]
pub struct Catalogs {
    by_scope: HashMap<String, Vec<CatalogVersion>>,
}

impl Catalogs {
    pub fn apply(&mut self, e: &ev::CatalogPublished) {
        let Some(v) = CatalogVersion::from_event(e) else {
            return;
        };
        let versions = self.by_scope.entry(v.agency_id.clone()).or_default();
        if versions.iter().all(|x| x.version != v.version) {
            versions.push(v);
            versions.sort_by_key(|x| x.version);
        }
    }

    /// The version of `scope` in force on `day`: the latest whose
    /// `effective_from` has come.
    pub fn in_force(&self, scope: &str, day: NaiveDate) -> Option<&CatalogVersion> {
        self.by_scope
            .get(scope)?
            .iter()
            .rev()
            .find(|v| v.effective_from <= day)
    }

    /// `code` in the agency's catalog in force on `day`, else in the
    /// general one.
    pub fn find(&self, agency_id: &str, day: NaiveDate, code: &str) -> Option<Found<'_>> {
        [agency_id, ""].into_iter().find_map(|scope| {
            let v = self.in_force(scope, day)?;
            Some(Found {
                catalog_agency_id: &v.agency_id,
                version: v.version,
                activity: v.activity(code)?,
            })
        })
    }

    /// Everything an agency's workers may report on `day`: its own
    /// activities, then the general ones it does not override.
    pub fn entries(&self, agency_id: &str, day: NaiveDate) -> Vec<Found<'_>> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for scope in [agency_id, ""] {
            if let Some(v) = self.in_force(scope, day) {
                for a in &v.activities {
                    if seen.insert(a.code.as_str()) {
                        out.push(Found {
                            catalog_agency_id: &v.agency_id,
                            version: v.version,
                            activity: a,
                        });
                    }
                }
            }
        }
        out
    }
}

/// A scope's catalog subject folded: its latest version.
#[derive(Debug, Clone, Default)]
pub struct Latest(pub Option<(u32, NaiveDate)>);

pub fn evolve(state: Latest, e: &Event) -> Latest {
    match e {
        Event::CatalogPublished(p) => match p.effective_from.parse() {
            Ok(from) => Latest(Some((p.version, from))),
            Err(_) => state,
        },
        _ => state,
    }
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 32
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Checks a new version's activities (fields named `activities[i].code`
/// and so on).
pub fn validate_activities(activities: &[ev::CatalogActivity]) -> Result<(), DomainError> {
    if activities.is_empty() {
        return Err(DomainError::invalid("activities", "must not be empty"));
    }
    if activities.len() > MAX_ACTIVITIES {
        return Err(DomainError::invalid(
            "activities",
            format!("at most {MAX_ACTIVITIES} per catalog"),
        ));
    }
    let mut codes = HashSet::new();
    for (i, a) in activities.iter().enumerate() {
        let field = |f: &str| format!("activities[{i}].{f}");
        if !valid_code(&a.code) {
            return Err(DomainError::invalid(
                field("code"),
                "must be 1-32 of A-Z, 0-9, '-' and '_'",
            ));
        }
        if !codes.insert(a.code.as_str()) {
            return Err(DomainError::invalid(
                field("code"),
                format!("{} appears twice", a.code),
            ));
        }
        if a.name.trim().is_empty() || a.name.chars().count() > 200 {
            return Err(DomainError::invalid(
                field("name"),
                "must be 1-200 characters",
            ));
        }
        if a.unit.trim().is_empty() || a.unit.chars().count() > 32 {
            return Err(DomainError::invalid(
                field("unit"),
                "must be 1-32 characters",
            ));
        }
    }
    Ok(())
}

/// Publishing a version of a catalog whose latest is `latest`: the next
/// version number, effective no earlier than the previous version.
pub fn decide_publish(
    latest: &Latest,
    agency_id: &str,
    effective_from: NaiveDate,
    activities: &[ev::CatalogActivity],
    published_by: &str,
) -> Result<Vec<Event>, DomainError> {
    validate_activities(activities)?;
    let version = match latest.0 {
        Some((v, from)) if effective_from < from => {
            return Err(DomainError::invalid(
                "effective_from",
                format!("must not be before version {v}'s ({from})"),
            ));
        }
        Some((v, _)) => v + 1,
        None => 1,
    };
    Ok(vec![Event::CatalogPublished(ev::CatalogPublished {
        agency_id: agency_id.to_owned(),
        version,
        effective_from: effective_from.to_string(),
        activities: activities.to_vec(),
        published_by: published_by.to_owned(),
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(code: &str) -> ev::CatalogActivity {
        ev::CatalogActivity {
            code: code.into(),
            name: format!("Kegiatan {code}"),
            unit: "kali".into(),
            photo_required: false,
            location_required: false,
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn publish(c: &mut Catalogs, latest: &mut Latest, agency: &str, from: &str, codes: &[&str]) {
        let acts: Vec<_> = codes.iter().map(|c| act(c)).collect();
        for e in decide_publish(latest, agency, d(from), &acts, "admin").unwrap() {
            if let Event::CatalogPublished(p) = &e {
                c.apply(p);
            }
            *latest = evolve(latest.clone(), &e);
        }
    }

    #[test]
    fn a_report_is_judged_by_the_version_in_force_on_its_day() {
        let (mut c, mut latest) = (Catalogs::default(), Latest::default());
        publish(
            &mut c,
            &mut latest,
            "dlh",
            "2026-01-01",
            &["DRAIN", "SWEEP"],
        );
        publish(
            &mut c,
            &mut latest,
            "dlh",
            "2026-07-01",
            &["DRAIN", "PLANT"],
        );
        assert_eq!(latest.0, Some((2, d("2026-07-01"))));
        assert!(c.find("dlh", d("2026-06-30"), "SWEEP").is_some());
        assert!(c.find("dlh", d("2026-07-01"), "SWEEP").is_none());
        assert!(c.find("dlh", d("2026-06-30"), "PLANT").is_none());
        let found = c.find("dlh", d("2026-07-02"), "PLANT").unwrap();
        assert_eq!((found.catalog_agency_id, found.version), ("dlh", 2));
        assert!(c.find("dlh", d("2025-12-31"), "DRAIN").is_none());
    }

    #[test]
    fn general_activities_are_shared_and_the_agency_can_override() {
        let mut c = Catalogs::default();
        let (mut g, mut a) = (Latest::default(), Latest::default());
        publish(&mut c, &mut g, "", "2026-01-01", &["APEL", "CFD"]);
        publish(&mut c, &mut a, "dlh", "2026-01-01", &["DRAIN", "APEL"]);
        let found = c.find("pupr", d("2026-03-01"), "APEL").unwrap();
        assert_eq!(found.catalog_agency_id, "");
        assert_eq!(
            c.find("dlh", d("2026-03-01"), "APEL")
                .unwrap()
                .catalog_agency_id,
            "dlh"
        );
        assert!(c.find("pupr", d("2026-03-01"), "DRAIN").is_none());
        let codes: Vec<_> = c
            .entries("dlh", d("2026-03-01"))
            .iter()
            .map(|f| f.activity.code.clone())
            .collect();
        assert_eq!(codes, ["DRAIN", "APEL", "CFD"]);
    }

    #[test]
    fn versions_may_not_go_back_in_time_and_activities_are_checked() {
        let (mut c, mut latest) = (Catalogs::default(), Latest::default());
        publish(&mut c, &mut latest, "dlh", "2026-07-01", &["DRAIN"]);
        let err = decide_publish(&latest, "dlh", d("2026-06-30"), &[act("X")], "a").unwrap_err();
        assert_eq!(err.field(), Some("effective_from"));
        // Same day is fine (a correction).
        assert!(decide_publish(&latest, "dlh", d("2026-07-01"), &[act("X")], "a").is_ok());
        let cases: Vec<(Vec<ev::CatalogActivity>, &str)> = vec![
            (vec![], "activities"),
            (vec![act("lower")], "activities[0].code"),
            (vec![act("A"), act("A")], "activities[1].code"),
            (
                vec![ev::CatalogActivity {
                    name: " ".into(),
                    ..act("A")
                }],
                "activities[0].name",
            ),
            (
                vec![ev::CatalogActivity {
                    unit: String::new(),
                    ..act("A")
                }],
                "activities[0].unit",
            ),
        ];
        for (acts, field) in cases {
            let err = decide_publish(&latest, "dlh", d("2026-08-01"), &acts, "a").unwrap_err();
            assert_eq!(err.field(), Some(field));
        }
    }
}

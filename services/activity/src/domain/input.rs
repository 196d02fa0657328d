//! A report's fields as the worker typed them, checked one by one (each
//! refusal names its field). Rules that need the catalog, the calendar or
//! the worker's other reports are the day's (see `day.rs`).

use pantau_proto::events::v1 as ev;

use super::DomainError;
use super::time::parse_time;

pub const MAX_DESCRIPTION: usize = 2_000;
pub const MAX_EVIDENCE: usize = 20;
/// No activity counts more than this in one report.
pub const MAX_QUANTITY: f64 = 1_000_000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput {
    pub code: String,
    pub quantity: f64,
    pub start_minute: u32,
    pub end_minute: u32,
    pub description: String,
    pub location: Option<ev::ActivityLocation>,
    pub evidence: Vec<ev::Evidence>,
}

impl ReportInput {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        code: &str,
        quantity: f64,
        start_time: &str,
        end_time: &str,
        description: &str,
        location: Option<&ev::ActivityLocation>,
        evidence: &[ev::Evidence],
    ) -> Result<ReportInput, DomainError> {
        if code.is_empty() {
            return Err(DomainError::invalid("code", "is required"));
        }
        if !quantity.is_finite() || quantity <= 0.0 || quantity > MAX_QUANTITY {
            return Err(DomainError::invalid(
                "quantity",
                format!("must be more than 0 and at most {MAX_QUANTITY}"),
            ));
        }
        let start_minute = parse_time(start_time, "start_time")?;
        let end_minute = parse_time(end_time, "end_time")?;
        if end_minute <= start_minute {
            return Err(DomainError::invalid("end_time", "must be after start_time"));
        }
        if description.chars().count() > MAX_DESCRIPTION {
            return Err(DomainError::invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION} characters"),
            ));
        }
        if let Some(l) = location {
            if !(-90.0..=90.0).contains(&l.latitude) || !l.latitude.is_finite() {
                return Err(DomainError::invalid(
                    "location.latitude",
                    "must be -90 to 90",
                ));
            }
            if !(-180.0..=180.0).contains(&l.longitude) || !l.longitude.is_finite() {
                return Err(DomainError::invalid(
                    "location.longitude",
                    "must be -180 to 180",
                ));
            }
            if l.site_id.len() > 64 {
                return Err(DomainError::invalid(
                    "location.site_id",
                    "must be at most 64 characters",
                ));
            }
        }
        if evidence.len() > MAX_EVIDENCE {
            return Err(DomainError::invalid(
                "evidence",
                format!("at most {MAX_EVIDENCE} references"),
            ));
        }
        for (i, e) in evidence.iter().enumerate() {
            if e.kind() == ev::EvidenceKind::Unspecified {
                return Err(DomainError::invalid(
                    format!("evidence[{i}].kind"),
                    "must be PHOTO or DOCUMENT",
                ));
            }
            if e.r#ref.trim().is_empty() || e.r#ref.len() > 256 {
                return Err(DomainError::invalid(
                    format!("evidence[{i}].ref"),
                    "must be 1-256 characters",
                ));
            }
        }
        Ok(ReportInput {
            code: code.to_owned(),
            quantity,
            start_minute,
            end_minute,
            description: description.to_owned(),
            location: location.cloned(),
            evidence: evidence.to_vec(),
        })
    }

    pub fn has_photo(&self) -> bool {
        self.evidence
            .iter()
            .any(|e| e.kind() == ev::EvidenceKind::Photo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(f: impl FnOnce(&mut Raw)) -> Result<ReportInput, DomainError> {
        let mut r = Raw::default();
        f(&mut r);
        ReportInput::parse(
            &r.code,
            r.quantity,
            &r.start,
            &r.end,
            &r.description,
            r.location.as_ref(),
            &r.evidence,
        )
    }

    struct Raw {
        code: String,
        quantity: f64,
        start: String,
        end: String,
        description: String,
        location: Option<ev::ActivityLocation>,
        evidence: Vec<ev::Evidence>,
    }

    impl Default for Raw {
        fn default() -> Self {
            Raw {
                code: "DRAIN".into(),
                quantity: 12.5,
                start: "08:00".into(),
                end: "10:30".into(),
                description: "Membersihkan saluran".into(),
                location: None,
                evidence: vec![ev::Evidence {
                    kind: ev::EvidenceKind::Photo as i32,
                    r#ref: "ab12".into(),
                }],
            }
        }
    }

    #[test]
    fn a_well_formed_report_parses() {
        let r = parse(|_| {}).unwrap();
        assert_eq!((r.start_minute, r.end_minute), (480, 630));
        assert!(r.has_photo());
    }

    #[test]
    fn each_bad_field_is_named() {
        type Edit = Box<dyn FnOnce(&mut Raw)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|r| r.code.clear()), "code"),
            (Box::new(|r| r.quantity = 0.0), "quantity"),
            (Box::new(|r| r.quantity = -1.0), "quantity"),
            (Box::new(|r| r.quantity = f64::NAN), "quantity"),
            (Box::new(|r| r.quantity = f64::INFINITY), "quantity"),
            (Box::new(|r| r.start = "8am".into()), "start_time"),
            (Box::new(|r| r.end = "08:00".into()), "end_time"),
            (Box::new(|r| r.end = "07:00".into()), "end_time"),
            (
                Box::new(|r| r.description = "x".repeat(2001)),
                "description",
            ),
            (
                Box::new(|r| {
                    r.location = Some(ev::ActivityLocation {
                        latitude: 91.0,
                        ..Default::default()
                    })
                }),
                "location.latitude",
            ),
            (
                Box::new(|r| {
                    r.location = Some(ev::ActivityLocation {
                        longitude: f64::NAN,
                        ..Default::default()
                    })
                }),
                "location.longitude",
            ),
            (
                Box::new(|r| r.evidence[0].kind = ev::EvidenceKind::Unspecified as i32),
                "evidence[0].kind",
            ),
            (Box::new(|r| r.evidence[0].r#ref.clear()), "evidence[0].ref"),
            (
                Box::new(|r| r.evidence = vec![r.evidence[0].clone(); 21]),
                "evidence",
            ),
        ];
        for (f, field) in cases {
            assert_eq!(parse(f).unwrap_err().field(), Some(field));
        }
    }
}

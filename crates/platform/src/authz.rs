//! The caller of a request, as every service sees it: the roles and scopes
//! from identity's access token. What a role may do to a particular worker
//! (supervision, units) is each service's own rule, built on these.

use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Supervisor,
    AgencyAdmin,
    ProvinceAdmin,
    Auditor,
    Scanner,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "worker" => Role::Worker,
            "supervisor" => Role::Supervisor,
            "agency_admin" => Role::AgencyAdmin,
            "province_admin" => Role::ProvinceAdmin,
            "auditor" => Role::Auditor,
            "scanner" => Role::Scanner,
            _ => return None,
        })
    }
}

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account id (token subject).
    pub subject: String,
    pub roles: Vec<Role>,
    pub agency_id: Option<String>,
    /// The worker record the account belongs to, if any.
    pub worker_id: Option<String>,
}

impl Principal {
    /// From verified token claims; unknown role names are ignored.
    pub fn from_claims(claims: pantau_authn::Claims) -> Principal {
        Principal {
            subject: claims.sub,
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            agency_id: claims.agency,
            worker_id: claims.worker,
        }
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_province_admin(&self) -> bool {
        self.has(Role::ProvinceAdmin)
    }

    /// Province admins manage every agency; agency admins their own.
    pub fn manages_agency(&self, agency_id: &str) -> bool {
        self.is_province_admin()
            || (self.has(Role::AgencyAdmin) && self.agency_id.as_deref() == Some(agency_id))
    }

    pub fn is_worker(&self, worker_id: &str) -> bool {
        self.worker_id.as_deref() == Some(worker_id)
    }

    /// A supervisor account whose own worker record is `supervisor_id`.
    pub fn is_supervisor(&self, supervisor_id: &str) -> bool {
        self.has(Role::Supervisor) && !supervisor_id.is_empty() && self.is_worker(supervisor_id)
    }

    /// Reading an agency's figures.
    pub fn may_read_agency(&self, agency_id: &str) -> Result<(), DomainError> {
        if self.manages_agency(agency_id) || self.has(Role::Auditor) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "only agency {agency_id}'s admins, province admins and auditors may see this"
            )))
        }
    }

    pub fn must_manage(&self, agency_id: &str) -> Result<(), DomainError> {
        if self.manages_agency(agency_id) {
            Ok(())
        } else {
            Err(DomainError::PermissionDenied(format!(
                "only agency {agency_id}'s admins and province admins may do this"
            )))
        }
    }
}

/// Field `request_id`: 1-128 chars of `A-Z a-z 0-9 . _ : -`, safe to use
/// verbatim in a `Nats-Msg-Id` header.
pub fn parse_request_id(s: &str) -> Result<&str, DomainError> {
    if s.is_empty() || s.len() > 128 {
        return Err(DomainError::invalid(
            "request_id",
            "must be 1-128 characters",
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
    {
        return Err(DomainError::invalid(
            "request_id",
            "may contain only A-Z, a-z, 0-9, '.', '_', ':' and '-'",
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], agency: Option<&str>, worker: Option<&str>) -> Principal {
        Principal {
            subject: "acc".into(),
            roles: roles.to_vec(),
            agency_id: agency.map(str::to_owned),
            worker_id: worker.map(str::to_owned),
        }
    }

    #[test]
    fn agency_admins_manage_only_their_agency() {
        assert!(principal(&[Role::AgencyAdmin], Some("a1"), None).manages_agency("a1"));
        assert!(!principal(&[Role::AgencyAdmin], Some("a1"), None).manages_agency("a2"));
        assert!(principal(&[Role::ProvinceAdmin], None, None).manages_agency("a2"));
        assert!(!principal(&[Role::Supervisor], Some("a1"), Some("s1")).manages_agency("a1"));
        assert!(
            principal(&[Role::Auditor], None, None)
                .may_read_agency("a1")
                .is_ok()
        );
        assert!(
            principal(&[Role::Worker], Some("a1"), Some("w"))
                .may_read_agency("a1")
                .is_err()
        );
    }

    #[test]
    fn a_supervisor_needs_the_role_and_the_worker_record() {
        assert!(principal(&[Role::Supervisor], Some("a1"), Some("s1")).is_supervisor("s1"));
        assert!(!principal(&[Role::Supervisor], Some("a1"), Some("s1")).is_supervisor("s2"));
        assert!(!principal(&[Role::Worker], Some("a1"), Some("s1")).is_supervisor("s1"));
        assert!(!principal(&[Role::Supervisor], Some("a1"), None).is_supervisor(""));
    }

    #[test]
    fn request_ids_are_bounded_and_header_safe() {
        assert!(parse_request_id("req-1:a.b_c").is_ok());
        assert!(parse_request_id("").is_err());
        assert!(parse_request_id(&"x".repeat(129)).is_err());
        assert!(parse_request_id("a b").is_err());
        assert!(parse_request_id("a\nb").is_err());
    }
}

//! The error type every service's domain refuses a command with. Each
//! variant lines up with a gRPC status code, so services map it to a
//! `tonic::Status` in one place (here) without guessing.

/// Why a command or a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A request field does not parse or breaks a rule on its own
    /// (`INVALID_ARGUMENT` with a field violation naming `field`).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The aggregate the command targets does not exist (`NOT_FOUND`).
    #[error("not found: {0}")]
    NotFound(String),
    /// Creating something that already exists (`ALREADY_EXISTS`).
    #[error("{field} already exists: {value}")]
    AlreadyExists { field: String, value: String },
    /// The aggregate's current state forbids the command
    /// (`FAILED_PRECONDITION`).
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The caller may not do this (`PERMISSION_DENIED`).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn already_exists(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self::AlreadyExists {
            field: field.into(),
            value: value.into(),
        }
    }

    pub fn precondition(reason: impl Into<String>) -> Self {
        Self::FailedPrecondition(reason.into())
    }

    /// Renames the field of an `Invalid` error, for when one value type is
    /// read from differently named request fields (`code` vs `agency_code`).
    /// Other variants pass through.
    #[must_use]
    pub fn for_field(self, field: impl Into<String>) -> Self {
        match self {
            Self::Invalid { reason, .. } => Self::Invalid {
                field: field.into(),
                reason,
            },
            other => other,
        }
    }

    /// Prefixes the field of an `Invalid` error, so a site's `radius_m`
    /// becomes `sites[2].radius_m`. Other variants pass through.
    #[must_use]
    pub fn nested_in(self, prefix: &str) -> Self {
        match self {
            Self::Invalid { field, reason } => Self::Invalid {
                field: format!("{prefix}.{field}"),
                reason,
            },
            other => other,
        }
    }

    /// The request field an `Invalid` or `AlreadyExists` error names.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::AlreadyExists { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<DomainError> for tonic::Status {
    fn from(d: DomainError) -> Self {
        match d {
            DomainError::Invalid { field, reason } => {
                crate::grpc::invalid_argument(&field, &reason)
            }
            DomainError::NotFound(m) => tonic::Status::not_found(m),
            DomainError::AlreadyExists { field, value } => {
                tonic::Status::already_exists(format!("{field}: {value}"))
            }
            DomainError::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            DomainError::PermissionDenied(m) => tonic::Status::permission_denied(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_field_keeps_the_reason_and_gains_the_prefix() {
        let err = DomainError::invalid("radius_m", "too small").nested_in("sites[2]");
        assert_eq!(err, DomainError::invalid("sites[2].radius_m", "too small"));
    }

    #[test]
    fn renaming_a_field_leaves_other_variants_alone() {
        let err = DomainError::NotFound("worker w1".into()).for_field("agency_code");
        assert_eq!(err, DomainError::NotFound("worker w1".into()));
        let err = DomainError::invalid("code", "bad").for_field("agency_code");
        assert_eq!(err.field(), Some("agency_code"));
    }
}

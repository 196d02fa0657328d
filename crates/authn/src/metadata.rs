//! Reading the bearer token from gRPC metadata.

use tonic::metadata::MetadataMap;

use crate::AuthError;

/// The token of an `authorization: Bearer <token>` entry. The scheme is
/// case-insensitive, as HTTP allows.
pub fn bearer_token(metadata: &MetadataMap) -> Result<&str, AuthError> {
    let value = metadata
        .get("authorization")
        .ok_or(AuthError::MissingToken)?;
    let text = value
        .to_str()
        .map_err(|_| AuthError::Malformed("authorization metadata is not printable ASCII"))?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(AuthError::Malformed(
        "authorization must be `Bearer <token>`",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Malformed("authorization scheme must be Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Malformed("bearer token is empty"));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    fn with_auth(value: &'static str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", MetadataValue::from_static(value));
        m
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_case() {
        assert_eq!(
            bearer_token(&with_auth("Bearer abc.def.ghi")),
            Ok("abc.def.ghi")
        );
        assert_eq!(
            bearer_token(&with_auth("bearer  abc.def.ghi ")),
            Ok("abc.def.ghi")
        );
    }

    #[test]
    fn missing_metadata_is_reported_as_missing() {
        assert_eq!(
            bearer_token(&MetadataMap::new()),
            Err(AuthError::MissingToken)
        );
    }

    #[test]
    fn another_scheme_or_an_empty_token_is_malformed() {
        assert!(matches!(
            bearer_token(&with_auth("Basic dXNlcjpwYXNz")),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token(&with_auth("Bearer ")),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            bearer_token(&with_auth("abc.def.ghi")),
            Err(AuthError::Malformed(_))
        ));
    }
}

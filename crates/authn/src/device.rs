//! Scanner device tokens: `pantau-device.<scanner_id>.<secret>`, the secret
//! 256 bits in unpadded URL-safe base64. Attendance issues them; a service
//! that follows attendance's `ScannerRegistered` events (which carry only
//! the secret's SHA-256) can check one without ever holding a secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub const DEVICE_TOKEN_PREFIX: &str = "pantau-device.";

/// A device token taken apart (not yet checked against any secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceToken {
    pub scanner_id: String,
    secret: Vec<u8>,
}

/// Why a bearer token is not a well-formed device token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceTokenError {
    #[error("not a scanner's device token")]
    NotADeviceToken,
    #[error("malformed device token")]
    Malformed,
}

impl DeviceToken {
    /// The token formed for `scanner_id` with `secret`.
    pub fn format(scanner_id: &str, secret: &[u8]) -> String {
        format!(
            "{DEVICE_TOKEN_PREFIX}{scanner_id}.{}",
            URL_SAFE_NO_PAD.encode(secret)
        )
    }

    pub fn parse(token: &str) -> Result<DeviceToken, DeviceTokenError> {
        let rest = token
            .strip_prefix(DEVICE_TOKEN_PREFIX)
            .ok_or(DeviceTokenError::NotADeviceToken)?;
        let (id, secret) = rest.split_once('.').ok_or(DeviceTokenError::Malformed)?;
        if id.is_empty() {
            return Err(DeviceTokenError::Malformed);
        }
        let secret = URL_SAFE_NO_PAD
            .decode(secret)
            .map_err(|_| DeviceTokenError::Malformed)?;
        Ok(DeviceToken {
            scanner_id: id.to_owned(),
            secret,
        })
    }

    /// Whether the token's secret is the one whose SHA-256 is
    /// `secret_sha256`, compared in constant time.
    pub fn matches(&self, secret_sha256: &[u8]) -> bool {
        let digest = Sha256::digest(&self.secret);
        digest.len() == secret_sha256.len()
            && digest
                .iter()
                .zip(secret_sha256)
                .fold(0u8, |acc, (x, y)| acc | (x ^ y))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formatted_token_parses_back_and_matches_only_its_own_secret() {
        let token = DeviceToken::format("scanner-1", b"a secret of the device");
        let parsed = DeviceToken::parse(&token).expect("parses");
        assert_eq!(parsed.scanner_id, "scanner-1");
        assert!(parsed.matches(&Sha256::digest(b"a secret of the device")));
        assert!(!parsed.matches(&Sha256::digest(b"another secret")));
        assert!(!parsed.matches(&[]));
    }

    #[test]
    fn other_tokens_are_told_apart_from_malformed_device_tokens() {
        assert_eq!(
            DeviceToken::parse("eyJhbGciOi.x.y"),
            Err(DeviceTokenError::NotADeviceToken)
        );
        for bad in [
            "pantau-device.",
            "pantau-device.id",
            "pantau-device..c2VjcmV0",
            "pantau-device.id.not base64!",
        ] {
            assert_eq!(
                DeviceToken::parse(bad),
                Err(DeviceTokenError::Malformed),
                "{bad}"
            );
        }
    }
}

//! Phone codes: an HMAC tag over the credential and the current 30-second step.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

use super::{CodeError, Credential, ROTATING_PREFIX, Reader, STEP_SECS, encode};

type HmacSha256 = Hmac<Sha256>;

const KIND: u8 = 0x02;
const SECRET_DOMAIN: &[u8] = b"pantau-qr-secret-v1";
const TAG_DOMAIN: &[u8] = b"pantau-qr-rotating-v1";
const TAG_LEN: usize = 10;
const PAYLOAD_LEN: usize = 1 + 20 + 8 + TAG_LEN;

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed), so this cannot fail.
    HmacSha256::new_from_slice(key).expect("hmac accepts keys of any length")
}

/// The secret a worker's phone holds for one credential version, derived from the deployment's
/// master secret so that only the master needs storing and a new version needs a new secret.
pub fn worker_secret(master: &[u8], credential: Credential) -> [u8; 32] {
    let mut mac = hmac(master);
    mac.update(SECRET_DOMAIN);
    mac.update(&credential.wire());
    mac.finalize().into_bytes().into()
}

/// The step a moment falls in: whole 30-second periods since the Unix epoch. Times before the
/// epoch count as step 0 rather than wrapping.
pub fn step_at(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs.div_euclid(STEP_SECS)).unwrap_or(0)
}

fn tag_mac(secret: &[u8; 32], credential: Credential, step: u64) -> HmacSha256 {
    let mut mac = hmac(secret);
    mac.update(TAG_DOMAIN);
    mac.update(&credential.wire());
    mac.update(&step.to_be_bytes());
    mac
}

/// The `PNT2.` text a phone shows at `unix_secs`.
pub fn rotating_code(secret: &[u8; 32], credential: Credential, unix_secs: i64) -> String {
    let step = step_at(unix_secs);
    let full = tag_mac(secret, credential, step).finalize().into_bytes();
    let mut payload = Vec::with_capacity(PAYLOAD_LEN);
    payload.push(KIND);
    payload.extend_from_slice(&credential.wire());
    payload.extend_from_slice(&step.to_be_bytes());
    payload.extend_from_slice(&full[..TAG_LEN]);
    encode(ROTATING_PREFIX, &payload)
}

/// A parsed phone code, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatingCode {
    /// What the code claims; use it to derive the secret, trust it only once verified.
    pub credential: Credential,
    /// The 30-second step the code claims to be made in.
    pub step: u64,
    tag: [u8; TAG_LEN],
}

impl RotatingCode {
    pub(super) fn from_payload(payload: &[u8]) -> Result<Self, CodeError> {
        let mut reader = Reader(payload);
        reader.kind(KIND)?;
        let credential = Credential::read(&mut reader)?;
        let step = u64::from_be_bytes(reader.take()?);
        let tag = reader.take()?;
        reader.finish()?;
        Ok(Self {
            credential,
            step,
            tag,
        })
    }

    /// The credential, if `secret` made this code within `tolerance_steps` steps of `at_unix`.
    ///
    /// The tag is checked first, in constant time, so a forged code is `BadSignature` whatever
    /// its step, and timing reveals nothing about how much of a guessed tag was right.
    pub fn verify(
        &self,
        secret: &[u8; 32],
        at_unix: i64,
        tolerance_steps: u64,
    ) -> Result<Credential, CodeError> {
        tag_mac(secret, self.credential, self.step)
            .verify_truncated_left(&self.tag)
            .map_err(|_| CodeError::BadSignature)?;
        let now_step = step_at(at_unix);
        let earliest = now_step.saturating_sub(tolerance_steps);
        let latest = now_step.saturating_add(tolerance_steps);
        if (earliest..=latest).contains(&self.step) {
            Ok(self.credential)
        } else {
            Err(CodeError::Expired {
                step: self.step,
                now_step,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Code, parse};
    use uuid::Uuid;

    const MASTER: &[u8] = b"deployment master secret for tests";
    const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z, a step boundary

    fn worker(n: u128) -> Credential {
        Credential {
            worker_id: Uuid::from_u128(n),
            version: 1,
        }
    }

    fn parse_rotating(text: &str) -> RotatingCode {
        match parse(text) {
            Ok(Code::Rotating(code)) => code,
            other => panic!("expected a rotating code, got {other:?}"),
        }
    }

    #[test]
    fn steps_are_floored_thirty_second_periods_and_clamp_before_the_epoch() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(NOW), 58_907_520);
        assert_eq!(step_at(-1), 0);
        assert_eq!(step_at(i64::MIN), 0);
        assert_eq!(step_at(i64::MAX), (i64::MAX / 30) as u64);
    }

    #[test]
    fn a_code_verifies_within_its_own_step() {
        let secret = worker_secret(MASTER, worker(1));
        let text = rotating_code(&secret, worker(1), NOW + 5);
        assert_eq!(text.len(), ROTATING_PREFIX.len() + 52);
        let code = parse_rotating(&text);
        assert_eq!(code.credential, worker(1));
        assert_eq!(code.step, step_at(NOW));
        assert_eq!(code.verify(&secret, NOW + 29, 0), Ok(worker(1)));
    }

    #[test]
    fn a_code_verifies_at_the_edges_of_the_tolerance_and_expires_beyond() {
        let secret = worker_secret(MASTER, worker(1));
        let code = parse_rotating(&rotating_code(&secret, worker(1), NOW));
        let step = step_at(NOW);
        let step_secs = STEP_SECS;
        for tolerance in [0u64, 1, 2] {
            let span = i64::try_from(tolerance).unwrap() * step_secs;
            assert_eq!(code.verify(&secret, NOW + span, tolerance), Ok(worker(1)));
            assert_eq!(code.verify(&secret, NOW - span, tolerance), Ok(worker(1)));
            assert_eq!(
                code.verify(&secret, NOW + span + step_secs, tolerance),
                Err(CodeError::Expired {
                    step,
                    now_step: step + tolerance + 1
                })
            );
            assert_eq!(
                code.verify(&secret, NOW - span - 1, tolerance),
                Err(CodeError::Expired {
                    step,
                    now_step: step - tolerance - 1
                })
            );
        }
    }

    #[test]
    fn a_code_made_with_another_workers_secret_is_bad_signature() {
        let mine = worker_secret(MASTER, worker(1));
        let theirs = worker_secret(MASTER, worker(2));
        let code = parse_rotating(&rotating_code(&theirs, worker(1), NOW));
        assert_eq!(code.verify(&mine, NOW, 1), Err(CodeError::BadSignature));
    }

    #[test]
    fn a_code_made_with_an_older_versions_secret_is_bad_signature() {
        let old = worker(1);
        let new = Credential { version: 2, ..old };
        let old_secret = worker_secret(MASTER, old);
        let new_secret = worker_secret(MASTER, new);
        assert_ne!(old_secret, new_secret);
        // A revoked phone tries to pass its old secret off as the new version.
        let code = parse_rotating(&rotating_code(&old_secret, new, NOW));
        assert_eq!(
            code.verify(&new_secret, NOW, 1),
            Err(CodeError::BadSignature)
        );
    }

    #[test]
    fn a_forged_expired_code_is_bad_signature_not_expired() {
        let secret = worker_secret(MASTER, worker(1));
        let wrong = [0u8; 32];
        let code = parse_rotating(&rotating_code(&wrong, worker(1), NOW - 3600));
        assert_eq!(code.verify(&secret, NOW, 1), Err(CodeError::BadSignature));
    }

    #[test]
    fn editing_the_claimed_step_breaks_the_tag() {
        let secret = worker_secret(MASTER, worker(1));
        let mut code = parse_rotating(&rotating_code(&secret, worker(1), NOW - 3600));
        code.step = step_at(NOW);
        assert_eq!(code.verify(&secret, NOW, 1), Err(CodeError::BadSignature));
    }
}

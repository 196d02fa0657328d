//! The QR credential format: what a worker's code says and how a scanner checks it.
//!
//! Scanners written by third parties implement exactly this, so the layout below is a contract:
//! changing a byte of it breaks every scanner in the field. A known-answer test pins it.
//!
//! # Common parts
//!
//! * Text is a prefix followed by the payload in base64url **without padding** (RFC 4648 §5).
//!   Both payloads are a multiple of 3 bytes long, so every character carries 6 payload bits.
//!   Surrounding whitespace is ignored; texts over 512 characters are rejected unread.
//! * Integers are big-endian. A worker id is the 16 bytes of its UUID in RFC 4122 order.
//! * A credential is `(worker id, version)`. HR bumps the version to revoke every code issued
//!   before (a lost card, a stolen phone); scanners should compare it with the current version.
//!
//! # Static code (`PNT1.`, printed on a card)
//!
//! ```text
//! PNT1.<base64url(body || signature)>                               93 bytes, 124 characters
//! body      = 0x01 || kid (8) || worker id (16) || version (u32 BE)  29 bytes
//! signature = Ed25519(secret key, "pantau-qr-static-v1" || body)     64 bytes
//! kid       = SHA-256(raw 32-byte public key)[0..8], shown as 16 lowercase hex characters
//! ```
//!
//! Scanners hold only public keys, so a stolen scanner cannot mint cards. The kid lets a
//! deployment rotate its signing key while old cards stay valid.
//!
//! # Rotating code (`PNT2.`, shown by the phone app, new every 30 seconds)
//!
//! ```text
//! PNT2.<base64url(0x02 || worker id (16) || version (u32 BE) || step (u64 BE) || tag (10))>
//!                                                                    39 bytes, 52 characters
//! step   = floor(unix seconds / 30)
//! secret = HMAC-SHA256(key = master secret, "pantau-qr-secret-v1" || worker id || version)
//! tag    = HMAC-SHA256(key = secret, "pantau-qr-rotating-v1" || worker id || version || step)[0..10]
//! ```
//!
//! A screenshot of a rotating code stops working once its step leaves the verifier's tolerance.
//! The per-worker secret is derived from the deployment's master secret, so a phone holds only
//! its own secret and a new version gives it a new one. Verifiers compare the tag in constant
//! time and check it before the time window, so a forged old code reads as forged, not expired.

mod rotating;
mod static_code;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

pub use rotating::{RotatingCode, rotating_code, step_at, worker_secret};
pub use static_code::{StaticCode, StaticSigner, StaticVerifier};

/// Prefix of a printed, Ed25519-signed code.
pub const STATIC_PREFIX: &str = "PNT1.";
/// Prefix of a phone's time-based code.
pub const ROTATING_PREFIX: &str = "PNT2.";
/// Seconds a rotating code's step lasts.
pub const STEP_SECS: i64 = 30;
/// Longest text `parse` reads, in characters; real codes are at most 129.
pub const MAX_TEXT_CHARS: usize = 512;

/// Who a code speaks for: a worker and the version of their credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Credential {
    /// The worker the code identifies.
    pub worker_id: Uuid,
    /// Bumped by HR to revoke every code issued for an earlier version.
    pub version: u32,
}

impl Credential {
    /// Worker id then version, the way every part of the format lays them out.
    fn wire(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        let (worker, version) = out.split_at_mut(16);
        worker.copy_from_slice(self.worker_id.as_bytes());
        version.copy_from_slice(&self.version.to_be_bytes());
        out
    }

    fn read(reader: &mut Reader<'_>) -> Result<Self, CodeError> {
        let worker_id = Uuid::from_bytes(reader.take()?);
        let version = u32::from_be_bytes(reader.take()?);
        Ok(Self { worker_id, version })
    }
}

/// Why a code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The text is not a code of this format at all.
    #[error("malformed code: {0}")]
    Malformed(String),
    /// A static code signed by a key this verifier does not hold; carries the kid.
    #[error("code signed by unknown key {0}")]
    UnknownKey(String),
    /// The signature or tag does not match: forged, altered, or made with a revoked secret.
    #[error("code signature does not verify")]
    BadSignature,
    /// A genuine rotating code outside the accepted time window.
    #[error("code expired: made at step {step}, now step {now_step}")]
    Expired {
        /// The step the code was made for.
        step: u64,
        /// The verifier's current step.
        now_step: u64,
    },
}

fn malformed(why: &str) -> CodeError {
    CodeError::Malformed(why.to_owned())
}

/// A parsed code, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// A printed code; check it with [`StaticVerifier::verify`].
    Static(StaticCode),
    /// A phone code; check it with [`RotatingCode::verify`] and the worker's secret.
    Rotating(RotatingCode),
}

/// Reads a scanned text into a code. Parsing proves nothing: verify the result.
///
/// Never panics, whatever the input.
pub fn parse(text: &str) -> Result<Code, CodeError> {
    let text = text.trim();
    // Checked before decoding so hostile input costs nothing to refuse.
    if text.chars().nth(MAX_TEXT_CHARS).is_some() {
        return Err(malformed("longer than 512 characters"));
    }
    if let Some(payload) = text.strip_prefix(STATIC_PREFIX) {
        StaticCode::from_payload(&decode(payload)?).map(Code::Static)
    } else if let Some(payload) = text.strip_prefix(ROTATING_PREFIX) {
        RotatingCode::from_payload(&decode(payload)?).map(Code::Rotating)
    } else {
        Err(malformed("unknown prefix"))
    }
}

fn encode(prefix: &str, payload: &[u8]) -> String {
    let mut text = String::with_capacity(prefix.len() + payload.len().div_ceil(3) * 4);
    text.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(payload, &mut text);
    text
}

fn decode(payload: &str) -> Result<Vec<u8>, CodeError> {
    // The engine rejects padding and non-zero trailing bits, so each payload has one spelling.
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| malformed("payload is not unpadded base64url"))
}

/// Reads fixed-size fields off the front of a payload without indexing that could panic.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], CodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or_else(|| malformed("payload too short"))?;
        self.0 = rest;
        Ok(*head)
    }

    fn kind(&mut self, expected: u8) -> Result<(), CodeError> {
        let [kind] = self.take()?;
        if kind == expected {
            Ok(())
        } else {
            Err(malformed("kind byte does not match the prefix"))
        }
    }

    fn finish(self) -> Result<(), CodeError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(malformed("payload too long"))
        }
    }
}

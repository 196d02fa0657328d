//! Scanned text into `pantau_qr::parse`, then verification the way the attendance service does
//! it: printed codes against a verifier holding one fixed key, rotating codes against the secret
//! derived from a fixed master for the credential the code claims.
//!
//! Properties, beyond "never panics":
//! * parsing ignores surrounding whitespace, and a parsed text has one spelling: the trimmed text
//!   is the prefix plus the canonical unpadded base64url of its payload;
//! * what verifies is what the code claims, and is exactly the text our signer (or the phone's
//!   generator) makes for that credential: nobody without the key can make another;
//! * a rotating code's tag is checked before its time, so a code that is merely expired verifies
//!   at its own step.
//!
//! The keys are the known-answer ones of crates/qr/src/token/tests.rs, so the seed corpus holds
//! codes that really verify.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use pantau_qr::token::MAX_TEXT_CHARS;
use pantau_qr::{
    Code, CodeError, ROTATING_PREFIX, STATIC_PREFIX, STEP_SECS, StaticSigner, StaticVerifier,
    parse, rotating_code, step_at, worker_secret,
};

const SECRET: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const MASTER: &[u8] = b"pantau known-answer master secret";
/// 2026-01-01T00:00:15Z, when the seed rotating code was made.
const NOW: i64 = 1_767_225_615;
const TOLERANCE_STEPS: u64 = 2;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
});

fn check(text: &str) {
    let parsed = parse(text);
    assert_eq!(parsed, parse(text.trim()), "whitespace changed the parse");
    let Ok(code) = parsed else { return };

    let trimmed = text.trim();
    assert!(trimmed.chars().count() <= MAX_TEXT_CHARS);
    let (prefix, payload) = trimmed.split_at(STATIC_PREFIX.len());
    let raw = URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a parsed payload is base64url");
    assert_eq!(
        URL_SAFE_NO_PAD.encode(&raw),
        payload,
        "a parsed code has a second spelling"
    );

    match code {
        Code::Static(code) => {
            assert_eq!(prefix, STATIC_PREFIX);
            assert_eq!(raw.len(), 93);
            let signer = StaticSigner::from_secret_bytes(SECRET);
            let mut verifier = StaticVerifier::new();
            let kid = verifier
                .add_key(signer.public_key_bytes())
                .expect("the fixed key is a good key");
            assert_eq!(code.key_id.len(), 16);
            match verifier.verify(&code) {
                Ok(credential) => {
                    assert_eq!(credential, code.credential);
                    assert_eq!(code.key_id, kid);
                    // Ed25519 signing is deterministic and the key is ours: a second valid text
                    // for this card would be a forgery.
                    assert_eq!(
                        signer.sign(credential),
                        trimmed,
                        "a forged printed code verified"
                    );
                }
                Err(CodeError::UnknownKey(other)) => {
                    assert_eq!(other, code.key_id);
                    assert_ne!(other, kid);
                }
                Err(CodeError::BadSignature) => assert_eq!(code.key_id, kid),
                Err(e) => panic!("a parsed printed code failed verification with {e:?}"),
            }
        }
        Code::Rotating(code) => {
            assert_eq!(prefix, ROTATING_PREFIX);
            assert_eq!(raw.len(), 39);
            let secret = worker_secret(MASTER, code.credential);
            match code.verify(&secret, NOW, TOLERANCE_STEPS) {
                Ok(credential) => {
                    assert_eq!(credential, code.credential);
                    let made_at = step_secs(code.step).expect("a step near now has a time");
                    assert_eq!(
                        rotating_code(&secret, credential, made_at),
                        trimmed,
                        "a forged rotating code verified"
                    );
                }
                Err(CodeError::Expired { step, now_step }) => {
                    assert_eq!(step, code.step);
                    assert_eq!(now_step, step_at(NOW));
                    assert!(step.abs_diff(now_step) > TOLERANCE_STEPS);
                    // Genuine but expired: at its own step (when that is a time) it verifies.
                    if let Some(made_at) = step_secs(step) {
                        assert_eq!(code.verify(&secret, made_at, 0), Ok(code.credential));
                    }
                }
                Err(CodeError::BadSignature) => {
                    // The tag is checked first: no other time makes a forged code good.
                    if let Some(made_at) = step_secs(code.step) {
                        assert_eq!(
                            code.verify(&secret, made_at, 0),
                            Err(CodeError::BadSignature)
                        );
                    }
                }
                Err(e) => panic!("a parsed rotating code failed verification with {e:?}"),
            }
        }
    }
}

/// The first second of a step, when that fits in an i64.
fn step_secs(step: u64) -> Option<i64> {
    i64::try_from(step).ok()?.checked_mul(STEP_SECS)
}

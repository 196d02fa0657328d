//! Format-level tests: the pinned wire format, and properties over every way a code can be
//! damaged or invented.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac as _};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::*;

const KAT_SECRET: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];
const KAT_MASTER: &[u8] = b"pantau known-answer master secret";
const KAT_UNIX: i64 = 1_767_225_615; // 2026-01-01T00:00:15Z
// Both were cross-checked against an independent implementation of the documented format
// (Python: hashlib, hmac and the `cryptography` package's Ed25519).
const KAT_STATIC: &str = concat!(
    "PNT1.AVZHWqdUY0dMAZHI9ForfD2OT6Gyw9Tl9gAAAAPObOLxe5HbepUHYjQwaGQe3yu2g8xutwBW9fMZPowguG83",
    "cZF4yhZtgpkaqhCl7qoF5vhZaKZq2W2fiWGR4tIB"
);
const KAT_KEY_ID: &str = "56475aa75463474c";
const KAT_ROTATING: &str = "PNT2.AgGRyPRaK3w9jk-hssPU5fYAAAADAAAAAAOC24D0f8jLKO5W5h-l";

fn kat_credential() -> Credential {
    Credential {
        worker_id: Uuid::parse_str("0191c8f4-5a2b-7c3d-8e4f-a1b2c3d4e5f6").unwrap(),
        version: 3,
    }
}

fn signer() -> StaticSigner {
    StaticSigner::from_secret_bytes(KAT_SECRET)
}

fn verifier() -> StaticVerifier {
    let mut verifier = StaticVerifier::new();
    verifier.add_key(signer().public_key_bytes()).unwrap();
    verifier
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether a text gets through parsing and verification with the keys the tests trust.
fn verifies(text: &str) -> bool {
    let secret = worker_secret(KAT_MASTER, kat_credential());
    match parse(text) {
        Ok(Code::Static(code)) => verifier().verify(&code).is_ok(),
        Ok(Code::Rotating(code)) => code.verify(&secret, KAT_UNIX, 2).is_ok(),
        Err(_) => false,
    }
}

#[test]
fn the_static_wire_format_is_pinned() {
    let text = signer().sign(kat_credential());
    assert_eq!(text, KAT_STATIC);
    assert_eq!(signer().key_id(), KAT_KEY_ID);
}

#[test]
fn the_static_wire_format_matches_its_documentation() {
    // Rebuilt from the module docs with no help from the code under test.
    let text = signer().sign(kat_credential());
    let raw = URL_SAFE_NO_PAD
        .decode(text.strip_prefix("PNT1.").unwrap())
        .unwrap();
    assert_eq!(raw.len(), 93);
    let (body, signature) = raw.split_at(29);
    let public = signer().public_key_bytes();
    assert_eq!(body[0], 0x01);
    assert_eq!(body[1..9], Sha256::digest(public)[..8]);
    assert_eq!(&body[9..25], kat_credential().worker_id.as_bytes());
    assert_eq!(body[25..29], 3u32.to_be_bytes());
    let message = [b"pantau-qr-static-v1".as_slice(), body].concat();
    let signature = Signature::from_slice(signature).unwrap();
    VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify_strict(&message, &signature)
        .unwrap();
}

#[test]
fn the_rotating_wire_format_is_pinned() {
    let secret = worker_secret(KAT_MASTER, kat_credential());
    assert_eq!(
        rotating_code(&secret, kat_credential(), KAT_UNIX),
        KAT_ROTATING
    );
}

#[test]
fn the_rotating_wire_format_matches_its_documentation() {
    let credential = kat_credential();
    let worker = credential.worker_id.as_bytes().as_slice();
    let version = 3u32.to_be_bytes();
    let secret = hmac_sha256(KAT_MASTER, &[b"pantau-qr-secret-v1", worker, &version]);
    assert_eq!(secret, worker_secret(KAT_MASTER, credential));

    let step = (KAT_UNIX / 30) as u64;
    let tag = hmac_sha256(
        &secret,
        &[
            b"pantau-qr-rotating-v1",
            worker,
            &version,
            &step.to_be_bytes(),
        ],
    );
    let payload = [
        &[0x02u8][..],
        worker,
        &version,
        &step.to_be_bytes(),
        &tag[..10],
    ]
    .concat();
    assert_eq!(payload.len(), 39);
    let expected = format!("PNT2.{}", URL_SAFE_NO_PAD.encode(payload));
    assert_eq!(rotating_code(&secret, credential, KAT_UNIX), expected);
}

#[test]
fn parsing_trims_whitespace_and_refuses_long_or_foreign_text() {
    let text = signer().sign(kat_credential());
    assert!(verifies(&format!(" \n{text}\t ")));
    let long = format!("{text}{}", " x".repeat(300));
    assert!(matches!(parse(&long), Err(CodeError::Malformed(_))));
    for foreign in ["", "PNT1.", "PNT3.AAAA", "pnt1.AAAA", "https://example.com"] {
        assert!(matches!(parse(foreign), Err(CodeError::Malformed(_))));
    }
}

#[test]
fn a_payload_whose_kind_byte_contradicts_its_prefix_is_malformed() {
    let text = signer().sign(kat_credential());
    let payload = text.strip_prefix(STATIC_PREFIX).unwrap();
    assert!(matches!(
        parse(&format!("{ROTATING_PREFIX}{payload}")),
        Err(CodeError::Malformed(_))
    ));
}

/// The texts the damage properties start from: one of each kind.
fn genuine() -> Vec<String> {
    let secret = worker_secret(KAT_MASTER, kat_credential());
    vec![
        signer().sign(kat_credential()),
        rotating_code(&secret, kat_credential(), KAT_UNIX),
    ]
}

fn split(text: &str) -> (&str, Vec<u8>) {
    let prefix = &text[..STATIC_PREFIX.len()];
    let payload = URL_SAFE_NO_PAD
        .decode(&text[STATIC_PREFIX.len()..])
        .unwrap();
    (prefix, payload)
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

proptest! {
    #[test]
    fn genuine_codes_round_trip(worker in any::<u128>(), version in any::<u32>(), at in 0i64..4_000_000_000) {
        let credential = Credential { worker_id: Uuid::from_u128(worker), version };
        let code = parse(&signer().sign(credential)).unwrap();
        let Code::Static(code) = code else { panic!("not static") };
        prop_assert_eq!(verifier().verify(&code), Ok(credential));

        let secret = worker_secret(KAT_MASTER, credential);
        let Code::Rotating(code) = parse(&rotating_code(&secret, credential, at)).unwrap() else {
            panic!("not rotating")
        };
        prop_assert_eq!(code.verify(&secret, at, 0), Ok(credential));
    }

    #[test]
    fn flipping_any_payload_bit_never_verifies(which in 0usize..2, bit in 0usize..(93 * 8)) {
        let text = &genuine()[which];
        let (prefix, mut payload) = split(text);
        let bit = bit % (payload.len() * 8);
        payload[bit / 8] ^= 1 << (bit % 8);
        let damaged = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&payload));
        prop_assert!(!verifies(&damaged));
    }

    #[test]
    fn replacing_any_character_never_verifies(which in 0usize..2, at in 0usize..129, with in 0usize..64) {
        let text = &genuine()[which];
        let mut bytes = text.clone().into_bytes();
        let at = at % bytes.len();
        let replacement = ALPHABET[with];
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        prop_assert!(!verifies(&String::from_utf8(bytes).unwrap()));
    }

    #[test]
    fn truncating_never_verifies(which in 0usize..2, keep in 0usize..129) {
        let text = &genuine()[which];
        let keep = keep % text.len();
        prop_assert!(!verifies(&text[..keep]));
    }

    #[test]
    fn appending_never_verifies(which in 0usize..2, suffix in "\\PC{1,12}") {
        prop_assume!(!suffix.trim_end().is_empty());
        let text = format!("{}{suffix}", genuine()[which]);
        prop_assert!(!verifies(&text));
    }

    #[test]
    fn arbitrary_text_never_panics_or_verifies(text in "\\PC{0,600}") {
        prop_assert!(!verifies(&text));
    }

    #[test]
    fn arbitrary_well_formed_payloads_never_verify(
        body in proptest::collection::vec(any::<u8>(), 20..=84),
        step in any::<u64>(),
    ) {
        // Shaped like real codes, with the trusted kid, so they reach the signature check.
        let (_, genuine_static) = split(&genuine()[0]);
        let mut forged = genuine_static[..9].to_vec();
        forged.extend_from_slice(&body);
        forged.resize(93, 0);
        let text = format!("PNT1.{}", URL_SAFE_NO_PAD.encode(&forged));
        prop_assert!(!verifies(&text));

        let mut forged = vec![0x02];
        forged.extend_from_slice(kat_credential().worker_id.as_bytes());
        forged.extend_from_slice(&3u32.to_be_bytes());
        forged.extend_from_slice(&step.to_be_bytes());
        forged.extend_from_slice(&body[..10]);
        let text = format!("PNT2.{}", URL_SAFE_NO_PAD.encode(&forged));
        prop_assert!(!verifies(&text));
    }

    #[test]
    fn prefixed_noise_never_panics_or_verifies(which in 0usize..2, noise in "[A-Za-z0-9_=+/-]{0,200}") {
        let prefix = [STATIC_PREFIX, ROTATING_PREFIX][which];
        let text = format!("{prefix}{noise}");
        prop_assert!(!verifies(&text));
    }
}

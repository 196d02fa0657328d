//! Printed codes: signed with the deployment's Ed25519 key, checked with its public half.

use std::collections::HashMap;
use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::{CodeError, Credential, Reader, STATIC_PREFIX, encode, malformed};

const KIND: u8 = 0x01;
const DOMAIN: &[u8] = b"pantau-qr-static-v1";
const KID_LEN: usize = 8;
const BODY_LEN: usize = 1 + KID_LEN + 20;
const SIGNATURE_LEN: usize = 64;

type Kid = [u8; KID_LEN];

fn kid_of(public_key: &[u8; 32]) -> Kid {
    let digest = Sha256::digest(public_key);
    let mut kid = [0u8; KID_LEN];
    kid.copy_from_slice(&digest[..KID_LEN]);
    kid
}

/// The message a signature covers; the domain keeps these signatures from being replayed as
/// anything else the same key might ever sign.
fn signed_message(body: &[u8; BODY_LEN]) -> Vec<u8> {
    [DOMAIN, body.as_slice()].concat()
}

/// Issues printed codes. Holds the secret key, so it lives only where cards are made.
#[derive(Clone)]
pub struct StaticSigner {
    key: SigningKey,
    kid: Kid,
}

impl StaticSigner {
    /// A signer from the 32-byte Ed25519 secret key (seed).
    pub fn from_secret_bytes(secret: [u8; 32]) -> StaticSigner {
        let key = SigningKey::from_bytes(&secret);
        let kid = kid_of(key.verifying_key().as_bytes());
        StaticSigner { key, kid }
    }

    /// The key id printed inside every code: 16 lowercase hex characters.
    pub fn key_id(&self) -> String {
        hex::encode(self.kid)
    }

    /// The raw public key scanners need to verify this signer's codes.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The `PNT1.` text for a credential. Deterministic: the same credential gives the same text.
    pub fn sign(&self, credential: Credential) -> String {
        let mut body = [0u8; BODY_LEN];
        body[0] = KIND;
        body[1..=KID_LEN].copy_from_slice(&self.kid);
        body[1 + KID_LEN..].copy_from_slice(&credential.wire());
        let signature = self.key.sign(&signed_message(&body));
        encode(
            STATIC_PREFIX,
            &[body.as_slice(), &signature.to_bytes()].concat(),
        )
    }
}

impl fmt::Debug for StaticSigner {
    // Only the key id: a signer's secret must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticSigner")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// Checks printed codes against the public keys it has been given.
#[derive(Debug, Default, Clone)]
pub struct StaticVerifier {
    keys: HashMap<Kid, VerifyingKey>,
}

impl StaticVerifier {
    /// A verifier that trusts no key yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts codes signed by this public key and returns its key id. Keep retired keys here
    /// for as long as cards signed with them are in use.
    pub fn add_key(&mut self, public_key: [u8; 32]) -> Result<String, CodeError> {
        let key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| malformed("public key is not an Ed25519 point"))?;
        // A small-order key would accept signatures anyone can make.
        if key.is_weak() {
            return Err(malformed("public key has small order"));
        }
        let kid = kid_of(&public_key);
        self.keys.insert(kid, key);
        Ok(hex::encode(kid))
    }

    /// The credential a code proves, if a trusted key signed exactly these bytes.
    pub fn verify(&self, code: &StaticCode) -> Result<Credential, CodeError> {
        // Everything comes from the signed bytes, not the public fields a caller may have edited.
        let key = self
            .keys
            .get(&code.kid)
            .ok_or_else(|| CodeError::UnknownKey(hex::encode(code.kid)))?;
        let signature = Signature::from_bytes(&code.signature);
        // Strict verification refuses malleable signatures, so one card has one valid text.
        key.verify_strict(&signed_message(&code.body), &signature)
            .map_err(|_| CodeError::BadSignature)?;
        Credential::read(&mut Reader(&code.body[1 + KID_LEN..]))
    }
}

/// A parsed printed code, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticCode {
    /// Id of the key that claims to have signed it (16 hex characters).
    pub key_id: String,
    /// What the code claims; trust only what [`StaticVerifier::verify`] returns.
    pub credential: Credential,
    kid: Kid,
    body: [u8; BODY_LEN],
    signature: [u8; SIGNATURE_LEN],
}

impl StaticCode {
    pub(super) fn from_payload(payload: &[u8]) -> Result<Self, CodeError> {
        let mut reader = Reader(payload);
        let body: [u8; BODY_LEN] = reader.take()?;
        let signature = reader.take()?;
        reader.finish()?;

        let mut fields = Reader(&body);
        fields.kind(KIND)?;
        let kid: Kid = fields.take()?;
        let credential = Credential::read(&mut fields)?;
        fields.finish()?;
        Ok(Self {
            key_id: hex::encode(kid),
            credential,
            kid,
            body,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{Code, parse};
    use uuid::Uuid;

    fn credential() -> Credential {
        Credential {
            worker_id: Uuid::from_u128(0x0191_c8f4_5a2b_7c3d_8e4f_a1b2_c3d4_e5f6),
            version: 3,
        }
    }

    fn parse_static(text: &str) -> StaticCode {
        match parse(text) {
            Ok(Code::Static(code)) => code,
            other => panic!("expected a static code, got {other:?}"),
        }
    }

    #[test]
    fn a_signed_code_verifies_back_to_its_credential() {
        let signer = StaticSigner::from_secret_bytes([7; 32]);
        let mut verifier = StaticVerifier::new();
        let kid = verifier.add_key(signer.public_key_bytes()).unwrap();
        assert_eq!(kid, signer.key_id());

        let text = signer.sign(credential());
        assert_eq!(text.len(), STATIC_PREFIX.len() + 124);
        let code = parse_static(&text);
        assert_eq!(code.key_id, signer.key_id());
        assert_eq!(code.credential, credential());
        assert_eq!(verifier.verify(&code), Ok(credential()));
    }

    #[test]
    fn a_code_from_a_key_the_verifier_lacks_is_unknown_key() {
        let trusted = StaticSigner::from_secret_bytes([1; 32]);
        let other = StaticSigner::from_secret_bytes([2; 32]);
        let mut verifier = StaticVerifier::new();
        verifier.add_key(trusted.public_key_bytes()).unwrap();

        let code = parse_static(&other.sign(credential()));
        assert_eq!(
            verifier.verify(&code),
            Err(CodeError::UnknownKey(other.key_id()))
        );
    }

    #[test]
    fn a_code_claiming_a_trusted_kid_but_signed_by_another_key_is_bad_signature() {
        let trusted = StaticSigner::from_secret_bytes([1; 32]);
        // An impostor that writes the trusted kid into its body and signs with its own key.
        let impostor = StaticSigner {
            key: SigningKey::from_bytes(&[9; 32]),
            kid: trusted.kid,
        };
        let mut verifier = StaticVerifier::new();
        verifier.add_key(trusted.public_key_bytes()).unwrap();

        let code = parse_static(&impostor.sign(credential()));
        assert_eq!(code.key_id, trusted.key_id());
        assert_eq!(verifier.verify(&code), Err(CodeError::BadSignature));
    }

    #[test]
    fn editing_the_public_fields_does_not_change_what_verifies() {
        let signer = StaticSigner::from_secret_bytes([7; 32]);
        let mut verifier = StaticVerifier::new();
        verifier.add_key(signer.public_key_bytes()).unwrap();
        let mut code = parse_static(&signer.sign(credential()));
        code.credential.version = 99;
        code.key_id = "0000000000000000".to_owned();
        assert_eq!(verifier.verify(&code), Ok(credential()));
    }

    #[test]
    fn a_public_key_that_is_not_a_curve_point_is_malformed() {
        let mut verifier = StaticVerifier::new();
        // y = 2 has no matching x on edwards25519.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        assert!(matches!(
            verifier.add_key(not_a_point),
            Err(CodeError::Malformed(_))
        ));
        // The identity point decodes but has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            verifier.add_key(identity),
            Err(CodeError::Malformed(_))
        ));
    }

    #[test]
    fn the_signer_debug_output_hides_the_secret() {
        let signer = StaticSigner::from_secret_bytes([0xab; 32]);
        let shown = format!("{signer:?}");
        assert!(shown.contains(&signer.key_id()));
        assert!(!shown.to_lowercase().contains("abab"));
        assert!(!shown.contains("171"));
    }
}

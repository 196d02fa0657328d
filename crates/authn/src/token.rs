//! Compact JWS tokens (`header.payload.signature`, base64url without padding)
//! signed with Ed25519. Only `alg: EdDSA` is accepted: the algorithm is
//! fixed by us, never chosen by whoever holds the token.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::AuthError;
use crate::error::sanitize;
use crate::keys::SigningKeyPair;

/// The `iss` of every Pantau access token.
pub const ISSUER: &str = "pantau-identity";

/// Clock skew tolerated between the issuing and the verifying machine.
pub const LEEWAY_SECS: i64 = 30;

const ALG: &str = "EdDSA";
const TYP: &str = "JWT";

/// Longer than any token we issue by far; bounds the work an attacker can
/// make us do before the signature check.
const MAX_TOKEN_LEN: usize = 8 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    kid: String,
}

/// The payload of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
    /// Role names: `worker`, `supervisor`, `agency_admin`, ...
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    pub iss: String,
    /// Unique token id, chosen by the caller (randomness stays outside).
    pub jti: String,
}

impl Claims {
    /// Claims issued by [`ISSUER`] at `now_unix`, valid for `ttl_secs`.
    pub fn new(
        sub: impl Into<String>,
        roles: Vec<String>,
        agency: Option<String>,
        worker: Option<String>,
        now_unix: i64,
        ttl_secs: i64,
        jti: impl Into<String>,
    ) -> Claims {
        Claims {
            sub: sub.into(),
            roles,
            agency,
            worker,
            iat: now_unix,
            exp: now_unix.saturating_add(ttl_secs),
            iss: ISSUER.to_owned(),
            jti: jti.into(),
        }
    }
}

/// Signs access tokens with the identity service's key.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: SigningKeyPair,
    kid: String,
}

impl Issuer {
    pub fn new(key: SigningKeyPair) -> Issuer {
        let kid = key.key_id();
        Issuer { key, kid }
    }

    pub fn key_id(&self) -> &str {
        &self.kid
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.public_key_bytes()
    }

    /// A signed compact JWT carrying `claims` as given.
    pub fn issue(&self, claims: &Claims) -> String {
        let header = Header {
            alg: ALG.to_owned(),
            typ: Some(TYP.to_owned()),
            kid: self.kid.clone(),
        };
        let mut token = format!("{}.{}", encode_json(&header), encode_json(claims));
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }
}

/// Serializing these structs cannot fail: they hold only strings, integers
/// and options, and `serde_json` fails only on non-string map keys or on a
/// failing custom `Serialize`.
fn encode_json<T: Serialize>(value: &T) -> String {
    #[allow(clippy::expect_used)]
    let json = serde_json::to_vec(value).expect("plain struct serializes to JSON");
    URL_SAFE_NO_PAD.encode(json)
}

/// Checks tokens against the published public keys, offline.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: HashMap<String, VerifyingKey>,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier::default()
    }

    /// Trusts `public_key` for tokens whose header names `kid`.
    pub fn add_key(
        &mut self,
        kid: impl Into<String>,
        public_key: [u8; 32],
    ) -> Result<(), AuthError> {
        let kid = kid.into();
        let key = VerifyingKey::from_bytes(&public_key)
            .map_err(|_| AuthError::InvalidKey(sanitize(&kid)))?;
        self.keys.insert(kid, key);
        Ok(())
    }

    /// Key ids currently trusted.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The claims of `token` if it is well formed, signed by a known key,
    /// issued by [`ISSUER`] and not expired at `now_unix` (with
    /// [`LEEWAY_SECS`] of grace).
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, AuthError> {
        self.prepare(token, now_unix)?.verify()
    }

    /// Everything [`Verifier::verify`] checks except the signature, which is
    /// left to [`PendingToken::verify`] or [`verify_batch`].
    pub fn prepare(&self, token: &str, now_unix: i64) -> Result<PendingToken, AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::Malformed("token is too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed(
                "token must have three dot-separated parts",
            ));
        };

        let header: Header = decode_json(
            header_b64,
            "header is not base64url",
            "header is not a JWT header",
        )?;
        if header.alg != ALG {
            return Err(AuthError::Malformed("alg must be EdDSA"));
        }
        if header.typ.as_deref().is_some_and(|t| t != TYP) {
            return Err(AuthError::Malformed("typ must be JWT"));
        }
        let key = *self
            .keys
            .get(&header.kid)
            .ok_or_else(|| AuthError::UnknownKey(sanitize(&header.kid)))?;

        let signature_bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| AuthError::Malformed("signature is not base64url"))?
            .try_into()
            .map_err(|_| AuthError::Malformed("signature is not 64 bytes"))?;
        let signing_input = token[..header_b64.len() + 1 + payload_b64.len()].to_owned();

        let claims: Claims = decode_json(
            payload_b64,
            "payload is not base64url",
            "payload is not a claims object",
        )?;
        if claims.iss != ISSUER {
            return Err(AuthError::WrongIssuer(sanitize(&claims.iss)));
        }
        if claims.exp.saturating_add(LEEWAY_SECS) <= now_unix {
            return Err(AuthError::Expired { exp: claims.exp });
        }
        Ok(PendingToken {
            signing_input,
            signature: Signature::from_bytes(&signature_bytes),
            key,
            claims,
        })
    }
}

/// A well-formed, unexpired token from a known key whose signature has not
/// been checked yet. Its claims are only reachable through a verification.
#[derive(Debug, Clone)]
pub struct PendingToken {
    signing_input: String,
    signature: Signature,
    key: VerifyingKey,
    claims: Claims,
}

impl PendingToken {
    /// Checks the signature strictly (no small-order components).
    pub fn verify(self) -> Result<Claims, AuthError> {
        self.key
            .verify_strict(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| AuthError::BadSignature)?;
        Ok(self.claims)
    }
}

/// Verifies many tokens' signatures at once, about twice as fast per token
/// as one by one (one multi-scalar multiplication for the whole batch). If
/// the batch fails, each token is checked on its own, so one forged token
/// fails alone. A batch proves every signature was made with the key, as
/// single verification does; unlike [`PendingToken::verify`] it does not
/// refuse the non-canonical re-encodings of a genuine signature that strict
/// verification also rules out, which carry the same signed claims.
pub fn verify_batch(tokens: Vec<PendingToken>) -> Vec<Result<Claims, AuthError>> {
    if tokens.len() < 2 {
        return tokens.into_iter().map(PendingToken::verify).collect();
    }
    let messages: Vec<&[u8]> = tokens.iter().map(|t| t.signing_input.as_bytes()).collect();
    let signatures: Vec<Signature> = tokens.iter().map(|t| t.signature).collect();
    let keys: Vec<VerifyingKey> = tokens.iter().map(|t| t.key).collect();
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        tokens.into_iter().map(|t| Ok(t.claims)).collect()
    } else {
        tokens.into_iter().map(PendingToken::verify).collect()
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(
    b64: &str,
    not_base64: &'static str,
    not_json: &'static str,
) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| AuthError::Malformed(not_base64))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed(not_json))
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;

//! Tests of token issue and verification.

use super::*;

const NOW: i64 = 1_750_000_000;

fn issuer() -> Issuer {
    Issuer::new(SigningKeyPair::from_secret_bytes([42; 32]))
}

fn verifier_for(issuer: &Issuer) -> Verifier {
    let mut v = Verifier::new();
    v.add_key(issuer.key_id(), issuer.public_key_bytes())
        .expect("valid key");
    v
}

fn claims() -> Claims {
    Claims::new(
        "acct-1",
        vec!["agency_admin".into()],
        Some("agency-dta".into()),
        None,
        NOW,
        3600,
        "jti-1",
    )
}

fn b64_json(value: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Replaces one dot-separated part of a token.
fn with_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

#[test]
fn an_issued_token_verifies_to_the_same_claims() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    assert_eq!(verifier_for(&issuer).verify(&token, NOW + 10), Ok(claims()));
}

#[test]
fn the_header_names_the_algorithm_type_and_key() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    let header_b64 = token.split('.').next().unwrap_or_default();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header_b64).expect("b64")).expect("json");
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], issuer.key_id());
}

#[test]
fn a_tampered_payload_fails_the_signature_check() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    let mut forged = claims();
    forged.roles = vec!["province_admin".into()];
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
    let tampered = with_part(&token, 1, &forged_payload);
    assert_eq!(
        verifier_for(&issuer).verify(&tampered, NOW),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn a_token_signed_by_another_key_with_a_borrowed_kid_fails() {
    let issuer = issuer();
    let impostor = Issuer::new(SigningKeyPair::from_secret_bytes([1; 32]));
    let token = impostor.issue(&claims());
    let header =
        b64_json(&serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": issuer.key_id()}));
    let relabelled = with_part(&token, 0, &header);
    assert_eq!(
        verifier_for(&issuer).verify(&relabelled, NOW),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn an_expired_token_fails_after_the_leeway() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    let v = verifier_for(&issuer);
    let exp = NOW + 3600;
    assert!(v.verify(&token, exp + LEEWAY_SECS - 1).is_ok());
    assert_eq!(
        v.verify(&token, exp + LEEWAY_SECS),
        Err(AuthError::Expired { exp })
    );
}

#[test]
fn a_token_from_an_unknown_key_fails() {
    let other = Issuer::new(SigningKeyPair::from_secret_bytes([9; 32]));
    let token = other.issue(&claims());
    let err = verifier_for(&issuer())
        .verify(&token, NOW)
        .expect_err("unknown kid");
    assert_eq!(err, AuthError::UnknownKey(other.key_id().to_owned()));
}

#[test]
fn a_token_from_another_issuer_fails() {
    let issuer = issuer();
    let mut foreign = claims();
    foreign.iss = "someone-else".into();
    let token = issuer.issue(&foreign);
    assert_eq!(
        verifier_for(&issuer).verify(&token, NOW),
        Err(AuthError::WrongIssuer("someone-else".into()))
    );
}

#[test]
fn a_token_claiming_another_algorithm_is_refused_before_any_key_lookup() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    for alg in ["none", "HS256", "RS256"] {
        let header =
            b64_json(&serde_json::json!({"alg": alg, "typ": "JWT", "kid": issuer.key_id()}));
        let forged = with_part(&token, 0, &header);
        assert_eq!(
            verifier_for(&issuer).verify(&forged, NOW),
            Err(AuthError::Malformed("alg must be EdDSA")),
            "{alg}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    let v = verifier_for(&issuer());
    for bad in ["", "a.b", "a.b.c.d", "!!!.???.***", "e30.e30.e30"] {
        assert!(
            matches!(v.verify(bad, NOW), Err(AuthError::Malformed(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        v.verify(&"a".repeat(10_000), NOW),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn a_truncated_signature_is_malformed() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    let short = with_part(&token, 2, "AAAA");
    assert!(matches!(
        verifier_for(&issuer).verify(&short, NOW),
        Err(AuthError::Malformed(_))
    ));
}

#[test]
fn optional_claims_are_left_out_of_the_payload_when_absent() {
    let issuer = issuer();
    let token = issuer.issue(&claims());
    let payload_b64 = token.split('.').nth(1).unwrap_or_default();
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload_b64).expect("b64")).expect("json");
    assert_eq!(payload["agency"], "agency-dta");
    assert!(payload.get("worker").is_none());
    assert_eq!(payload["iss"], ISSUER);
}

#[test]
fn a_verifier_trusts_several_keys_during_rotation() {
    let old = issuer();
    let new = Issuer::new(SigningKeyPair::from_secret_bytes([3; 32]));
    let mut v = verifier_for(&old);
    v.add_key(new.key_id(), new.public_key_bytes())
        .expect("valid key");
    assert!(v.verify(&old.issue(&claims()), NOW).is_ok());
    assert!(v.verify(&new.issue(&claims()), NOW).is_ok());
    assert_eq!(v.key_ids().count(), 2);
}

#[test]
fn a_public_key_that_is_not_a_curve_point_is_refused() {
    // About half of all 32-byte strings do not decompress to a point.
    let not_a_point = (0..=255u8)
        .map(|b| [b; 32])
        .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
        .expect("some byte pattern is off the curve");
    let mut v = Verifier::new();
    assert!(matches!(
        v.add_key("bad", not_a_point),
        Err(AuthError::InvalidKey(_))
    ));
    assert_eq!(v.key_ids().count(), 0);
}

#[test]
fn a_batch_verifies_every_genuine_token_and_fails_only_the_forged_one() {
    let (first, second) = (
        issuer(),
        Issuer::new(SigningKeyPair::from_secret_bytes([7; 32])),
    );
    let mut v = verifier_for(&first);
    v.add_key(second.key_id(), second.public_key_bytes())
        .expect("valid key");
    let mut tokens: Vec<String> = (0..40)
        .map(|i| {
            let mut c = claims();
            c.jti = format!("jti-{i}");
            if i % 2 == 0 { &first } else { &second }.issue(&c)
        })
        .collect();
    let pending = |tokens: &[String]| -> Vec<PendingToken> {
        tokens
            .iter()
            .map(|t| v.prepare(t, NOW).expect("well formed"))
            .collect()
    };
    let all = verify_batch(pending(&tokens));
    assert!(all.iter().all(Result::is_ok));
    assert_eq!(
        all[3].as_ref().map(|c| c.jti.clone()),
        Ok("jti-3".to_owned())
    );

    let mut forged = claims();
    forged.roles = vec!["province_admin".into()];
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
    tokens[17] = with_part(&tokens[17], 1, &forged_payload);
    let mixed = verify_batch(pending(&tokens));
    for (i, r) in mixed.iter().enumerate() {
        if i == 17 {
            assert_eq!(r, &Err(AuthError::BadSignature));
        } else {
            assert!(r.is_ok(), "token {i} is genuine");
        }
    }
}

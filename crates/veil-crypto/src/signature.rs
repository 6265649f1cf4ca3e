//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body with the app secret.
//!
//! Verification is over the exact bytes received (Meta sends non-ASCII as `\uXXXX` and signs that
//! form) and compares in constant time through `ring::hmac::verify`.

use ring::hmac;

/// Why a signature was refused. Says nothing about the expected value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The header was absent.
    #[error("signature header missing")]
    Missing,
    /// The header was not `sha256=<64 hex digits>`.
    #[error("signature header malformed")]
    Malformed,
    /// The MAC did not match.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `header` (the value of `X-Hub-Signature-256`, if any) against `body`.
pub fn verify_hub_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_part = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    if hex_part.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret);
    hmac::verify(&key, body, &tag).map_err(|_| SignatureError::Mismatch)
}

/// The header value for `body`: `sha256=<lowercase hex>`. Used by tests and the benchmark client.
pub fn sign_hub_body(app_secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret);
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vector from whatsapp-api-js test/index.test.js (MIT), commit 1ef1b00a, as recorded in
    // shared/fixtures/whatsapp/signature/unicode-escaped-body--whatsapp-api-js.json.
    const SECRET: &[u8] = b"YOUR_APP_SECRET";
    const ESCAPED_BODY: &str = "Let's pretend this body is equal to the message object and can handle unicode characters like \\u307f\\u3069\\u308a\\u3044\\u308d and J'ai mang\\u00e9 des p\\u00e2tes";
    const SIGNATURE: &str =
        "sha256=0363007aabdf1ab579f35936651a460fb5fa1aaf40df98b1264446b72cc96688";

    #[test]
    fn published_vector_verifies_over_the_escaped_bytes() {
        assert_eq!(
            verify_hub_signature(SECRET, ESCAPED_BODY.as_bytes(), Some(SIGNATURE.as_bytes())),
            Ok(())
        );
        assert_eq!(sign_hub_body(SECRET, ESCAPED_BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn the_same_text_as_raw_utf8_does_not_verify() {
        let raw = "Let's pretend this body is equal to the message object and can handle unicode characters like みどりいろ and J'ai mangé des pâtes";
        assert_eq!(
            verify_hub_signature(SECRET, raw.as_bytes(), Some(SIGNATURE.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_malformed_and_wrong_headers_are_refused() {
        let body = b"{}";
        let good = sign_hub_body(SECRET, body);
        assert_eq!(
            verify_hub_signature(SECRET, body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_hub_signature(SECRET, body, Some(b"sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_hub_signature(SECRET, body, Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
        let non_hex = format!("sha256={}", "g".repeat(64));
        assert_eq!(
            verify_hub_signature(SECRET, body, Some(non_hex.as_bytes())),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_hub_signature(b"other", body, Some(good.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hub_signature(SECRET, b"{} ", Some(good.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }
}

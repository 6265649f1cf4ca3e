//! The second factor: RFC 6238 TOTP (SHA-1, 30 s, 6 digits, ±1 step) through totp-rs, and
//! single-use recovery codes. Replay protection (a step is accepted once per user) is the
//! store's job: it records the last accepted step with a compare-and-set.

use std::fmt;

use totp_rs::{Algorithm, Secret, Totp};
use zeroize::Zeroizing;

pub const STEP_SECONDS: u64 = 30;
pub const RECOVERY_CODES: usize = 10;

/// A TOTP shared secret (160 random bits). Zeroized on drop; never printed.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(redacted)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; 20]);
        rand::fill(bytes.as_mut_slice());
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32 without padding, as authenticator apps and `oathtool -b` take it.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(Secret::from(self.0.to_vec()).to_base32())
    }

    fn totp(&self, account: &str) -> Option<Totp> {
        totp_rs::Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0.to_vec())
            .with_issuer(Some("Veil"))
            .with_account_name(account.replace(':', "_"))
            .build()
            .ok()
    }

    /// The step a code matches at `now` (±1 step), if any. Comparison is constant-time.
    pub fn check(&self, code: &str, now_secs: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = u64::try_from(now_secs).ok()?;
        self.totp("-")?
            .check(&code, now)
            .and_then(|step| i64::try_from(step).ok())
    }

    /// The code for `now` (tests and the demo's helper).
    pub fn code_at(&self, now_secs: i64) -> Option<String> {
        let now = u64::try_from(now_secs).ok()?;
        Some(self.totp("-")?.generate(now).to_string())
    }

    /// The `otpauth://totp/Veil:<account>?secret=…&issuer=Veil…` URI for authenticator apps.
    pub fn otpauth_uri(&self, account: &str) -> Option<Zeroizing<String>> {
        self.totp(account)?.to_url().ok().map(Zeroizing::new)
    }
}

/// The URI as an inline SVG QR code (no image, no `data:` URL: CSP-friendly).
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    // Inline in HTML the XML declaration is noise.
    Some(
        svg.split_once("?>")
            .map_or(svg.clone(), |(_, rest)| rest.to_owned()),
    )
}

/// Ten fresh recovery codes (80 random bits each, `xxxx-xxxx-xxxx-xxxx` in base32 without
/// ambiguous letters) and their hashes to store. With 80 bits a fast hash is enough.
pub fn new_recovery_codes() -> (Vec<Zeroizing<String>>, Vec<Vec<u8>>) {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstvwxyz0123456789";
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut random = Zeroizing::new([0u8; 16]);
        rand::fill(random.as_mut_slice());
        let mut code = Zeroizing::new(String::with_capacity(19));
        for (i, byte) in random.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                code.push('-');
            }
            let index = usize::from(byte & 31);
            code.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'a')));
        }
        hashes.push(recovery_code_hash(&code));
        codes.push(code);
    }
    (codes, hashes)
}

/// The stored form of a recovery code: SHA-256 of its normalised text.
pub fn recovery_code_hash(code: &str) -> Vec<u8> {
    let normal: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    veil_crypto::sha256(format!("veil-recovery-v1:{normal}").as_bytes()).to_vec()
}

/// Whether input looks like a recovery code rather than a TOTP code.
pub fn looks_like_recovery_code(input: &str) -> bool {
    input.chars().filter(char::is_ascii_alphanumeric).count() == 16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 appendix D: HOTP values for counters 0..9 with the ASCII secret
    /// "12345678901234567890". TOTP at time = counter × 30 is HOTP(counter).
    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (counter, code) in (0i64..).zip(expected) {
            assert_eq!(
                secret.code_at(counter * 30).as_deref(),
                Some(code),
                "counter {counter}"
            );
        }
    }

    /// RFC 6238 appendix B, SHA-1 rows (8 digits in the RFC; the last six digits are the 6-digit
    /// code, because both are the same truncated value modulo a power of ten).
    #[test]
    fn rfc6238_totp_vectors() {
        let rows: [(i64, &str); 6] = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight) in rows {
            let six = eight.get(2..).unwrap();
            assert_eq!(secret.code_at(time).as_deref(), Some(six), "t={time}");
            // And the 8-digit form, straight from totp-rs with the RFC's parameters.
            let totp = totp_rs::Builder::new()
                .with_digits(8)
                .with_secret(b"12345678901234567890".to_vec())
                .build()
                .unwrap();
            assert_eq!(
                totp.generate(u64::try_from(time).unwrap()).to_string(),
                eight
            );
        }
    }

    #[test]
    fn skew_is_one_step_either_side() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_000;
        let code = secret.code_at(now).unwrap();
        assert_eq!(secret.check(&code, now), Some(now / 30));
        assert_eq!(secret.check(&code, now + 30), Some(now / 30));
        assert_eq!(secret.check(&code, now - 30), Some(now / 30));
        assert_eq!(secret.check(&code, now + 90), None);
        assert_eq!(secret.check("12345", now), None);
        assert_eq!(secret.check("abcdef", now), None);
    }

    #[test]
    fn uri_and_qr() {
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("ana@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Veil:ana%40example.com?"),
            "{}",
            *uri
        );
        assert!(uri.contains(&format!("secret={}", *secret.base32())));
        assert!(uri.contains("issuer=Veil"));
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!format!("{secret:?}").contains(&*secret.base32()));
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalised() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(unique.len(), 10);
        let first = codes.first().unwrap();
        assert!(looks_like_recovery_code(first));
        assert_eq!(
            recovery_code_hash(&first.to_uppercase().replace('-', " ")),
            *hashes.first().unwrap()
        );
    }
}

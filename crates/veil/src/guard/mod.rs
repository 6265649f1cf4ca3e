//! The guard (C7): screens every message, in both directions, for payment and personal data,
//! phishing and scams. Domain logic only: text in, findings out; no IO.
//!
//! Every detector is linear in the text: a hand-written pass over digit runs and words
//! (`identifiers`, `iban`), one Aho-Corasick automaton for the phrases of six languages
//! (`phrases`) and linkify's scanner for links and e-mail addresses (`links`). Values are only
//! ever returned as byte offsets; nothing here logs.

pub mod attachments;
pub mod corpus;
pub mod iban;
pub mod identifiers;
pub mod links;
pub mod phrases;
pub mod policy;
pub mod validate;

use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// What the guard found. Names are the `kind` values of `veil guard scan`'s output, of stored
/// verdicts and of the policy settings; `docs/guard.md` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CardNumber,
    Iban,
    Email,
    Phone,
    BrCpf,
    BrCnpj,
    ItCodiceFiscale,
    DeSteuerId,
    CnResidentId,
    PtNif,
    EsDniNie,
    SaNationalId,
    UkNino,
    UsSsn,
    /// A one-time code shared in text ("my code is 482913").
    OtpCode,
    /// A password shared in text ("senha: …").
    Password,
    /// Asks for a verification code, one-time password or PIN.
    CodeRequest,
    /// Asks for a card number, CVV or expiry date.
    CardRequest,
    /// A link scored as phishing.
    PhishingUrl,
    /// A link with some warning signs, below the phishing score.
    SuspiciousUrl,
    /// Asks to install remote-access software or share the screen.
    RemoteAccess,
    /// Asks to move the chat to another number.
    NumberChange,
    /// Announces new bank details or asks to pay somewhere else.
    PaymentRedirect,
    /// Pressure: "urgent", "your account will be blocked".
    Urgency,
}

impl Kind {
    pub const ALL: [Kind; 24] = [
        Kind::CardNumber,
        Kind::Iban,
        Kind::Email,
        Kind::Phone,
        Kind::BrCpf,
        Kind::BrCnpj,
        Kind::ItCodiceFiscale,
        Kind::DeSteuerId,
        Kind::CnResidentId,
        Kind::PtNif,
        Kind::EsDniNie,
        Kind::SaNationalId,
        Kind::UkNino,
        Kind::UsSsn,
        Kind::OtpCode,
        Kind::Password,
        Kind::CodeRequest,
        Kind::CardRequest,
        Kind::PhishingUrl,
        Kind::SuspiciousUrl,
        Kind::RemoteAccess,
        Kind::NumberChange,
        Kind::PaymentRedirect,
        Kind::Urgency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CardNumber => "card_number",
            Kind::Iban => "iban",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::BrCpf => "br_cpf",
            Kind::BrCnpj => "br_cnpj",
            Kind::ItCodiceFiscale => "it_codice_fiscale",
            Kind::DeSteuerId => "de_steuer_id",
            Kind::CnResidentId => "cn_resident_id",
            Kind::PtNif => "pt_nif",
            Kind::EsDniNie => "es_dni_nie",
            Kind::SaNationalId => "sa_national_id",
            Kind::UkNino => "uk_nino",
            Kind::UsSsn => "us_ssn",
            Kind::OtpCode => "otp_code",
            Kind::Password => "password",
            Kind::CodeRequest => "code_request",
            Kind::CardRequest => "card_request",
            Kind::PhishingUrl => "phishing_url",
            Kind::SuspiciousUrl => "suspicious_url",
            Kind::RemoteAccess => "remote_access",
            Kind::NumberChange => "number_change",
            Kind::PaymentRedirect => "payment_redirect",
            Kind::Urgency => "urgency",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A value of the customer's (an identifier, an address, a secret), as opposed to a
    /// pattern of the text (a request, a link, a scam phrase). Values can be masked.
    pub fn is_value(self) -> bool {
        !matches!(
            self,
            Kind::CodeRequest
                | Kind::CardRequest
                | Kind::PhishingUrl
                | Kind::SuspiciousUrl
                | Kind::RemoteAccess
                | Kind::NumberChange
                | Kind::PaymentRedirect
                | Kind::Urgency
        )
    }

    /// How much a finding of this kind adds to a message's risk.
    pub fn risk(self) -> Risk {
        match self {
            Kind::PhishingUrl
            | Kind::CodeRequest
            | Kind::CardRequest
            | Kind::RemoteAccess
            | Kind::PaymentRedirect
            | Kind::CardNumber => Risk::High,
            Kind::Email | Kind::Phone | Kind::Urgency | Kind::SuspiciousUrl => Risk::Low,
            _ => Risk::Medium,
        }
    }
}

/// Why a link or a message was flagged. Names are stable: they are stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The domain looks like a protected brand's (edit distance or confusable characters).
    Lookalike,
    /// A protected brand's name sits in a subdomain or the path of another domain.
    BrandElsewhere,
    /// The host is punycode (`xn--`).
    Punycode,
    /// A label of the host mixes scripts (Latin with Cyrillic, say).
    MixedScript,
    Shortener,
    IpLiteral,
    UnusualPort,
    /// `user:password@host`.
    Credentials,
    SuspiciousTld,
    /// The text names one domain and the link goes to another.
    TextMismatch,
    /// Plain `http://`.
    NoTls,
    /// The message also pressures or asks for a code.
    PressureNearby,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Lookalike => "lookalike",
            Reason::BrandElsewhere => "brand_elsewhere",
            Reason::Punycode => "punycode",
            Reason::MixedScript => "mixed_script",
            Reason::Shortener => "shortener",
            Reason::IpLiteral => "ip_literal",
            Reason::UnusualPort => "unusual_port",
            Reason::Credentials => "credentials",
            Reason::SuspiciousTld => "suspicious_tld",
            Reason::TextMismatch => "text_mismatch",
            Reason::NoTls => "no_tls",
            Reason::PressureNearby => "pressure_nearby",
        }
    }

    pub fn parse(name: &str) -> Option<Reason> {
        [
            Reason::Lookalike,
            Reason::BrandElsewhere,
            Reason::Punycode,
            Reason::MixedScript,
            Reason::Shortener,
            Reason::IpLiteral,
            Reason::UnusualPort,
            Reason::Credentials,
            Reason::SuspiciousTld,
            Reason::TextMismatch,
            Reason::NoTls,
            Reason::PressureNearby,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// One finding: its kind, byte offsets into the scanned text and, for links, the reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub reasons: Vec<Reason>,
}

impl Finding {
    pub fn new(kind: Kind, start: usize, end: usize) -> Finding {
        Finding {
            kind,
            start,
            end,
            reasons: Vec::new(),
        }
    }
}

/// How risky a message is, from its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }

    pub fn of(findings: &[Finding]) -> Risk {
        findings
            .iter()
            .map(|f| f.kind.risk())
            .max()
            .unwrap_or_default()
    }
}

/// What the scanner is told about the business: its own domains (protected from lookalikes
/// like the built-in brands) and the region national phone numbers are read in.
#[derive(Debug, Clone, Default)]
pub struct ScannerSettings {
    pub protected_domains: Vec<String>,
    /// ISO 3166 region (`DE`) for phone numbers written without `+`; none: only `+`/`00` ones.
    pub phone_region: Option<String>,
}

/// The compiled detectors. Build once and share: scanning takes `&self`.
pub struct Scanner {
    phrases: phrases::Phrases,
    links: links::Links,
    region: Option<phonenumber::country::Id>,
}

impl Scanner {
    pub fn new(settings: &ScannerSettings) -> Scanner {
        Scanner {
            phrases: phrases::Phrases::new(),
            links: links::Links::new(&settings.protected_domains),
            region: settings
                .phone_region
                .as_deref()
                .and_then(|r| r.to_ascii_uppercase().parse().ok()),
        }
    }

    /// Every finding in `text`, ordered by position; values never overlap one another.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let hits = self.phrases.hits(text);
        let mut values = Vec::new();
        identifiers::find_numbers(text, &hits, self.region, &mut values);
        identifiers::find_words(text, &mut values);
        iban::find(text, &mut values);
        phrases::find_passwords(text, &hits, &mut values);
        let mut patterns = Vec::new();
        hits.findings(&mut patterns);
        // A message that urges or asks for a code raises the score of its links.
        let pressure = patterns.iter().any(|f| {
            matches!(
                f.kind,
                Kind::CodeRequest | Kind::CardRequest | Kind::Urgency
            )
        });
        let mut out = self.links.find(text, pressure, &mut values);
        out.extend(drop_overlaps(values));
        out.extend(patterns);
        out.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        out
    }
}

/// The scanner with the policy in force; shared by ingest, sending and the pages.
pub struct Guard {
    scanner: Scanner,
    policy: RwLock<Arc<policy::Policy>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

impl Guard {
    pub fn new(scanner: Scanner) -> Guard {
        Guard {
            scanner,
            policy: RwLock::new(Arc::new(policy::Policy::default())),
        }
    }

    pub fn policy(&self) -> Arc<policy::Policy> {
        self.policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn install(&self, policy: policy::Policy) {
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(policy);
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Scans `text` and applies the policy for `direction`.
    pub fn check(&self, direction: policy::Direction, text: &str) -> policy::Decision {
        let findings = self.scanner.scan(text);
        policy::decide(&self.policy(), direction, text, &findings)
    }
}

/// What the guard decided about a stored message, kept (sealed) with its content: kinds,
/// offsets into the stored text, actions and reasons; never the values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub risk: Risk,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<policy::Decided>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caption: Vec<policy::Decided>,
    /// Findings in the message's other strings (file name, detail, referral, contact cards, …);
    /// their offsets are into those strings, not the text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<policy::Decided>,
}

impl Verdict {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.caption.is_empty() && self.other.is_empty()
    }

    /// Every decided finding, text first.
    pub fn all(&self) -> impl Iterator<Item = &policy::Decided> {
        self.text.iter().chain(&self.caption).chain(&self.other)
    }
}

/// Keeps the longest of overlapping values (a card number over the phone digits inside it),
/// the earlier-listed kind on a tie.
fn drop_overlaps(mut values: Vec<Finding>) -> Vec<Finding> {
    values.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end), f.kind));
    let mut kept: Vec<Finding> = Vec::with_capacity(values.len());
    for f in values {
        if kept.last().is_some_and(|k| f.start < k.end) {
            continue;
        }
        kept.push(f);
    }
    kept
}

/// The scanner the configuration asks for (protected domains, phone region).
pub fn scanner(config: &crate::config::GuardConfig) -> Scanner {
    Scanner::new(&ScannerSettings {
        protected_domains: config.protected_domains.clone(),
        phone_region: (!config.phone_region.is_empty()).then(|| config.phone_region.clone()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn kinds(text: &str) -> Vec<(&'static str, String)> {
        let scanner = Scanner::new(&ScannerSettings::default());
        scanner
            .scan(text)
            .iter()
            .map(|f| {
                (
                    f.kind.as_str(),
                    text.get(f.start..f.end).unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn one_message_many_kinds() {
        let found = kinds(
            "Hi, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, mail a.b@example.org, \
             call +49 1512 3456789",
        );
        let names: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            ["card_number", "iban", "email", "phone"],
            "{found:?}"
        );
        assert_eq!(found[1].1, "DE89 3704 0044 0532 0130 00");
        assert_eq!(found[3].1, "49 1512 3456789");
        let found = kinds("send me the code: http://whatsapp.com.login-check.ru/x");
        let names: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["code_request", "phishing_url"], "{found:?}");
    }

    #[test]
    fn kind_names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn adversarial_input_is_handled() {
        let scanner = Scanner::new(&ScannerSettings::default());
        for unit in [
            "1",
            "1 ",
            "a@",
            "http://a.",
            "xn--",
            "DE89 ",
            "código ",
            "@a.b",
        ] {
            let text = unit.repeat(65_536 / unit.len());
            let _ = scanner.scan(&text);
        }
    }
}

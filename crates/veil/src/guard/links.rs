//! Links and e-mail addresses: found by linkify (linear; also without a scheme and with IDN
//! hosts), parsed by `url` (which turns Unicode hosts into punycode), split at the public
//! suffix by `psl`, compared with protected brands by edit distance (`strsim`) and UTS 39
//! skeletons (`unicode-security`). Only the heuristics and their weights are ours.

use linkify::{LinkFinder, LinkKind};
use unicode_security::MixedScript;
use unicode_security::confusable_detection::skeleton;
use url::{Host, Url};

use super::{Finding, Kind, Reason};

/// Score at or above which a link is phishing; between `SUSPICIOUS` and this, suspicious.
pub const PHISHING: u32 = 50;
pub const SUSPICIOUS: u32 = 20;

/// Registrable domains of brands that scams imitate: WhatsApp and Meta, big platforms, card
/// networks, banks and payment services of the six languages' markets, parcel services.
const BRANDS: &[&str] = &[
    "whatsapp.com",
    "whatsapp.net",
    "wa.me",
    "meta.com",
    "facebook.com",
    "fb.com",
    "instagram.com",
    "messenger.com",
    "paypal.com",
    "google.com",
    "apple.com",
    "icloud.com",
    "microsoft.com",
    "outlook.com",
    "amazon.com",
    "amazon.de",
    "amazon.it",
    "amazon.com.br",
    "netflix.com",
    "mastercard.com",
    "visa.com",
    "americanexpress.com",
    "revolut.com",
    "n26.com",
    "wise.com",
    "santander.com",
    "santander.com.br",
    "itau.com.br",
    "bradesco.com.br",
    "nubank.com.br",
    "bb.com.br",
    "caixa.gov.br",
    "mercadopago.com",
    "mercadolivre.com.br",
    "intesasanpaolo.com",
    "unicredit.it",
    "poste.it",
    "sparkasse.de",
    "deutsche-bank.de",
    "commerzbank.de",
    "postbank.de",
    "ing.de",
    "dhl.com",
    "dhl.de",
    "ups.com",
    "fedex.com",
    "correios.com.br",
    "alipay.com",
    "taobao.com",
    "wechat.com",
    "icbc.com.cn",
    "alrajhibank.com.sa",
    "stcpay.com.sa",
    "absher.sa",
    "hsbc.com",
    "barclays.co.uk",
    "binance.com",
    "coinbase.com",
];

const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "is.gd",
    "v.gd",
    "cutt.ly",
    "rebrand.ly",
    "ow.ly",
    "buff.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "s.id",
    "tiny.cc",
    "shorte.st",
    "adf.ly",
    "qrco.de",
    "lnkd.in",
    "surl.li",
    "clck.ru",
    "u.to",
];

/// Top-level domains that abuse reports rank highest.
const SUSPICIOUS_TLDS: &[&str] = &[
    "zip", "mov", "xyz", "top", "click", "link", "tk", "ml", "ga", "cf", "gq", "icu", "cam",
    "rest", "buzz", "lol", "quest", "sbs", "cfd", "bond", "cyou", "monster", "country", "kim",
    "loan", "win", "bid", "racing", "review", "stream", "download",
];

struct Brand {
    domain: String,
    label: String,
    skeleton: String,
}

/// The link scanner with its brand list.
pub struct Links {
    finder: LinkFinder,
    brands: Vec<Brand>,
}

/// A host split at its public suffix.
struct Parts<'a> {
    /// `example.co.uk`
    registrable: &'a str,
    /// `example`
    label: &'a str,
    /// `www.login` of `www.login.example.co.uk`
    subdomain: &'a str,
    /// `co.uk`
    suffix: &'a str,
}

fn split(host: &str) -> Option<Parts<'_>> {
    let suffix = psl::suffix(host.as_bytes())?;
    if !suffix.is_known() {
        return None;
    }
    let suffix = std::str::from_utf8(suffix.as_bytes()).ok()?;
    let rest = host.strip_suffix(suffix)?.strip_suffix('.')?;
    let (subdomain, label) = rest.rsplit_once('.').unwrap_or(("", rest));
    if label.is_empty() {
        return None;
    }
    let registrable = host.get(host.len() - label.len() - 1 - suffix.len()..)?;
    Some(Parts {
        registrable,
        label,
        subdomain,
        suffix,
    })
}

/// The UTS 39 skeleton, then digits and signs that stand in for letters in domain names folded
/// too (`1`/`i`/`l`, `0`/`o`, `5`/`s`, `3`/`e`, `4`/`a`): `netf11x` and `netflix` meet.
fn skeleton_of(s: &str) -> String {
    skeleton(&s.to_lowercase())
        .map(|c| match c {
            '1' | 'i' | '|' | '!' => 'l',
            '0' => 'o',
            '5' => 's',
            '3' => 'e',
            '4' | '@' => 'a',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// A link written without a scheme and glued to Chinese, Japanese, Korean or Arabic text
/// (`这是shop.com`): where the address really starts. Latin look-alike scripts are kept, as they
/// are part of a spoofed name.
fn glued_prefix(link: &str) -> usize {
    if link.contains("://") {
        return 0;
    }
    link.char_indices()
        .find(|(_, c)| {
            !matches!(u32::from(*c), 0x0600..=0x06FF | 0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
        })
        .map_or(0, |(i, _)| i)
}

impl Links {
    pub fn new(protected: &[String]) -> Links {
        let mut finder = LinkFinder::new();
        finder.url_must_have_scheme(false);
        let mut brands = Vec::new();
        for domain in BRANDS
            .iter()
            .map(|d| (*d).to_owned())
            .chain(protected.iter().map(|d| d.trim().to_ascii_lowercase()))
        {
            let Some(parts) = split(&domain) else {
                continue;
            };
            let label = parts.label.to_owned();
            brands.push(Brand {
                skeleton: skeleton_of(&label),
                label,
                domain: parts.registrable.to_owned(),
            });
        }
        Links { finder, brands }
    }

    fn is_brand(&self, registrable: &str) -> bool {
        self.brands.iter().any(|b| b.domain == registrable)
    }

    /// Whether a registrable domain carries a brand's name (`sparkasse.com`, `paypal.de`).
    fn names_brand(&self, registrable: &str) -> bool {
        let label = registrable.split('.').next().unwrap_or_default();
        self.brands.iter().any(|b| b.label == label)
    }

    /// Links scored as phishing or suspicious (returned) and e-mail addresses (pushed to
    /// `values`). `pressure`: the message also urges or asks for a code.
    pub fn find(&self, text: &str, pressure: bool, values: &mut Vec<Finding>) -> Vec<Finding> {
        let mut out = Vec::new();
        // The previous link, when it named a brand's domain without a scheme: (end, domain).
        let mut named: Option<(usize, String)> = None;
        for link in self.finder.links(text) {
            if *link.kind() == LinkKind::Email {
                values.push(Finding::new(Kind::Email, link.start(), link.end()));
                continue;
            }
            let cut = glued_prefix(link.as_str());
            let (start, end) = (link.start() + cut, link.end());
            let Some(text_of_link) = text.get(start..end) else {
                continue;
            };
            let Some(scored) = self.score(text_of_link) else {
                continue;
            };
            let mut reasons = scored.reasons;
            let mut score = scored.score;
            if let Some((end, domain)) = &named {
                let between = text.get(*end..start).unwrap_or_default();
                let adjacent = between.chars().count() <= 4
                    && between
                        .chars()
                        .all(|c| c.is_whitespace() || ":(<-=>→[".contains(c));
                if adjacent && scored.registrable.as_deref() != Some(domain.as_str()) {
                    reasons.push(Reason::TextMismatch);
                    score += 50;
                }
            }
            // A brand's name written as a domain (any ending): the next link should go there.
            named = scored
                .registrable
                .filter(|d| !text_of_link.contains("://") && self.names_brand(d))
                .map(|d| (end, d));
            if pressure && score >= SUSPICIOUS {
                reasons.push(Reason::PressureNearby);
                score += 20;
            }
            let kind = if score >= PHISHING {
                Kind::PhishingUrl
            } else if score >= SUSPICIOUS {
                Kind::SuspiciousUrl
            } else {
                continue;
            };
            let mut f = Finding::new(kind, start, end);
            f.reasons = reasons;
            out.push(f);
        }
        out
    }

    /// A link's score and reasons; `None` when it is not a web address after all.
    #[allow(
        clippy::too_many_lines,
        reason = "one check and weight per reason, read top to bottom"
    )]
    fn score(&self, link: &str) -> Option<Scored> {
        let has_scheme = link.contains("://");
        let url = if has_scheme {
            Url::parse(link).ok()?
        } else {
            Url::parse(&format!("http://{link}")).ok()?
        };
        let mut s = Scored::default();
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        if has_scheme && url.scheme() == "http" {
            s.add(Reason::NoTls, 10);
        }
        if !url.username().is_empty() || url.password().is_some() {
            s.add(Reason::Credentials, 50);
        }
        if url.port().is_some_and(|p| p != 80 && p != 443) {
            s.add(Reason::UnusualPort, 20);
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => {
                // A bare `1.2.3.4` is as often a version number as an address.
                if has_scheme || url.path().len() > 1 || url.port().is_some() {
                    s.add(Reason::IpLiteral, 50);
                }
                return Some(s);
            }
            None => return None,
        };
        let parts = split(&host)?;
        s.registrable = Some(parts.registrable.to_owned());
        if self.is_brand(parts.registrable) {
            return Some(s);
        }
        if host.split('.').any(|l| l.starts_with("xn--")) {
            s.add(Reason::Punycode, 20);
            let (unicode, _) = idna::domain_to_unicode(&host);
            if unicode.split('.').any(|l| !l.is_single_script()) {
                s.add(Reason::MixedScript, 50);
            }
        }
        let (label_unicode, _) = idna::domain_to_unicode(parts.label);
        if self.lookalike(parts.label, &label_unicode) {
            s.add(Reason::Lookalike, 60);
        }
        let elsewhere = parts.subdomain.split(['.', '-']).any(|l| {
            self.brands
                .iter()
                .any(|b| b.label.len() >= 3 && b.label == l)
        });
        let path = url.path().to_ascii_lowercase();
        let in_path = || {
            self.brands
                .iter()
                .any(|b| b.label.len() >= 5 && path.contains(b.label.as_str()))
        };
        if elsewhere {
            s.add(Reason::BrandElsewhere, 50);
        } else if in_path() {
            s.add(Reason::BrandElsewhere, 30);
        }
        if SHORTENERS.contains(&parts.registrable) {
            s.add(Reason::Shortener, 30);
        }
        let tld = parts.suffix.rsplit('.').next().unwrap_or(parts.suffix);
        if SUSPICIOUS_TLDS.contains(&tld) {
            s.add(Reason::SuspiciousTld, 30);
        }
        Some(s)
    }

    /// Whether a domain label imitates a brand's: same skeleton (`pаypal` with a Cyrillic а,
    /// `paypa1`), one or two edits away for long names, or the brand as a hyphenated part or
    /// inside it (`whatsapp-verify`, `paypalsecure`).
    fn lookalike(&self, label: &str, label_unicode: &str) -> bool {
        let skeleton = skeleton_of(label_unicode);
        self.brands.iter().any(|b| {
            if b.label == label || b.label.len() < 3 {
                return false;
            }
            let allowed = match b.label.len() {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            };
            let close = allowed > 0
                && label.len().abs_diff(b.label.len()) <= allowed
                && strsim::levenshtein(label, &b.label) <= allowed;
            skeleton == b.skeleton
                || close
                || label.split('-').any(|part| part == b.label)
                || (b.label.len() >= 5 && label.contains(b.label.as_str()))
        })
    }
}

#[derive(Default)]
struct Scored {
    score: u32,
    reasons: Vec<Reason>,
    registrable: Option<String>,
}

impl Scored {
    fn add(&mut self, reason: Reason, weight: u32) {
        self.score += weight;
        self.reasons.push(reason);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn scan(text: &str) -> Vec<(Kind, String, Vec<&'static str>)> {
        let links = Links::new(&["acme-shop.com".to_owned()]);
        let mut values = Vec::new();
        let mut out = links.find(text, false, &mut values);
        out.extend(values);
        out.into_iter()
            .map(|f| {
                (
                    f.kind,
                    text.get(f.start..f.end).unwrap().to_owned(),
                    f.reasons.iter().map(|r| r.as_str()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn phishing_links_are_flagged_with_reasons() {
        for (text, reason) in [
            ("verify at https://paypa1.com/login", "lookalike"),
            ("go to pаypal.com now", "lookalike"),
            ("https://whatsapp-verify.com/code", "lookalike"),
            ("http://whatsapp.com.account-check.ru/x", "brand_elsewhere"),
            ("http://192.168.4.2/bank/login", "ip_literal"),
            ("https://www.paypal.com@evil.example.net/", "credentials"),
            ("https://acme-shopp.com/pay", "lookalike"),
            ("https://xn--80ak6aa92e.com/", "punycode"),
            ("https://netf11x.org/verify", "lookalike"),
            ("sparkasse.com: http://pay-12.info/login", "text_mismatch"),
        ] {
            let found = scan(text);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert_eq!(found[0].0, Kind::PhishingUrl, "{text}: {found:?}");
            assert!(found[0].2.contains(&reason), "{text}: {found:?}");
        }
    }

    #[test]
    fn ordinary_links_and_addresses_pass() {
        for text in [
            "see https://www.google.com/maps/place/Berlin",
            "our shop: acme-shop.com/orders/123",
            "https://de.wikipedia.org/wiki/IBAN",
            "version 1.2.3.4 is out",
            "read the file notes.txt",
            "https://www.amazon.de/dp/B08N5WRWNW",
            "这是acme-shop.com/track/58808",
        ] {
            assert!(scan(text).is_empty(), "{text}: {:?}", scan(text));
        }
        let found = scan("mail me at maria.rossi@example.it");
        assert_eq!(found[0].0, Kind::Email);
        assert_eq!(found[0].1, "maria.rossi@example.it");
    }

    #[test]
    fn shorteners_and_mismatched_text() {
        assert_eq!(scan("https://bit.ly/3xYz")[0].0, Kind::SuspiciousUrl);
        let found = scan("log in at paypal.com: https://secure-pay.example.net/");
        assert_eq!(found[0].0, Kind::PhishingUrl, "{found:?}");
        assert!(found[0].2.contains(&"text_mismatch"));
    }
}

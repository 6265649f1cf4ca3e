//! Finds identifiers in free text in one linear pass, without regexes that backtrack.
//!
//! Digits are read in ASCII, full-width (U+FF10–FF19), Arabic-Indic (U+0660–0669) and Extended
//! Arabic-Indic (U+06F0–06F9) forms. A *digit run* is digits with at most one separator (space,
//! no-break space, hyphen, dot, slash) between two digits; a run next to letters of another
//! script (Chinese text, say) is still a run. Each run is then classified by its length and
//! layout, and kept only if its check digits hold. Identifiers whose check is weak (one in ten or
//! eleven random numbers passes) also need their layout or a keyword shortly before them; the
//! keywords are in the six languages of the interface.

use super::phrases::{Class, Hits};
use super::{Finding, Kind, validate};

/// The ASCII digit a character stands for.
pub fn ascii_digit(c: char) -> Option<u8> {
    let base = match c {
        '0'..='9' => '0',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        _ => return None,
    };
    u8::try_from(u32::from(c) - u32::from(base))
        .ok()
        .map(|d| b'0' + d)
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}'
            | '\u{2009}'
            | '\u{202F}'
            | '-'
            | '\u{2010}'
            | '\u{2011}'
            | '\u{FF0D}'
            | '.'
            | '/'
    )
}

/// Longest digit run considered (longer ones are not identifiers of ours).
const MAX_DIGITS: usize = 24;
/// Shortest: a four-digit one-time code.
const MIN_DIGITS: usize = 4;
/// How far before an identifier its keyword may stand, in bytes.
const CONTEXT_BYTES: usize = 48;

/// A digit run: its ASCII digits, where it is, the separators in order, and the group lengths.
#[derive(Debug, Default)]
struct Run {
    digits: Vec<u8>,
    start: usize,
    end: usize,
    separators: Vec<char>,
    groups: Vec<usize>,
    /// A `+` right before it (a phone number's country code).
    plus: bool,
    /// A Latin letter right before it (`JD0146…`, `INV2024…`): a reference, not a card.
    after_letter: bool,
    /// A letter or digit glued to its end (`X` of a Chinese ID, the letter of a DNI).
    trailing: Option<char>,
}

impl Run {
    fn layout(&self) -> (&[usize], String) {
        (&self.groups, self.separators.iter().collect())
    }
}

/// Every digit run of the text.
fn runs(text: &str) -> Vec<Run> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut current: Option<Run> = None;
    let mut pending_sep: Option<(char, usize)> = None;
    let mut i = 0;
    while i < bytes.len() {
        if current.is_none() {
            // Outside a run only a digit matters: skip to the next byte that can begin one
            // (an ASCII digit, or the lead byte of a full-width or Arabic-Indic digit).
            let rest = bytes.get(i..).unwrap_or_default();
            match rest
                .iter()
                .position(|b| b.is_ascii_digit() || matches!(b, 0xEF | 0xD9 | 0xDB))
            {
                Some(k) => i += k,
                None => break,
            }
        }
        let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
            i += 1;
            continue;
        };
        if let Some(d) = ascii_digit(c) {
            let run = current.get_or_insert_with(|| Run {
                start: i,
                plus: i > 0 && bytes.get(i - 1) == Some(&b'+'),
                after_letter: i > 0 && bytes.get(i - 1).is_some_and(u8::is_ascii_alphabetic),
                ..Run::default()
            });
            if let Some((sep, _)) = pending_sep.take() {
                run.separators.push(sep);
                run.groups.push(0);
            }
            if run.groups.is_empty() {
                run.groups.push(0);
            }
            if let Some(g) = run.groups.last_mut() {
                *g += 1;
            }
            run.digits.push(d);
            run.end = i + c.len_utf8();
        } else if current.is_some() && pending_sep.is_none() && is_separator(c) {
            pending_sep = Some((c, i));
        } else {
            if let Some(mut run) = current.take() {
                if pending_sep.is_none() && c.is_alphanumeric() {
                    run.trailing = Some(c);
                }
                if (MIN_DIGITS..=MAX_DIGITS).contains(&run.digits.len()) {
                    out.push(run);
                }
            }
            pending_sep = None;
        }
        i += c.len_utf8();
    }
    if let Some(run) = current.take()
        && (MIN_DIGITS..=MAX_DIGITS).contains(&run.digits.len())
    {
        out.push(run);
    }
    out
}

/// Keywords that make a weakly checked number an identifier, lower case.
fn keywords(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::BrCpf => &["cpf"],
        Kind::BrCnpj => &["cnpj"],
        Kind::DeSteuerId => &[
            "steuer-id",
            "steuerid",
            "steuer id",
            "steueridentifikationsnummer",
            "identifikationsnummer",
            "idnr",
            "tax id",
        ],
        Kind::PtNif => &["nif", "contribuinte", "número fiscal", "numero fiscal"],
        Kind::SaNationalId => &[
            "هوية",
            "الهوية",
            "إقامة",
            "اقامة",
            "iqama",
            "national id",
            "saudi id",
        ],
        Kind::UsSsn => &["ssn", "social security"],
        Kind::CnResidentId => &["身份证", "证件号"],
        _ => &[],
    }
}

/// Whether a keyword of `kind` stands within `CONTEXT_BYTES` before `start`.
fn has_context(text: &str, start: usize, kind: Kind) -> bool {
    let mut from = start.saturating_sub(CONTEXT_BYTES);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = text.get(from..start).unwrap_or_default().to_lowercase();
    keywords(kind).iter().any(|k| before.contains(k))
}

/// The identifiers among the text's digit runs; `region` reads national phone numbers.
pub fn find_numbers(
    text: &str,
    hits: &Hits,
    region: Option<phonenumber::country::Id>,
    out: &mut Vec<Finding>,
) {
    for run in runs(text) {
        let kind = classify(text, &run)
            .or_else(|| otp(hits, &run))
            .or_else(|| phone(hits, &run, region));
        if let Some(kind) = kind {
            let mut f = Finding::new(kind, run.start, run.end);
            // A check character glued to the digits belongs to the identifier.
            if let Some(c) = run.trailing
                && matches!(kind, Kind::CnResidentId)
            {
                f.end += c.len_utf8();
            }
            out.push(f);
        }
    }
}

fn classify(text: &str, run: &Run) -> Option<Kind> {
    let digits = run.digits.as_slice();
    let (groups, seps) = run.layout();
    let context = |kind| has_context(text, run.start, kind);
    let plain = seps.is_empty();
    match digits.len() {
        17 if run.trailing.is_some_and(|c| c.eq_ignore_ascii_case(&'x')) && plain => {
            let mut id = digits.to_vec();
            id.push(b'X');
            validate::cn_resident_id(&id).then_some(Kind::CnResidentId)
        }
        18 if plain && validate::cn_resident_id(digits) => Some(Kind::CnResidentId),
        13..=19
            if !run.plus
                && !run.after_letter
                && !run.trailing.is_some_and(|c| c.is_ascii_alphanumeric())
                && validate::luhn(digits)
                && validate::card_network(digits).is_some()
                && card_layout(groups, &seps) =>
        {
            Some(Kind::CardNumber)
        }
        14 if validate::br_cnpj(digits)
            && ((groups == [2, 3, 3, 4, 2] && seps == "../-") || context(Kind::BrCnpj)) =>
        {
            Some(Kind::BrCnpj)
        }
        11 if validate::br_cpf(digits)
            && ((groups == [3, 3, 3, 2] && seps == "..-") || context(Kind::BrCpf)) =>
        {
            Some(Kind::BrCpf)
        }
        11 if validate::de_steuer_id(digits) && context(Kind::DeSteuerId) => Some(Kind::DeSteuerId),
        10 if validate::sa_national_id(digits) && context(Kind::SaNationalId) => {
            Some(Kind::SaNationalId)
        }
        9 if validate::us_ssn(digits)
            && ((groups == [3, 2, 4] && seps == "--") || context(Kind::UsSsn)) =>
        {
            Some(Kind::UsSsn)
        }
        9 if validate::pt_nif(digits) && context(Kind::PtNif) => Some(Kind::PtNif),
        _ => None,
    }
}

/// A one-time code: 4 to 8 digits (`482913`, `482 913`) right after or before a code keyword.
fn otp(hits: &Hits, run: &Run) -> Option<Kind> {
    let spaced_ok = run.separators.iter().all(|c| *c == ' ');
    ((4..=8).contains(&run.digits.len())
        && spaced_ok
        && run.trailing.is_none()
        && hits.code_keyword_near(run.start, run.end))
    .then_some(Kind::OtpCode)
}

/// A phone number: written internationally (`+49 …`, `0049 …`) and valid for its country, or
/// after a phone keyword and valid in the business's region.
fn phone(hits: &Hits, run: &Run, region: Option<phonenumber::country::Id>) -> Option<Kind> {
    if !(7..=17).contains(&run.digits.len()) || run.trailing.is_some() {
        return None;
    }
    let digits = std::str::from_utf8(&run.digits).ok()?;
    let international = if run.plus {
        Some(digits)
    } else {
        digits.strip_prefix("00")
    };
    let number = match (international, region) {
        (Some(rest), _) => phonenumber::parse(None, format!("+{rest}")).ok()?,
        (None, Some(region)) if hits.before(Class::PhoneKey, run.start, 32).is_some() => {
            phonenumber::parse(Some(region), digits).ok()?
        }
        _ => return None,
    };
    phonenumber::is_valid(&number).then_some(Kind::Phone)
}

/// Card numbers are written whole or in groups of four (Amex 4-6-5, some 19-digit cards 4-4-4-4-3
/// or 6-13): any other grouping is not a card (a phone number, a date and an amount, say).
fn card_layout(groups: &[usize], seps: &str) -> bool {
    if seps.is_empty() {
        return true;
    }
    let one_kind = seps.chars().all(|c| seps.starts_with(c));
    one_kind
        && (groups
            .iter()
            .take(groups.len().saturating_sub(1))
            .all(|&g| g == 4)
            || groups == [4, 6, 5]
            || groups == [4, 6, 4]
            || groups == [6, 13])
}

/// Identifiers that mix letters and digits: codice fiscale, DNI/NIE, NINO. Words are maximal
/// runs of ASCII letters and digits (a NINO may be spaced in pairs: `AB 12 34 56 C`).
pub fn find_words(text: &str, out: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
            continue;
        }
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        }
        let word = bytes.get(start..i).unwrap_or_default();
        let kind = match word.len() {
            16 if validate::it_codice_fiscale(word) => Some(Kind::ItCodiceFiscale),
            9 if word.iter().any(u8::is_ascii_alphabetic) && validate::es_dni_nie(word) => {
                Some(Kind::EsDniNie)
            }
            9 if validate::uk_nino(word) => Some(Kind::UkNino),
            _ => None,
        };
        if let Some(kind) = kind {
            out.push(Finding::new(kind, start, i));
        } else if word.len() == 2 && word.iter().all(u8::is_ascii_alphabetic) {
            // `AB 12 34 56 C`
            if let Some(end) = spaced_nino(bytes, start) {
                out.push(Finding::new(Kind::UkNino, start, end));
                i = end;
            }
        }
    }
}

/// A NINO written `AB 12 34 56 C` starting at `start`: where it ends.
fn spaced_nino(bytes: &[u8], start: usize) -> Option<usize> {
    let window = bytes.get(start..start + 13)?;
    let compact: Vec<u8> = window.iter().copied().filter(|b| *b != b' ').collect();
    let spaces_at = [2, 5, 8, 11];
    let layout_ok = spaces_at.iter().all(|&k| window.get(k) == Some(&b' '));
    let end_ok = bytes
        .get(start + 13)
        .is_none_or(|b| !b.is_ascii_alphanumeric());
    (layout_ok && end_ok && compact.len() == 9 && validate::uk_nino(&compact)).then_some(start + 13)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        let mut out = Vec::new();
        let hits = super::super::phrases::Phrases::new().hits(text);
        find_numbers(text, &hits, None, &mut out);
        find_words(text, &mut out);
        out.iter()
            .map(|f| (f.kind, text.get(f.start..f.end).unwrap()))
            .collect()
    }

    #[test]
    fn cards_in_every_digit_form_and_glued_to_chinese() {
        assert_eq!(
            kinds("my card 4111 1111 1111 1111 thanks"),
            [(Kind::CardNumber, "4111 1111 1111 1111")]
        );
        assert_eq!(
            kinds("卡号5555555555554444谢谢"),
            [(Kind::CardNumber, "5555555555554444")]
        );
        assert_eq!(
            kinds("２２２３－００３１－２２００－３２２２"),
            [(Kind::CardNumber, "２２２３－００３１－２２００－３２２２")]
        );
        assert_eq!(
            kinds("رقم البطاقة ٤١١١١١١١١١١١١١١١"),
            [(Kind::CardNumber, "٤١١١١١١١١١١١١١١١")]
        );
        assert_eq!(kinds("4111.1111.1111.1111")[0].0, Kind::CardNumber);
        assert!(kinds("call +4111111111111111").is_empty(), "a phone number");
        assert!(kinds("4111 111 111 1111 1").is_empty(), "not a card layout");
        assert!(kinds("4111111111111112").is_empty(), "Luhn fails");
        assert!(kinds("JD4111111111111111").is_empty(), "a tracking number");
    }

    #[test]
    fn weak_checks_need_a_layout_or_a_keyword() {
        assert_eq!(kinds("529.982.247-25")[0].0, Kind::BrCpf);
        assert!(kinds("pedido 52998224725").is_empty());
        assert_eq!(kinds("meu CPF é 52998224725")[0].0, Kind::BrCpf);
        assert_eq!(kinds("11.222.333/0001-81")[0].0, Kind::BrCnpj);
        assert_eq!(kinds("Steuer-ID: 86095742719")[0].0, Kind::DeSteuerId);
        assert!(kinds("Bestellung 86095742719").is_empty());
        assert_eq!(kinds("o meu NIF é 123456789")[0].0, Kind::PtNif);
        assert!(kinds("encomenda 123456789").is_empty());
        assert_eq!(kinds("رقم الهوية 1000000008")[0].0, Kind::SaNationalId);
        assert_eq!(kinds("SSN 123-45-6789")[0].0, Kind::UsSsn);
        assert!(kinds("ticket 123456789").is_empty());
        assert_eq!(
            kinds("身份证11010519491231002X"),
            [(Kind::CnResidentId, "11010519491231002X")]
        );
    }

    #[test]
    fn words() {
        assert_eq!(
            kinds("CF: RSSMRA85T10A562S"),
            [(Kind::ItCodiceFiscale, "RSSMRA85T10A562S")]
        );
        assert_eq!(kinds("DNI 12345678Z")[0].0, Kind::EsDniNie);
        assert_eq!(kinds("NIE X1234567L")[0].0, Kind::EsDniNie);
        assert_eq!(kinds("NINO AB123456C"), [(Kind::UkNino, "AB123456C")]);
        assert_eq!(
            kinds("NINO AB 12 34 56 C."),
            [(Kind::UkNino, "AB 12 34 56 C")]
        );
    }
}

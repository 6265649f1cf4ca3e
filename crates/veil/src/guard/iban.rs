//! IBANs in free text: `DE89 3704 0044 0532 0130 00`, `de89370400440532013000`. A candidate
//! starts a word with two letters and two digits; the country's length, format and the mod-97
//! check come from `iban_validate`.

use super::{Finding, Kind};

/// The longest IBAN (Saint Lucia, Russia: 32–33; the standard allows 34).
const MAX_LEN: usize = 34;
const MIN_LEN: usize = 15;

/// Every valid IBAN of `text`.
pub fn find(text: &str, out: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let at_word_start = i == 0 || bytes.get(i - 1).is_some_and(|b| !b.is_ascii_alphanumeric());
        let head = bytes.get(i..i + 4).unwrap_or_default();
        let candidate = at_word_start
            && head.first().is_some_and(u8::is_ascii_alphabetic)
            && head.get(1).is_some_and(u8::is_ascii_alphabetic)
            && head.get(2).is_some_and(u8::is_ascii_digit)
            && head.get(3).is_some_and(u8::is_ascii_digit);
        if candidate && let Some(end) = longest_at(bytes, i) {
            out.push(Finding::new(Kind::Iban, i, end));
            i = end;
            continue;
        }
        i += 1;
    }
}

/// The end of the longest valid IBAN starting at `start`: letters and digits, in groups
/// separated by single spaces, ending at a word boundary.
fn longest_at(bytes: &[u8], start: usize) -> Option<usize> {
    let mut compact = String::with_capacity(MAX_LEN);
    // (compact length, end offset) at every point where the IBAN may end.
    let mut ends: Vec<(usize, usize)> = Vec::new();
    let mut i = start;
    while compact.len() < MAX_LEN {
        match bytes.get(i) {
            Some(b) if b.is_ascii_alphanumeric() => {
                compact.push(char::from(b.to_ascii_uppercase()));
                i += 1;
                if !bytes.get(i).is_some_and(u8::is_ascii_alphanumeric) {
                    ends.push((compact.len(), i));
                }
            }
            Some(b' ') if bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric) => i += 1,
            _ => break,
        }
    }
    ends.into_iter()
        .rev()
        .filter(|(len, _)| *len >= MIN_LEN)
        .find(|(len, _)| {
            compact
                .get(..*len)
                .is_some_and(|c| c.parse::<iban::Iban>().is_ok())
        })
        .map(|(_, end)| end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        find(text, &mut out);
        out.iter()
            .map(|f| text.get(f.start..f.end).unwrap())
            .collect()
    }

    #[test]
    fn ibans_grouped_compact_and_lower_case() {
        assert_eq!(
            found("IBAN: DE89 3704 0044 0532 0130 00 bitte"),
            ["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(found("gb29nwbk60161331926819."), ["gb29nwbk60161331926819"]);
        assert_eq!(
            found("IT60 X054 2811 1010 0000 0123 456 grazie"),
            ["IT60 X054 2811 1010 0000 0123 456"]
        );
        assert_eq!(
            found("PT50 0002 0123 1234 5678 9015 4"),
            ["PT50 0002 0123 1234 5678 9015 4"]
        );
        assert!(
            found("DE89 3704 0044 0532 0130 01").is_empty(),
            "mod 97 fails"
        );
        assert!(found("AB12 order").is_empty());
    }
}

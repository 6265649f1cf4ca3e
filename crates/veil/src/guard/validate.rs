//! Check digits and format rules of the identifiers the guard looks for. Each function takes the
//! identifier's characters with separators already removed and digits already ASCII, and says
//! whether it is well-formed. None of them allocates.

/// The Luhn check (ISO/IEC 7812-1) over ASCII digits.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The leading `n` digits as a number (`n` ≤ 9).
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0u32, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// The card network a number's issuer prefix (IIN) and length belong to, if any. Covers the
/// networks whose cards people type into chats: Visa, Mastercard (51–55 and 2221–2720), American
/// Express, Discover, JCB, Diners Club, Union Pay, Maestro, Mir, Ru Pay, Elo and Hipercard.
pub fn card_network(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    if !(12..=19).contains(&len) || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    let network = if matches!(p2, 34 | 37) && len == 15 {
        "amex"
    } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        (len == 16).then_some("mastercard")?
    } else if (2200..=2204).contains(&p4) {
        "mir"
    } else if [
        401_178, 401_179, 431_274, 438_935, 451_416, 457_393, 504_175, 506_699, 509_000, 627_780,
        636_297, 636_368,
    ]
    .contains(&p6)
        || (506_700..=506_778).contains(&p6)
        || (509_001..=509_999).contains(&p6)
        || (650_031..=650_033).contains(&p6)
        || (650_035..=650_051).contains(&p6)
    {
        "elo"
    } else if p6 == 606_282 || p4 == 3841 {
        "hipercard"
    } else if p1 == 4 {
        matches!(len, 13 | 16 | 19).then_some("visa")?
    } else if p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 {
        "discover"
    } else if (3528..=3589).contains(&p4) {
        "jcb"
    } else if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 || p4 == 3095 {
        "diners"
    } else if p2 == 62 || p2 == 81 {
        "unionpay"
    } else if p2 == 60 || p4 == 6521 || p4 == 6522 {
        "rupay"
    } else if p2 == 50 || (56..=69).contains(&p2) {
        "maestro"
    } else {
        return None;
    };
    (13..=19).contains(&len).then_some(network)
}

fn digit_values<const N: usize>(digits: &[u8]) -> Option<[u32; N]> {
    if digits.len() != N {
        return None;
    }
    let mut out = [0u32; N];
    for (slot, d) in out.iter_mut().zip(digits) {
        if !d.is_ascii_digit() {
            return None;
        }
        *slot = u32::from(d - b'0');
    }
    Some(out)
}

/// All digits equal (000.000.000-00 passes the CPF sums but is not issued).
fn repeated(digits: &[u32]) -> bool {
    digits.windows(2).all(|w| w.first() == w.last())
}

/// Brazilian CPF: 11 digits, two mod-11 check digits.
pub fn br_cpf(digits: &[u8]) -> bool {
    let Some(d) = digit_values::<11>(digits) else {
        return false;
    };
    if repeated(&d) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = d
            .iter()
            .take(n)
            .zip((2..=u32::try_from(n).unwrap_or(0) + 1).rev())
            .map(|(v, w)| v * w)
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    Some(&check(9)) == d.get(9) && Some(&check(10)) == d.get(10)
}

/// Brazilian CNPJ: 14 digits, two mod-11 check digits with weights 5..2,9..2.
pub fn br_cnpj(digits: &[u8]) -> bool {
    let Some(d) = digit_values::<14>(digits) else {
        return false;
    };
    if repeated(&d) {
        return false;
    }
    let check = |weights: &[u32]| {
        let sum: u32 = d.iter().zip(weights).map(|(v, w)| v * w).sum();
        let r = sum % 11;
        if r < 2 { 0 } else { 11 - r }
    };
    Some(&check(&[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])) == d.get(12)
        && Some(&check(&[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])) == d.get(13)
}

/// Italian codice fiscale: 16 characters (6 letters, 2 digits, letter, 2 digits, letter, 3
/// digits, check letter; digits may be replaced by letters for homonyms), check character.
pub fn it_codice_fiscale(code: &[u8]) -> bool {
    const ODD: [u32; 36] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23, // A-Z
    ];
    // Positions (0-based) that hold digits, or their homonym letters L M N P Q R S T U V.
    const NUMERIC: [usize; 7] = [6, 7, 9, 10, 12, 13, 14];
    if code.len() != 16 || !code.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let upper = |c: u8| c.to_ascii_uppercase();
    for (i, &c) in code.iter().enumerate() {
        let c = upper(c);
        let ok = if NUMERIC.contains(&i) {
            c.is_ascii_digit() || b"LMNPQRSTUV".contains(&c)
        } else {
            c.is_ascii_uppercase()
        };
        if !ok {
            return false;
        }
    }
    // Month letter.
    if !code
        .get(8)
        .is_some_and(|&m| b"ABCDEHLMPRST".contains(&upper(m)))
    {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in code.iter().take(15).enumerate() {
        let c = upper(c);
        let index = if c.is_ascii_digit() {
            usize::from(c - b'0')
        } else {
            10 + usize::from(c - b'A')
        };
        let value = if i % 2 == 0 {
            ODD.get(index).copied().unwrap_or(0)
        } else if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A')
        };
        sum += value;
    }
    let expected = b'A' + u8::try_from(sum % 26).unwrap_or(0);
    code.get(15).map(|&c| upper(c)) == Some(expected)
}

/// German Steuerliche Identifikationsnummer: 11 digits, first not 0, in the first ten exactly one
/// digit occurs two or three times (three never adjacent), check digit ISO 7064 MOD 11,10.
pub fn de_steuer_id(digits: &[u8]) -> bool {
    let Some(d) = digit_values::<11>(digits) else {
        return false;
    };
    if d.first() == Some(&0) {
        return false;
    }
    let mut counts = [0u8; 10];
    for &v in d.iter().take(10) {
        if let Some(c) = counts.get_mut(usize::try_from(v).unwrap_or(0)) {
            *c += 1;
        }
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || !matches!(repeated.first(), Some(2 | 3)) {
        return false;
    }
    if repeated.first() == Some(&3)
        && d.iter()
            .take(10)
            .collect::<Vec<_>>()
            .windows(3)
            .any(|w| w.first() == w.get(1) && w.get(1) == w.get(2))
    {
        return false;
    }
    let mut product = 10u32;
    for &v in d.iter().take(10) {
        let mut sum = (v + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    d.get(10) == Some(&check)
}

/// Chinese resident identity card: 17 digits and a check character (ISO 7064 MOD 11-2, `X` for
/// 10), with a plausible birth date in positions 7–14.
pub fn cn_resident_id(code: &[u8]) -> bool {
    if code.len() != 18 || !code.iter().take(17).all(u8::is_ascii_digit) {
        return false;
    }
    let month = prefix(code.get(10..12).unwrap_or_default(), 2);
    let day = prefix(code.get(12..14).unwrap_or_default(), 2);
    let year = prefix(code.get(6..10).unwrap_or_default(), 4);
    if !(1900..=2099).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    let sum: u32 = code
        .iter()
        .take(17)
        .enumerate()
        .map(|(i, c)| {
            let weight = (1u32 << (17 - u32::try_from(i).unwrap_or(0))) % 11;
            u32::from(c - b'0') * weight
        })
        .sum();
    let check = (12 - sum % 11) % 11;
    let last = code.get(17).map(u8::to_ascii_uppercase);
    if check == 10 {
        last == Some(b'X')
    } else {
        last == u8::try_from(check).ok().map(|c| b'0' + c)
    }
}

/// Portuguese NIF: 9 digits, a valid first digit, mod-11 check digit.
pub fn pt_nif(digits: &[u8]) -> bool {
    let Some(d) = digit_values::<9>(digits) else {
        return false;
    };
    let first = prefix(digits, 1);
    let first_two = prefix(digits, 2);
    let ok_start = matches!(first, 1 | 2 | 3 | 5 | 6 | 8)
        || matches!(
            first_two,
            45 | 70 | 71 | 72 | 74 | 75 | 77 | 79 | 90 | 91 | 98 | 99
        );
    if !ok_start {
        return false;
    }
    let sum: u32 = d
        .iter()
        .take(8)
        .zip((2..=9).rev())
        .map(|(v, w)| v * w)
        .sum();
    let r = sum % 11;
    let check = if r < 2 { 0 } else { 11 - r };
    d.get(8) == Some(&check)
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits and a letter): mod-23 letter.
pub fn es_dni_nie(code: &[u8]) -> bool {
    if code.len() != 9 {
        return false;
    }
    let (lead, rest) = code.split_at(1);
    let lead = lead.first().copied().map(|c| c.to_ascii_uppercase());
    let number_digits: Vec<u8> = match lead {
        Some(b'X') => [b'0']
            .iter()
            .chain(rest.get(..7).unwrap_or_default())
            .copied()
            .collect(),
        Some(b'Y') => [b'1']
            .iter()
            .chain(rest.get(..7).unwrap_or_default())
            .copied()
            .collect(),
        Some(b'Z') => [b'2']
            .iter()
            .chain(rest.get(..7).unwrap_or_default())
            .copied()
            .collect(),
        _ => code.get(..8).unwrap_or_default().to_vec(),
    };
    if number_digits.len() != 8 || !number_digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let number = number_digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    let expected = DNI_LETTERS.get(usize::try_from(number % 23).unwrap_or(0));
    code.get(8).map(u8::to_ascii_uppercase).as_ref() == expected
}

/// Saudi national ID or iqama: 10 digits starting 1 (citizen) or 2 (resident), Luhn.
pub fn sa_national_id(digits: &[u8]) -> bool {
    digits.len() == 10 && matches!(digits.first(), Some(b'1' | b'2')) && luhn(digits)
}

/// UK National Insurance number: two prefix letters (not D F I Q U V; second not O; not BG GB KN
/// NK NT TN ZZ), six digits, suffix A–D.
pub fn uk_nino(code: &[u8]) -> bool {
    if code.len() != 9 {
        return false;
    }
    let up: Vec<u8> = code.iter().map(u8::to_ascii_uppercase).collect();
    let (Some(&a), Some(&b), Some(&suffix)) = (up.first(), up.get(1), up.get(8)) else {
        return false;
    };
    let letter_ok = |c: u8| c.is_ascii_uppercase() && !b"DFIQUV".contains(&c);
    if !letter_ok(a) || !letter_ok(b) || b == b'O' {
        return false;
    }
    if [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&&[a, b]) {
        return false;
    }
    up.get(2..8)
        .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
        && b"ABCD".contains(&suffix)
}

/// US Social Security number: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn us_ssn(digits: &[u8]) -> bool {
    if digits.len() != 9 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let area = prefix(digits, 3);
    let group = prefix(digits.get(3..5).unwrap_or_default(), 2);
    let serial = prefix(digits.get(5..9).unwrap_or_default(), 4);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_examples() {
        // Test numbers the networks publish for integration tests.
        for (number, network) in [
            ("4111111111111111", "visa"),
            ("5555555555554444", "mastercard"),
            ("2223003122003222", "mastercard"),
            ("378282246310005", "amex"),
            ("6011111111111117", "discover"),
            ("3530111333300000", "jcb"),
            ("6200000000000005", "unionpay"),
        ] {
            assert!(luhn(number.as_bytes()), "{number}");
            assert_eq!(card_network(number.as_bytes()), Some(network), "{number}");
        }
        assert!(!luhn(b"4111111111111112"));
        assert_eq!(card_network(b"1234567890123456"), None);
        assert!(br_cpf(b"52998224725"));
        assert!(!br_cpf(b"52998224726"));
        assert!(!br_cpf(b"11111111111"));
        assert!(br_cnpj(b"11222333000181"));
        assert!(!br_cnpj(b"11222333000182"));
        assert!(it_codice_fiscale(b"RSSMRA85T10A562S"));
        assert!(!it_codice_fiscale(b"RSSMRA85T10A562T"));
        assert!(de_steuer_id(b"86095742719"));
        assert!(!de_steuer_id(b"86095742718"));
        assert!(cn_resident_id(b"11010519491231002X"));
        assert!(!cn_resident_id(b"110105194912310021"));
        assert!(pt_nif(b"123456789"));
        assert!(!pt_nif(b"123456780"));
        assert!(es_dni_nie(b"12345678Z"));
        assert!(es_dni_nie(b"X1234567L"));
        assert!(!es_dni_nie(b"12345678A"));
        assert!(uk_nino(b"AB123456C"));
        assert!(!uk_nino(b"BG123456C"));
        assert!(!uk_nino(b"AO123456C"));
        assert!(us_ssn(b"123456789"));
        assert!(!us_ssn(b"666123456"));
        assert!(!us_ssn(b"123006789"));
    }

    /// Appends the Luhn check digit to a body.
    fn with_luhn(body: &[u8]) -> Vec<u8> {
        (b'0'..=b'9')
            .map(|c| [body, &[c]].concat())
            .find(|n| luhn(n))
            .unwrap()
    }

    proptest! {
        #[test]
        fn luhn_catches_every_single_digit_change(body in proptest::collection::vec(b'0'..=b'9', 12..18), at in 0usize..19, delta in 1u8..10) {
            let number = with_luhn(&body);
            prop_assert!(luhn(&number));
            let at = at % number.len();
            let mut changed = number.clone();
            changed[at] = b'0' + (changed[at] - b'0' + delta) % 10;
            prop_assert!(!luhn(&changed));
        }

        #[test]
        fn cpf_and_cnpj_catch_a_changed_check_digit(body in proptest::collection::vec(b'0'..=b'9', 12), delta in 1u8..10) {
            let cpf = (0..100).map(|k| [&body[..9], &[b'0' + k / 10, b'0' + k % 10]].concat()).find(|c| br_cpf(c));
            if let Some(mut cpf) = cpf {
                cpf[10] = b'0' + (cpf[10] - b'0' + delta) % 10;
                prop_assert!(!br_cpf(&cpf));
            }
            let cnpj = (0..100).map(|k| [&body[..12], &[b'0' + k / 10, b'0' + k % 10]].concat()).find(|c| br_cnpj(c));
            if let Some(mut cnpj) = cnpj {
                cnpj[13] = b'0' + (cnpj[13] - b'0' + delta) % 10;
                prop_assert!(!br_cnpj(&cnpj));
            }
        }

        #[test]
        fn cn_id_and_nif_check_characters_are_unique(body in proptest::collection::vec(b'0'..=b'9', 17)) {
            let mut id = body.clone();
            id[6..10].copy_from_slice(b"1990");
            id[10..12].copy_from_slice(b"06");
            id[12..14].copy_from_slice(b"15");
            let valid: Vec<u8> = b"0123456789X".iter().copied().filter(|&c| cn_resident_id(&[&id[..], &[c]].concat())).collect();
            prop_assert_eq!(valid.len(), 1);
            let nif: Vec<u8> = [&b"2"[..], &body[..7]].concat();
            let valid = (b'0'..=b'9').filter(|&c| pt_nif(&[&nif[..], &[c]].concat())).count();
            prop_assert!(valid <= 1);
        }

        #[test]
        fn codice_fiscale_dni_steuer_id_and_saudi_id_have_one_check_character(
            letters in proptest::collection::vec(b'A'..=b'Z', 7),
            digits in proptest::collection::vec(b'0'..=b'9', 10),
        ) {
            // Codice fiscale: six letters, year, month letter, day, a letter and three digits.
            let cf = [&letters[..6], &digits[..2], b"A", b"15", &letters[6..], &digits[2..5]].concat();
            prop_assert_eq!((b'A'..=b'Z').filter(|&c| it_codice_fiscale(&[&cf[..], &[c]].concat())).count(), 1);
            let dni = &digits[..8];
            prop_assert_eq!((b'A'..=b'Z').filter(|&c| es_dni_nie(&[dni, &[c]].concat())).count(), 1);
            let nie = [b"X", &digits[..7]].concat();
            prop_assert_eq!((b'A'..=b'Z').filter(|&c| es_dni_nie(&[&nie[..], &[c]].concat())).count(), 1);
            // At most one check digit completes a Steuer-ID or a Saudi ID (none when the body
            // breaks another rule).
            let steuer = [b"1", &digits[..9]].concat();
            prop_assert!((b'0'..=b'9').filter(|&c| de_steuer_id(&[&steuer[..], &[c]].concat())).count() <= 1);
            let saudi = [b"1", &digits[..8]].concat();
            prop_assert_eq!((b'0'..=b'9').filter(|&c| sa_national_id(&[&saudi[..], &[c]].concat())).count(), 1);
        }

        #[test]
        fn nino_and_ssn_rules_hold_for_any_digits(digits in proptest::collection::vec(b'0'..=b'9', 9)) {
            let nino = [b"AB", &digits[..6], b"C"].concat();
            prop_assert!(uk_nino(&nino));
            let forbidden = [b"BG", &digits[..6], b"C"].concat();
            prop_assert!(!uk_nino(&forbidden));
            let ssn = digits.clone();
            let area = &ssn[..3];
            let rule = area != b"000" && area != b"666" && ssn[0] != b'9' && &ssn[3..5] != b"00" && &ssn[5..] != b"0000";
            prop_assert_eq!(us_ssn(&ssn), rule);
        }

        #[test]
        fn validators_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = (luhn(&bytes), card_network(&bytes), br_cpf(&bytes), br_cnpj(&bytes), it_codice_fiscale(&bytes),
                de_steuer_id(&bytes), cn_resident_id(&bytes), pt_nif(&bytes), es_dni_nie(&bytes),
                sa_national_id(&bytes), uk_nino(&bytes), us_ssn(&bytes));
        }
    }
}

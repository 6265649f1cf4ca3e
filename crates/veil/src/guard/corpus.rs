//! The labelled evaluation corpus of `veil guard eval`: chat-like messages in the six
//! languages, generated from a seed, with planted valid identifiers, invalid look-alikes (one
//! digit changed), benign numbers (order ids, dates, amounts, tracking numbers), benign and
//! malicious links, and requests for codes and cards next to harmless mentions of codes.
//!
//! Valid identifiers are made by trying check digits until the validator accepts them, so the
//! generator never restates a checksum; phone numbers are kept only when libphonenumber calls
//! them valid. The accuracy figures therefore measure *finding* values in text (layouts,
//! scripts, keywords, neighbours), which is what a validator alone cannot do.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::identifiers::ascii_digit;
use super::{Finding, Kind, Scanner, validate};

/// What a span of a sample is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// Must be found as this kind.
    Is(Kind),
    /// An invalid identifier of this kind (a changed digit): must not be found as anything.
    Invalid(Kind),
    /// An order id, a date, an amount, a tracking number: must not be found as anything.
    BenignNumber,
    /// An ordinary link: must not be found as phishing.
    BenignLink,
    /// A harmless mention of a code ("promo code", "never share your code"): no request.
    BenignMention,
}

#[derive(Debug, Clone)]
pub struct Planted {
    pub label: Label,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub id: usize,
    pub lang: &'static str,
    pub text: String,
    pub planted: Vec<Planted>,
}

pub const LANGS: [&str; 6] = ["en", "de", "it", "pt", "zh", "ar"];

/// Sentence frames per language: `{}` is where the planted span goes.
fn frames(lang: &str, kind: Option<Kind>) -> &'static [&'static str] {
    use Kind::{CardNumber, OtpCode, Password, Phone};
    match (lang, kind) {
        ("en", Some(CardNumber)) => &["my card is {} thanks", "Card: {}", "here {} exp 09/28"],
        ("de", Some(CardNumber)) => &["meine Karte: {} danke", "Kartennummer {}"],
        ("it", Some(CardNumber)) => &["la mia carta è {} grazie", "carta {}"],
        ("pt", Some(CardNumber)) => &["meu cartão é {} obrigado", "cartão {}"],
        ("zh", Some(CardNumber)) => &["我的卡号{}谢谢", "卡：{}"],
        ("ar", Some(CardNumber)) => &["رقم البطاقة {} شكرا", "بطاقتي {}"],
        ("en", Some(OtpCode)) => &["my code is {}", "the code they sent: {}", "{} is the code"],
        ("de", Some(OtpCode)) => &["mein Code ist {}", "Bestätigungscode: {}"],
        ("it", Some(OtpCode)) => &["il codice è {}", "codice di verifica {}"],
        ("pt", Some(OtpCode)) => &["meu código é {}", "o código: {}"],
        ("zh", Some(OtpCode)) => &["验证码是{}", "我的验证码：{}"],
        ("ar", Some(OtpCode)) => &["رمز التحقق {}", "الرمز هو {}"],
        ("en", Some(Password)) => &["my password: {}", "password is {} ok"],
        ("de", Some(Password)) => &["mein Passwort: {}", "Kennwort ist {}"],
        ("it", Some(Password)) => &["la password è {}", "password: {}"],
        ("pt", Some(Password)) => &["minha senha: {}", "a senha é {}"],
        ("zh", Some(Password)) => &["密码：{}", "我的密码是{}"],
        ("ar", Some(Password)) => &["كلمة المرور: {}", "كلمة السر: {}"],
        ("en", Some(Phone)) => &["call me on {}", "my number {} thanks", "reach me at {}"],
        ("de", Some(Phone)) => &["ruf mich an: {}", "meine Nummer {}"],
        ("it", Some(Phone)) => &["chiamami al {}", "il mio numero {}"],
        ("pt", Some(Phone)) => &["me liga no {}", "meu número {}"],
        ("zh", Some(Phone)) => &["我的电话{}", "打这个号码{}"],
        ("ar", Some(Phone)) => &["رقمي {}", "اتصل على {}"],
        ("en", _) => &[
            "hi, {} thanks",
            "see {} please",
            "about {}: is it ok?",
            "{}",
        ],
        ("de", _) => &["Hallo, {} danke", "bitte {} prüfen", "wegen {}: passt das?"],
        ("it", _) => &["ciao, {} grazie", "per {} va bene?", "ecco {}"],
        ("pt", _) => &["oi, {} obrigado", "sobre {}: tudo certo?", "segue {}"],
        ("zh", _) => &["你好，{}谢谢", "关于{}可以吗？", "这是{}"],
        (_, _) => &["مرحبا، {} شكرا", "بخصوص {} هل هذا صحيح؟", "هذا {}"],
    }
}

/// Keyword-led frames for identifiers that need a keyword.
fn keyword_frame(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::BrCpf => &["meu CPF é {}", "CPF: {}"],
        Kind::BrCnpj => &["CNPJ {}", "o CNPJ da empresa é {}"],
        Kind::DeSteuerId => &["meine Steuer-ID ist {}", "Steuer-ID: {}"],
        Kind::PtNif => &["o meu NIF é {}", "NIF: {}"],
        Kind::SaNationalId => &["رقم الهوية {}", "رقم الإقامة {}"],
        Kind::UsSsn => &["my SSN is {}", "SSN {}"],
        Kind::CnResidentId => &["身份证号{}", "我的身份证是{}"],
        Kind::ItCodiceFiscale => &["il mio codice fiscale è {}", "CF {}"],
        Kind::EsDniNie => &["mi DNI es {}", "NIE {}"],
        Kind::UkNino => &["my NI number is {}", "NINO: {}"],
        Kind::Iban => &[
            "IBAN {}",
            "pay to {} please",
            "Konto: {}",
            "IBAN: {} grazie",
        ],
        Kind::Email => &["write to {}", "mail: {}", "我的邮箱{}", "البريد {}"],
        _ => &["{}"],
    }
}

fn digits(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| b'0' + rng.random_range(0..10u8)).collect()
}

/// Appends check characters from `alphabet` until `valid` accepts: `None` if none does.
fn complete(
    body: &[u8],
    checks: usize,
    alphabet: &[u8],
    valid: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let mut candidate = body.to_vec();
    candidate.resize(body.len() + checks, b'0');
    let combos = alphabet.len().pow(u32::try_from(checks).ok()?);
    for n in 0..combos {
        let mut k = n;
        for i in 0..checks {
            *candidate.get_mut(body.len() + i)? = *alphabet.get(k % alphabet.len())?;
            k /= alphabet.len();
        }
        if valid(&candidate) {
            return Some(candidate);
        }
    }
    None
}

const DIGITS: &[u8] = b"0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Groups `s` by `sizes` joined with `sep`.
fn grouped(s: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut rest = s;
    for &n in sizes {
        if rest.is_empty() {
            break;
        }
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out.join(sep)
}

fn to_script(s: &str, base: char) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(u32::from(base) + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

/// A valid card number, written in one of the ways people write them.
fn card(rng: &mut StdRng) -> String {
    let (prefix, len): (&str, usize) = match rng.random_range(0..9) {
        0 => ("4", 16),
        1 => ("51", 16),
        2 => ("2221", 16),
        3 => ("2720", 16),
        4 => ("34", 15),
        5 => ("6011", 16),
        6 => ("3528", 16),
        7 => ("62", 16),
        _ => ("2200", 16),
    };
    let mut body = prefix.as_bytes().to_vec();
    body.extend(digits(rng, len - prefix.len() - 1));
    let number = complete(&body, 1, DIGITS, validate::luhn)
        .map(|n| text(&n))
        .unwrap_or_default();
    match rng.random_range(0..6) {
        0 => number,
        1 if len == 15 => grouped(&number, &[4, 6, 5], " "),
        1 => grouped(&number, &[4, 4, 4, 4], " "),
        2 => grouped(&number, &[4, 4, 4, 4], "-"),
        3 => grouped(&number, &[4, 4, 4, 4], "."),
        4 => to_script(&number, '\u{FF10}'),
        _ => to_script(&number, '\u{0660}'),
    }
}

fn iban(rng: &mut StdRng) -> String {
    let (country, bban): (&str, String) = match rng.random_range(0..7) {
        0 => ("DE", text(&digits(rng, 18))),
        1 => ("IT", format!("X{}", text(&digits(rng, 22)))),
        2 => ("PT", text(&digits(rng, 21))),
        3 => ("GB", format!("NWBK{}", text(&digits(rng, 14)))),
        4 => ("ES", text(&digits(rng, 20))),
        5 => ("FR", text(&digits(rng, 23))),
        _ => ("NL", format!("ABNA{}", text(&digits(rng, 10)))),
    };
    let found = (2..99)
        .map(|c| format!("{country}{c:02}{bban}"))
        .find(|s| s.parse::<iban::Iban>().is_ok());
    let compact = found.unwrap_or_default();
    if rng.random_bool(0.6) {
        grouped(&compact, &[4, 4, 4, 4, 4, 4, 4, 4], " ")
    } else {
        compact
    }
}

/// A valid identifier of `kind` as people write it.
#[allow(
    clippy::too_many_lines,
    reason = "one generator per kind, side by side like the validators they feed"
)]
fn identifier(rng: &mut StdRng, kind: Kind) -> String {
    let checked =
        |rng: &mut StdRng, n: usize, checks: usize, alphabet: &[u8], v: fn(&[u8]) -> bool| {
            for _ in 0..50 {
                let body = digits(rng, n);
                if let Some(id) = complete(&body, checks, alphabet, v) {
                    return text(&id);
                }
            }
            String::new()
        };
    match kind {
        Kind::CardNumber => card(rng),
        Kind::Iban => iban(rng),
        Kind::BrCpf => {
            let id = checked(rng, 9, 2, DIGITS, validate::br_cpf);
            if rng.random_bool(0.5) {
                format!("{}.{}.{}-{}", &id[..3], &id[3..6], &id[6..9], &id[9..])
            } else {
                id
            }
        }
        Kind::BrCnpj => {
            let id = checked(rng, 12, 2, DIGITS, validate::br_cnpj);
            format!(
                "{}.{}.{}/{}-{}",
                &id[..2],
                &id[2..5],
                &id[5..8],
                &id[8..12],
                &id[12..]
            )
        }
        Kind::DeSteuerId => loop {
            let mut body = vec![b'1' + rng.random_range(0..9u8)];
            body.extend(digits(rng, 9));
            if let Some(id) = complete(&body, 1, DIGITS, validate::de_steuer_id) {
                break text(&id);
            }
        },
        Kind::CnResidentId => {
            let year = rng.random_range(1950..2005);
            let month = rng.random_range(1..13);
            let day = rng.random_range(1..29);
            let body = format!(
                "110105{year}{month:02}{day:02}{:03}",
                rng.random_range(0..1000)
            );
            complete(body.as_bytes(), 1, b"0123456789X", validate::cn_resident_id)
                .map(|id| text(&id))
                .unwrap_or_default()
        }
        Kind::PtNif => loop {
            let mut body = vec![b'1' + rng.random_range(0..3u8)];
            body.extend(digits(rng, 7));
            if let Some(id) = complete(&body, 1, DIGITS, validate::pt_nif) {
                break text(&id);
            }
        },
        Kind::SaNationalId => {
            let mut body = vec![b'1' + rng.random_range(0..2u8)];
            body.extend(digits(rng, 8));
            complete(&body, 1, DIGITS, validate::sa_national_id)
                .map(|id| text(&id))
                .unwrap_or_default()
        }
        Kind::UsSsn => format!(
            "{:03}-{:02}-{:04}",
            rng.random_range(1..666),
            rng.random_range(1..100),
            rng.random_range(1..10000)
        ),
        Kind::EsDniNie => {
            let mut body = if rng.random_bool(0.5) {
                vec![*b"XYZ".get(rng.random_range(0..3)).unwrap_or(&b'X')]
            } else {
                vec![b'0' + rng.random_range(0..10u8)]
            };
            body.extend(digits(rng, 7));
            complete(&body, 1, LETTERS, validate::es_dni_nie)
                .map(|id| text(&id))
                .unwrap_or_default()
        }
        Kind::ItCodiceFiscale => {
            let mut body = Vec::new();
            for _ in 0..6 {
                body.push(*LETTERS.get(rng.random_range(0..26)).unwrap_or(&b'A'));
            }
            body.extend(format!("{:02}", rng.random_range(40..99)).bytes());
            body.push(
                *b"ABCDEHLMPRST"
                    .get(rng.random_range(0..12))
                    .unwrap_or(&b'A'),
            );
            body.extend(format!("{:02}", rng.random_range(1..29)).bytes());
            body.push(b'A' + rng.random_range(0..26u8));
            body.extend(digits(rng, 3));
            complete(&body, 1, LETTERS, validate::it_codice_fiscale)
                .map(|id| text(&id))
                .unwrap_or_default()
        }
        Kind::UkNino => {
            let first = *b"ABCEGHJKLMNPRSTWXYZ"
                .get(rng.random_range(0..19))
                .unwrap_or(&b'A');
            let second = *b"ABCEGHJKLMNPRSTWXYZ"
                .get(rng.random_range(0..19))
                .unwrap_or(&b'B');
            let suffix = *b"ABCD".get(rng.random_range(0..4)).unwrap_or(&b'A');
            let id = format!(
                "{}{}{}{}",
                char::from(first),
                char::from(second),
                text(&digits(rng, 6)),
                char::from(suffix)
            );
            if validate::uk_nino(id.as_bytes()) {
                id
            } else {
                "AB123456C".to_owned()
            }
        }
        Kind::Email => {
            let names = [
                "maria.rossi",
                "joao.silva",
                "k.mueller",
                "li.wei",
                "ahmed.ali",
                "j.smith",
            ];
            let domains = [
                "example.com",
                "mail.example.org",
                "example.de",
                "example.com.br",
                "example.it",
            ];
            format!(
                "{}{}@{}",
                names.get(rng.random_range(0..names.len())).unwrap_or(&"a"),
                rng.random_range(1..99),
                domains
                    .get(rng.random_range(0..domains.len()))
                    .unwrap_or(&"example.com")
            )
        }
        Kind::Phone => phone(rng),
        Kind::OtpCode => {
            let n = [4, 6, 6, 6, 8]
                .get(rng.random_range(0..5))
                .copied()
                .unwrap_or(6);
            text(&digits(rng, n))
        }
        Kind::Password => {
            let words = [
                "Sommer2024!",
                "hunter22",
                "Gatto#77",
                "senhaForte9",
                "Qwerty!23",
                "mimosa2020",
            ];
            (*words
                .get(rng.random_range(0..words.len()))
                .unwrap_or(&"hunter22"))
            .to_owned()
        }
        _ => String::new(),
    }
}

/// A valid mobile number written internationally.
fn phone(rng: &mut StdRng) -> String {
    let plans: [(&str, &str, usize, &[usize]); 6] = [
        ("49", "151", 8, &[2, 3, 8]),
        ("55", "119", 8, &[2, 2, 5, 4]),
        ("39", "3", 9, &[2, 3, 3, 4]),
        ("86", "13", 9, &[2, 3, 4, 4]),
        ("966", "5", 8, &[3, 2, 3, 4]),
        ("44", "7", 9, &[2, 4, 6]),
    ];
    let (cc, lead, n, groups) = *plans
        .get(rng.random_range(0..plans.len()))
        .unwrap_or(&plans[0]);
    for _ in 0..100 {
        let national = format!("{lead}{}", text(&digits(rng, n)));
        let full = format!("+{cc}{national}");
        if phonenumber::parse(None, &full).is_ok_and(|p| phonenumber::is_valid(&p)) {
            let plain = format!("{cc}{national}");
            return if rng.random_bool(0.5) {
                format!("+{}", grouped(&plain, groups, " "))
            } else {
                full
            };
        }
    }
    String::new()
}

/// One digit changed (in whatever script it is written), so a check fails.
fn broken(rng: &mut StdRng, valid: &str) -> String {
    let digits_at: Vec<usize> = valid
        .chars()
        .enumerate()
        .filter(|(_, c)| ascii_digit(*c).is_some())
        .map(|(i, _)| i)
        .collect();
    let Some(&at) = digits_at.get(rng.random_range(0..digits_at.len().max(1))) else {
        return valid.to_owned();
    };
    let delta = rng.random_range(1..10u32);
    valid
        .chars()
        .enumerate()
        .map(|(i, c)| match ascii_digit(c) {
            Some(d) if i == at => {
                let old = u32::from(d - b'0');
                char::from_u32(u32::from(c) - old + (old + delta) % 10).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

fn benign_number(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => format!("#{}", rng.random_range(100_000..99_999_999)),
        1 => format!(
            "{:02}.{:02}.{}",
            rng.random_range(1..29),
            rng.random_range(1..13),
            rng.random_range(2020..2028)
        ),
        2 => format!(
            "{}-{:02}-{:02}",
            rng.random_range(2020..2028),
            rng.random_range(1..13),
            rng.random_range(1..29)
        ),
        3 => format!(
            "€ {}.{:03},{:02}",
            rng.random_range(1..99),
            rng.random_range(0..1000),
            rng.random_range(0..100)
        ),
        4 => format!("{}:{:02}", rng.random_range(0..24), rng.random_range(0..60)),
        5 => {
            let n = rng.random_range(10..13);
            text(&digits(rng, n))
        }
        6 => format!("JD{}", text(&digits(rng, 18))),
        7 => format!("{}{}BR", "AA", text(&digits(rng, 9))),
        8 => format!(
            "{} x {}",
            rng.random_range(1..20),
            rng.random_range(10..999)
        ),
        _ => format!(
            "Ref {}-{:06}",
            rng.random_range(2020..2028),
            rng.random_range(0..999_999)
        ),
    }
}

const BENIGN_LINKS: &[&str] = &[
    "https://www.google.com/maps/place/Berlin",
    "https://acme-shop.com/orders/{n}",
    "acme-shop.com/track/{n}",
    "https://de.wikipedia.org/wiki/Zahlung",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://wa.me/4915123456789",
    "https://www.instagram.com/acme.shop/",
    "www.correios.com.br/rastreamento",
    "https://www.poste.it/cerca/index.html",
    "https://www.amazon.de/dp/B08N5WRWNW",
    "https://github.com/acme/app/releases",
    "https://www.taobao.com/item/{n}.htm",
    "https://docs.example.org/faq#returns",
    "https://www.mercadolivre.com.br/p/MLB{n}",
    "https://maps.apple.com/?q=Roma",
    "https://www.dhl.de/de/privatkunden.html",
];

#[allow(
    clippy::too_many_lines,
    reason = "one arm per kind of phishing link, side by side"
)]
fn malicious_link(rng: &mut StdRng) -> String {
    let brands = [
        "paypal",
        "whatsapp",
        "facebook",
        "instagram",
        "amazon",
        "netflix",
        "nubank",
        "bradesco",
        "sparkasse",
        "intesasanpaolo",
        "alrajhibank",
        "microsoft",
    ];
    let brand = *brands
        .get(rng.random_range(0..brands.len()))
        .unwrap_or(&"paypal");
    let tlds = ["com", "net", "info", "org", "co", "ru", "top", "xyz"];
    let tld = *tlds.get(rng.random_range(0..tlds.len())).unwrap_or(&"com");
    let n = rng.random_range(10..9999);
    match rng.random_range(0..10) {
        0 => {
            // One letter doubled.
            let at = rng.random_range(1..brand.len());
            format!(
                "https://{}{}{}.com/login",
                &brand[..at],
                &brand[at - 1..at],
                &brand[at..]
            )
        }
        1 => {
            let swapped = brand
                .replacen('l', "1", 1)
                .replacen('o', "0", 1)
                .replacen('i', "1", 1);
            let label = if swapped == brand {
                brand[..brand.len() - 1].to_owned()
            } else {
                swapped
            };
            format!("https://{label}.{tld}/verify")
        }
        2 => format!(
            "https://{}.com/account",
            brand
                .replacen('a', "\u{0430}", 1)
                .replacen('o', "\u{043E}", 1)
                .replacen('e', "\u{0435}", 1)
        ),
        3 => format!("https://{brand}-support-{n}.{tld}/"),
        4 => format!("http://{brand}.com.secure-login-{n}.{tld}/session"),
        5 => format!(
            "http://{}.{}.{}.{}/{brand}/login",
            rng.random_range(11..223),
            rng.random_range(0..255),
            rng.random_range(0..255),
            rng.random_range(1..254)
        ),
        6 => format!(
            "https://{brand}.com@{}.{}.{}.{}/",
            rng.random_range(11..223),
            rng.random_range(0..255),
            rng.random_range(0..255),
            rng.random_range(1..254)
        ),
        7 => format!("urgent, your account will be blocked: https://bit.ly/{n}x"),
        8 => format!("https://secure-check-{n}.xyz/{brand}/verify"),
        _ => format!("{brand}.com: http://pay-{n}.info/login"),
    }
}

const REQUESTS: &[(&str, Kind)] = &[
    (
        "Please send me the code you just received",
        Kind::CodeRequest,
    ),
    ("What's the verification code?", Kind::CodeRequest),
    ("tell me the OTP so I can finish", Kind::CodeRequest),
    ("send me your card number and CVV", Kind::CardRequest),
    (
        "Können Sie mir bitte den Bestätigungscode durchgeben?",
        Kind::CodeRequest,
    ),
    ("Schicken Sie mir die Kartennummer", Kind::CardRequest),
    (
        "Mi dica il codice che ha ricevuto via SMS",
        Kind::CodeRequest,
    ),
    ("mandami il numero della carta e il CVV", Kind::CardRequest),
    ("Me passa o código que chegou por SMS", Kind::CodeRequest),
    ("Qual é o número do cartão?", Kind::CardRequest),
    ("请把验证码发给我", Kind::CodeRequest),
    ("告诉我卡号和安全码", Kind::CardRequest),
    ("أرسل لي رمز التحقق", Kind::CodeRequest),
    ("أعطني رقم البطاقة", Kind::CardRequest),
];

const MENTIONS: &[&str] = &[
    "We'll send you a code by SMS. Never share your code with anyone.",
    "Send me the promo code please",
    "what is the discount code for today?",
    "Qual é o código de rastreio?",
    "mi dica il codice fiscale",
    "Wie lautet der Gutscheincode?",
    "Geben Sie niemals Ihren Code weiter.",
    "nunca compartilhe seu código",
    "请提供订单号",
    "不要把验证码告诉任何人",
    "لا تشارك الرمز مع أحد",
    "the tracking code is in the email",
];

/// Ordinary customer-service chat with nothing to find, for the speed of the common case.
pub const ORDINARY: &[&str] = &[
    "Hi! Where is my order? It was supposed to arrive yesterday.",
    "Can I change the delivery address to my office, please?",
    "Thanks, that helps a lot. Have a nice weekend!",
    "Not sure yet, I will call you tomorrow about the invoice.",
    "The delivery on 21.11.2026 at 14:30 was fine, total € 1.234,56",
    "Hallo, wo bleibt mein Paket? Ich warte seit Montag.",
    "Können Sie mir sagen, ob die Jacke auch in Größe M verfügbar ist?",
    "Vielen Dank für die schnelle Antwort, das passt so.",
    "Buongiorno, vorrei sapere lo stato del mio ordine.",
    "È possibile cambiare la taglia? Quella che ho ricevuto è troppo piccola.",
    "Grazie mille, a presto!",
    "Olá, meu pedido ainda não chegou. Podem verificar, por favor?",
    "Vocês entregam no sábado? Só estou em casa no fim de semana.",
    "Obrigado pela ajuda, deu tudo certo!",
    "你好，我的订单什么时候发货？",
    "可以开发票吗？我需要公司抬头。",
    "谢谢，收到了，质量很好！",
    "مرحبا، أين طلبي؟ لم يصل بعد.",
    "هل يمكنني تغيير عنوان التوصيل إلى المكتب؟",
    "شكرا جزيلا على المساعدة",
];

/// `n` samples from `seed`.
#[allow(
    clippy::too_many_lines,
    reason = "the corpus's mix, one arm per kind of sample, in one place"
)]
pub fn generate(seed: u64, n: usize) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    // Every value kind once, cards three times (the most common and most costly to miss).
    let planted_kinds: Vec<Kind> = [Kind::CardNumber, Kind::CardNumber]
        .into_iter()
        .chain(Kind::ALL.into_iter().filter(|k| k.is_value()))
        .collect();
    (0..n)
        .map(|id| {
            let lang = *LANGS.get(id % LANGS.len()).unwrap_or(&"en");
            let mut sample = Sample {
                id,
                lang,
                text: String::new(),
                planted: Vec::new(),
            };
            match rng.random_range(0..10) {
                0..=3 => {
                    let kind = *planted_kinds
                        .get(rng.random_range(0..planted_kinds.len()))
                        .unwrap_or(&Kind::CardNumber);
                    let value = identifier(&mut rng, kind);
                    let framed = !frames(lang, Some(kind)).is_empty()
                        && matches!(
                            kind,
                            Kind::CardNumber | Kind::OtpCode | Kind::Password | Kind::Phone
                        );
                    let frame_list = if framed {
                        frames(lang, Some(kind))
                    } else {
                        keyword_frame(kind)
                    };
                    put(&mut rng, &mut sample, frame_list, &value, Label::Is(kind));
                }
                4 => {
                    let kind = *[
                        Kind::CardNumber,
                        Kind::Iban,
                        Kind::BrCpf,
                        Kind::CnResidentId,
                        Kind::DeSteuerId,
                    ]
                    .get(rng.random_range(0..5))
                    .unwrap_or(&Kind::CardNumber);
                    let valid = identifier(&mut rng, kind);
                    let value = broken(&mut rng, &valid);
                    put(
                        &mut rng,
                        &mut sample,
                        keyword_frame(kind),
                        &value,
                        Label::Invalid(kind),
                    );
                }
                5 | 6 => {
                    let value = benign_number(&mut rng);
                    put(
                        &mut rng,
                        &mut sample,
                        frames(lang, None),
                        &value,
                        Label::BenignNumber,
                    );
                }
                7 => {
                    let link = BENIGN_LINKS
                        .get(rng.random_range(0..BENIGN_LINKS.len()))
                        .copied()
                        .unwrap_or_default();
                    let value = link.replace("{n}", &rng.random_range(1000..99999).to_string());
                    put(
                        &mut rng,
                        &mut sample,
                        frames(lang, None),
                        &value,
                        Label::BenignLink,
                    );
                }
                8 => {
                    let value = malicious_link(&mut rng);
                    put(
                        &mut rng,
                        &mut sample,
                        &["{}"],
                        &value,
                        Label::Is(Kind::PhishingUrl),
                    );
                }
                _ => {
                    if rng.random_bool(0.5) {
                        if let Some((text, kind)) =
                            REQUESTS.get(rng.random_range(0..REQUESTS.len()))
                        {
                            put(&mut rng, &mut sample, &["{}"], text, Label::Is(*kind));
                        }
                    } else if let Some(text) = MENTIONS.get(rng.random_range(0..MENTIONS.len())) {
                        put(&mut rng, &mut sample, &["{}"], text, Label::BenignMention);
                    }
                }
            }
            sample
        })
        .collect()
}

fn put(rng: &mut StdRng, sample: &mut Sample, frame_list: &[&str], value: &str, label: Label) {
    let frame = frame_list
        .get(rng.random_range(0..frame_list.len().max(1)))
        .copied()
        .unwrap_or("{}");
    let (before, after) = frame.split_once("{}").unwrap_or((frame, ""));
    let start = before.len();
    sample.text = format!("{before}{value}{after}");
    sample.planted.push(Planted {
        label,
        start,
        end: start + value.len(),
    });
}

/// Counts for one kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub planted: usize,
    pub found: usize,
    pub false_positives: usize,
}

impl Counts {
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.planted)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.found, self.found + self.false_positives)
    }
}

#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Accuracy over a corpus.
#[derive(Debug, Clone, Default)]
pub struct Accuracy {
    pub samples: usize,
    pub by_kind: std::collections::BTreeMap<Kind, Counts>,
    /// (flagged, total) benign numbers found as any value.
    pub benign_numbers: (usize, usize),
    /// (flagged, total) invalid identifiers found as any value.
    pub invalid: (usize, usize),
    /// (flagged, total) benign links found as phishing.
    pub benign_links: (usize, usize),
    /// (flagged, total) harmless mentions of codes found as requests.
    pub mentions: (usize, usize),
}

/// The kinds whose accuracy is measured (scam phrases and suspicious links are not planted).
pub fn measured(kind: Kind) -> bool {
    kind.is_value()
        || matches!(
            kind,
            Kind::CodeRequest | Kind::CardRequest | Kind::PhishingUrl
        )
}

/// Checksum-bearing identifiers: recall must reach 99 %.
pub fn checksummed(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::CardNumber
            | Kind::Iban
            | Kind::BrCpf
            | Kind::BrCnpj
            | Kind::ItCodiceFiscale
            | Kind::DeSteuerId
            | Kind::CnResidentId
            | Kind::PtNif
            | Kind::EsDniNie
            | Kind::SaNationalId
    )
}

fn overlaps(f: &Finding, p: &Planted) -> bool {
    f.start < p.end && p.start < f.end
}

/// Scans every sample and scores the findings against the labels.
pub fn evaluate(scanner: &Scanner, samples: &[Sample]) -> Accuracy {
    let mut acc = Accuracy {
        samples: samples.len(),
        ..Accuracy::default()
    };
    for sample in samples {
        let findings = scanner.scan(&sample.text);
        for p in &sample.planted {
            let hit = |pred: &dyn Fn(&Finding) -> bool| {
                findings.iter().any(|f| overlaps(f, p) && pred(f))
            };
            match p.label {
                Label::Is(kind) => {
                    let c = acc.by_kind.entry(kind).or_default();
                    c.planted += 1;
                    if hit(&|f| f.kind == kind) {
                        c.found += 1;
                    }
                }
                Label::Invalid(_) => {
                    acc.invalid.1 += 1;
                    acc.invalid.0 += usize::from(hit(&|f| f.kind.is_value()));
                }
                Label::BenignNumber => {
                    acc.benign_numbers.1 += 1;
                    acc.benign_numbers.0 += usize::from(hit(&|f| f.kind.is_value()));
                }
                Label::BenignLink => {
                    acc.benign_links.1 += 1;
                    acc.benign_links.0 += usize::from(hit(&|f| f.kind == Kind::PhishingUrl));
                }
                Label::BenignMention => {
                    acc.mentions.1 += 1;
                    acc.mentions.0 += usize::from(hit(&|f| {
                        matches!(f.kind, Kind::CodeRequest | Kind::CardRequest)
                    }));
                }
            }
        }
        for f in findings.iter().filter(|f| measured(f.kind)) {
            let expected = sample
                .planted
                .iter()
                .any(|p| p.label == Label::Is(f.kind) && overlaps(f, p));
            if !expected {
                acc.by_kind.entry(f.kind).or_default().false_positives += 1;
            }
        }
    }
    acc
}

impl Accuracy {
    /// The issue's bars that this corpus misses, in words; empty when all are met.
    pub fn unmet_bars(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (kind, c) in &self.by_kind {
            if checksummed(*kind) && c.planted > 0 && c.recall() < 0.99 {
                out.push(format!("{} recall {:.3} < 0.99", kind.as_str(), c.recall()));
            }
        }
        let rate = |(a, b): (usize, usize)| ratio(a, b);
        if rate(self.benign_numbers) > 0.01 {
            out.push(format!(
                "benign numbers flagged {:.3} > 0.01",
                rate(self.benign_numbers)
            ));
        }
        let phishing = self
            .by_kind
            .get(&Kind::PhishingUrl)
            .copied()
            .unwrap_or_default();
        if phishing.recall() < 0.90 {
            out.push(format!("phishing detected {:.3} < 0.90", phishing.recall()));
        }
        if rate(self.benign_links) > 0.02 {
            out.push(format!(
                "benign links flagged {:.3} > 0.02",
                rate(self.benign_links)
            ));
        }
        out
    }

    /// The table `veil guard eval` prints.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<18} {:>8} {:>8} {:>8} {:>10} {:>8}",
            "kind", "planted", "found", "false+", "precision", "recall"
        );
        for (kind, c) in &self.by_kind {
            let _ = writeln!(
                t,
                "{:<18} {:>8} {:>8} {:>8} {:>10.4} {:>8.4}",
                kind.as_str(),
                c.planted,
                c.found,
                c.false_positives,
                c.precision(),
                c.recall()
            );
        }
        let line = |t: &mut String, name: &str, (a, b): (usize, usize)| {
            let _ = writeln!(t, "{name:<34} {a:>6} of {b:<6} ({:.4})", ratio(a, b));
        };
        line(&mut t, "benign numbers flagged", self.benign_numbers);
        line(&mut t, "invalid identifiers flagged", self.invalid);
        line(
            &mut t,
            "benign links flagged as phishing",
            self.benign_links,
        );
        line(&mut t, "harmless code mentions flagged", self.mentions);
        t
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::guard::ScannerSettings;

    #[test]
    fn the_corpus_is_deterministic_and_labelled() {
        let a = generate(7, 300);
        let b = generate(7, 300);
        assert_eq!(a.len(), 300);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.text, y.text);
            for p in &x.planted {
                assert!(
                    x.text.get(p.start..p.end).is_some_and(|s| !s.is_empty()),
                    "{x:?}"
                );
            }
        }
        assert!(LANGS.iter().all(|l| a.iter().any(|s| s.lang == *l)));
    }

    #[test]
    fn the_scanner_meets_the_issue_bars_on_the_corpus() {
        let scanner = Scanner::new(&ScannerSettings {
            protected_domains: vec!["acme-shop.com".to_owned()],
            phone_region: None,
        });
        let acc = evaluate(&scanner, &generate(2026, 6000));
        let unmet = acc.unmet_bars();
        assert!(unmet.is_empty(), "{unmet:?}\n{}", acc.table());
        assert!(acc.by_kind.len() >= 15, "{}", acc.table());
    }
}

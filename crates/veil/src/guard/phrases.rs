//! Phrases in the six interface languages (en, de, it, pt, zh, ar), found with one
//! Aho-Corasick automaton (linear in the text): requests for a code or a card, shared codes and
//! passwords, and the patterns of scams (remote access, a new number, new bank details,
//! pressure).
//!
//! A request is a *verb* aimed at the reader ("send me", "qual é o", "发给我", "أرسل") near an
//! *object* ("code", "senha", "验证码", "رمز", "CVV") in the same sentence, not negated ("never
//! share your code") and not qualified as harmless ("promo code", "codice fiscale").

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use super::{Finding, Kind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Verb,
    CodeObject,
    CardObject,
    PasswordKey,
    Benign,
    Negation,
    PhoneKey,
    RemoteAccess,
    NumberChange,
    PaymentRedirect,
    Urgency,
}

const VERBS: &[&str] = &[
    // en
    "send me",
    "send us",
    "send it",
    "send the",
    "send your",
    "send over",
    "share the",
    "share your",
    "share it",
    "tell me",
    "tell us",
    "give me",
    "give us",
    "provide your",
    "provide the",
    "what is the",
    "what's the",
    "whats the",
    "what is your",
    "what's your",
    "read me",
    "read out",
    "forward me",
    "forward the",
    "reply with",
    "confirm the",
    "confirm your",
    "need the",
    "need your",
    // de
    "schick mir",
    "schicke mir",
    "schicken sie mir",
    "senden sie mir",
    "sende mir",
    "nennen sie mir",
    "nenn mir",
    "sag mir",
    "sagen sie mir",
    "gib mir",
    "geben sie mir",
    "teilen sie mir",
    "teil mir",
    "wie lautet",
    "wie ist ihr",
    "wie ist dein",
    "durchgeben",
    "mitteilen",
    "brauche den",
    "brauchen den",
    "brauchen ihre",
    // it
    "mandami",
    "inviami",
    "dimmi",
    "mi dica",
    "mi dia",
    "comunicami",
    "mi comunichi",
    "forniscimi",
    "mi fornisca",
    "qual è il",
    "qual e il",
    "qual è la",
    "condividi il",
    "condividi la",
    "mi invii",
    "mi mandi",
    "scrivimi",
    "ho bisogno del",
    // pt
    "me envie",
    "me envia",
    "me mande",
    "me manda",
    "envie o",
    "envie a",
    "envie seu",
    "envie sua",
    "manda o",
    "manda a",
    "mande o",
    "mande a",
    "mande seu",
    "mande sua",
    "me passa",
    "me passe",
    "me informe",
    "informe o",
    "informe a",
    "informe seu",
    "informe sua",
    "qual é o",
    "qual e o",
    "qual é a",
    "qual o",
    "qual a",
    "me diga",
    "me fala",
    "compartilhe",
    "preciso do",
    "preciso da",
    // zh
    "发给我",
    "发我",
    "告诉我",
    "提供",
    "给我",
    "报一下",
    "说一下",
    "发一下",
    "是多少",
    "发过来",
    "念一下",
    // ar
    "أرسل لي",
    "ارسل لي",
    "أرسل",
    "ارسل",
    "ابعث",
    "ابعت",
    "أعطني",
    "اعطني",
    "ما هو",
    "ماهو",
    "زودني",
    "شارك",
    "قل لي",
    "اكتب لي",
    "ارسلي",
];

const CODE_OBJECTS: &[&str] = &[
    // en (German "Code" too)
    "code",
    "codes",
    "otp",
    "pin",
    "pin code",
    "verification code",
    "security code",
    "one-time password",
    "one time password",
    "one-time code",
    "passcode",
    "token",
    "sms code",
    "6-digit code",
    // de
    "bestätigungscode",
    "sicherheitscode",
    "einmalpasswort",
    "prüfcode",
    // it
    "codice",
    "codice di verifica",
    "codice otp",
    "codice di sicurezza",
    // pt
    "código",
    "codigo",
    "código de verificação",
    "código de segurança",
    // zh
    "验证码",
    "校验码",
    "动态码",
    "短信码",
    "安全码",
    "动态密码",
    // ar
    "رمز",
    "الرمز",
    "رمزك",
    "رمز التحقق",
    "كود",
    "الكود",
    "كود التفعيل",
    "رمز التفعيل",
];

const CARD_OBJECTS: &[&str] = &[
    "card number",
    "card details",
    "credit card number",
    "card info",
    "cvv",
    "cvc",
    "cvv2",
    "expiry date",
    "expiration date",
    "kartennummer",
    "kreditkartennummer",
    "kartendaten",
    "prüfnummer",
    "numero della carta",
    "numero di carta",
    "dati della carta",
    "número do cartão",
    "numero do cartao",
    "número do seu cartão",
    "dados do cartão",
    "validade do cartão",
    "卡号",
    "银行卡号",
    "信用卡号",
    "卡的背面",
    "رقم البطاقة",
    "بيانات البطاقة",
    "رقم بطاقتك",
];

const PASSWORD_KEYS: &[&str] = &[
    "password",
    "passwort",
    "kennwort",
    "senha",
    "密码",
    "كلمة المرور",
    "كلمة السر",
];

const BENIGN: &[&str] = &[
    // en
    "promo",
    "promotional",
    "discount",
    "coupon",
    "voucher",
    "gift",
    "tracking",
    "track",
    "zip",
    "postal",
    "post",
    "qr",
    "bar",
    "error",
    "order",
    "product",
    "reference",
    "booking",
    "confirmation",
    "referral",
    "invite",
    "area",
    "country",
    "dial",
    "status",
    "sku",
    "ean",
    "swift",
    "bic",
    "sort",
    "dress",
    "source",
    "fiscal",
    "tax",
    // de
    "rabatt",
    "gutschein",
    "sendungs",
    "postleitzahl",
    "plz",
    "fehler",
    "bestell",
    "aktions",
    "vorwahl",
    // pt
    "promocional",
    "desconto",
    "cupom",
    "rastreio",
    "rastreamento",
    "cep",
    "erro",
    "pedido",
    "produto",
    "barras",
    "ddd",
    "postal",
    // it
    "sconto",
    "promozionale",
    "tracciamento",
    "spedizione",
    "postale",
    "cap",
    "errore",
    "ordine",
    "prodotto",
    "a barre",
    "fiscale",
    "prefisso",
    // zh
    "优惠",
    "折扣",
    "快递",
    "物流",
    "邮编",
    "邮政",
    "错误",
    "订单",
    "二维码",
    "条形码",
    "取件",
    // ar
    "خصم",
    "الخصم",
    "تتبع",
    "التتبع",
    "البريدي",
    "الخطأ",
    "خطأ",
    "الطلب",
    "كوبون",
    "قسيمة",
];

const NEGATIONS: &[&str] = &[
    "never",
    "don't",
    "dont",
    "do not",
    "not",
    "nie",
    "niemals",
    "nicht",
    "keinesfalls",
    "mai",
    "non",
    "nunca",
    "não",
    "nao",
    "jamais",
    "不要",
    "切勿",
    "绝不",
    "请勿",
    "不会",
    "لا",
    "لن",
    "أبدا",
    "ابدا",
    "أبداً",
];

const PHONE_KEYS: &[&str] = &[
    "tel",
    "tel.",
    "phone",
    "call",
    "call me",
    "mobile",
    "cell",
    "whatsapp",
    "handy",
    "telefon",
    "anruf",
    "ruf mich",
    "telefone",
    "celular",
    "ligue",
    "liga",
    "cellulare",
    "chiama",
    "chiamami",
    "电话",
    "手机",
    "هاتف",
    "جوال",
    "اتصل",
    "واتساب",
    "واتس",
];

const REMOTE_ACCESS: &[&str] = &[
    "anydesk",
    "teamviewer",
    "quicksupport",
    "rustdesk",
    "ultraviewer",
    "remote access",
    "remote desktop",
    "screen share",
    "share your screen",
    "share screen",
    "fernzugriff",
    "fernwartung",
    "bildschirm teilen",
    "acesso remoto",
    "compartilhar tela",
    "compartilhe sua tela",
    "accesso remoto",
    "condividi lo schermo",
    "condivisione schermo",
    "远程控制",
    "远程协助",
    "共享屏幕",
    "屏幕共享",
    "الوصول عن بعد",
    "التحكم عن بعد",
    "مشاركة الشاشة",
];

const NUMBER_CHANGE: &[&str] = &[
    "my new number",
    "new number",
    "changed my number",
    "text me on",
    "message me on",
    "write to me on",
    "add this number",
    "meine neue nummer",
    "neue nummer",
    "schreib mir unter",
    "meu novo número",
    "novo número",
    "novo numero",
    "meu número novo",
    "mudei de número",
    "troquei de número",
    "il mio nuovo numero",
    "nuovo numero",
    "ho cambiato numero",
    "我的新号码",
    "新号码",
    "换号了",
    "رقمي الجديد",
    "الرقم الجديد",
    "غيرت رقمي",
];

const PAYMENT_REDIRECT: &[&str] = &[
    "new bank account",
    "new bank details",
    "changed our bank",
    "updated bank details",
    "pay to this account",
    "transfer to this account",
    "different account",
    "gift card",
    "gift cards",
    "itunes card",
    "google play card",
    "neue bankverbindung",
    "neue kontonummer",
    "neues konto",
    "auf dieses konto",
    "geschenkkarte",
    "nova conta",
    "novos dados bancários",
    "nova chave pix",
    "transfira para esta conta",
    "deposite nesta conta",
    "cartão presente",
    "nuovo iban",
    "nuove coordinate bancarie",
    "nuovo conto",
    "su questo conto",
    "carta regalo",
    "新账户",
    "新的银行账户",
    "转账到这个账户",
    "汇款到",
    "礼品卡",
    "حساب جديد",
    "الحساب الجديد",
    "تحويل إلى هذا الحساب",
    "بطاقة هدايا",
];

const URGENCY: &[&str] = &[
    "urgent",
    "urgently",
    "immediately",
    "right now",
    "within 24 hours",
    "within 24h",
    "will be suspended",
    "will be blocked",
    "has been suspended",
    "has been locked",
    "last chance",
    "final notice",
    "act now",
    "dringend",
    "sofort",
    "umgehend",
    "innerhalb von 24 stunden",
    "wird gesperrt",
    "gesperrt",
    "letzte mahnung",
    "urgente",
    "imediatamente",
    "agora mesmo",
    "em 24 horas",
    "será bloqueada",
    "será bloqueado",
    "bloqueada",
    "suspensa",
    "última chance",
    "subito",
    "immediatamente",
    "entro 24 ore",
    "verrà bloccato",
    "bloccato",
    "bloccata",
    "sospeso",
    "sospesa",
    "ultimo avviso",
    "紧急",
    "立即",
    "马上",
    "24小时内",
    "冻结",
    "封号",
    "停用",
    "عاجل",
    "فورا",
    "فوراً",
    "خلال 24 ساعة",
    "سيتم إيقاف",
    "سيتم حظر",
    "تم تعليق",
    "محظور",
];

/// One compiled list of phrases with the class and word-boundary needs of each.
struct Set {
    automaton: Option<AhoCorasick>,
    classes: Vec<Class>,
    /// Whether each pattern needs a word boundary before and after it (its edge is a letter of
    /// a script that separates words with spaces).
    bounded: Vec<(bool, bool)>,
}

/// The compiled phrase lists: *anchors* (what can make a finding on its own or with a number)
/// are searched in every text; *context* words (request verbs, harmless qualifiers, negations)
/// only in texts that have an object to ask for, which keeps ordinary chat to one pass.
pub struct Phrases {
    anchors: Set,
    context: Set,
}

/// A phrase found in a text.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub class: Class,
    pub start: usize,
    pub end: usize,
}

/// Every phrase of one text, in order.
#[derive(Debug, Default)]
pub struct Hits {
    list: Vec<Hit>,
    /// The text's sentence ends (byte offsets), to keep a request inside one sentence.
    stops: Vec<usize>,
}

fn spaced_script(c: char) -> bool {
    c.is_alphabetic() && !matches!(u32::from(c), 0x2E80..=0x9FFF | 0xF900..=0xFAFF)
}

impl Set {
    fn new(lists: &[(&[&str], Class)]) -> Set {
        let mut patterns = Vec::new();
        let mut classes = Vec::new();
        let mut bounded = Vec::new();
        for (list, class) in lists {
            for p in *list {
                // Lower case: the text is lowered (ASCII only, so offsets stay) before the
                // search, and a case-sensitive DFA is several times faster than a folding one.
                patterns.push(p.to_ascii_lowercase());
                classes.push(*class);
                let first = p.chars().next().is_some_and(spaced_script);
                let last = p.chars().next_back().is_some_and(spaced_script);
                bounded.push((first, last));
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .ok();
        Set {
            automaton,
            classes,
            bounded,
        }
    }

    fn search(&self, text: &str, lower: &str, out: &mut Vec<Hit>) {
        let Some(automaton) = &self.automaton else {
            return;
        };
        for m in automaton.find_iter(lower) {
            let id = m.pattern().as_usize();
            let (Some(class), Some((before, after))) = (self.classes.get(id), self.bounded.get(id))
            else {
                continue;
            };
            let prev = text.get(..m.start()).and_then(|s| s.chars().next_back());
            let next = text.get(m.end()..).and_then(|s| s.chars().next());
            if (*before && prev.is_some_and(char::is_alphanumeric))
                || (*after && next.is_some_and(char::is_alphanumeric))
            {
                continue;
            }
            out.push(Hit {
                class: *class,
                start: m.start(),
                end: m.end(),
            });
        }
    }
}

/// Where sentences end: `.`, `!`, `?`, a line break, and their CJK and Arabic forms.
fn sentence_stops(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, b) in text.bytes().enumerate() {
        let stop = match b {
            b'.' | b'!' | b'?' | b'\n' => true,
            0xE3 | 0xEF | 0xD8 => text
                .get(i..)
                .and_then(|t| t.chars().next())
                .is_some_and(|c| matches!(c, '。' | '！' | '？' | '؟')),
            _ => false,
        };
        if stop {
            out.push(i);
        }
    }
    out
}

impl Phrases {
    pub fn new() -> Phrases {
        Phrases {
            anchors: Set::new(&[
                (CODE_OBJECTS, Class::CodeObject),
                (CARD_OBJECTS, Class::CardObject),
                (PASSWORD_KEYS, Class::PasswordKey),
                (PHONE_KEYS, Class::PhoneKey),
                (REMOTE_ACCESS, Class::RemoteAccess),
                (NUMBER_CHANGE, Class::NumberChange),
                (PAYMENT_REDIRECT, Class::PaymentRedirect),
                (URGENCY, Class::Urgency),
            ]),
            context: Set::new(&[
                (VERBS, Class::Verb),
                (BENIGN, Class::Benign),
                (NEGATIONS, Class::Negation),
            ]),
        }
    }

    /// The phrases of `text`, ordered and not overlapping.
    pub fn hits(&self, text: &str) -> Hits {
        let mut hits = Hits::default();
        let lower = text.to_ascii_lowercase();
        self.anchors.search(text, &lower, &mut hits.list);
        let objects = hits.list.iter().any(|h| {
            matches!(
                h.class,
                Class::CodeObject | Class::CardObject | Class::PasswordKey
            )
        });
        if !objects {
            if !hits.list.is_empty() {
                hits.stops = sentence_stops(text);
            }
            return hits;
        }
        let mut context = Vec::new();
        self.context.search(text, &lower, &mut context);
        // Merge; where a context word overlaps an anchor, the anchor wins.
        let anchors = std::mem::take(&mut hits.list);
        let mut merged = Vec::with_capacity(anchors.len() + context.len());
        let (mut a, mut c) = (
            anchors.into_iter().peekable(),
            context.into_iter().peekable(),
        );
        loop {
            let next = match (a.peek(), c.peek()) {
                (Some(x), Some(y)) if y.start < x.start => c.next(),
                (Some(_), _) => a.next(),
                (None, Some(_)) => c.next(),
                (None, None) => break,
            };
            let Some(hit) = next else { break };
            if merged.last().is_some_and(|last: &Hit| hit.start < last.end) {
                if hit.class == Class::Verb
                    || hit.class == Class::Benign
                    || hit.class == Class::Negation
                {
                    continue;
                }
                merged.pop();
            }
            merged.push(hit);
        }
        hits.list = merged;
        hits.stops = sentence_stops(text);
        hits
    }
}

impl Default for Phrases {
    fn default() -> Self {
        Phrases::new()
    }
}

impl Hits {
    pub fn iter(&self) -> impl Iterator<Item = &Hit> {
        self.list.iter()
    }

    /// A hit of `class` ending at most `window` bytes before `at`, in the same sentence.
    /// Hits are ordered and do not overlap, so only the few within the window are looked at.
    pub fn before(&self, class: Class, at: usize, window: usize) -> Option<&Hit> {
        let upto = self.list.partition_point(|h| h.end <= at);
        self.list
            .get(..upto)
            .unwrap_or_default()
            .iter()
            .rev()
            .take_while(|h| at - h.end <= window)
            .filter(|h| h.class == class)
            .find(|h| !self.crosses_stop(h.end, at))
    }

    /// A hit of `class` starting at most `window` bytes after `at`, in the same sentence.
    pub fn after(&self, class: Class, at: usize, window: usize) -> Option<&Hit> {
        let from = self.list.partition_point(|h| h.start < at);
        self.list
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|h| h.start - at <= window)
            .filter(|h| h.class == class)
            .find(|h| !self.crosses_stop(at, h.start))
    }

    /// Whether a sentence ends in `from..to`.
    fn crosses_stop(&self, from: usize, to: usize) -> bool {
        let i = self.stops.partition_point(|&s| s < from);
        self.stops.get(i).is_some_and(|&s| s < to)
    }

    /// A harmless qualifier right next to `hit` ("promo code", "código de rastreio").
    fn qualified(&self, hit: &Hit) -> bool {
        self.before(Class::Benign, hit.start, 16).is_some()
            || self.after(Class::Benign, hit.end, 16).is_some()
    }

    /// Whether a code keyword (not a harmless one) stands just before or after a number.
    pub fn code_keyword_near(&self, start: usize, end: usize) -> bool {
        let is_code = |h: &&Hit| !self.qualified(h);
        self.before(Class::CodeObject, start, 24)
            .as_ref()
            .is_some_and(is_code)
            || self
                .before(Class::PasswordKey, start, 16)
                .as_ref()
                .is_some_and(is_code)
            || self
                .after(Class::CodeObject, end, 16)
                .as_ref()
                .is_some_and(is_code)
    }

    fn requests(&self, out: &mut Vec<Finding>) {
        for object in &self.list {
            let kind = match object.class {
                Class::CodeObject | Class::PasswordKey => Kind::CodeRequest,
                Class::CardObject => Kind::CardRequest,
                _ => continue,
            };
            if kind == Kind::CodeRequest && self.qualified(object) {
                continue;
            }
            let verb = self
                .before(Class::Verb, object.start, 48)
                .or_else(|| self.after(Class::Verb, object.end, 24));
            let Some(verb) = verb else { continue };
            if self.before(Class::Negation, verb.start, 20).is_some() {
                continue;
            }
            let start = verb.start.min(object.start);
            let end = verb.end.max(object.end);
            if out.last().is_some_and(|f: &Finding| f.end >= start) {
                continue;
            }
            out.push(Finding::new(kind, start, end));
        }
    }

    /// The pattern findings: requests and scam phrases.
    pub fn findings(&self, out: &mut Vec<Finding>) {
        // Requests are merged among themselves only, then join the other findings.
        let mut requests = Vec::new();
        self.requests(&mut requests);
        out.extend(requests);
        for h in &self.list {
            let kind = match h.class {
                Class::RemoteAccess => Kind::RemoteAccess,
                Class::NumberChange => Kind::NumberChange,
                Class::PaymentRedirect => Kind::PaymentRedirect,
                Class::Urgency => Kind::Urgency,
                _ => continue,
            };
            out.push(Finding::new(kind, h.start, h.end));
        }
    }
}

/// A password shared after its keyword: `senha: hunter22`, `password is X`, `密码：X`.
pub fn find_passwords(text: &str, hits: &Hits, out: &mut Vec<Finding>) {
    for key in hits.iter().filter(|h| h.class == Class::PasswordKey) {
        let Some(rest) = text.get(key.end..) else {
            continue;
        };
        let trimmed = rest.trim_start_matches([' ', '\u{00A0}']);
        let joined = [":", "：", "=", "is ", "é ", "e ", "ist ", "è ", "是", "هي "]
            .iter()
            .find_map(|j| trimmed.strip_prefix(j));
        let Some(value) = joined else { continue };
        let value_trimmed = value.trim_start_matches([' ', '\u{00A0}']);
        let offset = text.len() - value_trimmed.len();
        let len: usize = value_trimmed
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | ';' | '。' | '，'))
            .map_or(value_trimmed.len(), |(i, _)| i);
        let token = value_trimmed.get(..len).unwrap_or_default();
        let token = token.trim_end_matches(['.', '!', '?', ')']);
        if (4..=64).contains(&token.chars().count()) {
            out.push(Finding::new(Kind::Password, offset, offset + token.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        let hits = Phrases::new().hits(text);
        let mut out = Vec::new();
        hits.findings(&mut out);
        find_passwords(text, &hits, &mut out);
        out.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn requests_in_six_languages() {
        for text in [
            "Please send me the code you just received",
            "What's the verification code?",
            "Können Sie mir bitte den Bestätigungscode durchgeben?",
            "Mi dica il codice che ha ricevuto via SMS",
            "Me passa o código que chegou por SMS",
            "请把验证码发给我",
            "أرسل لي رمز التحقق",
        ] {
            assert_eq!(kinds(text), [Kind::CodeRequest], "{text}");
        }
        for text in [
            "send me your card number and the CVV",
            "Qual é o número do cartão?",
            "告诉我卡号",
        ] {
            assert!(kinds(text).contains(&Kind::CardRequest), "{text}");
        }
    }

    #[test]
    fn harmless_mentions_are_not_requests() {
        for text in [
            "We'll send you a code by SMS. Never share your code with anyone.",
            "Send me the promo code please",
            "Qual é o código de rastreio?",
            "mi dica il codice fiscale",
            "I'm shipping it today",
            "请提供订单号",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn shared_passwords_and_scam_phrases() {
        assert_eq!(kinds("minha senha: hunter22"), [Kind::Password]);
        assert_eq!(kinds("密码：abc12345"), [Kind::Password]);
        assert_eq!(kinds("Install AnyDesk now"), [Kind::RemoteAccess]);
        assert_eq!(
            kinds("Oi mãe, esse é meu novo número"),
            [Kind::NumberChange]
        );
        assert_eq!(
            kinds("Wir haben eine neue Bankverbindung"),
            [Kind::PaymentRedirect]
        );
        assert_eq!(kinds("عاجل"), [Kind::Urgency]);
    }
}

//! Customer text made safe to show: WhatsApp's formatting (`*bold*`, `_italic_`, `~strike~`,
//! ```` ```mono``` ````) as spans, links found and kept inert, control and direction-override
//! characters neutralised. The output is plain data; the templates escape every piece of it, so
//! no customer byte ever becomes markup.

/// A run of text with one style, or a link (shown as text, opened only on request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    /// CSS classes: `b`, `i`, `s`, `m`, space-separated; empty for plain text.
    pub class: String,
    /// The link's real target (http or https only), when this span is a link.
    pub link: Option<String>,
    /// Why the guard flagged this link (translated reasons), when it did.
    pub flag: Option<String>,
}

/// Replaces characters that could disguise text: C0/C1 controls (but newlines and tabs), and the
/// bidirectional embeddings, overrides and isolates (`U+202A–U+202E`, `U+2066–U+2069`) that turn
/// `invoice<U+202E>fdp.exe` into `invoiceexe.pdf` on screen. Each becomes a visible `�`.
pub fn neutralise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() || overrides_direction(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// Bidirectional embeddings, overrides, isolates and the deprecated format characters next to
/// them: characters that reorder what follows on screen.
pub fn overrides_direction(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{206F}')
}

const MARKERS: [(char, &str); 3] = [('*', "b"), ('_', "i"), ('~', "s")];

fn is_boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| c.is_whitespace() || c.is_ascii_punctuation())
}

/// The styled spans of a message text.
pub fn format_text(text: &str) -> Vec<Span> {
    let text = neutralise(text);
    let mut out = Vec::new();
    // Monospace blocks first: nothing inside them is formatted.
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let Some(len) = after.find("```") else { break };
        styled(&rest[..start], &[], &mut out);
        push(&mut out, &after[..len], "m", None);
        rest = &after[len + 3..];
    }
    styled(rest, &[], &mut out);
    out
}

fn push(out: &mut Vec<Span>, text: &str, class: &str, link: Option<String>) {
    if text.is_empty() {
        return;
    }
    if link.is_none()
        && let Some(last) = out.last_mut()
        && last.class == class
        && last.link.is_none()
    {
        last.text.push_str(text);
        return;
    }
    out.push(Span {
        text: text.to_owned(),
        class: class.to_owned(),
        link,
        flag: None,
    });
}

/// Finds the first marker pair in `text` whose opener follows a boundary and precedes a
/// non-space, and whose closer does the opposite; styles its inside and recurses.
fn styled(text: &str, classes: &[&str], out: &mut Vec<Span>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(start, c)) in chars.iter().enumerate() {
        let Some(&(_, class)) = MARKERS.iter().find(|(m, _)| *m == c) else {
            continue;
        };
        let before = i.checked_sub(1).and_then(|j| chars.get(j)).map(|p| p.1);
        let next = chars.get(i + 1).map(|p| p.1);
        if !is_boundary(before) || next.is_none_or(char::is_whitespace) || next == Some(c) {
            continue;
        }
        let close = chars.iter().enumerate().skip(i + 2).find(|(k, (_, d))| {
            *d == c
                && chars.get(k - 1).is_some_and(|p| !p.1.is_whitespace())
                && is_boundary(chars.get(k + 1).map(|p| p.1))
        });
        let Some((_, &(end, _))) = close else {
            continue;
        };
        links(&text[..start], classes, out);
        let mut inner = classes.to_vec();
        inner.push(class);
        styled(&text[start + c.len_utf8()..end], &inner, out);
        styled(&text[end + c.len_utf8()..], classes, out);
        return;
    }
    links(text, classes, out);
}

/// Splits plain text into text and links (`http://`, `https://`, `www.`).
fn links(text: &str, classes: &[&str], out: &mut Vec<Span>) {
    let class = classes.join(" ");
    let mut plain_start = 0;
    let mut cursor = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        let lower = trimmed.to_ascii_lowercase();
        let target = if lower.starts_with("https://") || lower.starts_with("http://") {
            Some(trimmed.to_owned())
        } else if lower.starts_with("www.") && trimmed.len() > 4 {
            Some(format!("https://{trimmed}"))
        } else {
            None
        };
        if let Some(target) = target {
            // Trailing punctuation belongs to the sentence, not the link.
            let shown = trimmed.trim_end_matches(['.', ',', ')', '!', '?', ';', ':', '"', '\'']);
            let cut = trimmed.len() - shown.len();
            let target = target[..target.len() - cut].to_owned();
            push(out, &text[plain_start..cursor], &class, None);
            push(out, shown, &class, Some(target));
            plain_start = cursor + shown.len();
        }
        cursor += word.len();
    }
    push(out, &text[plain_start..], &class, None);
}

/// A file name fit to show: no path, no disguising characters, bounded.
pub fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let shown: String = neutralise(base).chars().take(120).collect();
    if shown.trim().is_empty() {
        "file".into()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(spans: &[Span]) -> Vec<(&str, &str)> {
        spans
            .iter()
            .map(|s| (s.text.as_str(), s.class.as_str()))
            .collect()
    }

    #[test]
    fn whatsapp_formatting_becomes_spans() {
        assert_eq!(
            classes(&format_text("a *bold* and _it_ ~gone~")),
            vec![
                ("a ", ""),
                ("bold", "b"),
                (" and ", ""),
                ("it", "i"),
                (" ", ""),
                ("gone", "s")
            ]
        );
        assert_eq!(
            classes(&format_text("*bold _both_*")),
            vec![("bold ", "b"), ("both", "b i")]
        );
        assert_eq!(
            classes(&format_text("x ```*not bold*``` y")),
            vec![("x ", ""), ("*not bold*", "m"), (" y", "")]
        );
        // Not markers: inside words, or followed by a space.
        assert_eq!(
            classes(&format_text("2*3*4 and * loose *")),
            vec![("2*3*4 and * loose *", "")]
        );
        assert_eq!(
            classes(&format_text("snake_case_name")),
            vec![("snake_case_name", "")]
        );
    }

    #[test]
    fn links_are_found_and_trimmed() {
        let spans = format_text("see https://example.com/a?b=1, or www.veil.test.");
        let links: Vec<_> = spans.iter().filter_map(|s| s.link.clone()).collect();
        assert_eq!(
            links,
            vec!["https://example.com/a?b=1", "https://www.veil.test"]
        );
        assert!(
            format_text("javascript:alert(1)")
                .iter()
                .all(|s| s.link.is_none())
        );
        let text: String = spans.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(text, "see https://example.com/a?b=1, or www.veil.test.");
    }

    #[test]
    fn disguising_characters_are_neutralised() {
        assert_eq!(
            file_name("invoice\u{202E}fdp.exe"),
            "invoice\u{FFFD}fdp.exe"
        );
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(neutralise("a\u{0007}b\nc\u{2066}"), "a\u{FFFD}b\nc\u{FFFD}");
    }

    proptest::proptest! {
        #[test]
        fn formatting_keeps_every_visible_character(text in "\\PC{0,80}") {
            let spans = format_text(&text);
            let shown: String = spans.iter().map(|s| s.text.as_str()).collect();
            let markers = |s: &str| s.chars().filter(|c| !matches!(c, '*' | '_' | '~' | '`')).collect::<String>();
            proptest::prop_assert_eq!(markers(&shown), markers(&neutralise(&text)));
        }
    }
}

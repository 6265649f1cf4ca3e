//! JSON the way Meta puts it on the wire: ASCII only, every non-ASCII character written as
//! `\uXXXX` with lowercase hex, in UTF-16 units (so an emoji becomes a surrogate pair). Meta signs
//! these bytes; receivers such as whatsapp-api-js re-escape before checking, so raw UTF-8 would fail.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, Serializer};

struct MetaFormatter;

impl Formatter for MetaFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut units = [0u16; 2];
        for ch in fragment.chars() {
            if ch.is_ascii() {
                let mut byte = [0u8; 1];
                writer.write_all(ch.encode_utf8(&mut byte).as_bytes())?;
            } else {
                for unit in ch.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    // Everything else as serde_json's compact output.
    fn write_char_escape<W>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        CompactFormatter.write_char_escape(writer, escape)
    }
}

/// Serialises `value` as Meta does. Errors only if `value` cannot be represented as JSON.
pub fn to_meta_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, MetaFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_becomes_lowercase_utf16_escapes() {
        let out = to_meta_json(&serde_json::json!({"t": "mangé みど 😀 \"q\"\n"})).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"t":"mang\u00e9 \u307f\u3069 \ud83d\ude00 \"q\"\n"}"#
        );
        assert!(text.is_ascii());
    }

    #[test]
    fn escaped_output_parses_back_to_the_same_value() {
        let value = serde_json::json!({"a": ["مرحبا", "你好", "Grüße", 1, null, true]});
        let out = to_meta_json(&value).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn matches_the_published_signature_vector_bytes() {
        // shared/fixtures/whatsapp/signature/unicode-escaped-body--whatsapp-api-js.json
        let out = to_meta_json(&"like みどりいろ and J'ai mangé des pâtes").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"like \\u307f\\u3069\\u308a\\u3044\\u308d and J'ai mang\\u00e9 des p\\u00e2tes\""
        );
    }
}

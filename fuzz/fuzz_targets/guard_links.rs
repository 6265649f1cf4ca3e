//! The link extractor and scorer on arbitrary text: no panic, every link inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use veil::guard::links::Links;

fn links() -> &'static Links {
    static LINKS: OnceLock<Links> = OnceLock::new();
    LINKS.get_or_init(|| Links::new(&["example-shop.com".to_owned()]))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut values = Vec::new();
    for pressure in [false, true] {
        for f in links().find(text, pressure, &mut values) {
            assert!(f.start < f.end && f.end <= text.len());
            assert!(!f.reasons.is_empty());
        }
    }
    assert!(values.iter().all(|f| text.get(f.start..f.end).is_some()));
});

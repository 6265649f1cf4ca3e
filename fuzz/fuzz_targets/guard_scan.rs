//! The whole scanner and the policy on arbitrary text: no panic, every finding inside the text
//! on character boundaries, values in order and not overlapping, masking keeps the text valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use veil::guard::policy::{Direction, Policy, decide};
use veil::guard::{Scanner, ScannerSettings};

fn scanner() -> &'static Scanner {
    static SCANNER: OnceLock<Scanner> = OnceLock::new();
    SCANNER.get_or_init(|| {
        Scanner::new(&ScannerSettings {
            protected_domains: vec!["example-shop.com".into()],
            phone_region: Some("DE".into()),
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let findings = scanner().scan(text);
    let mut last_value_end = 0;
    for f in &findings {
        assert!(f.start < f.end && f.end <= text.len());
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        if f.kind.is_value() {
            assert!(f.start >= last_value_end, "values overlap");
            last_value_end = f.end;
        }
    }
    for direction in [Direction::Inbound, Direction::Outbound] {
        let d = decide(&Policy::default(), direction, text, &findings);
        assert!(d.findings.iter().all(|f| f.end <= d.text.len()));
    }
});

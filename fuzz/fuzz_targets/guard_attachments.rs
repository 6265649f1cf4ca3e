//! The attachment inspector on arbitrary bytes: no panic, and a size limit always holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veil::guard::attachments::{Danger, inspect};

fuzz_target!(|data: &[u8]| {
    let _ = inspect(data, None);
    if !data.is_empty() {
        assert_eq!(inspect(data, Some(data.len() - 1)), Some(Danger::TooLarge));
    }
});

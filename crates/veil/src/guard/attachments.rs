//! Attachments judged by their bytes, never by their name or declared type: executables,
//! scripts, installers, disk images, shortcuts, Office documents with macros, HTML and SVG with
//! script, PDF with script, and the EICAR test file are dangerous and get quarantined.
//!
//! Signatures are a short table of published magic numbers; text formats are recognised by
//! phrases found with one Aho-Corasick pass over the first bytes.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// Why an attachment is dangerous. Names are stored (as the media row's reason) and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Danger {
    /// PE (Windows), ELF (Linux), Mach-O (macOS), Java class.
    Executable,
    /// Shell, `PowerShell`, batch, `VBScript`, `JScript`, HTA.
    Script,
    /// JAR, APK: programs in a ZIP.
    Package,
    /// MSI and other compound files that are not Office documents.
    Installer,
    /// ISO 9660 disk image.
    DiskImage,
    /// Windows shortcut (LNK).
    Shortcut,
    /// Word, Excel or `PowerPoint` with a VBA project.
    OfficeMacro,
    /// HTML or SVG with script or event handlers.
    ActiveContent,
    /// PDF with JavaScript or a launch action.
    PdfScript,
    /// The EICAR anti-virus test file.
    Eicar,
    /// Larger than WhatsApp allows for its type.
    TooLarge,
    /// A virus scanner (clamd) reported it.
    Malware,
}

impl Danger {
    pub fn as_str(self) -> &'static str {
        match self {
            Danger::Executable => "executable",
            Danger::Script => "script",
            Danger::Package => "package",
            Danger::Installer => "installer",
            Danger::DiskImage => "disk_image",
            Danger::Shortcut => "shortcut",
            Danger::OfficeMacro => "office_macro",
            Danger::ActiveContent => "active_content",
            Danger::PdfScript => "pdf_script",
            Danger::Eicar => "eicar",
            Danger::TooLarge => "too_large",
            Danger::Malware => "malware",
        }
    }
}

/// How far into a file text signatures are looked for.
const TEXT_WINDOW: usize = 64 * 1024;

/// The EICAR test string (it is harmless by design; scanners must flag it).
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn starts(bytes: &[u8], magic: &[u8]) -> bool {
    bytes.starts_with(magic)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[derive(Clone, Copy)]
enum TextSign {
    PowerShell,
    Batch,
    Vbs,
    JScript,
    Hta,
    Html,
    Svg,
    Handler,
}

fn text_signs() -> &'static (Option<AhoCorasick>, Vec<TextSign>) {
    static SIGNS: OnceLock<(Option<AhoCorasick>, Vec<TextSign>)> = OnceLock::new();
    SIGNS.get_or_init(|| {
        let table: &[(&str, TextSign)] = &[
            ("invoke-expression", TextSign::PowerShell),
            ("iex(", TextSign::PowerShell),
            ("-encodedcommand", TextSign::PowerShell),
            ("new-object net.webclient", TextSign::PowerShell),
            ("downloadstring(", TextSign::PowerShell),
            ("start-process", TextSign::PowerShell),
            ("set-executionpolicy", TextSign::PowerShell),
            ("@echo off", TextSign::Batch),
            ("cmd.exe /c", TextSign::Batch),
            ("cmd /c", TextSign::Batch),
            ("%comspec%", TextSign::Batch),
            ("wscript.shell", TextSign::Vbs),
            ("createobject(", TextSign::Vbs),
            ("shell.application", TextSign::Vbs),
            ("activexobject", TextSign::JScript),
            ("wscript.", TextSign::JScript),
            ("<hta:application", TextSign::Hta),
            ("<script", TextSign::Html),
            ("javascript:", TextSign::Html),
            ("<svg", TextSign::Svg),
            ("<iframe", TextSign::Html),
            ("onload=", TextSign::Handler),
            ("onerror=", TextSign::Handler),
            ("onclick=", TextSign::Handler),
            ("onmouseover=", TextSign::Handler),
            ("onbegin=", TextSign::Handler),
        ];
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            .build(table.iter().map(|(p, _)| *p))
            .ok();
        (automaton, table.iter().map(|(_, s)| *s).collect())
    })
}

/// What the bytes are, if dangerous. `limit`: the size WhatsApp allows for the declared type.
pub fn inspect(bytes: &[u8], limit: Option<usize>) -> Option<Danger> {
    if limit.is_some_and(|l| bytes.len() > l) {
        return Some(Danger::TooLarge);
    }
    let head = bytes.get(..TEXT_WINDOW).unwrap_or(bytes);
    if contains(head.get(..512).unwrap_or(head), EICAR) {
        return Some(Danger::Eicar);
    }
    binary(bytes).or_else(|| text(head))
}

fn binary(bytes: &[u8]) -> Option<Danger> {
    let executable = starts(bytes, b"MZ")
        || starts(bytes, b"\x7fELF")
        || [
            &[0xFE, 0xED, 0xFA, 0xCE][..],
            &[0xFE, 0xED, 0xFA, 0xCF],
            &[0xCE, 0xFA, 0xED, 0xFE],
            &[0xCF, 0xFA, 0xED, 0xFE],
            &[0xCA, 0xFE, 0xBA, 0xBE],
        ]
        .iter()
        .any(|m| starts(bytes, m));
    if executable {
        return Some(Danger::Executable);
    }
    if starts(bytes, &[0x4C, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00]) {
        return Some(Danger::Shortcut);
    }
    if [0x8001, 0x8801, 0x9001]
        .iter()
        .any(|&at| bytes.get(at..at + 5) == Some(b"CD001"))
    {
        return Some(Danger::DiskImage);
    }
    if starts(bytes, b"PK\x03\x04") {
        let programs = ["META-INF/MANIFEST.MF", "AndroidManifest.xml", "classes.dex"];
        if programs.iter().any(|n| contains(bytes, n.as_bytes())) {
            return Some(Danger::Package);
        }
        if contains(bytes, b"vbaProject.bin") || contains(bytes, b"macroEnabled") {
            return Some(Danger::OfficeMacro);
        }
        return None;
    }
    if starts(bytes, &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        let office = ["WordDocument", "Workbook", "PowerPoint Document"]
            .iter()
            .any(|n| contains(bytes, &utf16(n)));
        let macros = ["_VBA_PROJECT", "VBA", "Macros"]
            .iter()
            .any(|n| contains(bytes, &utf16(n)));
        return match (office, macros) {
            (true, true) => Some(Danger::OfficeMacro),
            (true, false) => None,
            (false, _) => Some(Danger::Installer),
        };
    }
    if starts(bytes, b"%PDF") {
        let window = bytes.get(..4 * 1024 * 1024).unwrap_or(bytes);
        let script = [&b"/JavaScript"[..], b"/JS ", b"/JS(", b"/JS<", b"/Launch"]
            .iter()
            .any(|n| contains(window, n));
        return script.then_some(Danger::PdfScript);
    }
    None
}

/// Text formats: scripts by their first line or phrases, HTML and SVG with script.
fn text(head: &[u8]) -> Option<Danger> {
    if head.contains(&0) {
        return None;
    }
    if starts(head, b"#!") {
        return Some(Danger::Script);
    }
    let (Some(automaton), signs) = text_signs() else {
        return None;
    };
    let (mut html, mut svg, mut active) = (false, false, false);
    for m in automaton.find_iter(head) {
        match signs.get(m.pattern().as_usize()) {
            Some(
                TextSign::PowerShell
                | TextSign::Batch
                | TextSign::Vbs
                | TextSign::JScript
                | TextSign::Hta,
            ) => return Some(Danger::Script),
            Some(TextSign::Html) => {
                html = true;
                active = true;
            }
            Some(TextSign::Svg) => svg = true,
            Some(TextSign::Handler) => active = true,
            None => {}
        }
    }
    ((html || svg) && active).then_some(Danger::ActiveContent)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn dangerous_files_are_known_by_their_bytes() {
        let mut iso = vec![0u8; 0x8010];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        let mut docm = b"PK\x03\x04....word/vbaProject.bin....".to_vec();
        docm.extend_from_slice(&[0; 16]);
        let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        xls.extend(utf16("Workbook"));
        xls.extend(utf16("_VBA_PROJECT"));
        let mut msi = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        msi.extend_from_slice(&[0x40, 0x48, 0x3F, 0x3B]);
        for (bytes, danger) in [
            (b"MZ\x90\x00\x03".to_vec(), Danger::Executable),
            (b"\x7fELF\x02\x01\x01".to_vec(), Danger::Executable),
            (vec![0xCF, 0xFA, 0xED, 0xFE, 7, 0, 0, 1], Danger::Executable),
            (b"#!/bin/sh\nrm -rf ~\n".to_vec(), Danger::Script),
            (
                b"powershell -EncodedCommand SQBFAFgA".to_vec(),
                Danger::Script,
            ),
            (b"@echo off\r\ndel /q *\r\n".to_vec(), Danger::Script),
            (
                b"Set s = CreateObject(\"WScript.Shell\")".to_vec(),
                Danger::Script,
            ),
            (b"<HTA:APPLICATION id=x>".to_vec(), Danger::Script),
            (
                b"PK\x03\x04..META-INF/MANIFEST.MF..".to_vec(),
                Danger::Package,
            ),
            (
                b"PK\x03\x04..AndroidManifest.xml..classes.dex".to_vec(),
                Danger::Package,
            ),
            (docm, Danger::OfficeMacro),
            (xls, Danger::OfficeMacro),
            (msi, Danger::Installer),
            (iso, Danger::DiskImage),
            (vec![0x4C, 0, 0, 0, 1, 0x14, 2, 0, 0, 0], Danger::Shortcut),
            (
                b"<html><body><script>alert(1)</script>".to_vec(),
                Danger::ActiveContent,
            ),
            (
                b"<svg xmlns='http://www.w3.org/2000/svg' onload='x()'/>".to_vec(),
                Danger::ActiveContent,
            ),
            (
                b"%PDF-1.7\n1 0 obj << /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>"
                    .to_vec(),
                Danger::PdfScript,
            ),
            (EICAR.to_vec(), Danger::Eicar),
        ] {
            assert_eq!(
                inspect(&bytes, None),
                Some(danger),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn ordinary_files_pass_and_limits_hold() {
        for bytes in [
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF".to_vec(),
            b"\x89PNG\r\n\x1a\n".to_vec(),
            b"%PDF-1.4 an invoice".to_vec(),
            b"PK\x03\x04..word/document.xml..".to_vec(),
            b"<svg xmlns='http://www.w3.org/2000/svg'><circle r='4'/></svg>".to_vec(),
            b"Hello, this is a plain text note about the order.".to_vec(),
        ] {
            assert_eq!(
                inspect(&bytes, None),
                None,
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        assert_eq!(inspect(&[0u8; 10], Some(9)), Some(Danger::TooLarge));
    }
}

//! A source file's text as Python reads it: UTF-8, or the encoding its first or second line
//! declares (PEP 263), so a Latin-1 file shows `café`, not `caf�`.

use encoding_rs::Encoding;

/// The file's text; None when it cannot be read.
pub fn read(path: &str) -> Option<String> {
    std::fs::read(path).ok().map(|b| decode(&b))
}

pub fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let encoding = declared(bytes).and_then(|name| {
        let name = name.to_ascii_lowercase().replace('_', "-");
        // Python's spellings that are not WHATWG labels.
        let label = match name.as_str() {
            "latin-1" | "iso-8859-1" | "iso8859-1" | "l1" | "latin1" | "8859" | "cp819" => "iso-8859-1",
            "utf8" | "utf-8" | "utf-8-sig" => "utf-8",
            other => other,
        };
        Encoding::for_label(label.as_bytes())
    });
    match encoding {
        Some(e) => e.decode_without_bom_handling(bytes).0.into_owned(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The encoding named by a `coding[:=]` comment on line 1 or 2.
fn declared(bytes: &[u8]) -> Option<String> {
    for line in bytes.split(|&b| b == b'\n').take(2) {
        let line = String::from_utf8_lossy(line);
        let t = line.trim_start_matches([' ', '\t', '\x0c']);
        if !t.starts_with('#') {
            // PEP 263: a first line that is code ends the search.
            if !t.trim().is_empty() {
                return None;
            }
            continue;
        }
        if let Some(i) = t.find("coding") {
            let after = &t[i + "coding".len()..];
            if let Some(after) = after.strip_prefix([':', '=']) {
                let name: String = after
                    .trim_start_matches([' ', '\t'])
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                    .collect();
                if !name.is_empty() {
                    return Some(name);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn declared_encodings_are_honoured() {
        assert_eq!(
            decode(b"# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n"),
            "# -*- coding: latin-1 -*-\ns = 'café'\n"
        );
        assert_eq!(
            decode(b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nq = '\x93'\n")
                .lines()
                .nth(2),
            Some("q = '\u{201c}'")
        );
        assert_eq!(
            decode(b"# coding: koi8-r\nx = '\xc1'\n").lines().nth(1),
            Some("x = 'а'")
        );
    }

    #[test]
    fn utf8_with_or_without_bom_and_no_declaration_after_code() {
        assert_eq!(decode(b"\xef\xbb\xbfx = '\xc3\xa9'\n"), "x = 'é'\n");
        assert_eq!(decode("y = 'é'\n".as_bytes()), "y = 'é'\n");
        // A declaration on line 2 after a line of code does not count.
        assert_eq!(
            decode(b"x = 1\n# coding: latin-1\n\xe9"),
            "x = 1\n# coding: latin-1\n\u{fffd}"
        );
    }
}

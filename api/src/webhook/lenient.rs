//! Reading a body as JSON even when one string in it is broken.
//!
//! A `\uD83D` escape without its second half (a lone surrogate, which a
//! client cutting an emoji in two produces) is valid JSON syntax but not
//! a character, and `serde_json` refuses the whole document for it; so do
//! bytes that are not UTF-8. One such string would make every event of
//! the POST unreadable, so the body is repaired first: lone surrogates
//! become U+FFFD (the replacement character), as do bytes that are not
//! UTF-8. A body that is valid to begin with is parsed as it is.
use std::borrow::Cow;

use serde_json::Value;

/// The body as JSON, repaired if need be; `None` if it is not JSON at all.
pub fn parse(body: &[u8]) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Some(value);
    }
    let text = String::from_utf8_lossy(body);
    serde_json::from_str(&without_lone_surrogates(&text)).ok()
}

/// `text` with every `\uXXXX` escape of a surrogate that is not part of a
/// pair replaced by `\uFFFD`. Escapes are only looked for after a
/// backslash that is not itself escaped.
fn without_lone_surrogates(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escape_at(bytes, i) else {
            // Any other escape: skip it whole, so `\\u…` is not read as one.
            i += 2;
            continue;
        };
        let paired = match unit {
            0xD800..=0xDBFF => escape_at(bytes, i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)),
            0xDC00..=0xDFFF => false,
            _ => true,
        };
        if paired && (0xD800..=0xDBFF).contains(&unit) {
            i += 12;
        } else if paired {
            i += 6;
        } else {
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..i]);
            out.push_str("\\uFFFD");
            i += 6;
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// The UTF-16 unit of a `\uXXXX` escape starting at `at`, if there is one.
fn escape_at(bytes: &[u8], at: usize) -> Option<u32> {
    let escape = bytes.get(at..at + 6)?;
    if escape[0] != b'\\' || escape[1] != b'u' {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(&escape[2..]).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_json_is_read_as_it_is() {
        let body = br#"{"text": "hi \ud83d\udc4b \u00e9 \\ud83d"}"#;
        assert_eq!(parse(body).unwrap()["text"], "hi 👋 é \\ud83d");
    }

    #[test]
    fn lone_surrogates_and_bad_bytes_become_replacement_characters() {
        let body = br#"{"a": "cut \ud83d", "b": "\udc4b alone", "c": "\ud83d\ud83d\udc4b", "d": "fine"}"#;
        let value = parse(body).unwrap();
        assert_eq!(value["a"], "cut \u{fffd}");
        assert_eq!(value["b"], "\u{fffd} alone");
        assert_eq!(value["c"], "\u{fffd}👋");
        assert_eq!(value["d"], "fine");
        let mut bytes = br#"{"a": "x"#.to_vec();
        bytes.extend([0xff, 0xfe]);
        bytes.extend(br#"y"}"#);
        assert_eq!(parse(&bytes).unwrap()["a"], "x\u{fffd}\u{fffd}y");
    }

    #[test]
    fn what_is_not_json_stays_unreadable() {
        assert!(parse(b"{ not json").is_none());
        assert!(parse(b"").is_none());
    }
}

//! The Send API's own limits, kept before anything is sent.
//!
//! - `message.text`: at most [`MAX_TEXT`] characters (the Send API
//!   reference: "UTF-8 and has a 2000 character limit"; longer text is
//!   refused with `(#100) Length of param message[text] must be less than
//!   or equal to 2000`). Whether Meta counts code points or UTF-16 units is
//!   not documented, so text is kept within both.
//! - quick replies: at most [`MAX_QUICK_REPLIES`] per message, titles of at
//!   most [`MAX_TITLE`] characters (the quick replies reference).
//!
//! A longer text is [`split`] into several messages, at line breaks when
//! it can be, else between words, and never inside a word, so never inside
//! a link.

/// Characters of `message.text`.
pub const MAX_TEXT: usize = 2000;
/// Quick replies one message may carry.
pub const MAX_QUICK_REPLIES: usize = 13;
/// Characters of a quick reply's title.
pub const MAX_TITLE: usize = 20;

/// Whether `text` is within `max` characters, counted as code points and
/// as UTF-16 units (an emoji is two of those).
fn within(text: &str, max: usize) -> bool {
    text.len() <= max || (text.chars().count() <= max && text.encode_utf16().count() <= max)
}

/// The messages `text` is sent as: itself when it fits in one; else its
/// lines, as many to a message as fit; a line longer than a message is
/// split between words; only a single word longer than a message (no link
/// is) is cut. Blank lines where one message ends and the next begins are
/// left out; no message is empty.
pub fn split(text: &str) -> Vec<String> {
    if within(text, MAX_TEXT) {
        return vec![text.to_owned()];
    }
    let mut parts = Parts::default();
    for line in text.split('\n') {
        if within(line, MAX_TEXT) {
            parts.push(line, '\n');
            continue;
        }
        let mut separator = '\n';
        for word in line.split(' ') {
            if within(word, MAX_TEXT) {
                parts.push(word, separator);
            } else {
                for piece in cut(word) {
                    parts.push(&piece, separator);
                }
            }
            separator = ' ';
        }
    }
    parts
        .done
        .into_iter()
        .chain(Some(parts.current))
        .filter(|part| !part.trim().is_empty())
        .collect()
}

/// Messages being filled, the last one still open.
#[derive(Default)]
struct Parts {
    done: Vec<String>,
    current: String,
}

impl Parts {
    /// Adds `piece` after `separator`, or starts the next message with it.
    fn push(&mut self, piece: &str, separator: char) {
        if self.current.trim().is_empty() {
            self.current = piece.to_owned();
            return;
        }
        let mut joined = std::mem::take(&mut self.current);
        joined.push(separator);
        joined.push_str(piece);
        if within(&joined, MAX_TEXT) {
            self.current = joined;
        } else {
            joined.truncate(joined.len() - piece.len() - separator.len_utf8());
            self.done.push(joined);
            self.current = piece.to_owned();
        }
    }
}

/// A word longer than a message, in pieces that fit.
fn cut(word: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    for c in word.chars() {
        let last = pieces.last_mut().expect("never empty");
        last.push(c);
        if !within(last, MAX_TEXT) {
            last.pop();
            pieces.push(c.to_string());
        }
    }
    pieces
}

/// `text` made to fit one message: whole when it does; else cut at the
/// last space before the limit (so no link is cut) and ended with "…".
pub fn fit(text: &str) -> String {
    shorten(text, MAX_TEXT)
}

/// A quick reply's title within [`MAX_TITLE`], ended with "…" when cut.
pub fn title(text: &str) -> String {
    shorten(text, MAX_TITLE)
}

/// `text` within `max`: cut at the last space that leaves room for "…",
/// or mid-word when there is no space in the second half.
fn shorten(text: &str, max: usize) -> String {
    if within(text, max) {
        return text.to_owned();
    }
    let mut kept = String::new();
    for c in text.chars() {
        kept.push(c);
        if !within(&format!("{kept}…"), max) {
            kept.pop();
            break;
        }
    }
    if let Some(space) = kept.rfind(' ').filter(|&at| at * 2 >= kept.len()) {
        kept.truncate(space);
    }
    format!("{}…", kept.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(n: usize) -> String {
        format!("https://open.spotify.com/track/{n:0>22}")
    }

    fn assert_fits(parts: &[String]) {
        for part in parts {
            assert!(
                part.chars().count() <= MAX_TEXT && part.encode_utf16().count() <= MAX_TEXT,
                "{} characters",
                part.chars().count()
            );
            assert!(!part.trim().is_empty());
        }
    }

    #[test]
    fn a_short_text_is_one_message() {
        assert_eq!(split("hello\nthere"), vec!["hello\nthere".to_owned()]);
        let exactly = "x".repeat(MAX_TEXT);
        assert_eq!(split(&exactly), vec![exactly.clone()]);
    }

    #[test]
    fn a_long_list_is_split_between_lines_and_no_link_is_cut() {
        let lines: Vec<String> = (0..80)
            .map(|n| format!("• “Golden Harbor {n}” by The Paper Lanterns from @alex {}", link(n)))
            .collect();
        let text = format!("Songs waiting for you:\n{}", lines.join("\n"));
        let parts = split(&text);
        assert!(parts.len() > 1);
        assert_fits(&parts);
        // Every line arrives whole, in order, in exactly one message.
        let rejoined: Vec<&str> = parts.iter().flat_map(|part| part.split('\n')).collect();
        assert_eq!(rejoined[0], "Songs waiting for you:");
        assert_eq!(&rejoined[1..], lines.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn a_line_longer_than_a_message_is_split_between_words() {
        let handles: Vec<String> = (0..400).map(|n| format!("@friend{n:03},")).collect();
        let line = format!("Your friends: {} {}", handles.join(" "), link(7));
        let parts = split(&line);
        assert!(parts.len() >= 2);
        assert_fits(&parts);
        let words: Vec<&str> = parts.iter().flat_map(|part| part.split(' ')).collect();
        assert_eq!(words, line.split(' ').collect::<Vec<_>>(), "no word cut, none lost");
    }

    #[test]
    fn emoji_count_twice_and_only_an_endless_word_is_cut() {
        let emoji = "🎧".repeat(MAX_TEXT);
        let parts = split(&emoji);
        assert_fits(&parts);
        assert_eq!(parts.len(), 2, "1,000 emoji per message");
        assert_eq!(parts.concat(), emoji);
    }

    #[test]
    fn shortening_keeps_words_and_links_whole() {
        assert_eq!(title("@alex"), "@alex");
        assert_eq!(title("@a_very_long_handle_indeed"), "@a_very_long_handle…");
        assert_eq!(title("Golden Harbor by The Paper Lanterns"), "Golden Harbor by…");
        assert!(within(&title("🎧".repeat(30).as_str()), MAX_TITLE));
        let text = format!("{} {}", "word ".repeat(395), link(1));
        let fitted = fit(&text);
        assert!(within(&fitted, MAX_TEXT) && fitted.ends_with('…'));
        assert!(!fitted.contains("https://"), "the link is dropped whole, not cut");
    }
}

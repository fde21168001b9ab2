//! Reading what people type: free text, case-insensitive.
use crate::accounts::link_codes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// A 16-digit code, alone or after `link`.
    Link(String),
    Connect,
    /// `send <link> to <handle> [note]`, or a bare link (`to` missing).
    Send {
        track: String,
        to: Option<String>,
        note: Option<String>,
    },
    Friends,
    Add(String),
    Inbox,
    Stats,
    Now(String),
    Stop,
    /// A lone web link that is not Spotify's.
    OtherLink,
    Unknown,
}

/// What a message says, as the commands read it: its text; or, when the
/// person shared a Spotify link as an attachment (the Spotify app's share
/// to Messenger) and the text holds no link of its own, the link as if it
/// had been pasted before the text: alone, it asks "to whom?"; with
/// `@handle` or `to <handle>` after it, it is sent.
pub fn text_of(text: Option<&str>, shared_url: Option<&str>) -> String {
    let text = text.unwrap_or("").trim();
    match shared_url {
        Some(link) if !looks_like_a_track(text) => match text {
            "" => link.to_owned(),
            to if to.starts_with('@') => format!("send {link} to {to}"),
            words => format!("send {link} {words}"),
        },
        _ => text.to_owned(),
    }
}

pub fn parse(text: &str) -> Command {
    let text = text.trim();
    if link_codes::normalize(text).is_some() {
        return Command::Link(text.to_owned());
    }
    let (word, rest) = match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word.to_lowercase(), rest.trim()),
        None => (text.to_lowercase(), ""),
    };
    let argument = || rest.split_whitespace().next().unwrap_or("").to_owned();
    match (word.as_str(), rest.is_empty()) {
        ("help" | "?" | "hi" | "hello" | "start", _) => Command::Help,
        ("link", false) => Command::Link(rest.to_owned()),
        ("connect", _) => Command::Connect,
        ("send" | "share", false) => parse_send(rest),
        ("friends", true) => Command::Friends,
        ("add", false) => Command::Add(argument()),
        ("inbox", true) => Command::Inbox,
        ("stats", true) => Command::Stats,
        ("now", false) => Command::Now(argument()),
        ("stop", true) => Command::Stop,
        _ if looks_like_a_track(text) && !text.contains(char::is_whitespace) => Command::Send {
            track: text.to_owned(),
            to: None,
            note: None,
        },
        _ if !text.contains(char::is_whitespace) && (word.starts_with("https://") || word.starts_with("http://")) => {
            Command::OtherLink
        }
        _ => Command::Unknown,
    }
}

/// `<link> to <handle> [note]`: the note keeps its case and spacing.
fn parse_send(rest: &str) -> Command {
    let mut parts = rest.splitn(2, char::is_whitespace);
    let track = parts.next().unwrap_or("").to_owned();
    let after = parts.next().unwrap_or("").trim_start();
    let Some(target) = after
        .strip_prefix("to ")
        .or_else(|| after.strip_prefix("TO "))
        .or_else(|| after.strip_prefix("To "))
    else {
        return Command::Send {
            track,
            to: None,
            note: None,
        };
    };
    let mut parts = target.trim_start().splitn(2, char::is_whitespace);
    let to = parts
        .next()
        .map(|h| h.trim_start_matches('@').to_owned())
        .filter(|h| !h.is_empty());
    let note = parts.next().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    Command::Send { track, to, note }
}

fn looks_like_a_track(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("spotify.com/")
        || lower.starts_with("spotify:")
        || lower.contains("spotify.link/")
        || lower.contains("spotify.app.link/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC";

    #[test]
    fn commands() {
        assert_eq!(parse("HELP"), Command::Help);
        assert_eq!(
            parse("1234 5678-9012 3456"),
            Command::Link("1234 5678-9012 3456".into())
        );
        assert_eq!(parse("link 1234567890123456"), Command::Link("1234567890123456".into()));
        assert_eq!(parse("Friends"), Command::Friends);
        assert_eq!(parse("add @Sam"), Command::Add("@Sam".into()));
        assert_eq!(parse("now sam"), Command::Now("sam".into()));
        assert_eq!(parse("what is this"), Command::Unknown);
        assert_eq!(parse("https://example.com/playlist"), Command::OtherLink);
        assert_eq!(parse("see https://example.com/playlist"), Command::Unknown);
    }

    #[test]
    fn a_shared_link_reads_as_if_pasted() {
        let shared = |text: Option<&str>| parse(&text_of(text, Some(LINK)));
        let bare = Command::Send {
            track: LINK.into(),
            to: None,
            note: None,
        };
        assert_eq!(shared(None), bare);
        assert_eq!(shared(Some("  ")), bare);
        assert_eq!(shared(Some("7/11")), bare, "the title Messenger gives");
        assert_eq!(shared(Some(LINK)), bare, "the link as text too");
        assert_eq!(
            shared(Some("@ben for the drive")),
            Command::Send {
                track: LINK.into(),
                to: Some("ben".into()),
                note: Some("for the drive".into())
            }
        );
        assert_eq!(
            shared(Some("to ben")),
            Command::Send {
                track: LINK.into(),
                to: Some("ben".into()),
                note: None
            }
        );
        assert_eq!(parse(&text_of(Some("help"), None)), Command::Help);
    }

    #[test]
    fn sending() {
        assert_eq!(
            parse(&format!("Send {LINK} to @sam  You'll Love It ")),
            Command::Send {
                track: LINK.into(),
                to: Some("sam".into()),
                note: Some("You'll Love It".into())
            }
        );
        assert_eq!(
            parse(&format!("send {LINK} to sam")),
            Command::Send {
                track: LINK.into(),
                to: Some("sam".into()),
                note: None
            }
        );
        assert_eq!(
            parse(LINK),
            Command::Send {
                track: LINK.into(),
                to: None,
                note: None
            }
        );
        assert_eq!(
            parse(&format!("send {LINK}")),
            Command::Send {
                track: LINK.into(),
                to: None,
                note: None
            }
        );
    }
}

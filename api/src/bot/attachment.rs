//! Messages the bot cannot read as a command — photos, stickers, audio,
//! video, files, locations, cards, reels, story mentions, products, links
//! to anything but Spotify, or nothing readable at all — answered with
//! what it can do instead. (A Spotify link in any attachment reads as the
//! link typed: `command::text_of`.)
use crate::notify::replies::Reply;

/// The answer to a message of Meta's attachment `kinds` (comma-separated,
/// as the webhook stored them; `None`: nothing readable). A link typed
/// that is not Spotify's is answered as one shared (`fallback`).
pub fn answer(kinds: Option<&str>) -> Reply {
    Reply::text(format!(
        "{} To share a song, paste its Spotify link ({TRACK_LINK}) or share it to me from the Spotify app. \
         Send help to see everything I can do.",
        received(kinds)
    ))
}

/// The opening of the one answer to such a message from a person whose
/// chat is not linked yet: what they sent, and what to send once their
/// chat is linked; the way to link it follows
/// ([`first_steps`](super::account::first_steps)).
pub fn unlinked_lead(kinds: Option<&str>) -> String {
    format!(
        "{} Once you're connected, paste a Spotify track link ({TRACK_LINK}) to share a song.\n\n",
        received(kinds)
    )
}

/// How a Spotify track link starts.
const TRACK_LINK: &str = "https://open.spotify.com/track/…";

/// What the bot makes of a message of attachment `kinds` (see [`answer`]).
fn received(kinds: Option<&str>) -> String {
    let kinds: Vec<&str> = kinds.unwrap_or("").split(',').filter(|k| !k.is_empty()).collect();
    let link = kinds.iter().any(|kind| matches!(*kind, "fallback" | "share" | "post"));
    if link {
        "That isn't a Spotify track link, and a Spotify track is what I can share.".to_owned()
    } else if kinds.is_empty() {
        "I couldn't read that message.".to_owned()
    } else {
        let nouns: Vec<&str> = kinds.iter().map(|kind| noun(kind)).collect();
        format!(
            "I can't do anything with {}: I only read Spotify links and text.",
            listed(&nouns)
        )
    }
}

/// What a person calls an attachment of Meta's type `kind`.
fn noun(kind: &str) -> &'static str {
    match kind {
        "image" => "a photo",
        "sticker" => "a sticker",
        "audio" => "an audio clip",
        "video" => "a video",
        "file" => "a file",
        "location" => "a location",
        "template" => "a card",
        "reel" | "ig_reel" => "a reel",
        "story_mention" => "a story mention",
        "product" => "a product",
        _ => "that kind of message",
    }
}

/// "a, b and c", each once.
fn listed(nouns: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for noun in nouns {
        if !unique.contains(noun) {
            unique.push(noun);
        }
    }
    match unique.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_named() {
        assert!(
            answer(Some("image"))
                .text
                .starts_with("I can't do anything with a photo:")
        );
        assert!(
            answer(Some("image,video,file"))
                .text
                .starts_with("I can't do anything with a photo, a video and a file:")
        );
        assert!(
            answer(Some("image,fallback"))
                .text
                .starts_with("That isn't a Spotify track link")
        );
        assert!(answer(None).text.starts_with("I couldn't read that message."));
        assert!(answer(Some("hologram")).text.contains("that kind of message"));
    }
}

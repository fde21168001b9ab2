//! A Spotify link shared into Messenger from the Spotify app, and what
//! other attachments a message carries.
//!
//! Messenger delivers a shared link as an attachment of the message, with
//! or without text (Meta: "for unsupported shares … a `fallback`"):
//!
//! - `{"type": "fallback", "payload": {"url", "title"}}` (documented);
//! - `{"type": "share", "payload": {"url", …}}` (observed in 2026);
//! - the legacy form with `url` and `title` beside the type and
//!   `"payload": null` (documented for echoes, observed for messages).
//!
//! The URL is often Facebook's redirector,
//! `https://l.facebook.com/l.php?u=<the link, percent-encoded>&h=…`, whose
//! `u` parameter is the link itself. The first attachment whose URL (or
//! redirected URL) is a Spotify link is the one read.
use reqwest::Url;
use serde_json::Value;

/// Facebook's link redirectors (`/l.php?u=…`).
const REDIRECTORS: &[&str] = &["l.facebook.com", "lm.facebook.com", "l.messenger.com"];
/// Hosts of Spotify links a person shares: the web player and the app's
/// short links.
const SPOTIFY_HOSTS: &[&str] = &[
    "open.spotify.com",
    "play.spotify.com",
    "spotify.link",
    "spotify.app.link",
];

/// The first Spotify link among a message's `attachments`, unwrapped from
/// Facebook's redirector: in any field of any attachment that carries a
/// URL (`payload.url`, the legacy top-level `url`, a template's elements
/// and buttons, a product's, a reel's…), the documented places first.
pub fn spotify_link(attachments: &Value) -> Option<String> {
    attachments.as_array()?.iter().find_map(|attachment| {
        [&attachment["payload"]["url"], &attachment["url"]]
            .into_iter()
            .filter_map(Value::as_str)
            .chain(strings(attachment))
            .map(unwrapped)
            .find(|url| is_spotify(url))
    })
}

/// What a message's `attachments` are, by Meta's attachment types
/// (`image`, `sticker`, `audio`, `video`, `file`, `location`, `fallback`,
/// `share`, `template`, `reel`, `story_mention`, `product`, …), each once,
/// comma-separated, in order; an image with a `sticker_id` is a sticker
/// (Meta sent stickers so until 2026, and both forms during the change),
/// a template holding a `product` a product.
/// `None` without any.
pub fn kinds(attachments: &Value) -> Option<String> {
    let mut kinds: Vec<&str> = Vec::new();
    for attachment in attachments.as_array()? {
        let kind = match attachment["type"].as_str() {
            _ if !attachment["payload"]["sticker_id"].is_null() => "sticker",
            // Meta's product template: a `template` holding a product.
            _ if attachment["payload"]["product"].is_object() => "product",
            Some(kind) if !kind.is_empty() && kind.len() <= 32 => kind,
            _ => "unknown",
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    (!kinds.is_empty()).then(|| kinds.join(","))
}

/// Every string anywhere in `value`.
fn strings(value: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match value {
        Value::String(text) => Box::new(std::iter::once(text.as_str())),
        Value::Array(items) => Box::new(items.iter().flat_map(strings)),
        Value::Object(fields) => Box::new(fields.values().flat_map(strings)),
        _ => Box::new(std::iter::empty()),
    }
}

/// The link a redirector URL leads to; any other URL as it is.
fn unwrapped(url: &str) -> String {
    let Ok(parsed) = Url::parse(url) else {
        return url.to_owned();
    };
    let redirector = parsed
        .host_str()
        .is_some_and(|host| REDIRECTORS.contains(&host.to_ascii_lowercase().as_str()));
    if !redirector || parsed.path() != "/l.php" {
        return url.to_owned();
    }
    parsed
        .query_pairs()
        .find(|(key, _)| key == "u")
        .map_or_else(|| url.to_owned(), |(_, target)| target.into_owned())
}

fn is_spotify(url: &str) -> bool {
    if url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("spotify:"))
    {
        return true;
    }
    Url::parse(url).is_ok_and(|url| {
        matches!(url.scheme(), "https" | "http")
            && url
                .host_str()
                .is_some_and(|host| SPOTIFY_HOSTS.contains(&host.to_ascii_lowercase().as_str()))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TRACK: &str = "https://open.spotify.com/track/02M6vucOvmRfMxTXDUwRXu?si=6f1c2a8b9d3e4f50";
    const WRAPPED: &str = "https://l.facebook.com/l.php?u=https%3A%2F%2Fopen.spotify.com%2Ftrack%2F02M6vucOvmRfMxTXDUwRXu%3Fsi%3D6f1c2a8b9d3e4f50&h=AT0&s=1";

    #[test]
    fn every_documented_and_observed_form() {
        for attachments in [
            json!([{ "type": "fallback", "payload": { "url": WRAPPED, "title": "7/11" } }]),
            json!([{ "type": "fallback", "payload": { "url": TRACK, "title": "7/11" } }]),
            json!([{ "type": "share", "payload": { "url": WRAPPED } }]),
            json!([{ "type": "fallback", "title": "7/11", "url": WRAPPED, "payload": null }]),
            json!([{ "type": "image", "payload": { "url": "https://scontent.xx.fbcdn.net/x.jpg" } },
                   { "type": "fallback", "payload": { "url": WRAPPED } }]),
        ] {
            assert_eq!(spotify_link(&attachments).as_deref(), Some(TRACK), "{attachments}");
        }
        let short = json!([{ "type": "fallback", "payload": {
            "url": "https://l.facebook.com/l.php?u=https%3A%2F%2Fspotify.link%2FhRkBrwub9xb&h=AT" } }]);
        assert_eq!(
            spotify_link(&short).as_deref(),
            Some("https://spotify.link/hRkBrwub9xb")
        );
    }

    #[test]
    fn a_link_anywhere_in_an_attachment_is_found() {
        let template = json!([{ "type": "template", "payload": { "template_type": "generic", "elements": [
            { "title": "7/11", "buttons": [{ "type": "web_url", "url": WRAPPED, "title": "Open" }] }] } }]);
        assert_eq!(spotify_link(&template).as_deref(), Some(TRACK));
    }

    #[test]
    fn kinds_each_once_and_stickers_as_stickers() {
        let sticker =
            json!({ "type": "image", "payload": { "url": "https://x/y.png", "sticker_id": 369239263222822u64 } });
        let photo = json!({ "type": "image", "payload": { "url": "https://x/y.jpg" } });
        let kinds_of = |list: Value| kinds(&list);
        assert_eq!(
            kinds_of(json!([sticker, { "type": "sticker" }])).as_deref(),
            Some("sticker")
        );
        assert_eq!(
            kinds_of(json!([photo, photo, { "type": "video" }])).as_deref(),
            Some("image,video")
        );
        assert_eq!(kinds_of(json!([{ "no": "type" }])).as_deref(), Some("unknown"));
        assert_eq!(kinds_of(json!([])), None);
        assert_eq!(kinds_of(Value::Null), None);
    }

    #[test]
    fn other_attachments_carry_no_link() {
        for attachments in [
            json!([{ "type": "fallback" }]),
            json!([{ "type": "image", "payload": { "url": "https://scontent.xx.fbcdn.net/x.jpg", "sticker_id": 369239263222822u64 } }]),
            json!([{ "type": "fallback", "payload": { "url": "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2F" } }]),
            json!([{ "type": "fallback", "payload": { "url": "https://open.spotify.com.evil.example/track/1" } }]),
            json!({ "not": "a list" }),
            Value::Null,
        ] {
            assert_eq!(spotify_link(&attachments), None, "{attachments}");
        }
    }
}

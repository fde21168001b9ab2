//! What an account can be playing besides a catalogue track, in the shapes
//! Spotify documents (see `tests/fixtures/spotify/`): a local file
//! (`is_local`, ids null, a `spotify:local:…` URI), an episode or an ad
//! (`currently_playing_type` `episode` or `ad`, `item` null), something of
//! a type Spotify does not name (`currently_playing_type` `unknown`, `item`
//! null), and a track Spotify can no longer describe (`item` null while it
//! plays, `track` null in recently-played: both are seen from the real
//! service). Recently played lists tracks, local files and those missing
//! tracks only ("Currently doesn't support podcast episodes").
use serde_json::{Value, json};

use super::catalog::CatalogTrack;
use crate::spotify::links::TrackId;

/// How long an episode or an ad "plays" in the sandbox, in milliseconds.
const EPISODE_MS: i64 = 30 * 60 * 1000;
const AD_MS: i64 = 30 * 1000;

/// One thing that was played.
#[derive(Clone)]
pub(super) enum Played {
    Track(TrackId),
    Local(LocalFile),
    Episode,
    Ad,
    /// `currently_playing_type` `unknown`, `item` null.
    Unknown,
    /// A track whose object Spotify leaves out: `item` null (type `track`,
    /// not playing) in currently-playing, `track` null in recently-played.
    Missing,
}

/// How long an unknown item or a missing track "plays" in the sandbox, in
/// milliseconds.
const UNDESCRIBED_MS: i64 = 3 * 60 * 1000;

/// A file from the listener's disk, named by its URI
/// `spotify:local:{artist}:{album}:{title}:{seconds}` (URL-encoded, `+`
/// for spaces; any part may be empty).
#[derive(Clone)]
pub(super) struct LocalFile {
    uri: String,
    artist: String,
    album: String,
    title: String,
    seconds: i64,
}

impl LocalFile {
    /// Reads a `spotify:local:` URI; `None` when it is not one.
    pub(super) fn parse(uri: &str) -> Option<Self> {
        let rest = uri.trim().strip_prefix("spotify:local:")?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [artist, album, title, seconds] = parts[..] else {
            return None;
        };
        Some(Self {
            uri: uri.trim().to_owned(),
            artist: decode(artist),
            album: decode(album),
            title: decode(title),
            seconds: seconds.parse().ok()?,
        })
    }

    /// The Track object of a local file, as Spotify sends it.
    fn to_json(&self) -> Value {
        let artists: Vec<Value> = [&self.artist]
            .iter()
            .map(|name| {
                json!({ "external_urls": {}, "href": null, "id": null, "name": name,
                        "type": "artist", "uri": null })
            })
            .collect();
        json!({
            "album": { "album_type": null, "artists": [], "available_markets": [], "external_urls": {},
                       "href": null, "id": null, "images": [], "name": self.album, "release_date": null,
                       "release_date_precision": null, "type": "album", "uri": null },
            "artists": artists,
            "available_markets": [],
            "disc_number": 0,
            "duration_ms": self.seconds * 1000,
            "explicit": false,
            "external_ids": {},
            "external_urls": {},
            "href": null,
            "id": null,
            "is_local": true,
            "name": self.title,
            "popularity": 0,
            "preview_url": null,
            "track_number": 0,
            "type": "track",
            "uri": self.uri,
        })
    }
}

impl Played {
    /// How long it plays, in milliseconds.
    pub(super) fn duration_ms(&self) -> i64 {
        match self {
            Self::Track(id) => CatalogTrack::lookup(id).duration_ms,
            Self::Local(file) => file.seconds * 1000,
            Self::Episode => EPISODE_MS,
            Self::Ad => AD_MS,
            Self::Unknown | Self::Missing => UNDESCRIBED_MS,
        }
    }

    /// Whether recently-played lists it (tracks, local files, missing
    /// tracks).
    pub(super) fn in_history(&self) -> bool {
        matches!(self, Self::Track(_) | Self::Local(_) | Self::Missing)
    }

    /// Its `track` in a recently-played item (see [`in_history`](Self::in_history)).
    pub(super) fn history_json(&self, api_base: &str) -> Value {
        match self {
            Self::Track(id) => CatalogTrack::lookup(id).to_json(api_base),
            Self::Local(file) => file.to_json(),
            Self::Episode | Self::Ad | Self::Unknown | Self::Missing => Value::Null,
        }
    }

    /// `item` and `currently_playing_type` of currently-playing (without
    /// `additional_types=episode`, an episode's item is null).
    pub(super) fn current_json(&self, api_base: &str) -> (Value, &'static str) {
        match self {
            Self::Track(id) => (CatalogTrack::lookup(id).to_json(api_base), "track"),
            Self::Local(file) => (file.to_json(), "track"),
            Self::Episode => (Value::Null, "episode"),
            Self::Ad => (Value::Null, "ad"),
            Self::Unknown => (Value::Null, "unknown"),
            Self::Missing => (Value::Null, "track"),
        }
    }
}

/// URL-decodes a part of a local URI (`+` is a space).
fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_uris_read_as_spotify_writes_them() {
        let file = LocalFile::parse("spotify:local:Halsey:Manic+%28Deluxe%29:929:174").unwrap();
        let json = file.to_json();
        assert_eq!(json["name"], "929");
        assert_eq!(json["album"]["name"], "Manic (Deluxe)");
        assert_eq!(json["artists"][0]["name"], "Halsey");
        assert_eq!(json["duration_ms"], 174_000);
        assert!(json["id"].is_null() && json["is_local"] == true);
        assert!(LocalFile::parse("spotify:local:::take+3:0").is_some());
        assert!(LocalFile::parse("spotify:track:4uLU6hMCjMI75M1A2tKUQC").is_none());
    }
}

//! What Spotify answers, read the way Spotify documents it rather than the
//! way an ordinary track looks.
//!
//! Spotify's answers carry things that are not catalogue tracks: local
//! files (`is_local: true`, `id` null, a `spotify:local:…` URI, names that
//! may be empty), episodes and ads (`currently_playing_type` `episode`,
//! `ad` or `unknown`, `item` often null), and — in principle — history
//! items whose `track` is null. Each item is read on its own from JSON, so
//! one item of an unexpected shape is skipped and never sinks the page
//! (sources: the Get Currently Playing Track and Get Recently Played Tracks
//! references, and the Local Files concept page; fixtures in
//! `tests/fixtures/spotify/`).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;

/// Tokens from the accounts service.
#[derive(Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    /// Seconds.
    pub expires_in: i64,
    /// Present on code exchange; on refresh only when Spotify rotates it
    /// ("A new refresh token might be returned too"): keep the old one
    /// when absent.
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// `GET /v1/me`, as far as Send Songs reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    /// The Spotify user id: shown to people, and the key of links made
    /// before `account_id` existed.
    pub id: String,
    /// "A public, immutable, pseudoanonymous identifier for the user's
    /// account … Use `account_id` rather than `id` when linking user
    /// accounts" (Web API changelog, May 2026). Absent from older answers;
    /// its format is not documented, so it is an opaque string.
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

impl Profile {
    /// The key a link is stored under: `account_id` when Spotify sends
    /// one, else (answers before May 2026) the user id.
    pub fn link_key(&self) -> &str {
        self.account_id.as_deref().filter(|a| !a.is_empty()).unwrap_or(&self.id)
    }
}

/// A catalogue track: one with an id. Read only from items that are
/// tracks and not local files.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiTrack {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub duration_ms: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub artists: Vec<ApiArtist>,
    #[serde(default)]
    pub album: Option<ApiAlbum>,
    /// Set when Spotify relinked the requested track to another id. Since
    /// February 2026 Development Mode apps no longer receive it (Spotify's
    /// Web API changelog): the ISRC is then the way to tell a relinked play.
    #[serde(default)]
    pub linked_from: Option<LinkedFrom>,
    /// The recording's identifiers; `{}` for local files, absent in bodies
    /// that leave it out.
    #[serde(default)]
    pub external_ids: Option<ExternalIds>,
}

impl ApiTrack {
    /// The recording's ISRC, if Spotify gave one.
    pub fn isrc(&self) -> Option<&str> {
        self.external_ids
            .as_ref()?
            .isrc
            .as_deref()
            .filter(|isrc| !isrc.is_empty())
    }
}

/// A track's `external_ids` (Spotify's ExternalIdObject).
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalIds {
    /// International Standard Recording Code: one per recording, shared by
    /// the track ids Spotify has for it (a single and its album release).
    #[serde(default)]
    pub isrc: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiArtist {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiAlbum {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub images: Vec<ApiImage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiImage {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LinkedFrom {
    #[serde(default)]
    pub id: Option<String>,
}

/// A file from the listener's own disk, played through Spotify: no id,
/// nothing in the catalogue; named by its tags, which may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The title tag (or file name); may be empty.
    pub name: String,
    /// Artist tags that are not empty.
    pub artists: Vec<String>,
}

impl LocalFile {
    /// How people see it named: `a local file: “929” by Halsey`, or just
    /// `a local file` when it has no tags.
    pub fn describe(&self) -> String {
        let name = self.name.trim();
        match (name.is_empty(), self.artists.is_empty()) {
            (true, _) => "a local file".to_owned(),
            (false, true) => format!("a local file: “{name}”"),
            (false, false) => format!("a local file: “{name}” by {}", self.artists.join(", ")),
        }
    }
}

/// One item Spotify reports as played or playing.
#[derive(Debug, Clone)]
pub enum Item {
    /// A catalogue track.
    Track(ApiTrack),
    /// A local file.
    Local(LocalFile),
    /// An episode, an ad, an unknown kind, or nothing at all: nothing a
    /// listen receipt or "now playing" can name.
    Other,
}

impl Item {
    /// Reads an item from its JSON, whatever its shape.
    pub fn read(value: Value) -> Self {
        if value.is_null() {
            return Self::Other;
        }
        if value["type"].as_str().is_some_and(|kind| kind != "track") {
            return Self::Other; // an episode (`additional_types=episode`)
        }
        if value["is_local"].as_bool() == Some(true) || value["id"].is_null() {
            return Self::Local(local_file(&value));
        }
        match serde_json::from_value::<ApiTrack>(value) {
            Ok(track) if super::links::TrackId::parse(&track.id).is_some() => Self::Track(track),
            Ok(track) => {
                tracing::debug!(id = %track.id, "skipped a spotify track whose id is not a track id");
                Self::Other
            }
            Err(err) => {
                tracing::debug!(error = %err, "skipped a spotify item of an unexpected shape");
                Self::Other
            }
        }
    }

    /// The catalogue track, if this is one.
    pub fn track(&self) -> Option<&ApiTrack> {
        match self {
            Self::Track(track) => Some(track),
            _ => None,
        }
    }
}

fn local_file(value: &Value) -> LocalFile {
    let text = |v: &Value| v.as_str().unwrap_or_default().trim().to_owned();
    let artists = value["artists"]
        .as_array()
        .map(|artists| {
            artists
                .iter()
                .map(|a| text(&a["name"]))
                .filter(|name| !name.is_empty())
                .collect()
        })
        .unwrap_or_default();
    LocalFile {
        name: text(&value["name"]),
        artists,
    }
}

/// One play from `recently-played`.
#[derive(Debug, Clone)]
pub struct PlayHistory {
    pub item: Item,
    pub played_at: DateTime<Utc>,
}

impl PlayHistory {
    /// The catalogue track played, if it was one (not a local file).
    pub fn track(&self) -> Option<&ApiTrack> {
        self.item.track()
    }
}

/// `GET /v1/me/player/recently-played`: items read one by one; an item
/// without a readable `played_at` is skipped.
#[derive(Deserialize)]
pub(super) struct RecentlyPlayedPage {
    #[serde(default, deserialize_with = "nullable")]
    items: Vec<Value>,
}

impl RecentlyPlayedPage {
    pub(super) fn plays(self) -> Vec<PlayHistory> {
        self.items
            .into_iter()
            .filter_map(|mut item| {
                let played_at = serde_json::from_value(item["played_at"].take()).ok()?;
                Some(PlayHistory {
                    item: Item::read(item["track"].take()),
                    played_at,
                })
            })
            .collect()
    }
}

/// What is playing now.
#[derive(Debug, Clone)]
pub struct CurrentlyPlaying {
    /// False while paused.
    pub is_playing: bool,
    pub item: Item,
    /// How far into `item` playback is, in milliseconds ("Progress into the
    /// currently playing track or episode. Can be null.").
    pub progress_ms: Option<i64>,
}

/// `GET /v1/me/player/currently-playing` (200).
#[derive(Deserialize)]
pub(super) struct CurrentlyPlayingBody {
    #[serde(default, deserialize_with = "nullable")]
    is_playing: bool,
    #[serde(default)]
    item: Value,
    /// `track`, `episode`, `ad` or `unknown`.
    #[serde(default)]
    currently_playing_type: Option<String>,
    #[serde(default)]
    progress_ms: Option<i64>,
}

impl CurrentlyPlayingBody {
    pub(super) fn read(self) -> CurrentlyPlaying {
        let item = match self.currently_playing_type.as_deref() {
            None | Some("track") => Item::read(self.item),
            Some(_) => Item::Other,
        };
        CurrentlyPlaying {
            is_playing: self.is_playing,
            item,
            progress_ms: self.progress_ms,
        }
    }
}

/// The text of an error answer, whatever its form: the Web API's
/// `{"error": {"status", "message", "reason"?}}`, the accounts service's
/// `{"error": "<code>", "error_description"?}`, or a plain-text or HTML
/// body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// The Web API's `reason` (`QUOTA_EXCEEDED`, …) or the accounts
    /// service's `error` code (`invalid_grant`, `invalid_client`, …).
    pub code: Option<String>,
    /// The message or description, or the start of a body that is not JSON.
    pub message: String,
}

impl ErrorBody {
    pub fn parse(body: &str) -> Self {
        let Ok(json) = serde_json::from_str::<Value>(body) else {
            let text: String = body.trim().chars().take(200).collect();
            return Self {
                code: None,
                message: text,
            };
        };
        let error = &json["error"];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        match error {
            Value::Object(_) => Self {
                code: text(&error["reason"]),
                message: text(&error["message"]).unwrap_or_default(),
            },
            Value::String(code) => Self {
                code: Some(code.clone()),
                message: text(&json["error_description"]).unwrap_or_default(),
            },
            _ => Self::default(),
        }
    }
}

/// A JSON body of type `T`.
pub(super) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// `null` reads as the default: Spotify nulls fields that its reference
/// lists as present (local files, Development Mode).
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_files_are_named_by_their_tags() {
        let file = |name: &str, artists: &[&str]| LocalFile {
            name: name.into(),
            artists: artists.iter().map(|a| (*a).to_owned()).collect(),
        };
        assert_eq!(file("929", &["Halsey"]).describe(), "a local file: “929” by Halsey");
        assert_eq!(file("take 3", &[]).describe(), "a local file: “take 3”");
        assert_eq!(file(" ", &[]).describe(), "a local file");
    }

    #[test]
    fn error_bodies_of_every_form() {
        let quota =
            ErrorBody::parse(r#"{"error":{"status":429,"message":"Too many requests","reason":"QUOTA_EXCEEDED"}}"#);
        assert_eq!(quota.code.as_deref(), Some("QUOTA_EXCEEDED"));
        let oauth = ErrorBody::parse(r#"{"error":"invalid_client"}"#);
        assert_eq!(oauth.code.as_deref(), Some("invalid_client"));
        assert_eq!(oauth.message, "");
        assert_eq!(ErrorBody::parse("{}"), ErrorBody::default());
        assert_eq!(ErrorBody::parse("Too many requests").message, "Too many requests");
    }
}

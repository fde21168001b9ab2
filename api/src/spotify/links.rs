//! Track links: every form people paste, down to one track ID.
//!
//! Accepted: `spotify:track:ID`, `https://open.spotify.com/track/ID?si=…`,
//! `…/intl-xx/track/ID`, `…/embed/track/ID`, and a bare 22-character ID.
//! Short links (`spotify.link/…`, `spotify.app.link/…`) need a network hop:
//! [`LinkResolver::resolve`] follows their redirects, only between Spotify hosts.
use std::time::Duration;

use crate::error::{Error, Result};

/// A Spotify track ID: 22 base-62 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackId(String);

impl TrackId {
    pub fn parse(id: &str) -> Option<Self> {
        (id.len() == 22 && id.chars().all(|c| c.is_ascii_alphanumeric())).then(|| Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn uri(&self) -> String {
        format!("spotify:track:{}", self.0)
    }

    pub fn url(&self) -> String {
        format!("https://open.spotify.com/track/{}", self.0)
    }
}

impl std::fmt::Display for TrackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a piece of text turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Track(TrackId),
    /// A short link that must be followed to find out.
    ShortLink(String),
}

const ONLY_TRACKS: &str = "only tracks can be shared: paste a Spotify track link (open.spotify.com/track/…)";

fn not_a_link() -> Error {
    Error::bad_input(
        "track",
        "this is not a Spotify track: paste a link like https://open.spotify.com/track/…",
    )
}

const SHORT_HOSTS: &[&str] = &["spotify.link", "spotify.app.link"];
const SPOTIFY_HOSTS: &[&str] = &[
    "open.spotify.com",
    "play.spotify.com",
    "spotify.link",
    "spotify.app.link",
];

/// Parses without touching the network.
///
/// # Errors
/// `BadUserInput` (field `track`) for anything that is not a Spotify track
/// link, URI or id (other Spotify content included).
pub fn parse(input: &str) -> Result<Parsed> {
    parse_with_hosts(input, &[])
}

/// Like [`parse`]; `extra_hosts` (`host:port`) count as short-link hosts.
/// Tests and the sandbox use them to stand in for spotify.link locally.
///
/// # Errors
/// As [`parse`].
pub fn parse_with_hosts(input: &str, extra_hosts: &[String]) -> Result<Parsed> {
    let text = input.trim();
    if let Some(id) = TrackId::parse(text) {
        return Ok(Parsed::Track(id));
    }
    if let Some(rest) = text.strip_prefix("spotify:") {
        let mut parts = rest.split(':');
        return match (parts.next(), parts.next(), parts.next()) {
            (Some("track"), Some(id), None) => TrackId::parse(id).map(Parsed::Track).ok_or_else(not_a_link),
            (Some(_), Some(_), _) => Err(Error::bad_input("track", ONLY_TRACKS)),
            _ => Err(not_a_link()),
        };
    }
    let Some((host, path)) = split_url(text) else {
        return Err(not_a_link());
    };
    if SHORT_HOSTS.contains(&host.as_str()) {
        return Ok(Parsed::ShortLink(format!("https://{host}{path}")));
    }
    if extra_hosts.contains(&host) {
        return Ok(Parsed::ShortLink(text.to_owned()));
    }
    if host != "open.spotify.com" && host != "play.spotify.com" {
        return Err(not_a_link()); // also any host with a port
    }
    track_from_path(path).map(Parsed::Track)
}

/// Host (lower-case) and path (without query or fragment) of an http(s) URL.
fn split_url(text: &str) -> Option<(String, &str)> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .or_else(|| text.starts_with("open.spotify.com/").then_some(text))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = rest[..end].to_ascii_lowercase();
    if host.contains('@') {
        return None; // credentials: not a link people paste
    }
    let path = &rest[end..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    Some((host, path))
}

/// True for an album, playlist, episode… page.
fn is_other_content(path: &str) -> bool {
    matches!(track_from_path(path), Err(Error::BadUserInput { ref message, .. }) if message == ONLY_TRACKS)
}

fn track_from_path(path: &str) -> Result<TrackId> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let segments: Vec<&str> = segments
        .into_iter()
        .skip_while(|s| s.starts_with("intl-") || *s == "embed" || s.starts_with("embed-"))
        .collect();
    match segments.as_slice() {
        ["track", id, ..] => TrackId::parse(id).ok_or_else(not_a_link),
        [kind, _, ..]
            if matches!(
                *kind,
                "album" | "playlist" | "episode" | "show" | "artist" | "user" | "audiobook"
            ) =>
        {
            Err(Error::bad_input("track", ONLY_TRACKS))
        }
        _ => Err(not_a_link()),
    }
}

/// Follows short links. Its HTTP client must not follow redirects itself:
/// every hop is checked before it is taken.
pub struct LinkResolver {
    http: reqwest::Client,
    /// `host:port` of local stand-ins for spotify.link (tests, sandbox).
    extra_hosts: Vec<String>,
}

impl LinkResolver {
    pub fn new(extra_hosts: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .expect("a plain HTTP client builds");
        Self { http, extra_hosts }
    }

    /// Resolves any accepted form to a track ID, following a short link's
    /// redirects (at most 5, only between Spotify hosts, within 5 seconds).
    ///
    /// # Errors
    /// `BadUserInput` (field `track`) as [`parse`], or for a short link that
    /// does not lead to a track; `UpstreamUnavailable` when a short link
    /// cannot be opened (in time).
    pub async fn resolve(&self, input: &str) -> Result<TrackId> {
        match parse_with_hosts(input, &self.extra_hosts)? {
            Parsed::Track(id) => Ok(id),
            Parsed::ShortLink(url) => tokio::time::timeout(Duration::from_secs(5), self.follow(url))
                .await
                .map_err(|_| {
                    Error::UpstreamUnavailable(
                        "that short link took too long to open: paste the full track link".into(),
                    )
                })?,
        }
    }

    async fn follow(&self, mut url: String) -> Result<TrackId> {
        const MAX_REDIRECTS: usize = 5;
        for _ in 0..MAX_REDIRECTS {
            let response = self.http.get(&url).send().await.map_err(|_| {
                Error::UpstreamUnavailable("could not open that short link: paste the full track link".into())
            })?;
            if !response.status().is_redirection() {
                return Err(Error::bad_input(
                    "track",
                    "that short link does not lead to a Spotify track",
                ));
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(not_a_link)?;
            let next = response.url().join(location).map_err(|_| not_a_link())?;
            let host = match (next.host_str(), next.port()) {
                (Some(host), Some(port)) => format!("{}:{port}", host.to_ascii_lowercase()),
                (Some(host), None) => host.to_ascii_lowercase(),
                _ => return Err(not_a_link()),
            };
            let spotify = SPOTIFY_HOSTS.contains(&host.as_str()) && matches!(next.scheme(), "https" | "http");
            if !spotify && !self.extra_hosts.contains(&host) {
                return Err(Error::bad_input("track", "that short link leads away from Spotify"));
            }
            if !SHORT_HOSTS.contains(&host.as_str())
                && let Ok(found) = track_from_path(next.path())
            {
                return Ok(found);
            }
            if !SHORT_HOSTS.contains(&host.as_str()) && is_other_content(next.path()) {
                return Err(Error::bad_input("track", ONLY_TRACKS));
            }
            url = next.to_string();
        }
        Err(Error::bad_input("track", "that short link redirects too many times"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4uLU6hMCjMI75M1A2tKUQC";

    fn track(input: &str) -> Option<String> {
        match parse(input) {
            Ok(Parsed::Track(id)) => Some(id.to_string()),
            _ => None,
        }
    }

    #[test]
    fn every_track_form() {
        for input in [
            ID.to_owned(),
            format!("spotify:track:{ID}"),
            format!("https://open.spotify.com/track/{ID}"),
            format!("https://open.spotify.com/track/{ID}?si=abc123&context=x"),
            format!("https://open.spotify.com/intl-de/track/{ID}"),
            format!("https://open.spotify.com/embed/track/{ID}?utm_source=generator"),
            format!("open.spotify.com/track/{ID}"),
            format!("  https://OPEN.spotify.com/track/{ID}#t=1  "),
        ] {
            assert_eq!(track(&input).as_deref(), Some(ID), "{input}");
        }
    }

    #[test]
    fn other_kinds_say_only_tracks() {
        for input in [
            "https://open.spotify.com/album/1DFixLWuPkv3KT3TnV35m3",
            "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M",
            "https://open.spotify.com/episode/512ojhOuo1ktJprKbVcKyQ",
            "spotify:album:1DFixLWuPkv3KT3TnV35m3",
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.to_string().contains("only tracks"), "{input}: {err}");
        }
    }

    #[test]
    fn hostile_and_broken_input() {
        for input in [
            "",
            "hello",
            "spotify:track:short",
            "https://evil.example/track/4uLU6hMCjMI75M1A2tKUQC",
            "https://open.spotify.com.evil.example/track/4uLU6hMCjMI75M1A2tKUQC",
            "https://user@open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
            "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQ!",
            "javascript:alert(1)",
        ] {
            assert!(parse(input).is_err(), "{input}");
        }
    }

    #[test]
    fn short_links_need_following() {
        assert_eq!(
            parse("https://spotify.link/AbCdEf").unwrap(),
            Parsed::ShortLink("https://spotify.link/AbCdEf".into())
        );
    }
}

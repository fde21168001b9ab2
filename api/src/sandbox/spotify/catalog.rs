//! The catalogue: a made-up but stable track for every valid track ID.
//!
//! Everything is derived from a hash of the ID, so the same ID always gets
//! the same name, artist, album and duration, across restarts too, with no
//! catalogue to load.
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::spotify::links::TrackId;

const ADJECTIVES: &[&str] = &[
    "Midnight", "Golden", "Quiet", "Electric", "Paper", "Velvet", "Distant", "Silver", "Wild", "Hollow", "Neon",
    "Summer", "Crimson", "Gentle", "Restless", "Northern",
];
const NOUNS: &[&str] = &[
    "Harbor",
    "Garden",
    "Highway",
    "River",
    "Signal",
    "Window",
    "Echo",
    "Orchard",
    "Skyline",
    "Lighthouse",
    "Meadow",
    "Tide",
    "Parade",
    "Compass",
    "Letter",
    "Morning",
];
/// Band names are "The <adjective> <plural>": "The Paper Lanterns".
const PLURALS: &[&str] = &[
    "Lanterns",
    "Foxes",
    "Satellites",
    "Wolves",
    "Pilots",
    "Strangers",
    "Comets",
    "Sparrows",
];

/// What the catalogue knows about one track.
pub(super) struct CatalogTrack {
    id: TrackId,
    name: String,
    artist: String,
    album: String,
    /// 150 000 to 300 000 ms; "currently playing" needs it to know when a play ends.
    pub(super) duration_ms: i64,
    /// 24 hex digits that make the cover image URL unique to the album.
    image_hex: String,
    /// A made-up ISRC of the ISRC's shape (`QZSND24` and five digits).
    isrc: String,
}

impl CatalogTrack {
    pub(super) fn lookup(id: &TrackId) -> Self {
        let hash = Sha256::digest(id.as_str().as_bytes());
        let pick = |list: &[&'static str], byte: u8| list[usize::from(byte) % list.len()];
        let duration_span = u32::from_be_bytes([hash[6], hash[7], hash[8], hash[9]]) % 150_001;
        Self {
            id: id.clone(),
            name: format!("{} {}", pick(ADJECTIVES, hash[0]), pick(NOUNS, hash[1])),
            artist: format!("The {} {}", pick(ADJECTIVES, hash[2]), pick(PLURALS, hash[3])),
            album: format!("{} {}", pick(ADJECTIVES, hash[4]), pick(NOUNS, hash[5])),
            duration_ms: 150_000 + i64::from(duration_span),
            image_hex: hash[10..22].iter().map(|b| format!("{b:02x}")).collect(),
            isrc: format!(
                "QZSND24{:05}",
                u32::from_be_bytes([hash[22], hash[23], hash[24], hash[25]]) % 100_000
            ),
        }
    }

    /// Spotify's full Track object. `api_base` is where the Web API is
    /// reachable (`…/v1` follows), for the `href` fields.
    pub(super) fn to_json(&self, api_base: &str) -> Value {
        let id = self.id.as_str();
        // One artist ID per artist name, so the same band is the same artist across tracks.
        let artist_id = base62_id(&format!("artist:{}", self.artist));
        let album_id = base62_id(&format!("album:{id}"));
        let artists = json!([{
            "id": artist_id,
            "name": self.artist,
            "type": "artist",
            "uri": format!("spotify:artist:{artist_id}"),
            "href": format!("{api_base}/v1/artists/{artist_id}"),
            "external_urls": { "spotify": format!("https://open.spotify.com/artist/{artist_id}") },
        }]);
        json!({
            "id": id,
            "name": self.name,
            "type": "track",
            "uri": self.id.uri(),
            "href": format!("{api_base}/v1/tracks/{id}"),
            "external_urls": { "spotify": self.id.url() },
            "duration_ms": self.duration_ms,
            "external_ids": { "isrc": self.isrc },
            "explicit": false,
            "popularity": 50,
            "track_number": 1,
            "disc_number": 1,
            "is_local": false,
            "artists": artists,
            "album": {
                "id": album_id,
                "name": self.album,
                "type": "album",
                "album_type": "album",
                "total_tracks": 1,
                "release_date": "2024-01-01",
                "release_date_precision": "day",
                "images": [{
                    "url": format!("https://i.scdn.co/image/ab67616d0000b273{}", self.image_hex),
                    "height": 640,
                    "width": 640,
                }],
                "artists": artists,
                "uri": format!("spotify:album:{album_id}"),
                "href": format!("{api_base}/v1/albums/{album_id}"),
                "external_urls": { "spotify": format!("https://open.spotify.com/album/{album_id}") },
            },
        })
    }
}

/// A stable 22-character base-62 ID derived from `seed`, shaped like Spotify's.
fn base62_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    Sha256::digest(seed.as_bytes())
        .iter()
        .take(22)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_id_same_track_and_a_plausible_one() {
        let id = TrackId::parse("4uLU6hMCjMI75M1A2tKUQC").unwrap();
        let first = CatalogTrack::lookup(&id).to_json("http://x/api");
        assert_eq!(first, CatalogTrack::lookup(&id).to_json("http://x/api"));
        let duration = first["duration_ms"].as_i64().unwrap();
        assert!((150_000..=300_000).contains(&duration));
        assert!(first["artists"][0]["name"].as_str().unwrap().starts_with("The "));
        let artist_id = first["artists"][0]["id"].as_str().unwrap();
        assert!(
            TrackId::parse(artist_id).is_some(),
            "artist IDs are base62 too: {artist_id}"
        );
        assert_eq!(
            first["album"]["images"][0]["url"].as_str().unwrap().len(),
            "https://i.scdn.co/image/".len() + 40
        );
    }
}

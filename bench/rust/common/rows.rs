//! Seed rows, inserted directly (multi-row INSERTs) rather than through the
//! app's own paths, which are what the benchmarks measure.
use chrono::{DateTime, Utc};
use entity::{tracks, users};
use sea_orm::Set;
use uuid::Uuid;

use super::app::new_user;

/// Rows per INSERT statement while seeding.
pub const INSERT_ROWS: usize = 1000;

/// A user without email or password (as a Messenger-only account is),
/// with the given id.
pub fn user_row(id: Uuid, handle: &str, at: DateTime<Utc>) -> users::ActiveModel {
    let mut row = new_user(handle.to_owned(), handle.to_owned(), at);
    row.id = Set(id);
    row
}

/// The id of the `n`th bench track, shaped like a Spotify track id.
pub fn track_id(n: usize) -> String {
    format!("benchtrack{n:012}")
}

/// The `n`th bench track, "Track n" by Bench Artist, fetched at `at`.
pub fn track_row(n: usize, at: DateTime<Utc>) -> tracks::ActiveModel {
    tracks::ActiveModel {
        id: Set(track_id(n)),
        name: Set(format!("Track {n}")),
        artists: Set(r#"["Bench Artist"]"#.into()),
        album: Set(Some("Bench Album".into())),
        duration_ms: Set(200_000),
        image_url: Set(None),
        fetched_at: Set(at),
    }
}

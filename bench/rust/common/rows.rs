//! Seed rows, inserted directly (multi-row INSERTs) rather than through the
//! app's own paths, which are what the benchmarks measure.
use chrono::{DateTime, TimeDelta, Utc};
use entity::{sessions, spotify_links, tracks, users};
use sea_orm::Set;
use uuid::Uuid;

use super::app::{App, new_user, seal};

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
        isrc: Set(None),
        isrc_known: Set(true),
    }
}

/// An open session of `user` (for access tokens its WebSocket can sign in with).
pub fn session_row(user: Uuid, session: Uuid, at: DateTime<Utc>) -> sessions::ActiveModel {
    sessions::ActiveModel {
        id: Set(session),
        user_id: Set(user),
        created_at: Set(at),
        last_used_at: Set(at),
        revoked_at: Set(None),
    }
}

/// `user`'s Spotify link as the app stores one: Spotify account
/// `bench-account-{n}` (user `bench-user-{n}`), tokens sealed with the app's key (the access token
/// is `access-{user id}`, valid for a year, so no refresh).
pub fn spotify_link_row(app: &App, user: Uuid, n: usize, at: DateTime<Utc>) -> spotify_links::ActiveModel {
    spotify_links::ActiveModel {
        user_id: Set(user),
        account_id: Set(format!("bench-account-{n}")),
        spotify_user_id: Set(Some(format!("bench-user-{n}"))),
        display_name: Set(None),
        client_id: Set(None),
        access_token: Set(seal(app, &format!("access-{user}"), &format!("spotify-access:{user}"))),
        refresh_token: Set(seal(
            app,
            &format!("refresh-{user}"),
            &format!("spotify-refresh:{user}"),
        )),
        access_expires_at: Set(at + TimeDelta::days(365)),
        consented_at: Set(at),
        consent_expires_at: Set(at + TimeDelta::days(180)),
        status: Set(spotify_links::Status::Active),
        expiry_warned_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
}

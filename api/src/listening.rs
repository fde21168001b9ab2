//! Listening, a use case: whose "now playing" a person may see — the one
//! rule, for every edge — and what they see.
//!
//! A signed-in person sees themselves and their accepted friends. Anyone
//! (a static web page, no account) sees the people who made it public, and
//! no one else: to anyone, a person who did not is as unknown, so the
//! answer does not tell who has an account. Each edge words the answer.
use uuid::Uuid;

use crate::{accounts::users, app::App, error::Result, friends, spotify::now_playing::NowPlaying};
use entity::users as user;

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A signed-in person.
    Person(Uuid),
    /// Anyone at all (the public route).
    Anyone,
}

/// What the asker sees of a handle.
#[derive(Debug, Clone)]
pub enum Seen {
    /// What they play, or last played.
    Playing(NowPlaying),
    /// Nobody the asker may know of by that handle.
    Unknown,
    /// Someone whose listening the asker may not see (`handle`: theirs):
    /// not a friend.
    Hidden { handle: String },
}

/// What `asker` sees of `handle`'s listening.
///
/// # Errors
/// `RateLimited` or `UpstreamUnavailable` when Spotify fails us; `Internal`.
pub async fn now_playing(app: &App, asker: Asker, handle: &str) -> Result<Seen> {
    let target = match asker {
        Asker::Person(me) => {
            let Some(target) = users::find_by_handle(&app.db, handle).await? else {
                return Ok(Seen::Unknown);
            };
            if target.id != me && !friends::are_friends(&app.db, me, target.id).await? {
                return Ok(Seen::Hidden { handle: target.handle });
            }
            target
        }
        Asker::Anyone => match public_person(app, handle).await? {
            Some(target) => target,
            None => return Ok(Seen::Unknown),
        },
    };
    Ok(Seen::Playing(app.spotify.now_playing(&target).await?))
}

/// Who a handle is, if they made their listening public. Kept as long as
/// the answer behind it ([`Caches::public_people`](crate::cache::Caches::public_people)),
/// so a busy page costs no statement and at most one Spotify call per 15
/// seconds.
async fn public_person(app: &App, handle: &str) -> Result<Option<user::Model>> {
    let key = handle.trim().trim_start_matches('@').to_lowercase();
    let now = app.clock.now();
    if let Some(person) = app.caches.public_people.get(&key, now) {
        return Ok(person);
    }
    let found = users::find_by_handle(&app.db, &key)
        .await?
        .filter(|u| u.now_playing_public);
    app.caches.public_people.put(key, found.clone(), now);
    Ok(found)
}

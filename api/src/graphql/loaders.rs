//! Data loaders: lists that name users or tracks resolve them in one query,
//! and subscription events reach thousands of subscribers with a few
//! queries. Each loader calls its domain's `load_many`.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use uuid::Uuid;

use crate::{
    accounts::users,
    app::AppState,
    error::Error,
    friends, shares,
    spotify::{catalog, links::TrackId},
};
use entity::{friendships, play_events, share_activities, shares as share, tracks, users as user};

/// Users by id.
pub struct UserLoader(pub AppState);

impl Loader<Uuid> for UserLoader {
    type Value = user::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        users::load_many(&self.0.db, keys).await.map_err(Arc::new)
    }
}

/// Tracks by Spotify id.
pub struct TrackLoader(pub AppState);

impl Loader<String> for TrackLoader {
    type Value = tracks::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        catalog::load_many(&self.0.db, keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

/// Tracks looked up for a person (the `track` query), by person and
/// Spotify id: the fields of one request cost one read of the catalogue
/// and one Spotify call per track missing from it, counted against that
/// person's lookups. Each track answers for itself (found, not on Spotify,
/// lookups used up).
pub struct TrackLookups(pub AppState);

impl Loader<(Uuid, TrackId)> for TrackLookups {
    type Value = catalog::Lookup;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[(Uuid, TrackId)]) -> Result<HashMap<(Uuid, TrackId), Self::Value>, Self::Error> {
        let mut by_person: HashMap<Uuid, Vec<TrackId>> = HashMap::new();
        for (person, id) in keys {
            by_person.entry(*person).or_default().push(id.clone());
        }
        let mut found = HashMap::new();
        for (person, ids) in by_person {
            let looked_up = self.0.spotify.tracks_for(person, &ids).await.map_err(Arc::new)?;
            found.extend(looked_up.into_iter().map(|(id, lookup)| ((person, id), lookup)));
        }
        Ok(found)
    }
}

/// What subscription events name, loaded for every subscriber at once:
/// when one change reaches thousands of connections, their reloads become
/// a few `IN` queries instead of one query each. Nothing is cached, so each
/// subscriber sees the row as it is when the event arrives.
pub struct Subjects {
    pub friendships: DataLoader<Friendships>,
    pub shares: DataLoader<Shares>,
    pub plays: DataLoader<Plays>,
    pub steps: DataLoader<Steps>,
}

impl Subjects {
    pub fn new(state: &AppState) -> Self {
        Self {
            friendships: DataLoader::new(Friendships(state.clone()), tokio::spawn),
            shares: DataLoader::new(Shares(state.clone()), tokio::spawn),
            plays: DataLoader::new(Plays(state.clone()), tokio::spawn),
            steps: DataLoader::new(Steps(state.clone()), tokio::spawn),
        }
    }
}

/// Friendship rows by id.
pub struct Friendships(AppState);

impl Loader<Uuid> for Friendships {
    type Value = friendships::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        friends::load_many(&self.0.db, keys).await.map_err(Arc::new)
    }
}

/// Shares by id.
pub struct Shares(AppState);

impl Loader<Uuid> for Shares {
    type Value = share::Model;
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        shares::load_many(&self.0.db, keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

/// Play events with their shares: one joined `IN` query for a whole batch.
pub struct Plays(AppState);

impl Loader<Uuid> for Plays {
    type Value = (play_events::Model, share::Model);
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        shares::plays_with_shares(&self.0.db, keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

/// Steps of shares with their shares: one joined `IN` query for a batch.
pub struct Steps(AppState);

impl Loader<Uuid> for Steps {
    type Value = (share_activities::Model, share::Model);
    type Error = Arc<Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        shares::activity::with_shares(&self.0.db, keys)
            .await
            .map_err(|e| Arc::new(e.into()))
    }
}

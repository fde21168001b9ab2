//! Data loaders: lists that name users resolve them in one query, and
//! subscription events reach thousands of subscribers with a few queries.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::{accounts::users, app::AppState};
use entity::{friendships, play_events, shares, tracks, users as user};

pub struct UserLoader(pub AppState);

impl Loader<Uuid> for UserLoader {
    type Value = user::Model;
    type Error = Arc<crate::error::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        users::load_many(&self.0.db, keys).await.map_err(Arc::new)
    }
}

/// Tracks by Spotify id.
pub type TrackLoader = ById<tracks::Entity, String>;

/// Rows of one table by id, many at once (`WHERE id IN (…)`).
pub struct ById<E: EntityTrait, K = Uuid> {
    db: sea_orm::DatabaseConnection,
    id_column: E::Column,
    id_of: fn(&E::Model) -> K,
}

impl<E: EntityTrait, K> ById<E, K> {
    pub fn new(db: &sea_orm::DatabaseConnection, id_column: E::Column, id_of: fn(&E::Model) -> K) -> Self {
        Self {
            db: db.clone(),
            id_column,
            id_of,
        }
    }
}

impl<E, K> Loader<K> for ById<E, K>
where
    E: EntityTrait,
    E::Model: Clone + Send + Sync + 'static,
    K: Into<sea_orm::Value> + Clone + Eq + std::hash::Hash + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, Self::Value>, Self::Error> {
        use sea_orm::{ColumnTrait as _, QueryFilter as _};
        let found = E::find()
            .filter(self.id_column.is_in(keys.iter().cloned()))
            .all(&self.db)
            .await
            .map_err(Arc::new)?;
        Ok(found.into_iter().map(|row| ((self.id_of)(&row), row)).collect())
    }
}

/// What subscription events name, loaded for every subscriber at once:
/// when one change reaches thousands of connections, their reloads become
/// a few `IN` queries instead of one query each. Nothing is cached, so each
/// subscriber sees the row as it is when the event arrives.
pub struct Subjects {
    pub friendships: DataLoader<ById<friendships::Entity>>,
    pub shares: DataLoader<ById<shares::Entity>>,
    pub plays: DataLoader<Plays>,
}

/// Play events with their shares: one joined `IN` query for a whole batch.
pub struct Plays(sea_orm::DatabaseConnection);

impl Loader<Uuid> for Plays {
    type Value = (play_events::Model, shares::Model);
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        use sea_orm::{ColumnTrait as _, QueryFilter as _};
        let found = play_events::Entity::find()
            .find_also_related(shares::Entity)
            .filter(play_events::Column::Id.is_in(keys.iter().copied()))
            .all(&self.0)
            .await
            .map_err(Arc::new)?;
        Ok(found
            .into_iter()
            .filter_map(|(event, share)| Some((event.id, (event, share?))))
            .collect())
    }
}

impl Subjects {
    pub fn new(db: &sea_orm::DatabaseConnection) -> Self {
        Self {
            friendships: DataLoader::new(
                ById::new(db, friendships::Column::Id, |row: &friendships::Model| row.id),
                tokio::spawn,
            ),
            shares: DataLoader::new(
                ById::new(db, shares::Column::Id, |row: &shares::Model| row.id),
                tokio::spawn,
            ),
            plays: DataLoader::new(Plays(db.clone()), tokio::spawn),
        }
    }
}

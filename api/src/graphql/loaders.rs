//! Data loaders: lists that name users resolve them in one query, and
//! subscription events reach thousands of subscribers with a few queries.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::{accounts::users, app::AppState};
use entity::{friendships, play_events, shares, users as user};

pub struct UserLoader(pub AppState);

impl Loader<Uuid> for UserLoader {
    type Value = user::Model;
    type Error = Arc<crate::error::Error>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        users::load_many(&self.0.db, keys).await.map_err(Arc::new)
    }
}

pub struct TrackLoader(pub AppState);

impl Loader<String> for TrackLoader {
    type Value = entity::tracks::Model;
    type Error = Arc<crate::error::Error>;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
        let found = entity::tracks::Entity::find()
            .filter(entity::tracks::Column::Id.is_in(keys.iter().cloned()))
            .all(&self.0.db)
            .await
            .map_err(|e| Arc::new(e.into()))?;
        Ok(found.into_iter().map(|t| (t.id.clone(), t)).collect())
    }
}

/// Rows of one table by id, many at once (`WHERE id IN (…)`).
pub struct ById<E: EntityTrait> {
    db: sea_orm::DatabaseConnection,
    id_column: E::Column,
    id_of: fn(&E::Model) -> Uuid,
}

impl<E> Loader<Uuid> for ById<E>
where
    E: EntityTrait,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = Arc<sea_orm::DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        use sea_orm::{ColumnTrait as _, QueryFilter as _};
        let found = E::find()
            .filter(self.id_column.is_in(keys.iter().copied()))
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
                ById {
                    db: db.clone(),
                    id_column: friendships::Column::Id,
                    id_of: |row: &friendships::Model| row.id,
                },
                tokio::spawn,
            ),
            shares: DataLoader::new(
                ById {
                    db: db.clone(),
                    id_column: shares::Column::Id,
                    id_of: |row: &shares::Model| row.id,
                },
                tokio::spawn,
            ),
            plays: DataLoader::new(Plays(db.clone()), tokio::spawn),
        }
    }
}

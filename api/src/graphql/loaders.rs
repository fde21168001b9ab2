//! Data loaders: lists that name users resolve them in one query.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::{accounts::users, app::AppState};
use entity::users as user;

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

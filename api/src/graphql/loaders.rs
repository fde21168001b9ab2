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

use sea_orm::entity::prelude::*;

/// Track metadata, fetched from Spotify once per track.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tracks")]
pub struct Model {
    /// The Spotify track id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// JSON array of artist names, in Spotify's order.
    pub artists: String,
    pub album: Option<String>,
    pub duration_ms: i32,
    pub image_url: Option<String>,
    pub fetched_at: DateTimeUtc,
}

impl Model {
    pub fn artist_names(&self) -> Vec<String> {
        serde_json::from_str(&self.artists).unwrap_or_default()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

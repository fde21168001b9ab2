//! The `tracks` table: Spotify track metadata, fetched once per track.
//! Door: `api::spotify::catalog`.
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
    /// The recording's ISRC (`external_ids.isrc`): another track id with the
    /// same ISRC is the same recording (a single and its album release).
    pub isrc: Option<String>,
    /// Whether `isrc` was read from Spotify; false for rows stored before
    /// ISRCs were kept, which are read again when a check needs them.
    pub isrc_known: bool,
}

impl Model {
    /// The artists' names, in Spotify's order.
    pub fn artist_names(&self) -> Vec<String> {
        serde_json::from_str(&self.artists).unwrap_or_default()
    }

    /// How people see the track named, in notifications, the bot's replies
    /// and "now playing": `“Song” by Artist, Other`.
    pub fn describe(&self) -> String {
        let artists = self.artist_names();
        if artists.is_empty() {
            format!("“{}”", self.name)
        } else {
            format!("“{}” by {}", self.name, artists.join(", "))
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

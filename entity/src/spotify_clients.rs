//! The `spotify_clients` table: what every replica must know about one
//! Spotify app (client id) at once — today, until when Spotify asked us to
//! stop calling, and its call budget. Doors: `api::spotify::pause` (the
//! pause) and `api::spotify::budget` (the budget).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spotify_clients")]
pub struct Model {
    /// The Spotify app's client id (`SPOTIFY_CLIENT_ID`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// When the latest pause began; kept after it ends, so the sweep can
    /// tell which shares a pause kept from being checked.
    pub paused_since: Option<DateTimeUtc>,
    /// Until when no call is made with this client (past: not paused).
    pub paused_until: Option<DateTimeUtc>,
    /// Why the latest pause was ordered.
    pub pause_reason: Option<PauseReason>,
    pub updated_at: DateTimeUtc,
    /// The daily budget: when its bucket will be empty, in milliseconds
    /// since the Unix epoch (door: `api::spotify::budget`).
    pub day_full_until: i64,
    /// The 30-second budget: when its bucket will be empty, likewise.
    pub window_full_until: i64,
}

/// Why Spotify paused a client (`varchar(20)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum PauseReason {
    /// A 429 of the rolling 30-second rate limit.
    #[sea_orm(string_value = "RATE_LIMIT")]
    RateLimit,
    /// A 429 whose body says `QUOTA_EXCEEDED`: the Development Mode daily
    /// quota of the developer account is used up.
    #[sea_orm(string_value = "QUOTA_EXCEEDED")]
    Quota,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! The `spotify_links` table: a person's Spotify account and sealed
//! tokens. Door: `api::spotify::vault`.
use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "spotify_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The key of the link; one Send Songs account per Spotify account.
    /// Spotify's immutable `account_id` (May 2026); for links made before
    /// it existed, the Spotify user id until their next token refresh
    /// reads `account_id` (see `user_id_spotify`).
    #[sea_orm(unique)]
    pub account_id: String,
    /// The Spotify user id, for display (`open.spotify.com/user/…`).
    /// `None` on links made before `account_id` existed and not yet
    /// migrated: their `account_id` holds the user id.
    pub spotify_user_id: Option<String>,
    pub display_name: Option<String>,
    /// The person's own Spotify app (a public PKCE client, 32 hex
    /// characters) the tokens were granted to: they are refreshed, and
    /// every call with them is budgeted and paused, as that app's. `None`
    /// for the host's app.
    pub client_id: Option<String>,
    /// Sealed (AES-256-GCM, base64). Never printed: `Debug` leaves it out.
    pub access_token: String,
    /// Sealed, like `access_token`.
    pub refresh_token: String,
    pub access_expires_at: DateTimeUtc,
    pub consented_at: DateTimeUtc,
    /// Spotify refresh tokens stop working six months after consent.
    pub consent_expires_at: DateTimeUtc,
    pub status: Status,
    /// When its owner was warned that the consent runs out soon (once per
    /// consent; a new consent clears it).
    pub expiry_warned_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpotifyLink")
            .field("user_id", &self.user_id)
            .field("account_id", &self.account_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Whether Spotify still honours the link (`varchar(20)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum Status {
    /// Tokens work (or can be refreshed).
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Spotify refused the refresh token, or the consent ran out: no call
    /// is made for this person until they link again.
    #[sea_orm(string_value = "RELINK_REQUIRED")]
    RelinkRequired,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

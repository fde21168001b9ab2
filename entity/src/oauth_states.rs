//! The `oauth_states` table: a started Spotify authorization (its state,
//! hashed, and sealed PKCE verifier). Door: `api::spotify::authorize`.
use sea_orm::entity::prelude::*;

/// One authorization attempt: single use, ten minutes.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the `state` sent to Spotify, hex.
    #[sea_orm(unique)]
    pub state_hash: String,
    /// The PKCE verifier, sealed.
    pub code_verifier: String,
    /// The signed-in person who started it (`connectSpotify`).
    pub user_id: Option<Uuid>,
    /// The Messenger sender who started it from a personal link.
    pub messenger_psid: Option<String>,
    /// The person's own Spotify app (32 hex characters) it was started
    /// with; `None` for the host's app.
    pub client_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthState")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Authorizing Send Songs at Spotify, the protocol's side: authorization
//! code with PKCE (S256) and a single-use `state` that expires in ten
//! minutes (the `oauth_states` table). What a finished authorization links
//! to which account is the linking use case's (`crate::linking`).
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ActiveModelTrait as _, ColumnTrait as _, EntityTrait as _, QueryFilter as _, Set, sea_query::Expr};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{
    Spotify,
    answers::{ErrorBody, Profile, TokenGrant},
    client::SpotifyError,
};
use crate::{
    crypto::{random_token, sha256_hex},
    error::{Error, Result},
};
use entity::oauth_states;

/// What Send Songs asks to read: recent plays and what is playing.
pub const SCOPES: &str = "user-read-recently-played user-read-currently-playing user-read-playback-state";
const STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);

/// Who started an authorization (kept with its `state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A signed-in person, from the app.
    Account(Uuid),
    /// The public registration link: no account yet.
    Public,
    /// A Messenger sender, from a personal link.
    Messenger(String),
}

/// A person's own Spotify app: its Client ID, in the shape Spotify gives
/// every app (32 hexadecimal characters, as shown in the developer
/// dashboard). A public client: authorized with PKCE, without a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// What a Client ID is, as a person who typed a wrong one is told (on
    /// every interface the same).
    pub const RULE: &'static str = "a Spotify Client ID is 32 lower-case hexadecimal characters (0-9, a-f), \
                                     nothing before or after them: copy it from your app's page in Spotify's \
                                     developer dashboard";

    /// Reads a Client ID: exactly 32 characters `0-9a-f`, as Spotify's
    /// dashboard shows them. Nothing is trimmed or changed: upper case,
    /// spaces, tabs or line breaks mean the text was not copied as it is,
    /// and a changed id would be another app's.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming `field` with [`Self::RULE`] otherwise.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self> {
        if raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::bad_input(field, Self::RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where to send the browser, and until when the link works.
pub struct Started {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A spent `state`: who started the authorization, and its sealed PKCE
/// verifier.
pub struct Authorization {
    pub origin: Origin,
    state: oauth_states::Model,
}

impl Authorization {
    /// The person's own app it was started with; `None` for the host's.
    pub fn client_id(&self) -> Option<&str> {
        self.state.client_id.as_deref()
    }
}

/// Why a code could not be exchanged.
#[derive(Debug, PartialEq, Eq)]
pub enum ExchangeError {
    /// Spotify refused the code (`invalid_grant`): start again.
    Refused,
    /// Spotify did not answer, or refused this server; try again.
    Unavailable,
    /// The consent went through, but Spotify refuses every call for this
    /// person: the app is in Development Mode and they are not on its
    /// allowlist (Users and Access, in Spotify's developer dashboard).
    NotOnAllowlist,
}

/// What Spotify has said, over the years, when a person who is not on a
/// Development Mode app's allowlist calls the Web API (403, as JSON or
/// plain text; see `tests/fixtures/spotify/README.md`), in lower case.
const ALLOWLIST_WORDS: &[&str] = &[
    "not registered",
    "not approved",
    "user may not be registered",
    "users and access",
    "developer dashboard",
    "check settings on developer.spotify.com",
];

/// A 403 that means "this person is not on the app's allowlist".
fn not_on_allowlist(body: &ErrorBody) -> bool {
    let message = body.message.to_lowercase();
    ALLOWLIST_WORDS.iter().any(|words| message.contains(words))
}

impl Spotify {
    /// Starts an authorization for `origin`, through the person's own app
    /// `own` or the host's: stores its state, sealed verifier and client
    /// id, and answers Spotify's consent URL.
    ///
    /// # Errors
    /// `Internal` when the state cannot be stored.
    pub async fn authorize(&self, origin: &Origin, own: Option<&ClientId>) -> Result<Started> {
        let state = random_token(32);
        let verifier = random_token(48);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let now = self.clock.now();
        let expires_at = now + STATE_LIFETIME;
        let state_hash = sha256_hex(&state);
        let (user_id, psid) = match origin {
            Origin::Account(id) => (Some(*id), None),
            Origin::Public => (None, None),
            Origin::Messenger(psid) => (None, Some(psid.clone())),
        };
        oauth_states::ActiveModel {
            id: Set(Uuid::now_v7()),
            code_verifier: Set(self.sealer.seal(&verifier, &format!("pkce:{state_hash}"))),
            state_hash: Set(state_hash),
            user_id: Set(user_id),
            messenger_psid: Set(psid),
            client_id: Set(own.map(|id| id.as_str().to_owned())),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        let query = [
            ("client_id", own.map_or(self.client.client_id(), ClientId::as_str)),
            ("response_type", "code"),
            ("redirect_uri", &self.redirect_uri),
            ("code_challenge_method", "S256"),
            ("code_challenge", &challenge),
            ("state", &state),
            ("scope", SCOPES),
        ];
        let query = query
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        Ok(Started {
            url: format!("{}/authorize?{query}", self.authorize_base),
            expires_at,
        })
    }

    /// Spends `state`; `None` when it is unknown, expired or spent.
    ///
    /// # Errors
    /// `Internal` for the database.
    pub async fn take_state(&self, state: &str) -> Result<Option<Authorization>> {
        let now = self.clock.now();
        let hash = sha256_hex(state);
        let spent = oauth_states::Entity::update_many()
            .col_expr(oauth_states::Column::UsedAt, Expr::value(now))
            .filter(oauth_states::Column::StateHash.eq(hash.clone()))
            .filter(oauth_states::Column::UsedAt.is_null())
            .filter(oauth_states::Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await?;
        if spent.rows_affected == 0 {
            return Ok(None);
        }
        let Some(state) = oauth_states::Entity::find()
            .filter(oauth_states::Column::StateHash.eq(hash))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let origin = match (state.user_id, &state.messenger_psid) {
            (Some(user_id), _) => Origin::Account(user_id),
            (None, Some(psid)) => Origin::Messenger(psid.clone()),
            (None, None) => Origin::Public,
        };
        Ok(Some(Authorization { origin, state }))
    }

    /// Exchanges the code Spotify sent back for tokens, and reads whose
    /// they are: `/v1/me` is also the probe that tells whether Spotify lets
    /// this person's calls through at all.
    ///
    /// # Errors
    /// `Internal` when the stored verifier does not open; Spotify's refusal
    /// or silence is the inner [`ExchangeError`].
    pub async fn exchange(
        &self,
        code: &str,
        authorization: &Authorization,
    ) -> Result<Result<(TokenGrant, Profile), ExchangeError>> {
        let state = &authorization.state;
        let verifier = self
            .sealer
            .open(&state.code_verifier, &format!("pkce:{}", state.state_hash))?;
        let client = self.client_for(authorization.client_id());
        let grant = match client.exchange_code(code, &verifier, &self.redirect_uri).await {
            Ok(grant) => grant,
            Err(SpotifyError::InvalidGrant(_)) => return Ok(Err(ExchangeError::Refused)),
            Err(err @ (SpotifyError::Credentials(_) | SpotifyError::AccountsUnavailable(_))) => {
                tracing::debug!(error = %err, "spotify code exchange failed");
                return Ok(Err(ExchangeError::Unavailable));
            }
            Err(err) => {
                tracing::warn!(error = %err, "spotify code exchange failed");
                return Ok(Err(ExchangeError::Unavailable));
            }
        };
        Ok(match client.me(&grant.access_token).await {
            Ok(profile) => Ok((grant, profile)),
            Err(SpotifyError::Rejected { status: 403, body }) if not_on_allowlist(&body) => {
                tracing::info!(
                    message = body.message,
                    "a person finished the spotify consent but is not on the app's allowlist"
                );
                Err(ExchangeError::NotOnAllowlist)
            }
            Err(err) => {
                tracing::warn!(error = %err, "reading the spotify profile failed");
                Err(ExchangeError::Unavailable)
            }
        })
    }
}

fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

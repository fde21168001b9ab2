//! Linking Spotify: authorization code with PKCE (S256) and a single-use
//! `state` that expires in ten minutes.
//!
//! Three ways in, one way out: `connectSpotify` (a signed-in person),
//! `/auth/spotify/start` (the public registration link, no account yet) and
//! a signed personal link the Messenger bot sends (carries the sender id).
//! [`finish`] handles the callback for all three.
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, Set,
    TransactionTrait as _, sea_query::Expr,
};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::{
    client::SpotifyError,
    vault::{self, TokenError},
};
use crate::{
    accounts::{handles, link_codes, users},
    app::App,
    crypto::{random_token, sha256_hex},
    detection::check::CheckRecipient,
    error::{Error, Result},
    jobs::Job as _,
    messenger::links,
};
use entity::oauth_states;

pub const SCOPES: &str = "user-read-recently-played user-read-currently-playing user-read-playback-state";
const STATE_LIFETIME: TimeDelta = TimeDelta::minutes(10);
/// How long a personal link from the bot stays valid.
pub const PERSONAL_LINK_LIFETIME: TimeDelta = TimeDelta::minutes(15);

/// Who started the authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A signed-in person, from the app.
    Account(Uuid),
    /// The public registration link: no account yet.
    Public,
    /// A Messenger sender, from a personal link.
    Messenger(String),
}

pub struct Started {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// How a callback ended, for the page that tells the person.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Linked to an existing or just-created account.
    Linked { handle: String, via_messenger: bool },
    /// From the public link: the account (new, or found by its Spotify
    /// account) and a code to send to the bot.
    CodeIssued {
        handle: String,
        created: bool,
        code: String,
        expires_at: DateTime<Utc>,
    },
    /// The person said no on Spotify's page.
    Denied,
    /// The `state` is unknown, expired or already used.
    BadState,
    /// This Spotify account belongs to another Send Songs account.
    AccountTaken,
    /// Spotify failed us; the person can try again.
    Failed(String),
}

pub async fn start(app: &App, origin: Origin) -> Result<Started> {
    let state = random_token(32);
    let verifier = random_token(48);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let now = app.clock.now();
    let expires_at = now + STATE_LIFETIME;
    let state_hash = sha256_hex(&state);
    let (user_id, psid) = match &origin {
        Origin::Account(id) => (Some(*id), None),
        Origin::Public => (None, None),
        Origin::Messenger(psid) => (None, Some(psid.clone())),
    };
    oauth_states::ActiveModel {
        id: Set(Uuid::now_v7()),
        code_verifier: Set(app.sealer.seal(&verifier, &format!("pkce:{state_hash}"))),
        state_hash: Set(state_hash),
        user_id: Set(user_id),
        messenger_psid: Set(psid),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(&app.db)
    .await?;
    let query = [
        ("client_id", app.spotify.client_id()),
        ("response_type", "code"),
        ("redirect_uri", &redirect_uri(app)),
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
        url: format!("{}/authorize?{query}", app.spotify_authorize_base),
        expires_at,
    })
}

pub fn redirect_uri(app: &App) -> String {
    format!("{}/auth/spotify/callback", app.public_url)
}

/// The signed personal link the bot sends to a Messenger sender.
pub fn personal_link(app: &App, psid: &str) -> String {
    let expires = (app.clock.now() + PERSONAL_LINK_LIFETIME).timestamp();
    let message = format!("{psid}.{expires}");
    let signature = app.link_signer.sign(&message);
    format!("{}/auth/spotify/start?m={message}.{signature}", app.public_url)
}

/// The sender id in a personal link, if it is genuine and unexpired.
pub fn verify_personal_link(app: &App, token: &str) -> Option<String> {
    let mut parts = token.rsplitn(3, '.');
    let (signature, expires, psid) = (parts.next()?, parts.next()?, parts.next()?);
    if !app.link_signer.verify(&format!("{psid}.{expires}"), signature) {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    (expires > app.clock.now().timestamp()).then(|| psid.to_owned())
}

/// Handles Spotify's redirect back: `code` and `state`, or `error`.
#[tracing::instrument(skip_all)]
pub async fn finish(app: &App, code: Option<&str>, state: Option<&str>, error: Option<&str>) -> Outcome {
    match try_finish(app, code, state, error).await {
        Ok(outcome) => outcome,
        Err(err) => {
            err.log();
            Outcome::Failed("something went wrong on our side: please try again".into())
        }
    }
}

async fn try_finish(app: &App, code: Option<&str>, state: Option<&str>, error: Option<&str>) -> Result<Outcome> {
    let Some(state) = state else {
        return Ok(Outcome::BadState);
    };
    let Some(row) = consume_state(app, state).await? else {
        return Ok(Outcome::BadState);
    };
    if error.is_some() {
        return Ok(Outcome::Denied);
    }
    let Some(code) = code else { return Ok(Outcome::BadState) };
    let verifier = app
        .sealer
        .open(&row.code_verifier, &format!("pkce:{}", row.state_hash))?;
    let grant = match app.spotify.exchange_code(code, &verifier, &redirect_uri(app)).await {
        Ok(grant) => grant,
        Err(SpotifyError::InvalidGrant(_)) => {
            return Ok(Outcome::Failed(
                "Spotify did not accept this authorization: please start again".into(),
            ));
        }
        Err(err) => {
            tracing::warn!(error = %err, "spotify code exchange failed");
            return Ok(Outcome::Failed(
                "Spotify is not answering right now: please try again".into(),
            ));
        }
    };
    let profile = match app.spotify.me(&grant.access_token).await {
        Ok(profile) => profile,
        Err(err) => {
            tracing::warn!(error = %err, "reading the spotify profile failed");
            return Ok(Outcome::Failed(
                "Spotify is not answering right now: please try again".into(),
            ));
        }
    };
    let origin = match (row.user_id, row.messenger_psid) {
        (Some(user_id), _) => Origin::Account(user_id),
        (None, Some(psid)) => Origin::Messenger(psid),
        (None, None) => Origin::Public,
    };

    let now = app.clock.now();
    let txn = app.db.begin().await?;
    let owner = vault::find_by_account(&txn, &profile.id).await?.map(|l| l.user_id);
    let (user, created) = match &origin {
        Origin::Account(user_id) => (users::get(&txn, *user_id).await?, false),
        Origin::Messenger(psid) => match links::find(&txn, psid).await?.map(|l| l.user_id).or(owner) {
            Some(user_id) => (users::get(&txn, user_id).await?, false),
            None => (create_account(&txn, &profile, now).await?, true),
        },
        Origin::Public => match owner {
            Some(user_id) => (users::get(&txn, user_id).await?, false),
            None => (create_account(&txn, &profile, now).await?, true),
        },
    };
    if owner.is_some_and(|owner| owner != user.id) {
        return Ok(Outcome::AccountTaken);
    }
    vault::store_link(&txn, &app.sealer, user.id, &profile, &grant, now)
        .await
        .map_err(token_error)?;
    // Checks for shares sent before the link (or paused by a relink) start now.
    CheckRecipient { recipient_id: user.id }.enqueue(&txn, now).await?;
    let outcome = match origin {
        Origin::Account(_) => Outcome::Linked {
            handle: user.handle.clone(),
            via_messenger: false,
        },
        Origin::Messenger(psid) => {
            links::link(&txn, &psid, user.id, now).await?;
            let confirmation = crate::notify::replies::Reply::text(format!(
                "You're connected as @{} 🎉 Paste a Spotify link to share a song with a friend, or send help.",
                user.handle
            ));
            crate::notify::replies::queue(&txn, &psid, &[confirmation], now).await?;
            Outcome::Linked {
                handle: user.handle.clone(),
                via_messenger: true,
            }
        }
        Origin::Public => {
            let (code, expires_at) = link_codes::create(&txn, user.id, now).await?;
            Outcome::CodeIssued {
                handle: user.handle.clone(),
                created,
                code,
                expires_at,
            }
        }
    };
    app.jobs.commit(txn).await?;
    tracing::info!(user_id = %user.id, created, "spotify linked");
    Ok(outcome)
}

/// Marks the state used; `None` when it is unknown, expired or spent.
async fn consume_state(app: &App, state: &str) -> Result<Option<oauth_states::Model>> {
    let now = app.clock.now();
    let hash = sha256_hex(state);
    let spent = oauth_states::Entity::update_many()
        .col_expr(oauth_states::Column::UsedAt, Expr::value(now))
        .filter(oauth_states::Column::StateHash.eq(hash.clone()))
        .filter(oauth_states::Column::UsedAt.is_null())
        .filter(oauth_states::Column::ExpiresAt.gt(now))
        .exec(&app.db)
        .await?;
    if spent.rows_affected == 0 {
        return Ok(None);
    }
    Ok(oauth_states::Entity::find()
        .filter(oauth_states::Column::StateHash.eq(hash))
        .one(&app.db)
        .await?)
}

async fn create_account(
    db: &impl ConnectionTrait,
    profile: &super::client::Profile,
    now: DateTime<Utc>,
) -> Result<entity::users::Model> {
    let name = profile
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| profile.id.clone());
    let handle = handles::unique_from(db, &name).await?;
    let display: String = name.trim().chars().filter(|c| !c.is_control()).take(64).collect();
    Ok(users::new_user(handle, display, now).insert(db).await?)
}

fn token_error(err: TokenError) -> Error {
    match err {
        TokenError::Internal(err) => Error::Internal(err),
        other => Error::Internal(anyhow::anyhow!("storing spotify tokens: {other}")),
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

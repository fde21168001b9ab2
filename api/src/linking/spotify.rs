//! Linking Spotify. Three ways in, one way out: `connectSpotify` (a
//! signed-in person), `/auth/spotify/start` (the public registration link,
//! no account yet) and a signed personal link the Messenger bot sends
//! (carries the sender id). [`finish`] handles the callback for all three.
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait as _, ConnectionTrait};

use crate::{
    accounts::{handles, link_codes, users},
    app::App,
    detection::check::CheckRecipient,
    error::{Error, Result},
    jobs::Job as _,
    messenger::links,
    notify::replies::{self, Reply},
    spotify::{
        answers::Profile,
        authorize::ExchangeError,
        vault::{self, TokenError},
    },
};

pub use crate::spotify::authorize::{Origin, Started};

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
    /// Nothing was linked; the person can try again.
    Failed(Failure),
}

/// Why a callback linked nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Spotify did not accept the authorization: start again.
    Refused,
    /// The person consented, but Spotify refuses every call for them: the
    /// host must add their Spotify e-mail to the app's allowlist (Users and
    /// Access) first. Nothing is saved: such a link could never work.
    NotOnAllowlist,
    /// Spotify did not answer.
    Unavailable,
    /// Trouble of ours (logged).
    Internal,
}

/// Starts linking for `origin`: answers Spotify's consent URL.
///
/// # Errors
/// `Internal` when the authorization cannot be stored.
pub async fn start(app: &App, origin: Origin) -> Result<Started> {
    let mut started = app.spotify.authorize(&origin).await?;
    if app.settings.sandbox
        && let Some(account) = sandbox_account(app, &origin).await?
    {
        started.url.push_str(&format!("&sandbox_person={account}"));
    }
    Ok(started)
}

/// In sandbox mode, the stand-in Spotify account a person consents as:
/// the one linked already, else one named after the person (their Send
/// Songs account, or their Messenger id before they have one), so
/// connecting again keeps the same account, its id and its plays. Real
/// Spotify knows who is signed in; its stand-in is told. `None` for the
/// public link, whose person is not known yet: a fresh account.
async fn sandbox_account(app: &App, origin: &Origin) -> Result<Option<String>> {
    use sha2::Digest as _;
    let named = |person: &str| {
        let digest = sha2::Sha256::digest(format!("sandbox-person:{person}").as_bytes());
        format!(
            "sandbox-{}",
            digest.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let user = match origin {
        Origin::Public => return Ok(None),
        Origin::Account(id) => Some(*id),
        Origin::Messenger(psid) => links::linked_user(&app.db, psid).await?.map(|user| user.id),
    };
    Ok(Some(match (user, origin) {
        (Some(user), _) => match vault::find(&app.db, user).await? {
            Some(link) => link.spotify_user_id.unwrap_or(link.account_id),
            None => named(&user.to_string()),
        },
        (None, Origin::Messenger(psid)) => named(psid),
        (None, _) => return Ok(None),
    }))
}

/// What the bot tells a Messenger sender about a finished consent (the
/// bot's words: this use case only queues them).
pub struct Words {
    /// Linked, as `@handle`; queued in the linking transaction.
    pub connected: fn(&str) -> Reply,
    /// Not on the Spotify app's allowlist: nothing was linked.
    pub not_on_allowlist: fn() -> Reply,
}

/// Handles Spotify's redirect back (`code` and `state`, or `error`).
/// `words` are what a Messenger sender is told.
#[tracing::instrument(skip_all)]
pub async fn finish(app: &App, code: Option<&str>, state: Option<&str>, error: Option<&str>, words: &Words) -> Outcome {
    match try_finish(app, code, state, error, words).await {
        Ok(outcome) => outcome,
        Err(err) => {
            err.log();
            Outcome::Failed(Failure::Internal)
        }
    }
}

async fn try_finish(
    app: &App,
    code: Option<&str>,
    state: Option<&str>,
    error: Option<&str>,
    words: &Words,
) -> Result<Outcome> {
    let Some(state) = state else {
        return Ok(Outcome::BadState);
    };
    let Some(authorization) = app.spotify.take_state(state).await? else {
        return Ok(Outcome::BadState);
    };
    if error.is_some() {
        return Ok(Outcome::Denied);
    }
    let Some(code) = code else { return Ok(Outcome::BadState) };
    let (grant, profile) = match app.spotify.exchange(code, &authorization).await? {
        Ok(granted) => granted,
        Err(ExchangeError::Refused) => return Ok(Outcome::Failed(Failure::Refused)),
        Err(ExchangeError::Unavailable) => return Ok(Outcome::Failed(Failure::Unavailable)),
        Err(ExchangeError::NotOnAllowlist) => {
            if let Origin::Messenger(psid) = &authorization.origin {
                let txn = crate::db::begin(&app.db).await?;
                replies::queue(&txn, psid, &[(words.not_on_allowlist)()], app.clock.now()).await?;
                app.jobs.commit(txn).await?;
            }
            return Ok(Outcome::Failed(Failure::NotOnAllowlist));
        }
    };

    let now = app.clock.now();
    let txn = crate::db::begin(&app.db).await?;
    // Two consents of one Spotify account at once find or make one account.
    crate::db::serialize_on(&txn, &format!("spotify-account:{}", profile.link_key())).await?;
    let owner = vault::find_by_account(&txn, &profile).await?.map(|l| l.user_id);
    let (user, created) = match &authorization.origin {
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
    app.spotify
        .store_link(&txn, user.id, &profile, &grant, now)
        .await
        .map_err(token_error)?;
    // Checks for shares sent before the link (or paused by a relink) start now.
    CheckRecipient { recipient_id: user.id }.enqueue(&txn, now).await?;
    let outcome = match authorization.origin {
        Origin::Account(_) => Outcome::Linked {
            handle: user.handle.clone(),
            via_messenger: false,
        },
        Origin::Messenger(psid) => {
            links::link(&txn, &psid, user.id, now).await?;
            replies::queue(&txn, &psid, &[(words.connected)(&user.handle)], now).await?;
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

/// An account for a Spotify profile: its display name (or id), with a
/// handle made from it.
async fn create_account(
    db: &impl ConnectionTrait,
    profile: &Profile,
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

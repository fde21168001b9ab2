//! Linking a Messenger sender to an account: by a signed personal link
//! the bot sends (it opens Spotify's consent, see [`super::spotify`]), or
//! by a link code the account made ([`redeem_code`]).
use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    accounts::{
        link_codes::{self, Tried},
        users,
    },
    app::App,
    error::Result,
    messenger::links,
    spotify::vault,
};
use entity::users as user;

/// How long a personal link from the bot stays valid.
pub const PERSONAL_LINK_LIFETIME: TimeDelta = TimeDelta::minutes(15);

/// The signed personal link the bot sends to a Messenger sender.
pub fn personal_link(app: &App, psid: &str) -> String {
    let expires = (app.clock.now() + PERSONAL_LINK_LIFETIME).timestamp();
    let message = format!("{psid}.{expires}");
    let signature = app.personal_links.sign(&message);
    format!("{}/auth/spotify/start?m={message}.{signature}", app.public_url)
}

/// The sender id in a personal link, if it is genuine and unexpired.
pub fn verify_personal_link(app: &App, token: &str) -> Option<String> {
    let mut parts = token.rsplitn(3, '.');
    let (signature, expires, psid) = (parts.next()?, parts.next()?, parts.next()?);
    if !app.personal_links.verify(&format!("{psid}.{expires}"), signature) {
        return None;
    }
    let expires: i64 = expires.parse().ok()?;
    (expires > app.clock.now().timestamp()).then(|| psid.to_owned())
}

/// What a code a sender typed came to.
#[derive(Debug)]
pub enum Redeemed {
    /// The sender is linked to this account; `spotify_linked` tells
    /// whether the account has Spotify already.
    Linked {
        user: Box<user::Model>,
        spotify_linked: bool,
    },
    /// Not a code that works (unknown, used, expired or mistyped); counted.
    WrongCode,
    /// Too many wrong codes in the last hour: this one was not looked at.
    TooManyWrongCodes,
}

/// Links `psid` to the account whose code it sent at `sent_at` (which
/// opens the messaging window from then).
///
/// # Errors
/// `Internal` for the database; `NotFound` if the account went away.
pub async fn redeem_code(app: &App, psid: &str, code: &str, sent_at: DateTime<Utc>) -> Result<Redeemed> {
    let now = app.clock.now();
    let user_id = match link_codes::try_from_sender(&app.db, psid, code, now).await? {
        Tried::Redeemed(user_id) => user_id,
        Tried::Wrong => return Ok(Redeemed::WrongCode),
        Tried::TooMany => return Ok(Redeemed::TooManyWrongCodes),
    };
    links::link(&app.db, psid, user_id, now).await?;
    links::linked_by_message(&app.db, psid, sent_at.min(now)).await?;
    let user = users::get(&app.db, user_id).await?;
    let spotify_linked = vault::find(&app.db, user_id).await?.is_some();
    Ok(Redeemed::Linked {
        user: Box::new(user),
        spotify_linked,
    })
}

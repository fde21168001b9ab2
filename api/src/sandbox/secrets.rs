//! The secrets sandbox mode makes up, kept in the database (the
//! `sandbox_secrets` table): the access-token key and the key that seals
//! Spotify tokens (unless `JWT_SECRET` or `ENCRYPTION_KEY` is set), and the
//! fake Spotify's token key. Made once, the first time a sandbox server
//! starts on a database, and read back on every later start (by any
//! replica), so sessions, stored Spotify tokens and the fake Spotify's
//! tokens keep working after a restart. A fresh database starts over.
use base64::{Engine as _, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, Set, sea_query::OnConflict};
use secrecy::{ExposeSecret as _, SecretBox, SecretString};

use crate::config::Settings;
use entity::sandbox_secrets;

const JWT_SECRET: &str = "JWT_SECRET";
const ENCRYPTION_KEY: &str = "ENCRYPTION_KEY";
const SPOTIFY_TOKEN_KEY: &str = "SANDBOX_SPOTIFY_TOKEN_KEY";

/// Swaps the secrets `settings` made up (see
/// [`MadeUp`](crate::config::MadeUp)) for the kept ones, keeping these the
/// first time; answers the fake Spotify's token key, kept the same way.
///
/// # Errors
/// The database's, or a kept value that is not what it should be.
pub async fn keep(db: &impl ConnectionTrait, settings: &mut Settings, now: DateTime<Utc>) -> anyhow::Result<[u8; 32]> {
    if settings.made_up.jwt_secret {
        let kept = kept(db, JWT_SECRET, settings.jwt_secret.expose_secret(), now).await?;
        settings.jwt_secret = SecretString::from(kept);
        settings.made_up.jwt_secret = false;
    }
    if settings.made_up.encryption_key {
        let made = STANDARD.encode(settings.encryption_key.expose_secret());
        let key = key_of(&kept(db, ENCRYPTION_KEY, &made, now).await?)?;
        settings.encryption_key = SecretBox::new(Box::new(key));
        settings.made_up.encryption_key = false;
    }
    let made = STANDARD.encode(rand::random::<[u8; 32]>());
    key_of(&kept(db, SPOTIFY_TOKEN_KEY, &made, now).await?)
}

/// The value kept under `name`: `made` if none was, which is then kept
/// (when two servers start at once, the first to store wins for both).
async fn kept(db: &impl ConnectionTrait, name: &str, made: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
    sandbox_secrets::Entity::insert(sandbox_secrets::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(made.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(sandbox_secrets::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let row = sandbox_secrets::Entity::find()
        .filter(sandbox_secrets::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the sandbox secret {name} was not kept"))?;
    Ok(row.value)
}

fn key_of(value: &str) -> anyhow::Result<[u8; 32]> {
    STANDARD
        .decode(value)
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| anyhow::anyhow!("a kept sandbox key is not 32 bytes of base64"))
}

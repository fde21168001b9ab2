//! Reading and creating user rows.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, Set};
use uuid::Uuid;

use super::validate::Handle;
use crate::{
    db,
    error::{Error, Result},
};
use entity::users;

/// The user with this handle (typed with or without `@`, any case). Text
/// that cannot be a handle (see [`Handle`]) finds nobody without a query,
/// whatever it holds (NUL, which PostgreSQL refuses to compare, or a page
/// of text).
pub async fn find_by_handle(db: &impl ConnectionTrait, handle: &str) -> Result<Option<users::Model>> {
    let Ok(handle) = Handle::parse(handle) else {
        return Ok(None);
    };
    let handle = handle.into_inner();
    Ok(users::Entity::find()
        .filter(users::Column::Handle.eq(handle))
        .one(db)
        .await?)
}

/// Like [`find_by_handle`], but a missing user is an error.
///
/// # Errors
/// `NotFound`, naming the handle.
pub async fn get_by_handle(db: &impl ConnectionTrait, handle: &str) -> Result<users::Model> {
    find_by_handle(db, handle).await?.ok_or_else(|| {
        Error::not_found(format!(
            "nobody has the handle @{}",
            handle.trim().trim_start_matches('@')
        ))
    })
}

pub async fn find_by_email(db: &impl ConnectionTrait, email_key: &str) -> Result<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::EmailKey.eq(email_key))
        .one(db)
        .await?)
}

/// A user by id, if they exist.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<users::Model>, sea_orm::DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

/// A user by id.
///
/// # Errors
/// `NotFound` when the account no longer exists.
pub async fn get(db: &impl ConnectionTrait, id: Uuid) -> Result<users::Model> {
    users::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("this account no longer exists"))
}

/// Loads many users in one query (the GraphQL data loader calls this).
pub async fn load_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, users::Model>> {
    Ok(db::by_keys::<users::Entity, _>(db, users::Column::Id, ids, |row| row.id).await?)
}

/// The steps of their shares a new account hears about by push and
/// Messenger: the listen receipt, and the other person's reactions and
/// replies.
pub const DEFAULT_NOTIFY_STEPS: &str = "PLAYED,REACTED,REPLIED";

/// A user row with default settings, ready to insert. Email and password
/// stay empty: accounts from Spotify or Messenger have neither.
pub fn new_user(handle: String, display_name: String, now: DateTime<Utc>) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(Uuid::now_v7()),
        handle: Set(handle),
        display_name: Set(display_name),
        email: Set(None),
        email_key: Set(None),
        password_hash: Set(None),
        notify_push: Set(true),
        notify_messenger: Set(true),
        now_playing_public: Set(false),
        timezone: Set("UTC".into()),
        quiet_hours_start: Set(None),
        quiet_hours_end: Set(None),
        notify_steps: Set(DEFAULT_NOTIFY_STEPS.into()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

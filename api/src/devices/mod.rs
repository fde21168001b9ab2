//! Push devices: the FCM registration tokens of a person's app installs.
//!
//! A token identifies one install, so registering a token that another
//! account had moves it here (someone signed in as another person on that
//! phone). Each person keeps at most [`MAX_PER_USER`]; the least recently
//! registered go first. `updated_at` is when the app last registered the
//! token (each `registerDevice` renews it); tokens unseen for 270 days are
//! pruned (`notify::prune`).
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, Set, sea_query::OnConflict,
};
use uuid::Uuid;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use entity::devices;
pub use entity::devices::Platform;

pub const MAX_PER_USER: usize = 20;
/// FCM tokens are around 160 characters; anything much longer is not one.
const MAX_TOKEN_LEN: usize = 4096;

fn validate_token(token: &str) -> Result<&str> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::bad_input("token", "this is not a push registration token"));
    }
    Ok(token)
}

/// Adds an install's token to `me`'s devices (moving it from another
/// account if it was there) and drops `me`'s oldest beyond the cap.
///
/// # Errors
/// `BadUserInput` when `token` is not a push registration token.
#[tracing::instrument(skip(db, token), fields(user_id = %me, platform = ?platform))]
pub async fn register(
    db: &DatabaseConnection,
    me: Uuid,
    token: &str,
    platform: Platform,
    now: DateTime<Utc>,
) -> Result<devices::Model> {
    let token = validate_token(token)?;
    let txn = crate::db::begin(db).await?;
    // One statement, so the same token registered twice at once (or moved
    // from another account) makes one row.
    devices::Entity::insert(devices::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(me),
        token: Set(token.to_owned()),
        platform: Set(platform),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(devices::Column::Token)
            .update_columns([
                devices::Column::UserId,
                devices::Column::Platform,
                devices::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let device = devices::Entity::find()
        .filter(devices::Column::Token.eq(token))
        .one(&txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("a device row vanished inside its transaction"))?;
    // At most MAX_PER_USER + 1 rows: cheaper to skip here than to teach
    // every database an OFFSET without LIMIT.
    let newest_first: Vec<Uuid> = devices::Entity::find()
        .select_only()
        .column(devices::Column::Id)
        .filter(devices::Column::UserId.eq(me))
        .order_by_desc(devices::Column::UpdatedAt)
        .order_by_desc(devices::Column::Id)
        .into_tuple()
        .all(&txn)
        .await?;
    let beyond_cap: Vec<Uuid> = newest_first.into_iter().skip(MAX_PER_USER).collect();
    if !beyond_cap.is_empty() {
        devices::Entity::delete_many()
            .filter(devices::Column::Id.is_in(beyond_cap))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(device)
}

/// Forgets one of `me`'s devices. Another person's token is left alone and
/// answered like an unknown one, so tokens cannot be probed.
///
/// # Errors
/// `BadUserInput` when `token` is not a push registration token.
#[tracing::instrument(skip(db, token), fields(user_id = %me))]
pub async fn unregister(db: &impl ConnectionTrait, me: Uuid, token: &str) -> Result<bool> {
    let token = validate_token(token)?;
    let deleted = devices::Entity::delete_many()
        .filter(devices::Column::Token.eq(token))
        .filter(devices::Column::UserId.eq(me))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// `me`'s devices, most recently registered first.
pub async fn list(db: &impl ConnectionTrait, me: Uuid) -> Result<Vec<devices::Model>> {
    Ok(devices::Entity::find()
        .filter(devices::Column::UserId.eq(me))
        .order_by_desc(devices::Column::UpdatedAt)
        .all(db)
        .await?)
}

/// A person's devices, in no particular order (the fan-out's read).
pub async fn of_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<devices::Model>, DbErr> {
    devices::Entity::find()
        .filter(devices::Column::UserId.eq(user_id))
        .all(db)
        .await
}

/// One device by id.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<devices::Model>, DbErr> {
    devices::Entity::find_by_id(id).one(db).await
}

/// Forgets every device whose app last registered it before `before`;
/// answers how many.
pub async fn prune(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let deleted = devices::Entity::delete_many()
        .filter(devices::Column::UpdatedAt.lt(before))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// Forgets a device FCM said is gone (the app was uninstalled, or its
/// token rotated).
pub async fn remove(db: &impl ConnectionTrait, id: Uuid) -> Result<(), DbErr> {
    devices::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

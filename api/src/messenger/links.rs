//! Messenger links: which account a Messenger sender (a page-scoped id,
//! `psid`) belongs to, and whether the page may write to them. The only
//! door to the `messenger_links` table.
//!
//! An account has at most one sender and a sender one account. The page may
//! message a person only within [`WINDOW`] of the last message they sent it
//! (Messenger's standard messaging window), and not at all once the Send
//! API said they cannot be reached (551), until they write again.
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, Condition, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _,
    Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::accounts::users;
use entity::{messenger_links, users as user};

/// Messenger lets a page write to a person this long after their last
/// message.
pub const WINDOW: TimeDelta = TimeDelta::hours(24);

/// Whether the page may write to an account's sender now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Yes: to this sender.
    Open(String),
    /// The sender is no longer linked to the account.
    Unlinked,
    /// The Send API said they cannot be reached; they have not written since.
    Unreachable,
    /// They have not written to the page within [`WINDOW`].
    OutsideWindow,
}

/// Whether the page may write to `psid` about `user_id`'s account now (one
/// statement).
pub async fn reach(db: &impl ConnectionTrait, psid: &str, user_id: Uuid, now: DateTime<Utc>) -> Result<Reach, DbErr> {
    let link = find(db, psid).await?.filter(|link| link.user_id == user_id);
    Ok(match link {
        None => Reach::Unlinked,
        Some(link) if link.unreachable_at.is_some() => Reach::Unreachable,
        Some(link) if link.last_message_at.is_none_or(|last| now - last > WINDOW) => Reach::OutsideWindow,
        Some(link) => Reach::Open(link.psid),
    })
}

/// The link of a sender.
pub async fn find(db: &impl ConnectionTrait, psid: &str) -> Result<Option<messenger_links::Model>, DbErr> {
    messenger_links::Entity::find_by_id(psid).one(db).await
}

/// The link of an account.
pub async fn of_user(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Option<messenger_links::Model>, DbErr> {
    messenger_links::Entity::find()
        .filter(messenger_links::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// The account a sender is linked to, if any (and if it still exists).
pub async fn linked_user(db: &impl ConnectionTrait, psid: &str) -> Result<Option<user::Model>, DbErr> {
    let Some(link) = find(db, psid).await? else {
        return Ok(None);
    };
    users::find(db, link.user_id).await
}

/// Links a sender to `user_id`, replacing an earlier sender of that
/// account (and an earlier account of that sender).
pub async fn link(db: &impl ConnectionTrait, psid: &str, user_id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    messenger_links::Entity::delete_many()
        .filter(messenger_links::Column::UserId.eq(user_id))
        .filter(messenger_links::Column::Psid.ne(psid))
        .exec(db)
        .await?;
    if find(db, psid).await?.is_some() {
        messenger_links::Entity::update_many()
            .col_expr(messenger_links::Column::UserId, Expr::value(user_id))
            .col_expr(messenger_links::Column::LinkedAt, Expr::value(now))
            .filter(messenger_links::Column::Psid.eq(psid))
            .exec(db)
            .await?;
    } else {
        messenger_links::ActiveModel {
            psid: Set(psid.to_owned()),
            user_id: Set(user_id),
            linked_at: Set(now),
            last_message_at: Set(None),
            unreachable_at: Set(None),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Ends a sender's link. Answers whether there was one.
pub async fn unlink(db: &impl ConnectionTrait, psid: &str) -> Result<bool, DbErr> {
    let deleted = messenger_links::Entity::delete_by_id(psid).exec(db).await?;
    Ok(deleted.rows_affected > 0)
}

/// The sender wrote at `at`: the window opens again from then (never
/// earlier than it already was), and they are reachable again.
pub async fn heard_from(db: &impl ConnectionTrait, psid: &str, at: DateTime<Utc>) -> Result<(), DbErr> {
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::LastMessageAt, Expr::value(at))
        .col_expr(
            messenger_links::Column::UnreachableAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(messenger_links::Column::Psid.eq(psid))
        .filter(
            Condition::any()
                .add(messenger_links::Column::LastMessageAt.is_null())
                .add(messenger_links::Column::LastMessageAt.lt(at)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The link was just made from a message sent at `at`: the window opens
/// from that message.
pub async fn linked_by_message(db: &impl ConnectionTrait, psid: &str, at: DateTime<Utc>) -> Result<(), DbErr> {
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::LastMessageAt, Expr::value(at))
        .filter(messenger_links::Column::Psid.eq(psid))
        .exec(db)
        .await?;
    Ok(())
}

/// The Send API answered 551 for this person: nothing more is sent to them
/// until they write to the page again (which clears the mark).
pub async fn mark_unreachable(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<(), DbErr> {
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::UnreachableAt, Expr::value(now))
        .filter(messenger_links::Column::Psid.eq(psid))
        .exec(db)
        .await?;
    Ok(())
}

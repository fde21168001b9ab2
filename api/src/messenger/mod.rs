//! The Messenger side of Send Songs: the signed webhook and its durable
//! inbox ([`webhook`]), the job that handles one sender's events in order
//! ([`inbox`]), the bot's commands ([`bot`]) and its replies ([`replies`]).
pub mod bot;
pub mod inbox;
pub mod replies;
mod sqlite_inbox;
pub mod webhook;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, sea_query::Expr};

use entity::messenger_links;

/// The Send API answered 551 for this person: nothing more is sent to them
/// until they write to the page again (which clears the mark).
pub async fn mark_unreachable(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<(), sea_orm::DbErr> {
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::UnreachableAt, Expr::value(now))
        .filter(messenger_links::Column::Psid.eq(psid))
        .exec(db)
        .await?;
    Ok(())
}

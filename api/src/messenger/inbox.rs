//! The inbox: webhook events stored before they are handled (the
//! `messenger_inbox` table). The webhook stores them, once per message id;
//! the bot handles one sender's events oldest first and marks each handled.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, InsertMany, QueryFilter as _, QueryOrder as _,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use entity::messenger_inbox;

/// The statement that stores `events`, leaving out those whose message id
/// is stored already (a redelivery), for a caller that runs it itself.
pub fn store_new(events: Vec<messenger_inbox::ActiveModel>) -> InsertMany<messenger_inbox::ActiveModel> {
    messenger_inbox::Entity::insert_many(events)
        .on_conflict(OnConflict::column(messenger_inbox::Column::Mid).do_nothing().to_owned())
}

/// A sender's events not handled yet, in the order they were sent.
pub async fn unhandled(db: &impl ConnectionTrait, psid: &str) -> Result<Vec<messenger_inbox::Model>, DbErr> {
    messenger_inbox::Entity::find()
        .filter(messenger_inbox::Column::Psid.eq(psid))
        .filter(messenger_inbox::Column::HandledAt.is_null())
        .order_by_asc(messenger_inbox::Column::SentAtMs)
        .order_by_asc(messenger_inbox::Column::Id)
        .all(db)
        .await
}

/// Marks an event handled.
pub async fn mark_handled(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<(), DbErr> {
    messenger_inbox::Entity::update_many()
        .col_expr(messenger_inbox::Column::HandledAt, Expr::value(now))
        .filter(messenger_inbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// When an event was sent, by Meta's timestamp; never later than `now`
/// (a sender's clock may run ahead), and `now` if the timestamp is absurd.
pub fn sent_at(event: &messenger_inbox::Model, now: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(event.sent_at_ms)
        .unwrap_or(now)
        .min(now)
}

//! The delivery log: what became of each notification (the `deliveries`
//! table, written by [`Notifier::fan_out`](super::Notifier::fan_out) and
//! [`record`]), as a
//! person reads it.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveEnum as _, ColumnTrait as _, ConnectionTrait, DbErr, EntityTrait as _, QueryFilter as _, QueryOrder as _,
    QuerySelect as _, sea_query::Expr,
};
use uuid::Uuid;

use super::outbox::Settled;
use crate::{clock::Clock, paging::Page};
use entity::deliveries::{self, Status};

/// Marks `delivery` as being sent (`Sending`, `tried_at` = `now`), in a
/// write of its own that the caller commits before asking the provider, so
/// that a stop before the answer is recorded leaves a trace. A delivery
/// already `Sending` was interrupted so (its try may have gone out): the
/// mark counts that try and the interruption. Answers the row as marked, or
/// `None` when another try changed it since it was read (this one stops).
pub async fn mark_sending(
    db: &impl ConnectionTrait,
    delivery: &deliveries::Model,
    now: DateTime<Utc>,
) -> Result<Option<deliveries::Model>, DbErr> {
    let mut mark = deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(Status::Sending))
        .col_expr(deliveries::Column::TriedAt, Expr::value(now))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .filter(deliveries::Column::Id.eq(delivery.id))
        .filter(deliveries::Column::Status.eq(delivery.status))
        .filter(deliveries::Column::Interruptions.eq(delivery.interruptions));
    let mut marked = deliveries::Model {
        status: Status::Sending,
        tried_at: Some(now),
        updated_at: now,
        ..delivery.clone()
    };
    if delivery.status == Status::Sending {
        marked.attempts += 1;
        marked.interruptions += 1;
        mark = mark
            .col_expr(
                deliveries::Column::Attempts,
                sea_orm::sea_query::ExprTrait::add(Expr::col(deliveries::Column::Attempts), 1),
            )
            .col_expr(
                deliveries::Column::Interruptions,
                sea_orm::sea_query::ExprTrait::add(Expr::col(deliveries::Column::Interruptions), 1),
            );
    }
    Ok((mark.exec(db).await?.rows_affected == 1).then_some(marked))
}

/// Writes what a try of `delivery` came to. A finished delivery is written
/// only if it is still pending or being sent (a second worker's try changes
/// nothing), with `sent_at` the moment the provider answered; a retry keeps
/// its error and waits as pending.
pub async fn record(
    db: &impl ConnectionTrait,
    delivery: &deliveries::Model,
    settled: &Settled,
    clock: &dyn Clock,
    tried_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    match settled {
        Settled::Finished {
            status,
            attempts,
            reason,
            provider_id,
        } => {
            let now = clock.now();
            let sent = *status == Status::Sent;
            deliveries::Entity::update_many()
                .col_expr(deliveries::Column::Status, Expr::value(*status))
                .col_expr(deliveries::Column::Attempts, Expr::value(*attempts))
                .col_expr(deliveries::Column::LastError, Expr::value(reason.clone()))
                .col_expr(deliveries::Column::ProviderMessageId, Expr::value(provider_id.clone()))
                .col_expr(deliveries::Column::SentAt, Expr::value(sent.then_some(now)))
                .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
                .filter(deliveries::Column::Id.eq(delivery.id))
                .filter(deliveries::Column::Status.is_in([Status::Pending, Status::Sending]))
                .exec(db)
                .await?;
            metrics::counter!(
                "deliveries_total",
                "channel" => delivery.channel.to_value(),
                "outcome" => status.to_value().to_lowercase()
            )
            .increment(1);
            if sent {
                metrics::histogram!("delivery_latency_seconds", "channel" => delivery.channel.to_value())
                    .record((now - delivery.created_at).num_milliseconds().max(0) as f64 / 1000.0);
            }
        }
        Settled::Retry { attempts, reason, .. } => {
            deliveries::Entity::update_many()
                .col_expr(deliveries::Column::Status, Expr::value(Status::Pending))
                .col_expr(deliveries::Column::Attempts, Expr::value(*attempts))
                .col_expr(deliveries::Column::LastError, Expr::value(reason.clone()))
                .col_expr(deliveries::Column::UpdatedAt, Expr::value(tried_at))
                .filter(deliveries::Column::Id.eq(delivery.id))
                .filter(deliveries::Column::Status.is_in([Status::Pending, Status::Sending]))
                .exec(db)
                .await?;
        }
    }
    Ok(())
}

/// The deliveries of one share addressed to `user_id`, oldest first.
pub async fn for_share(
    db: &impl ConnectionTrait,
    share_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<deliveries::Model>, DbErr> {
    deliveries::Entity::find()
        .filter(deliveries::Column::ShareId.eq(share_id))
        .filter(deliveries::Column::UserId.eq(user_id))
        .order_by_asc(deliveries::Column::Id)
        .all(db)
        .await
}

/// A page of `user_id`'s deliveries, newest first, and whether there are
/// more.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    page: Page,
) -> Result<(Vec<deliveries::Model>, bool), DbErr> {
    let mut query = deliveries::Entity::find().filter(deliveries::Column::UserId.eq(user_id));
    if let Some(after) = page.after {
        query = query.filter(deliveries::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(deliveries::Column::Id)
        .limit(page.limit())
        .all(db)
        .await?;
    Ok(page.split(rows))
}

//! The throughput runs' backlog: senders with a device and a linked
//! Messenger sender each, one played share each, and the deliveries
//! `fan_out` writes for their play events; made pending again between runs.
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{
    deliveries::{self, EventKind, Status},
    devices, messenger_links, play_events, shares, tracks, users,
};
use sea_orm::{DatabaseConnection, EntityTrait as _, QuerySelect as _, Set, TransactionTrait as _, sea_query::Expr};
use uuid::Uuid;

use crate::{
    common::{
        app::{self, App, Job as _, Notice, SendDelivery},
        rows::{INSERT_ROWS, track_id, track_row, user_row},
    },
    device_row, link_row,
};

pub struct Seeded {
    pub deliveries: usize,
    pub seed: Duration,
    pub fan_out: Duration,
    pub fan_out_statements: u64,
}

/// `events` senders, each with a device, a linked Messenger sender in the
/// window and one played share; then `fan_out` for each play event.
pub async fn seed_backlog(app: &App, events: usize) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let now = app.clock.now();
    let long_ago = now - TimeDelta::days(30);
    let shared_at = now - TimeDelta::minutes(30);
    let track_count = 100.min(events).max(1);
    let recipient_count = 100.min(events).max(1);
    let senders: Vec<Uuid> = (0..events).map(|_| Uuid::now_v7()).collect();
    let recipients: Vec<Uuid> = (0..recipient_count).map(|_| Uuid::now_v7()).collect();
    let share_ids: Vec<Uuid> = (0..events).map(|_| Uuid::now_v7()).collect();
    let event_ids: Vec<Uuid> = (0..events).map(|_| Uuid::now_v7()).collect();

    let txn = app.db.begin().await?;
    users::Entity::insert_many(
        recipients
            .iter()
            .enumerate()
            .map(|(n, id)| user_row(*id, &format!("benchr{n}"), long_ago)),
    )
    .exec_without_returning(&txn)
    .await?;
    tracks::Entity::insert_many((0..track_count).map(|n| track_row(n, long_ago)))
        .exec_without_returning(&txn)
        .await?;
    for start in (0..events).step_by(INSERT_ROWS) {
        let range = start..(start + INSERT_ROWS).min(events);
        users::Entity::insert_many(
            range
                .clone()
                .map(|n| user_row(senders[n], &format!("benchs{n}"), long_ago)),
        )
        .exec_without_returning(&txn)
        .await?;
        devices::Entity::insert_many(
            range
                .clone()
                .map(|n| device_row(senders[n], format!("bench-device-{n}"), long_ago)),
        )
        .exec_without_returning(&txn)
        .await?;
        messenger_links::Entity::insert_many(
            range
                .clone()
                .map(|n| link_row(senders[n], format!("bench-psid-{n}"), long_ago, now)),
        )
        .exec_without_returning(&txn)
        .await?;
        shares::Entity::insert_many(range.clone().map(|n| shares::ActiveModel {
            id: Set(share_ids[n]),
            sender_id: Set(senders[n]),
            recipient_id: Set(recipients[n % recipient_count]),
            track_id: Set(track_id(n % track_count)),
            note: Set(None),
            status: Set(shares::Status::Played),
            created_at: Set(shared_at),
            played_at: Set(Some(now - TimeDelta::minutes(1))),
            opened_at: Set(None),
            listening_at: Set(None),
            expires_at: Set(shared_at + TimeDelta::days(7)),
            next_check_at: Set(None),
            updated_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
        play_events::Entity::insert_many(range.map(|n| play_events::ActiveModel {
            id: Set(event_ids[n]),
            share_id: Set(share_ids[n]),
            played_at: Set(now - TimeDelta::minutes(1)),
            detected_at: Set(now),
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    let seed = started.elapsed();

    let started = Instant::now();
    let statements_before = app::statements_run(app);
    let mut written = 0;
    for start in (0..events).step_by(INSERT_ROWS) {
        let txn = app.db.begin().await?;
        for n in start..(start + INSERT_ROWS).min(events) {
            let notice = Notice {
                user_id: senders[n],
                kind: EventKind::SharePlayed,
                event_id: event_ids[n],
                share_id: Some(share_ids[n]),
            };
            written += app::fan_out(app, &txn, notice, now).await?;
        }
        txn.commit().await?;
    }
    let fan_out = started.elapsed();
    let fan_out_statements = app::statements_run(app) - statements_before;
    anyhow::ensure!(
        written == 2 * events,
        "fan_out wrote {written} deliveries, not {}",
        2 * events
    );
    Ok(Seeded {
        deliveries: written,
        seed,
        fan_out,
        fan_out_statements,
    })
}

/// Every delivery pending again with its job queued, the window reopened.
pub async fn make_pending_again(db: &DatabaseConnection) -> anyhow::Result<()> {
    let now = Utc::now();
    deliveries::Entity::update_many()
        .col_expr(deliveries::Column::Status, Expr::value(Status::Pending))
        .col_expr(deliveries::Column::Attempts, Expr::value(0))
        .col_expr(deliveries::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(
            deliveries::Column::ProviderMessageId,
            Expr::value(Option::<String>::None),
        )
        .col_expr(deliveries::Column::SentAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now))
        .exec(db)
        .await?;
    messenger_links::Entity::update_many()
        .col_expr(messenger_links::Column::LastMessageAt, Expr::value(now))
        .exec(db)
        .await?;
    let ids: Vec<Uuid> = deliveries::Entity::find()
        .select_only()
        .column(deliveries::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for chunk in ids.chunks(INSERT_ROWS) {
        let txn = db.begin().await?;
        for id in chunk {
            SendDelivery { delivery_id: *id }.enqueue(&txn, now).await?;
        }
        txn.commit().await?;
    }
    Ok(())
}

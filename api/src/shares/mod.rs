//! Shares: a track sent to a friend, watched until they play it.
//!
//! Creating a share writes it and its recipient's first check in one
//! transaction (a crash cannot leave a share nobody checks). Every share
//! ends `PLAYED`, `EXPIRED` or `CANCELLED`.
use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ActiveEnum as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, Condition, ConnectionTrait, DbErr, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _, Set, TransactionTrait as _, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    accounts::users,
    app::App,
    db,
    detection::{check::CheckRecipient, schedule},
    error::{Error, Result},
    events::{Event, Topic},
    friends,
    jobs::Job as _,
    notify::Notice,
    paging::Page,
};
use entity::{deliveries::EventKind, play_events, shares, shares::Status};

pub mod stats;

/// Shares one sender may create per hour.
pub const HOURLY_LIMIT: u64 = 50;
pub const NOTE_MAX_CHARS: usize = 280;

pub struct NewShare {
    /// The recipient's handle.
    pub to: String,
    /// Any track link form.
    pub track: String,
    pub note: Option<String>,
}

/// Answers the share, and whether it is new (false: the same pending share
/// already existed and is answered instead of a duplicate).
#[tracing::instrument(skip(app, input), fields(sender_id = %sender))]
pub async fn create(app: &App, sender: Uuid, input: NewShare) -> Result<(shares::Model, bool)> {
    let note = match input.note.as_deref().map(str::trim) {
        Some(note) if note.chars().count() > NOTE_MAX_CHARS => {
            return Err(Error::bad_input(
                "note",
                format!("a note can have at most {NOTE_MAX_CHARS} characters"),
            ));
        }
        Some("") | None => None,
        Some(note) => Some(note.to_owned()),
    };
    let recipient = users::get_by_handle(&app.db, &input.to).await?;
    if recipient.id == sender {
        return Err(Error::bad_input("to", "share songs with friends, not with yourself"));
    }
    if !friends::are_friends(&app.db, sender, recipient.id).await? {
        return Err(Error::Forbidden(format!(
            "@{0} isn't your friend yet: send `add {0}` first",
            recipient.handle
        )));
    }
    let now = app.clock.now();
    let recent = shares::Entity::find()
        .filter(shares::Column::SenderId.eq(sender))
        .filter(shares::Column::CreatedAt.gt(now - TimeDelta::hours(1)))
        .count(&app.db)
        .await?;
    if recent >= HOURLY_LIMIT {
        return Err(Error::RateLimited {
            message: format!("you can share {HOURLY_LIMIT} songs an hour: try again a little later"),
            retry_after: Some(std::time::Duration::from_secs(600)),
        });
    }
    let track_id = app.spotify.resolve(&input.track).await?;
    let track = app.spotify.track(&track_id).await?;

    if let Some(existing) = shares::Entity::find()
        .filter(shares::Column::SenderId.eq(sender))
        .filter(shares::Column::RecipientId.eq(recipient.id))
        .filter(shares::Column::TrackId.eq(track.id.clone()))
        .filter(shares::Column::Status.eq(Status::Pending))
        .one(&app.db)
        .await?
    {
        return Ok((existing, false));
    }

    let first_check = schedule::first_check(now, track.duration_ms);
    let txn = app.db.begin().await?;
    let share = shares::ActiveModel {
        id: Set(Uuid::now_v7()),
        sender_id: Set(sender),
        recipient_id: Set(recipient.id),
        track_id: Set(track.id.clone()),
        note: Set(note),
        status: Set(Status::Pending),
        created_at: Set(now),
        played_at: Set(None),
        expires_at: Set(now + schedule::to_delta(app.settings.play_check.share_ttl)),
        next_check_at: Set(Some(first_check)),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    CheckRecipient {
        recipient_id: recipient.id,
    }
    .enqueue_at(&txn, first_check, now)
    .await?;
    let notice = Notice {
        user_id: recipient.id,
        kind: EventKind::ShareReceived,
        event_id: share.id,
        share_id: Some(share.id),
    };
    app.notify.fan_out(&txn, notice, now).await?;
    app.jobs.commit(txn).await?;
    metrics::counter!("shares_created_total").increment(1);
    app.events
        .publish(Event {
            user_id: recipient.id,
            topic: Topic::ShareReceived,
            subject_id: share.id,
        })
        .await;
    Ok((share, true))
}

/// The sender withdraws a pending share.
#[tracing::instrument(skip(app), fields(user_id = %me))]
pub async fn cancel(app: &App, me: Uuid, id: Uuid) -> Result<shares::Model> {
    let share = get(&app.db, me, id)
        .await?
        .ok_or_else(|| Error::not_found("no such share"))?;
    if share.sender_id != me {
        return Err(Error::Forbidden(
            "only the person who shared a song can cancel it".into(),
        ));
    }
    if share.status != Status::Pending {
        return Err(Error::Conflict(format!(
            "this share is already {}: only pending shares can be cancelled",
            share.status.to_value().to_lowercase()
        )));
    }
    let now = app.clock.now();
    shares::Entity::update_many()
        .col_expr(shares::Column::Status, Expr::value(Status::Cancelled))
        .col_expr(shares::Column::NextCheckAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(shares::Column::UpdatedAt, Expr::value(now))
        .filter(shares::Column::Id.eq(id))
        .filter(shares::Column::Status.eq(Status::Pending))
        .exec(&app.db)
        .await?;
    let updated = get(&app.db, me, id)
        .await?
        .ok_or_else(|| Error::not_found("no such share"))?;
    if updated.status != Status::Cancelled {
        return Err(Error::Conflict("this share was played or expired a moment ago".into()));
    }
    Ok(updated)
}

/// A share, only for its sender or recipient.
pub async fn get(db: &impl ConnectionTrait, me: Uuid, id: Uuid) -> Result<Option<shares::Model>> {
    let share = shares::Entity::find_by_id(id).one(db).await?;
    Ok(share.filter(|s| s.sender_id == me || s.recipient_id == me))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mailbox {
    Sent,
    Received,
}

/// A page of my shares, newest first; the extra row tells if there is more.
pub async fn list(
    db: &impl ConnectionTrait,
    me: Uuid,
    which: Mailbox,
    status: Option<Status>,
    page: Page,
) -> Result<(Vec<shares::Model>, bool)> {
    let mut query = shares::Entity::find().filter(match which {
        Mailbox::Sent => Condition::all().add(shares::Column::SenderId.eq(me)),
        Mailbox::Received => Condition::all().add(shares::Column::RecipientId.eq(me)),
    });
    if let Some(status) = status {
        query = query.filter(shares::Column::Status.eq(status));
    }
    if let Some(after) = page.after {
        query = query.filter(shares::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(shares::Column::Id)
        .limit(page.limit())
        .all(db)
        .await?;
    Ok(page.split(rows))
}

/// Shares by id, many at once (the subscriptions' loader).
pub async fn load_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<HashMap<Uuid, shares::Model>, DbErr> {
    db::by_keys::<shares::Entity, _>(db, shares::Column::Id, ids, |row| row.id).await
}

/// A share by id, whoever asks (for a play event already shown to them).
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<shares::Model>, DbErr> {
    shares::Entity::find_by_id(id).one(db).await
}

/// The play event of a share: its listen receipt, once played.
pub async fn play_of(db: &impl ConnectionTrait, share_id: Uuid) -> Result<Option<play_events::Model>, DbErr> {
    play_events::Entity::find()
        .filter(play_events::Column::ShareId.eq(share_id))
        .one(db)
        .await
}

/// Play events with their shares, many at once, in one joined query (the
/// subscriptions' loader).
pub async fn plays_with_shares(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, (play_events::Model, shares::Model)>, DbErr> {
    let found = play_events::Entity::find()
        .find_also_related(shares::Entity)
        .filter(play_events::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(event, share)| Some((event.id, (event, share?))))
        .collect())
}

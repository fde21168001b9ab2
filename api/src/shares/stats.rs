//! Sharing statistics for one person.
use sea_orm::{ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use uuid::Uuid;

use crate::error::Result;
use entity::{shares, shares::Status};

#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub shares_sent: u64,
    pub shares_received: u64,
    pub sent_played: u64,
    /// Played among sent shares that were not cancelled; `None` before any.
    pub play_rate: Option<f64>,
    pub median_seconds_to_play: Option<i64>,
}

pub async fn for_user(db: &impl ConnectionTrait, me: Uuid) -> Result<Stats> {
    let sent = shares::Entity::find().filter(shares::Column::SenderId.eq(me));
    let shares_sent = sent.clone().count(db).await?;
    let cancelled = sent
        .clone()
        .filter(shares::Column::Status.eq(Status::Cancelled))
        .count(db)
        .await?;
    let shares_received = shares::Entity::find()
        .filter(shares::Column::RecipientId.eq(me))
        .count(db)
        .await?;
    let played = sent.filter(shares::Column::Status.eq(Status::Played)).all(db).await?;
    let mut delays: Vec<i64> = played
        .iter()
        .filter_map(|s| s.played_at.map(|p| (p - s.created_at).num_seconds().max(0)))
        .collect();
    delays.sort_unstable();
    let median_seconds_to_play = match delays.len() {
        0 => None,
        n if n % 2 == 1 => Some(delays[n / 2]),
        n => Some((delays[n / 2 - 1] + delays[n / 2]) / 2),
    };
    let counted = shares_sent - cancelled;
    Ok(Stats {
        shares_sent,
        shares_received,
        sent_played: played.len() as u64,
        play_rate: (counted > 0).then(|| played.len() as f64 / counted as f64),
        median_seconds_to_play,
    })
}

//! The pause Spotify orders with a 429, shared by every caller of one
//! Spotify app (client id).
//!
//! Spotify counts its rate limit per app "in a rolling 30 second window"
//! and answers 429 with `Retry-After` in seconds (Rate Limits concept
//! page); the Development Mode quota answers 429 with the body reason
//! `QUOTA_EXCEEDED` and a `Retry-After` of many hours, counted per
//! developer account (Web API changelog, July 2026). Either way no caller
//! of that app may call again until then, on any replica: on PostgreSQL
//! the pause is a row of `spotify_clients`, keyed by client id, read before
//! every call; on SQLite (one process) it is kept in the process. The row
//! is the place for more per-app state that replicas share.
//!
//! What a `Retry-After` becomes: missing, `0` or unreadable, the floor
//! ([`FLOOR`]); fractional seconds and the HTTP-date form are read; longer
//! than the ceiling (`SPOTIFY_MAX_PAUSE`), the ceiling — except for the
//! quota, which is waited out whole (up to [`QUOTA_MAX`]). Each caller
//! waits the pause plus its own [`jitter`], so they do not all call again
//! in the same instant.
use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _,
    QuerySelect as _, Set,
    sea_query::{Expr, OnConflict},
};

use crate::{clock::Clock, db};
use entity::spotify_clients::{self, PauseReason};

/// The shortest pause a 429 orders, whatever its `Retry-After` says.
pub const FLOOR: Duration = Duration::from_secs(1);
/// A quota 429 without `Retry-After`: try again after this long (the next
/// 429 pauses again).
pub const QUOTA_DEFAULT: Duration = Duration::from_secs(3600);
/// The longest a quota 429 pauses: reports saw 13.6 and 22 hours for a
/// roughly rolling 24-hour quota.
pub const QUOTA_MAX: Duration = Duration::from_secs(48 * 3600);

/// A pause: since when and until when no call is made, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: PauseReason,
}

/// The pause of one Spotify app, as every replica sees it.
pub struct Pauses {
    client_id: String,
    clock: Arc<dyn Clock>,
    /// `SPOTIFY_MAX_PAUSE`: the ceiling of a rate-limit pause.
    ceiling: Duration,
    store: Store,
}

enum Store {
    /// One process (SQLite): the latest pause, in memory.
    Process(std::sync::Mutex<Option<Pause>>),
    /// Replicas (PostgreSQL): the client's `spotify_clients` row.
    Database(DatabaseConnection),
}

impl Pauses {
    /// Shared through `db` when it is PostgreSQL, else kept in the process.
    pub fn new(client_id: String, clock: Arc<dyn Clock>, ceiling: Duration, db: &DatabaseConnection) -> Self {
        let store = if db::is_postgres(db) {
            Store::Database(db.clone())
        } else {
            Store::Process(std::sync::Mutex::new(None))
        };
        Self {
            client_id,
            clock,
            ceiling: ceiling.max(FLOOR),
            store,
        }
    }

    /// The pause of another Spotify app (a person's own), kept the same
    /// way: in its own `spotify_clients` row, or in the process.
    pub fn for_client(&self, client_id: String) -> Self {
        let store = match &self.store {
            Store::Database(db) => Store::Database(db.clone()),
            Store::Process(_) => Store::Process(std::sync::Mutex::new(None)),
        };
        Self {
            client_id,
            clock: self.clock.clone(),
            ceiling: self.ceiling,
            store,
        }
    }

    /// Now, by the clock the pauses are kept in.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The latest pause, over or not.
    ///
    /// # Errors
    /// The database's, on PostgreSQL.
    pub async fn latest(&self) -> Result<Option<Pause>, DbErr> {
        match &self.store {
            Store::Process(latest) => Ok(*latest.lock().expect("pause lock")),
            Store::Database(db) => Ok(spotify_clients::Entity::find_by_id(self.client_id.clone())
                .one(db)
                .await?
                .and_then(|row| stored(&row))),
        }
    }

    /// The pause in force now, if any.
    ///
    /// # Errors
    /// The database's, on PostgreSQL.
    pub async fn current(&self) -> Result<Option<Pause>, DbErr> {
        let now = self.now();
        Ok(self.latest().await?.filter(|pause| pause.until > now))
    }

    /// How long a 429 pauses, from its `Retry-After` and whether its body
    /// gave the reason `QUOTA_EXCEEDED`.
    pub fn wait_for(&self, retry_after: Option<&str>, quota: bool) -> Duration {
        let asked = retry_after.and_then(|value| parse_retry_after(value, self.now()));
        if quota {
            asked.unwrap_or(QUOTA_DEFAULT).clamp(FLOOR, QUOTA_MAX)
        } else {
            asked.unwrap_or(FLOOR).clamp(FLOOR, self.ceiling)
        }
    }

    /// Orders a pause of `wait` from now. A pause already in force is only
    /// lengthened. Answers the pause now in force, and whether this call
    /// began a quota pause (so that the operator is told once).
    ///
    /// # Errors
    /// The database's, on PostgreSQL.
    pub async fn order(&self, wait: Duration, reason: PauseReason) -> Result<(Pause, bool), DbErr> {
        let now = self.now();
        let until = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
        match &self.store {
            Store::Process(latest) => {
                let mut latest = latest.lock().expect("pause lock");
                let (merged, began) = merge(*latest, until, reason, now);
                *latest = Some(merged);
                Ok((merged, began))
            }
            Store::Database(db) => {
                let txn = crate::db::begin(db).await?;
                create_row(&txn, &self.client_id, now).await?;
                // Locked: concurrent 429s of all replicas merge one by one.
                let row = spotify_clients::Entity::find_by_id(self.client_id.clone())
                    .lock_exclusive()
                    .one(&txn)
                    .await?
                    .ok_or_else(|| DbErr::RecordNotFound("spotify_clients row".into()))?;
                let (merged, began) = merge(stored(&row), until, reason, now);
                let mut row: spotify_clients::ActiveModel = row.into();
                row.paused_since = Set(Some(merged.since));
                row.paused_until = Set(Some(merged.until));
                row.pause_reason = Set(Some(merged.reason));
                row.updated_at = Set(now);
                row.update(&txn).await?;
                txn.commit().await?;
                Ok((merged, began))
            }
        }
    }
}

impl Pauses {
    /// Ends the pause in force now, if there is one (its start is kept,
    /// as when a pause runs out); answers whether there was one. Only the
    /// sandbox asks for this: against the real Spotify, calling before
    /// `Retry-After` is over earns another 429.
    ///
    /// # Errors
    /// The database's, on PostgreSQL.
    pub async fn lift(&self) -> Result<bool, DbErr> {
        let now = self.now();
        match &self.store {
            Store::Process(latest) => {
                let mut latest = latest.lock().expect("pause lock");
                Ok(match latest.as_mut() {
                    Some(pause) if pause.until > now => {
                        pause.until = now;
                        true
                    }
                    _ => false,
                })
            }
            Store::Database(db) => {
                let lifted = spotify_clients::Entity::update_many()
                    .col_expr(spotify_clients::Column::PausedUntil, Expr::value(now))
                    .col_expr(spotify_clients::Column::UpdatedAt, Expr::value(now))
                    .filter(spotify_clients::Column::ClientId.eq(self.client_id.as_str()))
                    .filter(spotify_clients::Column::PausedUntil.gt(now))
                    .exec(db)
                    .await?;
                Ok(lifted.rows_affected > 0)
            }
        }
    }
}

/// The app's `spotify_clients` row, not paused and with empty budgets,
/// unless it exists.
///
/// # Errors
/// The database's.
pub(super) async fn create_row(
    db: &impl sea_orm::ConnectionTrait,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let blank = spotify_clients::ActiveModel {
        client_id: Set(client_id.to_owned()),
        paused_since: Set(None),
        paused_until: Set(None),
        pause_reason: Set(None),
        updated_at: Set(now),
        day_full_until: Set(0),
        window_full_until: Set(0),
    };
    spotify_clients::Entity::insert(blank)
        .on_conflict(
            OnConflict::column(spotify_clients::Column::ClientId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn stored(row: &spotify_clients::Model) -> Option<Pause> {
    Some(Pause {
        since: row.paused_since?,
        until: row.paused_until?,
        reason: row.pause_reason?,
    })
}

/// The pause after a 429 ordering `until` for `reason`, given the latest
/// one; and whether a quota pause began with it.
fn merge(latest: Option<Pause>, until: DateTime<Utc>, reason: PauseReason, now: DateTime<Utc>) -> (Pause, bool) {
    match latest.filter(|pause| pause.until > now) {
        None => (
            Pause {
                since: now,
                until,
                reason,
            },
            reason == PauseReason::Quota,
        ),
        Some(pause) => {
            let began = reason == PauseReason::Quota && pause.reason != PauseReason::Quota;
            let reason = if began { reason } else { pause.reason };
            (
                Pause {
                    since: pause.since,
                    until: pause.until.max(until),
                    reason,
                },
                began,
            )
        }
    }
}

/// `Retry-After` as seconds (whole or fractional) or as an HTTP-date
/// (RFC 9110 allows both; Spotify documents seconds). `None` when it is
/// neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(1e9)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or_default())
}

/// A caller's own extra wait on top of `wait`: up to a tenth of it plus a
/// quarter second, at most 30 seconds.
pub fn jitter(wait: Duration) -> Duration {
    let most = (wait / 10 + Duration::from_millis(250)).min(Duration::from_secs(30));
    most.mul_f64(rand::rng().random_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_every_form() {
        let now = DateTime::parse_from_rfc3339("2026-09-16T09:59:00Z").unwrap().to_utc();
        assert_eq!(parse_retry_after("4", now), Some(Duration::from_secs(4)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("2.5", now), Some(Duration::from_millis(2500)));
        assert_eq!(
            parse_retry_after("Wed, 16 Sep 2026 10:00:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn pauses_only_lengthen_and_a_quota_begins_once() {
        let now = Utc::now();
        let at = |s| now + TimeDelta::seconds(s);
        let (first, began) = merge(None, at(5), PauseReason::RateLimit, now);
        assert!(!began);
        let (longer, _) = merge(Some(first), at(3), PauseReason::RateLimit, now);
        assert_eq!(longer.until, at(5), "a shorter pause does not shorten it");
        let (quota, began) = merge(Some(longer), at(40_000), PauseReason::Quota, now);
        assert!(began && quota.reason == PauseReason::Quota && quota.since == now);
        let (again, began) = merge(Some(quota), at(40_001), PauseReason::Quota, at(10));
        assert!(!began, "told once");
        assert_eq!(again.until, at(40_001));
        let (after, began) = merge(Some(again), at(40_010), PauseReason::Quota, at(40_002));
        assert!(
            began && after.since == at(40_002),
            "a new quota pause after the last ended"
        );
    }

    #[test]
    fn jitter_stays_small() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(1)) <= Duration::from_millis(350));
            assert!(jitter(Duration::from_secs(50_000)) <= Duration::from_secs(30));
        }
    }
}

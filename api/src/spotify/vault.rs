//! The token vault: Spotify tokens sealed at rest, refreshed shortly before
//! they expire (one refresh at a time per person), and the relink state.
//!
//! A refresh token Spotify returns replaces the stored one. `invalid_grant`
//! — confirmed by a second refresh a moment later, since Spotify has
//! answered it falsely during outages — or the six-month consent running
//! out, or stored tokens that no longer open (a changed `ENCRYPTION_KEY`),
//! marks the link `RELINK_REQUIRED`; from then on no call is made for
//! that person until they link again. About two weeks before the consent
//! runs out its owner is warned once ([`Spotify::warn_expiring`]).
//!
//! Links are keyed by Spotify's immutable `account_id`; a link made before
//! Spotify returned it is keyed by the user id until its next refresh,
//! which reads `/v1/me` once and moves it to the `account_id`.
use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, Condition, ConnectionTrait, EntityTrait as _, QueryFilter as _,
    QuerySelect as _, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    Spotify,
    answers::{Profile, TokenGrant},
    client::{SpotifyClient, SpotifyError},
};
use crate::notify::Notice;
use entity::{deliveries::EventKind, spotify_links, spotify_links::Status};

/// Refresh this long before the access token expires.
const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(120);
/// Spotify refresh tokens stop working this long after consent ("a refresh
/// token expires 6 months after the original authorization", Spotify's
/// blog, 2026-06-18).
pub const CONSENT_LIFETIME: TimeDelta = TimeDelta::days(182);
/// People are warned this long before their consent runs out.
pub const EXPIRY_WARNING: TimeDelta = TimeDelta::days(14);
/// At most this many people are warned per run of the job.
pub const WARN_BATCH: usize = 500;
/// A first `invalid_grant` is confirmed by a second refresh this much later.
pub const CONFIRM_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("this person has not linked Spotify")]
    NotLinked,
    #[error("this person must link Spotify again")]
    RelinkRequired,
    #[error(transparent)]
    Spotify(#[from] SpotifyError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for TokenError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(err.into())
    }
}

/// A usable access token and the client it must be used with: the app
/// the link was granted to (a person's own, or the host's), whose budget
/// and pause every call with the token counts on.
#[derive(Clone)]
pub struct Access {
    pub token: String,
    pub client: Arc<SpotifyClient>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("client_id", &self.client.client_id())
            .finish_non_exhaustive()
    }
}

/// Per-person refresh locks, so concurrent callers share one refresh.
#[derive(Default)]
pub struct RefreshLocks(std::sync::Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    fn for_user(&self, user_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().expect("refresh locks");
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(user_id).or_default().clone()
    }
}

fn access_context(user_id: Uuid) -> String {
    format!("spotify-access:{user_id}")
}

fn refresh_context(user_id: Uuid) -> String {
    format!("spotify-refresh:{user_id}")
}

/// The link of `user_id`, if any.
pub async fn find(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Option<spotify_links::Model>, sea_orm::DbErr> {
    spotify_links::Entity::find_by_id(user_id).one(db).await
}

/// Whether a link names the Spotify account `account`: by its
/// `account_id` or its user id.
pub async fn account_linked(db: &impl ConnectionTrait, account: &str) -> Result<bool, sea_orm::DbErr> {
    let found = spotify_links::Entity::find()
        .filter(
            Condition::any()
                .add(spotify_links::Column::AccountId.eq(account))
                .add(spotify_links::Column::SpotifyUserId.eq(account)),
        )
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The link of the Spotify account `profile` describes, if any: by its
/// `account_id`, or a link made before `account_id` existed, by user id.
pub async fn find_by_account(
    db: &impl ConnectionTrait,
    profile: &Profile,
) -> Result<Option<spotify_links::Model>, sea_orm::DbErr> {
    let legacy = Condition::all()
        .add(spotify_links::Column::AccountId.eq(profile.id.as_str()))
        .add(spotify_links::Column::SpotifyUserId.is_null());
    spotify_links::Entity::find()
        .filter(
            Condition::any()
                .add(spotify_links::Column::AccountId.eq(profile.link_key()))
                .add(legacy),
        )
        .one(db)
        .await
}

impl Spotify {
    /// Stores (or replaces) `user_id`'s link after a completed authorization
    /// through `client_id` (a person's own app; `None`: the host's), in the
    /// caller's transaction.
    ///
    /// # Errors
    /// `Internal` when Spotify sent no refresh token.
    pub async fn store_link(
        &self,
        db: &impl ConnectionTrait,
        user_id: Uuid,
        profile: &Profile,
        grant: &TokenGrant,
        client_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<spotify_links::Model, TokenError> {
        let refresh = grant
            .refresh_token
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("spotify sent no refresh token with the code exchange"))?;
        let row = spotify_links::ActiveModel {
            user_id: Set(user_id),
            account_id: Set(profile.link_key().to_owned()),
            spotify_user_id: Set(Some(profile.id.clone())),
            display_name: Set(profile.display_name.clone()),
            client_id: Set(client_id.map(str::to_owned)),
            access_token: Set(self.sealer.seal(&grant.access_token, &access_context(user_id))),
            refresh_token: Set(self.sealer.seal(refresh, &refresh_context(user_id))),
            access_expires_at: Set(now + TimeDelta::seconds(grant.expires_in)),
            consented_at: Set(now),
            consent_expires_at: Set(now + CONSENT_LIFETIME),
            status: Set(Status::Active),
            expiry_warned_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let existing = spotify_links::Entity::find_by_id(user_id).one(db).await?;
        let saved = match existing {
            Some(_) => {
                let mut row = row;
                row.created_at = sea_orm::ActiveValue::NotSet;
                row.update(db).await?
            }
            None => row.insert(db).await?,
        };
        Ok(saved)
    }

    /// A usable access token for `user_id`, refreshed first when it is about
    /// to expire.
    ///
    /// # Errors
    /// `NotLinked`, `RelinkRequired` (no call is made; also when the stored
    /// tokens do not open), `Spotify` when a refresh failed, `Internal` for
    /// the database.
    pub async fn access_token(&self, user_id: Uuid) -> Result<Access, TokenError> {
        let link = self.usable_link(user_id).await?;
        let client = self.client_for(link.client_id.as_deref());
        let token = if link.access_expires_at > self.clock.now() + REFRESH_MARGIN {
            self.unseal(user_id, &link.access_token, &access_context(user_id))
                .await?
        } else {
            self.refresh(user_id, Some(link.access_expires_at)).await?
        };
        Ok(Access { token, client })
    }

    /// A fresh access token after Spotify answered 401 to the stored one.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn refresh_after_rejection(&self, user_id: Uuid, rejected: &str) -> Result<Access, TokenError> {
        let link = self.usable_link(user_id).await?;
        let client = self.client_for(link.client_id.as_deref());
        let stored = self
            .unseal(user_id, &link.access_token, &access_context(user_id))
            .await?;
        let token = if stored != rejected {
            stored // someone refreshed meanwhile
        } else {
            self.refresh(user_id, Some(link.access_expires_at)).await?
        };
        Ok(Access { token, client })
    }

    async fn usable_link(&self, user_id: Uuid) -> Result<spotify_links::Model, TokenError> {
        let link = find(&self.db, user_id).await?.ok_or(TokenError::NotLinked)?;
        if link.status != Status::Active {
            return Err(TokenError::RelinkRequired);
        }
        if link.consent_expires_at <= self.clock.now() {
            self.mark_relink_required(user_id, "consent expired").await?;
            return Err(TokenError::RelinkRequired);
        }
        Ok(link)
    }

    /// Refreshes unless another caller already did while this one waited.
    async fn refresh(&self, user_id: Uuid, seen_expiry: Option<DateTime<Utc>>) -> Result<String, TokenError> {
        let lock = self.locks.for_user(user_id);
        let _guard = lock.lock().await;
        let link = self.usable_link(user_id).await?;
        if Some(link.access_expires_at) != seen_expiry && link.access_expires_at > self.clock.now() + REFRESH_MARGIN {
            return self.unseal(user_id, &link.access_token, &access_context(user_id)).await;
        }
        let refresh_token = self
            .unseal(user_id, &link.refresh_token, &refresh_context(user_id))
            .await?;
        // Refreshed through the app the tokens were granted to.
        let client = self.client_for(link.client_id.as_deref());
        let grant = match client.refresh(&refresh_token).await {
            Ok(grant) => grant,
            Err(SpotifyError::InvalidGrant(first)) => {
                tracing::info!(%user_id, reason = first, "spotify refused a refresh token: confirming");
                tokio::time::sleep(CONFIRM_AFTER).await;
                match client.refresh(&refresh_token).await {
                    Ok(grant) => grant,
                    Err(SpotifyError::InvalidGrant(reason)) => {
                        self.mark_relink_required(user_id, &reason).await?;
                        return Err(TokenError::RelinkRequired);
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            Err(err) => return Err(err.into()),
        };
        let now = self.clock.now();
        let mut update = spotify_links::Entity::update_many()
            .col_expr(
                spotify_links::Column::AccessToken,
                Expr::value(self.sealer.seal(&grant.access_token, &access_context(user_id))),
            )
            .col_expr(
                spotify_links::Column::AccessExpiresAt,
                Expr::value(now + TimeDelta::seconds(grant.expires_in)),
            )
            .col_expr(spotify_links::Column::UpdatedAt, Expr::value(now));
        if let Some(rotated) = &grant.refresh_token {
            update = update.col_expr(
                spotify_links::Column::RefreshToken,
                Expr::value(self.sealer.seal(rotated, &refresh_context(user_id))),
            );
        }
        update
            .filter(spotify_links::Column::UserId.eq(user_id))
            .exec(&self.db)
            .await?;
        tracing::debug!(%user_id, rotated = grant.refresh_token.is_some(), "spotify token refreshed");
        if link.spotify_user_id.is_none() {
            self.key_by_account_id(user_id, &client, &grant.access_token).await;
        }
        Ok(grant.access_token)
    }

    /// Opens one of `user_id`'s sealed tokens. One that does not open (the
    /// `ENCRYPTION_KEY` changed since it was sealed) is of no use to anyone:
    /// the link needs relinking, and its owner is told.
    async fn unseal(&self, user_id: Uuid, sealed: &str, context: &str) -> Result<String, TokenError> {
        match self.sealer.open(sealed, context) {
            Ok(token) => Ok(token),
            Err(err) => {
                tracing::warn!(%user_id, error = %err, "stored spotify tokens do not open: asking for a relink");
                self.mark_relink_required(user_id, "the stored tokens no longer open")
                    .await?;
                Err(TokenError::RelinkRequired)
            }
        }
    }

    /// Moves a link made before Spotify returned `account_id` to it (and
    /// keeps the user id for display). Best effort: on failure it is tried
    /// again at the next refresh.
    async fn key_by_account_id(&self, user_id: Uuid, client: &SpotifyClient, access_token: &str) {
        let profile = match client.me(access_token).await {
            Ok(profile) => profile,
            Err(err) => {
                tracing::info!(%user_id, error = %err, "reading the spotify account id failed: next refresh");
                return;
            }
        };
        let moved = spotify_links::Entity::update_many()
            .col_expr(spotify_links::Column::AccountId, Expr::value(profile.link_key()))
            .col_expr(
                spotify_links::Column::SpotifyUserId,
                Expr::value(Some(profile.id.clone())),
            )
            .col_expr(spotify_links::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(spotify_links::Column::UserId.eq(user_id))
            .filter(spotify_links::Column::SpotifyUserId.is_null())
            .exec(&self.db)
            .await;
        match moved {
            Ok(_) => tracing::info!(%user_id, "spotify link keyed by account_id"),
            Err(err) => tracing::warn!(%user_id, error = %err, "keying the spotify link by account_id failed"),
        }
    }

    /// Marks the link as needing a relink and, the first time, tells its owner
    /// (in the same transaction).
    async fn mark_relink_required(&self, user_id: Uuid, reason: &str) -> Result<(), TokenError> {
        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let changed = spotify_links::Entity::update_many()
            .col_expr(spotify_links::Column::Status, Expr::value(Status::RelinkRequired))
            .col_expr(spotify_links::Column::UpdatedAt, Expr::value(now))
            .filter(spotify_links::Column::UserId.eq(user_id))
            .filter(spotify_links::Column::Status.eq(Status::Active))
            .exec(&txn)
            .await?;
        if changed.rows_affected > 0 {
            let notice = Notice {
                user_id,
                kind: EventKind::RelinkRequired,
                event_id: Uuid::now_v7(),
                share_id: None,
            };
            self.notify.fan_out(&txn, notice, now).await?;
            self.jobs.commit(txn).await?;
        } else {
            txn.commit().await?;
        }
        if changed.rows_affected > 0 {
            tracing::info!(%user_id, reason, "spotify link needs relinking");
        }
        Ok(())
    }

    /// Warns, once per consent, everyone whose consent runs out within
    /// [`EXPIRY_WARNING`] (push and Messenger, with the link that
    /// reconnects in one tap). Answers how many were warned.
    ///
    /// # Errors
    /// The database's.
    pub async fn warn_expiring(&self) -> Result<usize, sea_orm::DbErr> {
        let now = self.clock.now();
        let due: Vec<Uuid> = spotify_links::Entity::find()
            .select_only()
            .column(spotify_links::Column::UserId)
            .filter(spotify_links::Column::Status.eq(Status::Active))
            .filter(spotify_links::Column::ExpiryWarnedAt.is_null())
            .filter(spotify_links::Column::ConsentExpiresAt.gt(now))
            .filter(spotify_links::Column::ConsentExpiresAt.lte(now + EXPIRY_WARNING))
            .limit(WARN_BATCH as u64)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut warned = 0;
        for user_id in due {
            let txn = crate::db::begin(&self.db).await?;
            let marked = spotify_links::Entity::update_many()
                .col_expr(spotify_links::Column::ExpiryWarnedAt, Expr::value(Some(now)))
                .filter(spotify_links::Column::UserId.eq(user_id))
                .filter(spotify_links::Column::ExpiryWarnedAt.is_null())
                .exec(&txn)
                .await?;
            if marked.rows_affected == 0 {
                continue; // another replica warned them
            }
            let notice = Notice {
                user_id,
                kind: EventKind::ConsentExpiring,
                event_id: Uuid::now_v7(),
                share_id: None,
            };
            self.notify.fan_out(&txn, notice, now).await?;
            self.jobs.commit(txn).await?;
            warned += 1;
        }
        if warned > 0 {
            tracing::info!(count = warned, "warned people whose spotify consent runs out soon");
        }
        Ok(warned)
    }

    /// Forgets `user_id`'s tokens. Answers whether there was a link.
    pub async fn disconnect(&self, user_id: Uuid) -> Result<bool, sea_orm::DbErr> {
        let deleted = spotify_links::Entity::delete_by_id(user_id).exec(&self.db).await?;
        Ok(deleted.rows_affected > 0)
    }
}

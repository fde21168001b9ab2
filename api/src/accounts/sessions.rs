//! Sign-up, log-in, refresh rotation, log-out (of one session, or of every
//! one), and turning a bearer token into a signed-in [`Viewer`].
//!
//! An ended session is published ([`Topic::SessionEnded`],
//! [`Topic::AllSessionsEnded`]) after its change commits: every replica
//! forgets it from its cache and closes the WebSockets signed in with it.
use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, Set, sea_query::Expr,
};
use uuid::Uuid;

use super::Accounts;
use super::{
    passwords,
    throttle::{self, Decision},
    tokens::{AccessTokens, TokenSubject, hash_refresh_token, new_refresh_token},
    users,
    validate::{DisplayName, Email, Handle, Password},
};
use crate::{
    error::{Error, Result, is_unique_violation},
    events::{Event, Topic},
};
use entity::{refresh_tokens, sessions, users as user};

/// How long an unused refresh token stays valid.
pub const REFRESH_TOKEN_TTL: TimeDelta = TimeDelta::days(30);

/// The signed-in person behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// A fresh pair of tokens and the user they belong to.
pub struct Authenticated {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
    pub user: user::Model,
}

pub struct SignUp {
    pub email: String,
    pub password: String,
    pub handle: String,
    pub display_name: String,
}

impl Accounts {
    /// Makes an account with an email and password and signs it in.
    ///
    /// # Errors
    /// `BadUserInput` for a malformed email, password, handle or name;
    /// `Conflict` when the handle or email is taken.
    #[tracing::instrument(skip_all, fields(handle = %input.handle))]
    pub async fn sign_up(&self, input: SignUp) -> Result<Authenticated> {
        let email = Email::parse(&input.email)?;
        let password = Password::parse(&input.password)?;
        let handle = Handle::parse(&input.handle)?;
        let display_name = DisplayName::parse(&input.display_name)?;

        if users::find_by_handle(&self.db, handle.as_str()).await?.is_some() {
            return Err(Error::Conflict(format!(
                "the handle @{} is taken: choose another",
                handle.as_str()
            )));
        }
        if users::find_by_email(&self.db, &email.key).await?.is_some() {
            return Err(Error::Conflict(
                "an account with this email exists: log in instead".into(),
            ));
        }

        let password_hash = passwords::hash(password).await?;
        let now = self.clock.now();
        let mut new_user = users::new_user(handle.into_inner(), display_name.into_inner(), now);
        new_user.email = Set(Some(email.address));
        new_user.email_key = Set(Some(email.key));
        new_user.password_hash = Set(Some(password_hash));

        let txn = crate::db::begin(&self.db).await?;
        let created = match new_user.insert(&txn).await {
            Ok(created) => created,
            // Lost a race with an identical sign-up.
            Err(err) if is_unique_violation(&err) => {
                return Err(Error::Conflict("that handle or email was just taken: try again".into()));
            }
            Err(err) => return Err(err.into()),
        };
        let refresh_token = start_session(&txn, created.id, now).await?;
        txn.commit().await?;
        tracing::info!(user_id = %created.id, "signed up");
        finish(&self.tokens, created, refresh_token, now)
    }

    /// Signs in with an email and password, from `address`.
    ///
    /// # Errors
    /// `Unauthenticated` for a wrong email or password (which it is is not
    /// told); `RateLimited` after too many failures for the email or address.
    #[tracing::instrument(skip_all)]
    pub async fn log_in(&self, email: &str, password: String, address: Option<IpAddr>) -> Result<Authenticated> {
        let refused = || Error::Unauthenticated("wrong email or password".into());
        let email_key = email.trim().to_lowercase();
        let keys = throttle::Keys::new(&email_key, address);
        match throttle::attempt(&self.db, &keys, self.clock.now()).await? {
            Decision::Refuse { retry_after } => {
                return Err(Error::RateLimited {
                    message: format!(
                        "too many failed log-ins: try again in {} minutes",
                        retry_after.as_secs().div_ceil(60)
                    ),
                    retry_after: Some(retry_after),
                });
            }
            Decision::Check { delay } => tokio::time::sleep(delay).await,
        }

        let found = users::find_by_email(&self.db, &email_key).await?;
        let stored = found.as_ref().and_then(|u| u.password_hash.clone());
        let ok = passwords::verify(password, stored).await?;
        let Some(found) = found.filter(|_| ok) else {
            return Err(refused());
        };
        throttle::succeeded(&self.db, &keys).await?;

        let now = self.clock.now();
        let txn = crate::db::begin(&self.db).await?;
        let refresh_token = start_session(&txn, found.id, now).await?;
        txn.commit().await?;
        finish(&self.tokens, found, refresh_token, now)
    }

    /// Exchanges a refresh token for a new pair. The old token is spent; if it
    /// is ever presented again, the session it belongs to is revoked, because
    /// either the owner or a thief holds a copy.
    ///
    /// # Errors
    /// `Unauthenticated` for an unknown, expired or reused token.
    #[tracing::instrument(skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<Authenticated> {
        let invalid = || Error::Unauthenticated("this refresh token is not valid: log in again".into());
        let now = self.clock.now();
        let hash = hash_refresh_token(refresh_token);
        let txn = crate::db::begin(&self.db).await?;
        let Some(token) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .one(&txn)
            .await?
        else {
            return Err(invalid());
        };
        let Some(session) = sessions::Entity::find_by_id(token.session_id).one(&txn).await? else {
            return Err(invalid());
        };
        if session.revoked_at.is_some() || token.expires_at <= now {
            return Err(invalid());
        }
        // Spend the token; the condition makes two concurrent refreshes with the
        // same token see one winner and one reuse.
        let spent = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(now))
            .filter(refresh_tokens::Column::Id.eq(token.id))
            .filter(refresh_tokens::Column::RotatedAt.is_null())
            .exec(&txn)
            .await?;
        if spent.rows_affected == 0 {
            revoke_session(&txn, session.id, now).await?;
            txn.commit().await?;
            self.ended(session.user_id, Topic::SessionEnded, session.id).await;
            tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reused: session revoked");
            return Err(Error::Unauthenticated(
                "this refresh token was already used, so the session has been ended for safety: log in again".into(),
            ));
        }
        let new_token = insert_refresh_token(&txn, session.id, now).await?;
        sessions::Entity::update_many()
            .col_expr(sessions::Column::LastUsedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(session.id))
            .exec(&txn)
            .await?;
        let found = user::Entity::find_by_id(session.user_id)
            .one(&txn)
            .await?
            .ok_or_else(invalid)?;
        txn.commit().await?;
        finish_session(&self.tokens, found, session.id, new_token, now)
    }

    /// Ends the session that `refresh_token` belongs to. A signed-in caller may
    /// only end their own sessions. Answers whether a session was ended.
    ///
    /// # Errors
    /// `Forbidden` when the token belongs to another account than the caller's.
    #[tracing::instrument(skip_all)]
    pub async fn log_out(&self, viewer: Option<Viewer>, refresh_token: &str) -> Result<bool> {
        let hash = hash_refresh_token(refresh_token);
        let Some(token) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash))
            .one(&self.db)
            .await?
        else {
            return Ok(false);
        };
        let Some(session) = sessions::Entity::find_by_id(token.session_id).one(&self.db).await? else {
            return Ok(false);
        };
        if let Some(viewer) = viewer
            && viewer.user_id != session.user_id
        {
            return Err(Error::Forbidden("this refresh token belongs to another account".into()));
        }
        if session.revoked_at.is_some() {
            return Ok(false);
        }
        // Of several log-outs at once, the one that ended the session says so.
        let ended = revoke_session(&self.db, session.id, self.clock.now()).await?;
        if ended {
            self.ended(session.user_id, Topic::SessionEnded, session.id).await;
        }
        Ok(ended)
    }

    /// Ends every session of the viewer's (this one included): every
    /// refresh token and access token of theirs stops working, on every
    /// device. Answers whether any session was open.
    #[tracing::instrument(skip_all, fields(user_id = %viewer.user_id))]
    pub async fn log_out_everywhere(&self, viewer: Viewer) -> Result<bool> {
        let revoked = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(self.clock.now()))
            .filter(sessions::Column::UserId.eq(viewer.user_id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        self.ended(viewer.user_id, Topic::AllSessionsEnded, viewer.user_id)
            .await;
        tracing::info!(sessions = revoked.rows_affected, "logged out everywhere");
        Ok(revoked.rows_affected > 0)
    }

    /// After a session's end committed (`topic` [`Topic::SessionEnded`],
    /// `subject` the session; or [`Topic::AllSessionsEnded`], `subject`
    /// the person): this process forgets it at once, and every replica
    /// hears of it.
    pub(super) async fn ended(&self, user_id: Uuid, topic: Topic, subject_id: Uuid) {
        let event = Event {
            user_id,
            topic,
            subject_id,
        };
        self.caches.after(&event);
        self.events.publish(event).await;
    }

    /// Turns a bearer token into a viewer: the signature and times must hold and
    /// the session must not have been ended (log-out ends access tokens too).
    /// The session and its user are read in one statement and cached briefly
    /// (see [`Caches::viewers`](crate::cache::Caches::viewers)).
    ///
    /// # Errors
    /// `Unauthenticated`, saying why: a bad or expired token, an ended session.
    pub async fn authenticate(&self, bearer: &str) -> Result<Viewer> {
        Ok(self.authenticate_with_user(bearer).await?.0)
    }

    /// Like [`authenticate`](Self::authenticate), also answering the last
    /// moment the token is accepted (a WebSocket signed in with it closes
    /// then).
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate).
    pub async fn authenticate_until(&self, bearer: &str) -> Result<(Viewer, DateTime<Utc>)> {
        let viewer = self.authenticate(bearer).await?;
        Ok((viewer, self.tokens.accepted_until(bearer)?))
    }

    /// Like [`authenticate`](Self::authenticate), also answering the user row.
    ///
    /// # Errors
    /// As [`authenticate`](Self::authenticate).
    pub async fn authenticate_with_user(&self, bearer: &str) -> Result<(Viewer, user::Model)> {
        let TokenSubject { user_id, session_id } = self.tokens.verify(bearer, self.clock.now())?;
        let viewer = Viewer { user_id, session_id };
        if let Some(user) = self
            .caches
            .viewers
            .get(&session_id, self.clock.now())
            .filter(|u| u.id == user_id)
        {
            return Ok((viewer, user));
        }
        let found = user::Entity::find_by_id(user_id)
            .filter(
                user::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(sessions::Column::UserId)
                        .from(sessions::Entity)
                        .and_where(sessions::Column::Id.eq(session_id))
                        .and_where(sessions::Column::RevokedAt.is_null())
                        .to_owned(),
                ),
            )
            .one(&self.db)
            .await?;
        match found {
            Some(user) => {
                self.caches.viewers.put(session_id, user.clone(), self.clock.now());
                Ok((viewer, user))
            }
            None => Err(Error::Unauthenticated("this session has ended: log in again".into())),
        }
    }
}

async fn start_session(db: &impl ConnectionTrait, user_id: Uuid, now: DateTime<Utc>) -> Result<(Uuid, String)> {
    let session = sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        created_at: Set(now),
        last_used_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    let token = insert_refresh_token(db, session.id, now).await?;
    Ok((session.id, token))
}

async fn insert_refresh_token(db: &impl ConnectionTrait, session_id: Uuid, now: DateTime<Utc>) -> Result<String> {
    let token = new_refresh_token();
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session_id),
        token_hash: Set(hash_refresh_token(&token)),
        created_at: Set(now),
        expires_at: Set(now + REFRESH_TOKEN_TTL),
        rotated_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Ends a session; answers whether this call ended it (false: it had ended).
async fn revoke_session(db: &impl ConnectionTrait, session_id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    let revoked = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(session_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(revoked.rows_affected > 0)
}

fn finish(
    tokens: &AccessTokens,
    user: user::Model,
    (session_id, refresh_token): (Uuid, String),
    now: DateTime<Utc>,
) -> Result<Authenticated> {
    finish_session(tokens, user, session_id, refresh_token, now)
}

fn finish_session(
    tokens: &AccessTokens,
    user: user::Model,
    session_id: Uuid,
    refresh_token: String,
    now: DateTime<Utc>,
) -> Result<Authenticated> {
    let (access_token, expires_at) = tokens.issue(
        TokenSubject {
            user_id: user.id,
            session_id,
        },
        now,
    )?;
    Ok(Authenticated {
        access_token,
        refresh_token,
        expires_at,
        user,
    })
}

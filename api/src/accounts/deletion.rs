//! Deleting an account, for good.
//!
//! One statement removes the person's row; the database removes everything
//! that names them with it (every foreign key to `users` cascades): their
//! sessions and refresh tokens, friendships (so friends no longer see
//! them), push devices, Spotify link and tokens, Messenger link, link
//! codes, the shares they sent and received with their listen receipts, and
//! the notifications sent to them. Jobs about them find nothing left and
//! finish. Then every replica hears that all their sessions ended, and
//! closes their WebSockets.
use std::net::IpAddr;

use sea_orm::EntityTrait as _;

use super::{
    Accounts, passwords,
    sessions::Viewer,
    throttle::{self, Decision},
    users,
};
use crate::{
    error::{Error, Result},
    events::Topic,
};
use entity::users as user;

impl Accounts {
    /// Deletes the viewer's account and everything that names them, once
    /// `password` (theirs) is confirmed, from `address`.
    ///
    /// # Errors
    /// `BadUserInput` (field `password`) for a wrong password, which
    /// changes nothing; `RateLimited` after too many wrong passwords (the
    /// log-in throttle counts them); `Unauthenticated` when the account is
    /// already gone.
    #[tracing::instrument(skip_all, fields(user_id = %viewer.user_id))]
    pub async fn delete_account(&self, viewer: Viewer, password: String, address: Option<IpAddr>) -> Result<()> {
        let Some(person) = users::find(&self.db, viewer.user_id).await? else {
            return Err(Error::Unauthenticated("this account no longer exists".into()));
        };
        let key = person.email_key.clone().unwrap_or_else(|| person.id.to_string());
        let keys = throttle::Keys::new(&key, address);
        match throttle::attempt(&self.db, &keys, self.clock.now()).await? {
            Decision::Refuse { retry_after } => {
                return Err(Error::RateLimited {
                    message: format!(
                        "too many wrong passwords: try again in {} minutes",
                        retry_after.as_secs().div_ceil(60)
                    ),
                    retry_after: Some(retry_after),
                });
            }
            Decision::Check { delay } => tokio::time::sleep(delay).await,
        }
        if !passwords::verify(password, person.password_hash.clone()).await? {
            return Err(Error::bad_input(
                "password",
                "that is not this account's password: nothing was deleted",
            ));
        }
        throttle::succeeded(&self.db, &keys).await?;

        let deleted = user::Entity::delete_by_id(person.id).exec(&self.db).await?;
        if deleted.rows_affected == 0 {
            // Another request deleted it meanwhile.
            return Err(Error::Unauthenticated("this account no longer exists".into()));
        }
        tracing::info!("account deleted");
        self.caches.forget_person(&person);
        self.ended(person.id, Topic::AllSessionsEnded, person.id).await;
        Ok(())
    }
}

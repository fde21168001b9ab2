//! Who a session is, remembered for a few seconds.
//!
//! Every signed-in request needs the session (is it still open?) and most
//! need the user row. Both are read in one statement and kept here briefly,
//! so a busy app's requests cost no statement for them. This process
//! forgets an entry the moment it revokes the session or changes the user;
//! another replica may accept a revoked session for at most [`TTL`].
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::cache::TtlCache;
use entity::users;

pub const TTL: TimeDelta = TimeDelta::seconds(5);

/// By session id: the user it belongs to.
pub struct ViewerCache(TtlCache<Uuid, users::Model>);

impl Default for ViewerCache {
    fn default() -> Self {
        Self(TtlCache::new(TTL))
    }
}

impl ViewerCache {
    pub fn get(&self, session_id: Uuid, now: DateTime<Utc>) -> Option<users::Model> {
        self.0.get(&session_id, now)
    }

    pub fn put(&self, session_id: Uuid, user: users::Model, now: DateTime<Utc>) {
        self.0.put(session_id, user, now);
    }

    pub fn forget_session(&self, session_id: Uuid) {
        self.0.forget(&session_id);
    }

    /// After the user row changed (settings, name): every session re-reads it.
    pub fn forget_user(&self, user_id: Uuid) {
        self.0.forget_where(|_, user| user.id == user_id);
    }
}

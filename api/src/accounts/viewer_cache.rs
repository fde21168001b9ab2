//! Who a session is, remembered for a few seconds.
//!
//! Every signed-in request needs the session (is it still open?) and most
//! need the user row. Both are read in one statement and kept here briefly,
//! so a busy app's requests cost no statement for them. This process
//! forgets an entry the moment it revokes the session or changes the user;
//! another replica may accept a revoked session for at most [`TTL`].
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

use entity::users;

pub const TTL: Duration = Duration::from_secs(5);
/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 50_000;

#[derive(Default)]
pub struct ViewerCache {
    /// By session id: when it was read, and the user it belongs to.
    entries: Mutex<HashMap<Uuid, (Instant, users::Model)>>,
}

impl ViewerCache {
    pub fn get(&self, session_id: Uuid) -> Option<users::Model> {
        let entries = self.entries.lock().expect("viewer cache");
        entries
            .get(&session_id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, user)| user.clone())
    }

    pub fn put(&self, session_id: Uuid, user: users::Model) {
        let mut entries = self.entries.lock().expect("viewer cache");
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        entries.insert(session_id, (Instant::now(), user));
    }

    pub fn forget_session(&self, session_id: Uuid) {
        self.entries.lock().expect("viewer cache").remove(&session_id);
    }

    /// After the user row changed (settings, name): every session re-reads it.
    pub fn forget_user(&self, user_id: Uuid) {
        self.entries
            .lock()
            .expect("viewer cache")
            .retain(|_, (_, user)| user.id != user_id);
    }
}

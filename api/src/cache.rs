//! Short-lived caches for hot reads that may be a few seconds stale: the
//! generic [`TtlCache`], and [`Caches`], every cache of people the process
//! keeps. The process that changes the data forgets the entry at once;
//! other replicas see the change when the entry expires. Time is the app's
//! clock, like everything else.
use std::{collections::HashMap, hash::Hash, sync::Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::events::{Event, Topic};
use entity::{friendships, users};

/// Every cache that shows a person, in one place, so that a change to a
/// person forgets them everywhere ([`forget_person`](Self::forget_person)).
/// Values are rows: the services that fill them shape them on the way out.
pub struct Caches {
    /// By session id: the user it belongs to. Every signed-in request needs
    /// the session (is it still open?) and most need the user row; both are
    /// read in one statement and kept here, so a busy app's requests cost no
    /// statement for them. This process forgets a session the moment it
    /// revokes it; other replicas when the session's end reaches them as
    /// an event ([`after`](Self::after)), and at the latest after
    /// [`VIEWERS_FOR`] (an event can be lost while a replica's listener
    /// reconnects).
    pub viewers: TtlCache<Uuid, users::Model>,
    /// By person: their friendships with the other person's row, newest
    /// change first. On the hottest signed-in path; forgotten when a
    /// friendship of theirs changes here.
    pub friend_lists: TtlCache<Uuid, Vec<(friendships::Model, users::Model)>>,
    /// By handle (lower case) on the public now-playing route: who it is,
    /// `None` when unknown or not public; kept as long as the now-playing
    /// answer behind it, so a busy page costs no statement.
    pub public_people: TtlCache<String, Option<users::Model>>,
}

/// How long a session's user is kept.
pub const VIEWERS_FOR: TimeDelta = TimeDelta::seconds(5);
/// How long a friends list is kept.
pub const FRIEND_LISTS_FOR: TimeDelta = TimeDelta::seconds(5);

impl Caches {
    /// `public_for`: how long a public handle is kept (as long as the
    /// now-playing answers behind it).
    pub fn new(public_for: TimeDelta) -> Self {
        Self {
            viewers: TtlCache::new(VIEWERS_FOR),
            friend_lists: TtlCache::new(FRIEND_LISTS_FOR),
            public_people: TtlCache::new(public_for),
        }
    }

    /// After a person's row changed (name, settings): every session
    /// re-reads it, friends' lists that show them are read again, and the
    /// public route looks them up again.
    pub fn forget_person(&self, person: &users::Model) {
        self.forget_person_by_id(person.id);
        self.public_people.forget(&person.handle);
    }

    /// After an event this process received (from any replica): an ended
    /// session is forgotten, and once every session of a person ended
    /// (logged out everywhere, or the account deleted), the person too.
    pub fn after(&self, event: &Event) {
        match event.topic {
            Topic::SessionEnded => self.viewers.forget(&event.subject_id),
            Topic::AllSessionsEnded => self.forget_person_by_id(event.user_id),
            Topic::FriendshipChanged | Topic::ShareReceived | Topic::SharePlayed | Topic::ShareActivity => {}
        }
    }

    fn forget_person_by_id(&self, id: Uuid) {
        self.viewers.forget_where(|_, user| user.id == id);
        self.friend_lists.forget(&id);
        self.friend_lists
            .forget_where(|_, list| list.iter().any(|(_, user)| user.id == id));
        self.public_people
            .forget_where(|_, user| user.as_ref().is_some_and(|user| user.id == id));
    }
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 50_000;

pub struct TtlCache<K, V> {
    ttl: TimeDelta,
    entries: Mutex<HashMap<K, (DateTime<Utc>, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: TimeDelta) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K, now: DateTime<Utc>) -> Option<V> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| now - *at < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: K, value: V, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= SWEEP_AT {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| now - *at < ttl);
        }
        entries.insert(key, (now, value));
    }

    pub fn forget(&self, key: &K) {
        self.entries.lock().expect("cache lock").remove(key);
    }

    pub fn forget_where(&self, mut matches: impl FnMut(&K, &V) -> bool) {
        self.entries
            .lock()
            .expect("cache lock")
            .retain(|k, (_, v)| !matches(k, v));
    }
}

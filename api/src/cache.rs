//! A small time-limited cache for hot reads that may be a few seconds
//! stale. The process that changes the data forgets the entry at once;
//! other replicas see the change when the entry expires. Time is the app's
//! clock, like everything else.
use std::{collections::HashMap, hash::Hash, sync::Mutex};

use chrono::{DateTime, TimeDelta, Utc};

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

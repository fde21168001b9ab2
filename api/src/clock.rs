//! Time, injectable: the server reads "now" only through [`Clock`], so tests
//! can move a week of schedule forward in milliseconds.
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: tests drive time exactly.
/// It starts at the current time, to the millisecond (the precision Spotify
/// reports and every database keeps).
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        Arc::new(Self {
            now: Mutex::new(DateTime::from_timestamp_millis(ms).unwrap_or(now)),
        })
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        *self.now.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }
}

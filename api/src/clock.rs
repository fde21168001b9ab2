//! Time, injectable: the server reads "now" only through [`Clock`], so tests
//! can move a week of schedule forward in milliseconds.
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::Notify;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once [`now`](Self::now) has reached `at` (at once when it
    /// has already): a wait for a moment of this clock, such as an access
    /// token's expiry on an open WebSocket.
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Sleep again if the wall clock was behind the timer.
            while let Ok(left) = (at - self.now()).to_std() {
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left).await;
            }
        })
    }
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
    /// Wakes the [`sleep_until`](Clock::sleep_until)s each time the clock moves.
    moved: Notify,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        Arc::new(Self {
            now: Mutex::new(DateTime::from_timestamp_millis(ms).unwrap_or(now)),
            moved: Notify::new(),
        })
    }

    pub fn advance(&self, by: std::time::Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        *self.now.lock().expect("clock lock") += by;
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    /// Waits for the test to move the clock past `at`; real time does not
    /// count.
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            loop {
                // Registered before looking, so a move in between is not missed.
                let moved = self.moved.notified();
                tokio::pin!(moved);
                moved.as_mut().enable();
                if self.now() >= at {
                    return;
                }
                moved.await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_manual_sleep_ends_when_the_clock_is_moved_past_it() {
        let clock = ManualClock::new();
        let at = clock.now() + TimeDelta::minutes(15);
        let sleeping = clock.sleep_until(at);
        tokio::pin!(sleeping);
        assert!(futures_util::poll!(sleeping.as_mut()).is_pending());
        clock.advance(Duration::from_secs(14 * 60));
        assert!(futures_util::poll!(sleeping.as_mut()).is_pending());
        clock.advance(Duration::from_secs(60));
        tokio::time::timeout(Duration::from_secs(5), sleeping)
            .await
            .expect("woken by the move");
        // A moment already past: at once.
        clock.sleep_until(at).await;
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_in_real_time() {
        let at = SystemClock.now() + TimeDelta::milliseconds(20);
        SystemClock.sleep_until(at).await;
        assert!(SystemClock.now() >= at);
    }
}

//! When a share is checked with `recently-played`: first when the track
//! could have been played through, then often during the first hour, then
//! less often until the share expires; sooner for heavy listeners, whose
//! plays would otherwise fall off Spotify's 50-play history between checks;
//! later while the Spotify budget is tight ([`stretched`]): a play stays in
//! that history, so a later check still finds it.
//! (The live checks' schedule is `live.rs`'s.)
use chrono::{DateTime, TimeDelta, Utc};

use crate::config::PlayCheckSettings;

/// Spotify lists only plays longer than 30 seconds.
const SHORTEST_PLAY: TimeDelta = TimeDelta::seconds(30);
/// Plays Spotify's `recently-played` keeps: the 50 most recent, whatever
/// the cursors ("paging" with `before` finds nothing older). An answer with
/// this many plays after the cursor may have lost older ones.
pub const HISTORY: usize = 50;
/// While the Spotify budget is tight, a check of a share past its fast
/// window comes this many times its interval later.
pub const TIGHT_STRETCH: i32 = 4;
/// A heavy listener is never checked more often than this.
pub const HEAVY_FLOOR: TimeDelta = TimeDelta::minutes(1);

/// The first check: when the whole track could have been heard.
pub fn first_check(created_at: DateTime<Utc>, duration_ms: i32) -> DateTime<Utc> {
    created_at + TimeDelta::milliseconds(i64::from(duration_ms)).max(SHORTEST_PLAY)
}

/// The check after one made at `now`, at most `heavy` later (a heavy
/// listener's interval); `None` when the share has expired.
pub fn next_check(
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: &PlayCheckSettings,
    heavy: Option<TimeDelta>,
) -> Option<DateTime<Utc>> {
    if now >= expires_at {
        return None;
    }
    let fast_until = created_at + to_delta(settings.fast_window);
    let step = if now < fast_until {
        to_delta(settings.fast_interval)
    } else {
        to_delta(settings.slow_interval)
    };
    let step = heavy.map_or(step, |heavy| step.min(heavy));
    Some((now + step).min(expires_at))
}

/// The check at `at` after one at `now`, stretched because the Spotify
/// budget is tight: [`TIGHT_STRETCH`] times further off once the share is
/// past its fast window (a heavy listener's checks included: the budget
/// has no room for them anyway), never past its expiry.
pub fn stretched(
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    at: DateTime<Utc>,
    settings: &PlayCheckSettings,
) -> DateTime<Utc> {
    if now < created_at + to_delta(settings.fast_window) {
        return at;
    }
    (now + (at - now) * TIGHT_STRETCH).min(expires_at)
}

/// A heavy listener's interval, from a full answer (its [`HISTORY`] plays,
/// the oldest at `oldest`) seen at `now`: four fifths of the time those 50
/// plays took, so the next answer holds about 40 and loses none; never
/// below [`HEAVY_FLOOR`]. Someone who stopped listening long ago has an
/// old `oldest`, and so a long interval: the normal schedule wins again.
pub fn heavy_interval(oldest: DateTime<Utc>, now: DateTime<Utc>) -> TimeDelta {
    ((now - oldest) * 4 / 5).max(HEAVY_FLOOR)
}

pub fn to_delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> PlayCheckSettings {
        PlayCheckSettings {
            fast_interval: Duration::from_secs(300),
            fast_window: Duration::from_secs(3600),
            slow_interval: Duration::from_secs(3600),
            share_ttl: Duration::from_secs(7 * 86_400),
            live_window: Duration::from_secs(600),
            live_interval: Duration::from_secs(15),
        }
    }

    #[test]
    fn fast_then_slow_then_expired() {
        let created = Utc::now();
        let expires = created + TimeDelta::days(7);
        assert_eq!(first_check(created, 200_000), created + TimeDelta::seconds(200));
        assert_eq!(first_check(created, 10_000), created + TimeDelta::seconds(30));
        let at = created + TimeDelta::minutes(10);
        assert_eq!(
            next_check(created, expires, at, &settings(), None),
            Some(at + TimeDelta::minutes(5))
        );
        let later = created + TimeDelta::minutes(61);
        assert_eq!(
            next_check(created, expires, later, &settings(), None),
            Some(later + TimeDelta::hours(1))
        );
        let last = expires - TimeDelta::minutes(10);
        assert_eq!(next_check(created, expires, last, &settings(), None), Some(expires));
        assert_eq!(next_check(created, expires, expires, &settings(), None), None);
    }

    #[test]
    fn heavy_listeners_are_checked_before_their_history_turns_over() {
        let created = Utc::now();
        let expires = created + TimeDelta::days(7);
        let now = created + TimeDelta::hours(5);
        // 50 plays in the last 25 minutes: look again in 20.
        let heavy = heavy_interval(now - TimeDelta::minutes(25), now);
        assert_eq!(heavy, TimeDelta::minutes(20));
        assert_eq!(
            next_check(created, expires, now, &settings(), Some(heavy)),
            Some(now + TimeDelta::minutes(20))
        );
        assert_eq!(heavy_interval(now - TimeDelta::seconds(30), now), HEAVY_FLOOR);
        // Their 50 plays took two days: the hourly schedule stands.
        let slow = heavy_interval(now - TimeDelta::days(2), now);
        assert_eq!(
            next_check(created, expires, now, &settings(), Some(slow)),
            Some(now + TimeDelta::hours(1))
        );
    }
}

//! When a share is checked: first when the track could have been played
//! through, then often during the first hour, then less often until the
//! share expires.
use chrono::{DateTime, TimeDelta, Utc};

use crate::config::PlayCheckSettings;

/// Spotify lists only plays longer than 30 seconds.
const SHORTEST_PLAY: TimeDelta = TimeDelta::seconds(30);

/// The first check: when the whole track could have been heard.
pub fn first_check(created_at: DateTime<Utc>, duration_ms: i32) -> DateTime<Utc> {
    created_at + TimeDelta::milliseconds(i64::from(duration_ms)).max(SHORTEST_PLAY)
}

/// The check after one made at `now`; `None` when the share has expired.
pub fn next_check(
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    settings: &PlayCheckSettings,
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
    Some((now + step).min(expires_at))
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
            next_check(created, expires, at, &settings()),
            Some(at + TimeDelta::minutes(5))
        );
        let later = created + TimeDelta::minutes(61);
        assert_eq!(
            next_check(created, expires, later, &settings()),
            Some(later + TimeDelta::hours(1))
        );
        let last = expires - TimeDelta::minutes(10);
        assert_eq!(next_check(created, expires, last, &settings()), Some(expires));
        assert_eq!(next_check(created, expires, expires, &settings()), None);
    }
}

//! Slows down and then refuses repeated failed log-ins, per email and per
//! client address.
//!
//! Counts live in this process: with several replicas each counts its own
//! share, which still bounds guessing to a small multiple of the limits.
use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};

/// How long failures are remembered.
const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Failures per email within the window before log-ins are refused.
pub const EMAIL_LIMIT: usize = 5;
/// Failures per client address (many emails) before log-ins are refused.
pub const ADDRESS_LIMIT: usize = 20;
/// Past half its limit, each further attempt on a key waits a step longer.
const STEP: Duration = Duration::from_millis(150);
const MAX_DELAY: Duration = Duration::from_secs(1);
/// Keys kept before old ones are swept, so the map cannot grow without bound.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    /// Failure times by key (`email:…` or `addr:…`), oldest first.
    failures: Mutex<HashMap<String, Vec<DateTime<Utc>>>>,
}

/// What to do with a log-in attempt before checking the password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Proceed { delay: Duration },
    Refuse { retry_after: Duration },
}

impl LoginThrottle {
    pub fn check(&self, keys: &[(String, usize)], now: DateTime<Utc>) -> Verdict {
        let mut failures = self.failures.lock().expect("throttle lock");
        let mut delay = Duration::ZERO;
        for (key, limit) in keys {
            let Some(times) = failures.get_mut(key) else { continue };
            times.retain(|t| now - *t < WINDOW);
            if times.len() >= *limit {
                let retry_after = (times[times.len() - limit] + WINDOW - now).to_std().unwrap_or_default();
                return Verdict::Refuse {
                    retry_after: retry_after.max(Duration::from_secs(1)),
                };
            }
            let over = times.len().saturating_sub(limit / 2) as u32;
            delay = delay.max((STEP * over).min(MAX_DELAY));
        }
        Verdict::Proceed { delay }
    }

    pub fn record_failure(&self, keys: &[(String, usize)], now: DateTime<Utc>) {
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() >= SWEEP_AT {
            failures.retain(|_, times| times.last().is_some_and(|t| now - *t < WINDOW));
        }
        for (key, _) in keys {
            failures.entry(key.clone()).or_default().push(now);
        }
    }

    /// A successful log-in forgets that email's failures (not the address's).
    pub fn record_success(&self, email_key: &str) {
        self.failures.lock().expect("throttle lock").remove(email_key);
    }
}

pub fn keys(email_key: &str, address: Option<std::net::IpAddr>) -> Vec<(String, usize)> {
    let mut keys = vec![(format!("email:{email_key}"), EMAIL_LIMIT)];
    if let Some(address) = address {
        keys.push((format!("addr:{address}"), ADDRESS_LIMIT));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_then_refuses_then_forgets() {
        let throttle = LoginThrottle::default();
        let keys = keys("sam@example.com", None);
        let now = Utc::now();
        assert_eq!(throttle.check(&keys, now), Verdict::Proceed { delay: Duration::ZERO });
        for _ in 0..3 {
            throttle.record_failure(&keys, now);
        }
        assert_eq!(throttle.check(&keys, now), Verdict::Proceed { delay: STEP });
        for _ in 0..2 {
            throttle.record_failure(&keys, now);
        }
        assert!(matches!(throttle.check(&keys, now), Verdict::Refuse { .. }));
        assert_eq!(
            throttle.check(&keys, now + WINDOW),
            Verdict::Proceed { delay: Duration::ZERO }
        );
    }
}

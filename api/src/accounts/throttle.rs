//! The log-in throttle: at most [`EMAIL_LIMIT`] password checks per email
//! and [`ADDRESS_LIMIT`] per client address in [`WINDOW`], however many
//! requests arrive at once and on however many replicas.
//!
//! Each attempt is counted in the database ([`crate::throttle`]) before
//! the password is checked, and refused without a check past the limit. A
//! right password gives the attempts back: the email starts over, the
//! address gets its one back. Past half the limit, each further attempt
//! waits a step longer before its check.
use std::{net::IpAddr, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use crate::throttle::{self, Limit, Verdict};

/// How long attempts are remembered: a window opens with its first attempt.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Password checks per email in a window.
pub const EMAIL_LIMIT: i32 = 5;
/// Password checks per client address (many emails) in a window.
pub const ADDRESS_LIMIT: i32 = 20;
/// Past half its limit, each further attempt on a key waits a step longer.
const STEP: Duration = Duration::from_millis(150);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// The keys one log-in attempt counts against.
pub struct Keys {
    email: String,
    address: Option<String>,
}

impl Keys {
    pub fn new(email_key: &str, address: Option<IpAddr>) -> Self {
        Self {
            email: format!("login-email:{email_key}"),
            address: address.map(|a| format!("login-address:{a}")),
        }
    }
}

/// What to do with a log-in attempt, decided before its password check.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Check the password, after waiting `delay`.
    Check { delay: Duration },
    /// Refuse without a check.
    Refuse { retry_after: Duration },
}

/// Counts one attempt against the email, then the address; a refusal by
/// the address gives the email its attempt back (no check is made).
///
/// # Errors
/// The database's.
pub async fn attempt(db: &impl ConnectionTrait, keys: &Keys, now: DateTime<Utc>) -> Result<Decision, DbErr> {
    let email = throttle::attempt(db, &keys.email, limit(EMAIL_LIMIT), 1, now).await?;
    let Verdict::Allowed { count: email_count } = email else {
        return Ok(refusal(email));
    };
    let mut delay = wait_before(email_count, EMAIL_LIMIT);
    if let Some(address) = &keys.address {
        match throttle::attempt(db, address, limit(ADDRESS_LIMIT), 1, now).await? {
            Verdict::Allowed { count } => delay = delay.max(wait_before(count, ADDRESS_LIMIT)),
            refused => {
                throttle::refund(db, &keys.email, 1).await?;
                return Ok(refusal(refused));
            }
        }
    }
    Ok(Decision::Check { delay })
}

/// The password was right: the email starts over, the address gets its
/// attempt back.
///
/// # Errors
/// The database's.
pub async fn succeeded(db: &impl ConnectionTrait, keys: &Keys) -> Result<(), DbErr> {
    throttle::forget(db, &keys.email).await?;
    if let Some(address) = &keys.address {
        throttle::refund(db, address, 1).await?;
    }
    Ok(())
}

fn limit(max: i32) -> Limit {
    Limit { max, window: WINDOW }
}

fn refusal(verdict: Verdict) -> Decision {
    match verdict {
        Verdict::Refused { retry_after } => Decision::Refuse { retry_after },
        Verdict::Allowed { .. } => Decision::Check { delay: Duration::ZERO },
    }
}

/// The wait before check number `count` of a key limited to `max`.
fn wait_before(count: i32, max: i32) -> Duration {
    let over = u32::try_from(count - max / 2 - 1).unwrap_or(0);
    (STEP * over).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_slow_down_past_half_the_limit() {
        assert_eq!(wait_before(1, EMAIL_LIMIT), Duration::ZERO);
        assert_eq!(wait_before(3, EMAIL_LIMIT), Duration::ZERO);
        assert_eq!(wait_before(4, EMAIL_LIMIT), STEP);
        assert_eq!(wait_before(5, EMAIL_LIMIT), STEP * 2);
        assert_eq!(wait_before(20, ADDRESS_LIMIT), MAX_DELAY);
    }
}

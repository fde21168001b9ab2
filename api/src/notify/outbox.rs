//! The outbox policy: how everything Send Songs sends to people —
//! notifications ([`send`](super::send)) and the bot's replies
//! ([`replies`](super::replies)) — is tried, retried and given up.
//!
//! A try ends as an [`Attempt`]; [`settle`] turns it into what the row
//! records: sent, skipped or failed for good, or a retry (with the
//! provider's wait, or the queue's backoff) while fewer than
//! [`MAX_ATTEMPTS`] tries were made and the message is younger than
//! [`MAX_AGE`]. [`to_messenger`] is the one way a message goes to the Send
//! API, and the Send API's one table of errors
//! (`messenger::send_api::errors`) decides for every kind of message:
//! temporary errors are retried (the page's restrictions after an hour),
//! permanent ones fail with their reason, and an unreachable person is
//! marked so.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use crate::{
    jobs::JobError,
    messenger::{
        links,
        send_api::{Class, MessagingType, QuickReply, SendApi, SendError},
        sent,
    },
};
use entity::deliveries::Status;

/// Tries before a message fails for good.
pub const MAX_ATTEMPTS: i32 = 6;
/// Age after which a message that still cannot be sent fails for good.
pub const MAX_AGE: TimeDelta = TimeDelta::hours(24);

/// How one try to send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The provider took it: its id for the message.
    Accepted(String),
    /// Not sent on purpose, and it will not be: why.
    Skipped(&'static str),
    /// Refused in a way retrying cannot fix: why.
    Failed(String),
    /// Failed for now: why, and how long the provider asked us to wait.
    Retry { reason: String, after: Option<Duration> },
}

/// What a message's row records after a try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The message is done: its status, tries so far, why (unless sent), and
    /// the provider's id (if sent).
    Finished {
        status: Status,
        attempts: i32,
        reason: Option<String>,
        provider_id: Option<String>,
    },
    /// Try again: tries so far, the error, and when (`None`: the queue's
    /// backoff).
    Retry {
        attempts: i32,
        reason: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// The policy: what a try means for a message tried `attempts` times
/// before, created at `created_at`. A skip is not a try.
pub fn settle(attempts: i32, created_at: DateTime<Utc>, now: DateTime<Utc>, attempt: Attempt) -> Settled {
    let finished = |status, attempts, reason, provider_id| Settled::Finished {
        status,
        attempts,
        reason,
        provider_id,
    };
    match attempt {
        Attempt::Accepted(id) => finished(Status::Sent, attempts + 1, None, Some(id)),
        Attempt::Skipped(reason) => finished(Status::Skipped, attempts, Some(reason.to_owned()), None),
        Attempt::Failed(reason) => finished(Status::Failed, attempts + 1, Some(reason), None),
        Attempt::Retry { reason, after } => {
            let attempts = attempts + 1;
            if attempts >= MAX_ATTEMPTS || now - created_at >= MAX_AGE {
                finished(Status::Failed, attempts, Some(reason), None)
            } else {
                Settled::Retry {
                    attempts,
                    reason,
                    retry_at: after.map(|after| now + TimeDelta::from_std(after).unwrap_or(TimeDelta::MAX)),
                }
            }
        }
    }
}

impl Settled {
    /// The job's answer once the row recorded this: a retry is an error the
    /// queue retries (at `retry_at`, or after its backoff).
    pub fn into_job_result(self) -> Result<(), JobError> {
        match self {
            Self::Finished { .. } => Ok(()),
            Self::Retry { reason, retry_at, .. } => Err(JobError {
                message: reason,
                retry_at,
                permanent: false,
            }),
        }
    }
}

/// Sends a text to a Messenger sender; an answer that says they cannot be
/// reached (551 and its kin) marks them so, until they write again.
pub async fn to_messenger(
    db: &impl ConnectionTrait,
    api: &SendApi,
    psid: &str,
    messaging_type: MessagingType,
    text: &str,
    quick_replies: &[QuickReply],
    now: DateTime<Utc>,
) -> Result<Attempt, DbErr> {
    Ok(match api.send_text(psid, messaging_type, text, quick_replies).await {
        Ok(id) => Attempt::Accepted(id),
        Err(SendError { class, reason }) => match class {
            Class::Retry => Attempt::Retry { reason, after: None },
            Class::RetryLater => Attempt::Retry {
                reason,
                after: Some(Class::LONG_WAIT),
            },
            Class::Unreachable => {
                links::mark_unreachable(db, psid, now).await?;
                Attempt::Failed(reason)
            }
            Class::Failed | Class::Operator => Attempt::Failed(reason),
        },
    })
}

/// A message sent on Messenger that concerns a share is remembered with the
/// id the Send API gave it (`messenger::sent`): a reaction or a reply to it
/// becomes an answer to that share. Nothing for a message not (yet) sent.
pub async fn remember_share(
    db: &impl ConnectionTrait,
    settled: &Settled,
    share_id: Option<uuid::Uuid>,
    psid: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    if let (
        Settled::Finished {
            status: Status::Sent,
            provider_id: Some(mid),
            ..
        },
        Some(share_id),
    ) = (settled, share_id)
    {
        sent::remember(db, mid, share_id, psid, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(after: Option<Duration>) -> Attempt {
        Attempt::Retry {
            reason: "503".into(),
            after,
        }
    }

    #[test]
    fn retries_until_the_last_attempt_or_the_age_limit() {
        let created = Utc::now();
        let now = created + TimeDelta::minutes(1);
        assert_eq!(
            settle(0, created, now, retry(Some(Duration::from_secs(30)))),
            Settled::Retry {
                attempts: 1,
                reason: "503".into(),
                retry_at: Some(now + TimeDelta::seconds(30))
            }
        );
        let last = settle(MAX_ATTEMPTS - 1, created, now, retry(None));
        assert!(matches!(last, Settled::Finished { status: Status::Failed, attempts, .. } if attempts == MAX_ATTEMPTS));
        let old = settle(0, created, created + MAX_AGE, retry(None));
        assert!(matches!(
            old,
            Settled::Finished {
                status: Status::Failed,
                ..
            }
        ));
    }

    #[test]
    fn a_skip_is_not_a_try() {
        let now = Utc::now();
        assert_eq!(
            settle(2, now, now, Attempt::Skipped("turned off")),
            Settled::Finished {
                status: Status::Skipped,
                attempts: 2,
                reason: Some("turned off".into()),
                provider_id: None
            }
        );
        assert!(matches!(
            settle(2, now, now, Attempt::Accepted("m1".into())),
            Settled::Finished {
                status: Status::Sent,
                attempts: 3,
                ..
            }
        ));
    }
}

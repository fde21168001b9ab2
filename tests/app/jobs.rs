//! The job queue's last resort: a job that cannot succeed ends `dead` with
//! its error kept, is not run again, and comes back to life when the same
//! work is enqueued again. (Deliveries and bot replies give up on their own
//! terms first, see `notifications.rs` and `messenger.rs`; this is what
//! catches everything else.)
use std::time::Duration;

use api::{
    clock::Clock as _,
    jobs::{
        Job,
        queue::{self, MAX_ATTEMPTS},
    },
    notify::replies::SendBotReply,
};
use entity::{
    jobs,
    jobs::Status::{Dead, Queued},
};
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// The job under `key` (the app keeps its own periodic jobs beside it).
async fn the_job(app: &TestApp, key: &str) -> jobs::Model {
    jobs::Entity::find()
        .filter(jobs::Column::DedupeKey.eq(key))
        .one(&app.state.db)
        .await
        .unwrap()
        .expect("the job is in the queue")
}

/// Claims what is due at `at`; answers the job under `key` if it was.
async fn claim(app: &TestApp, key: &str, at: chrono::DateTime<chrono::Utc>) -> Option<jobs::Model> {
    let claimed = queue::claim(&app.state.db, "test", at, 100).await.unwrap();
    claimed.into_iter().find(|job| job.dedupe_key.as_deref() == Some(key))
}

/// A bot-reply job under `key`, due now.
async fn enqueue(app: &TestApp, key: &str, payload: serde_json::Value) {
    let now = app.clock.now();
    queue::enqueue(
        &app.state.db,
        <SendBotReply as Job>::KIND,
        &payload,
        now,
        Some(key),
        now,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_job_that_cannot_run_is_dead_at_once_and_revives_when_enqueued_again() {
    let app = spawn_app().await;
    app.expect_dead_jobs();
    // A bot-reply job whose payload names no sender: it can never succeed.
    enqueue(&app, "k1", json!({ "nobody": 1 })).await;

    app.run_due_jobs().await;
    let job = the_job(&app, "k1").await;
    assert_eq!(job.status, Dead);
    assert_eq!(job.attempts, 1, "a permanent error is not retried");
    assert!(
        job.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("unreadable payload"),
        "{job:?}"
    );

    app.advance(Duration::from_secs(24 * 3600));
    app.run_due_jobs().await;
    assert_eq!(the_job(&app, "k1").await, job, "a dead job is not run again");

    enqueue(&app, "k1", json!({ "nobody": 2 })).await;
    let revived = the_job(&app, "k1").await;
    assert_eq!((revived.status, revived.attempts), (Queued, 0));
    app.run_due_jobs().await;
    let again = the_job(&app, "k1").await;
    assert_eq!((again.status, again.attempts), (Dead, 1), "the revived job ran");
}

#[tokio::test]
async fn a_job_failing_every_time_backs_off_then_is_dead_after_its_last_attempt() {
    let app = spawn_app().await;
    app.expect_dead_jobs();
    let db = &app.state.db;
    let now = app.clock.now();
    enqueue(&app, "k2", json!({ "psid": "1" })).await;

    let mut last_run_at = now;
    for attempt in 1..=MAX_ATTEMPTS {
        let now = app.clock.now();
        let job = claim(&app, "k2", now)
            .await
            .unwrap_or_else(|| panic!("attempt {attempt} is due"));
        assert_eq!(job.attempts, attempt);
        let dead = queue::fail(db, &job, "Send API answered 503", None, false, now)
            .await
            .unwrap();
        let after = the_job(&app, "k2").await;
        if attempt < MAX_ATTEMPTS {
            assert!(!dead, "attempt {attempt} of {MAX_ATTEMPTS} is retried");
            assert_eq!(after.status, Queued);
            assert!(after.run_at >= now, "the retry waits (backoff)");
            assert!(
                after.run_at <= now + chrono::TimeDelta::hours(1),
                "backoff is capped at an hour"
            );
            last_run_at = after.run_at;
        } else {
            assert!(dead, "the last attempt ends it");
            assert_eq!(after.status, Dead);
            assert_eq!(after.last_error.as_deref(), Some("Send API answered 503"));
        }
        // Past any backoff (capped at an hour).
        app.advance(Duration::from_secs(3601));
    }
    assert!(last_run_at > now);
    assert!(
        claim(&app, "k2", app.clock.now()).await.is_none(),
        "a dead job is never claimed"
    );
}

//! Part (b): 20,000 recipients with pending shares, 2,000 of them watched
//! live, all due at once.
//!
//! Every recipient has one share from one sender: `LIVE` of them opened it
//! a moment ago (live checks for `LIVE_WINDOW`), the others got theirs two
//! hours ago (their hourly `recently-played` check is due). Their check
//! jobs are all due at the start. The daily budget is lifted (an app in
//! extended quota mode), so the 30-second budget alone binds. The clock
//! moves a second at a time for `MINUTES`, every due job running at each
//! step; the fake records each call's moment.
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{shares, spotify_links, tracks, users};
use sea_orm::{EntityTrait as _, Set, TransactionTrait as _};
use uuid::Uuid;

use crate::{
    common::{
        app::{self, CheckRecipient, Clock as _, Job as _, ManualClock, runner},
        db::BenchDatabase,
        env_or,
        rows::{INSERT_ROWS, spotify_link_row, track_id, track_row, user_row},
    },
    fake::{Endpoint, Fake, most_in_any},
};

pub struct Burst {
    pub recipients: usize,
    pub live: usize,
    pub minutes: i64,
}

pub struct BurstOutcome {
    pub most_in_30s: usize,
    pub by_endpoint: (usize, usize),
    /// Recipients whose history was read at least once.
    pub checked: usize,
    pub jobs: usize,
    /// Real time of the first step (every job due), and of the rest.
    pub first_step: Duration,
    pub rest: Duration,
    /// Shares still pending at the end (none may be lost).
    pub pending: usize,
}

impl Burst {
    pub fn from_env() -> Self {
        Self {
            recipients: env_or("RECIPIENTS", 20_000),
            live: env_or("LIVE", 2_000),
            minutes: env_or("MINUTES", 10),
        }
    }

    pub async fn run(&self, database: &BenchDatabase, extra: &[(&str, &str)]) -> anyhow::Result<BurstOutcome> {
        let clock = ManualClock::new();
        let (fake_url, fake) = Fake::start(clock.clone(), TimeDelta::zero());
        let accounts = format!("{fake_url}/accounts");
        let api = format!("{fake_url}/api");
        let mut settings = vec![
            ("SPOTIFY_ACCOUNTS_URL", accounts.as_str()),
            ("SPOTIFY_API_URL", api.as_str()),
        ];
        settings.extend_from_slice(extra);
        let state = app::state(app::settings(&database.url, &settings), clock.clone()).await;
        let t0 = clock.now();
        seed(&state, self, t0).await?;

        let runner = runner(&state);
        let mut jobs = 0;
        let started = Instant::now();
        jobs += runner.run_due().await;
        let first_step = started.elapsed();
        let rest = Instant::now();
        while clock.now() < t0 + TimeDelta::minutes(self.minutes) {
            clock.advance(Duration::from_secs(1));
            jobs += runner.run_due().await;
        }
        let rest = rest.elapsed();

        let calls = fake.calls();
        let mut times: Vec<i64> = calls.iter().map(|(t, _, _)| *t).collect();
        times.sort_unstable();
        let mut checked: Vec<&str> = calls
            .iter()
            .filter(|c| c.1 == Endpoint::RecentlyPlayed)
            .map(|c| c.2.as_str())
            .collect();
        checked.sort_unstable();
        checked.dedup();
        let pending = shares::Entity::find()
            .all(&state.db)
            .await?
            .iter()
            .filter(|s| s.status == shares::Status::Pending)
            .count();
        Ok(BurstOutcome {
            most_in_30s: most_in_any(&times, 30_000),
            by_endpoint: (
                calls.iter().filter(|c| c.1 == Endpoint::CurrentlyPlaying).count(),
                calls.iter().filter(|c| c.1 == Endpoint::RecentlyPlayed).count(),
            ),
            checked: checked.len(),
            jobs,
            first_step,
            rest,
            pending,
        })
    }
}

/// One sender, the recipients linked to Spotify, one track and one share
/// each, and each recipient's check job due at `t0`.
async fn seed(state: &app::App, burst: &Burst, t0: DateTime<Utc>) -> anyhow::Result<()> {
    let txn = state.db.begin().await?;
    let sender = Uuid::now_v7();
    users::Entity::insert(user_row(sender, "sender", t0))
        .exec_without_returning(&txn)
        .await?;
    let recipients: Vec<Uuid> = (0..burst.recipients).map(|_| Uuid::now_v7()).collect();
    for (c, chunk) in recipients.chunks(INSERT_ROWS / 2).enumerate() {
        let base = c * INSERT_ROWS / 2;
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| user_row(*id, &format!("recipient{}", base + k), t0));
        users::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| spotify_link_row(state, *id, base + k, t0));
        spotify_links::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        let rows = (base..base + chunk.len()).map(|n| track_row(n, t0));
        tracks::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        let rows = chunk.iter().enumerate().map(|(k, id)| {
            let live = base + k < burst.live;
            let made = if live { t0 } else { t0 - TimeDelta::hours(2) };
            shares::ActiveModel {
                id: Set(Uuid::now_v7()),
                sender_id: Set(sender),
                recipient_id: Set(*id),
                track_id: Set(track_id(base + k)),
                note: Set(None),
                status: Set(shares::Status::Pending),
                created_at: Set(made),
                played_at: Set(None),
                opened_at: Set(live.then_some(t0)),
                listening_at: Set(None),
                expires_at: Set(made + TimeDelta::days(7)),
                next_check_at: Set(Some(if live { t0 + TimeDelta::seconds(200) } else { t0 })),
                updated_at: Set(t0),
            }
        });
        shares::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    for id in &recipients {
        CheckRecipient { recipient_id: *id }.enqueue_at(&txn, t0, t0).await?;
    }
    txn.commit().await?;
    Ok(())
}

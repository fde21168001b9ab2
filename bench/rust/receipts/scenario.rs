//! One run of the receipts benchmark: the rows, the plans, the senders'
//! sockets, and the moved clock stepping until every receipt reached its
//! sender (or two simulated hours past the last play).
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{play_events, sessions, shares, spotify_links, tracks, users};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use sea_orm::{EntityTrait as _, PaginatorTrait as _, Set, TransactionTrait as _};
use uuid::Uuid;

use crate::{
    common::{
        app::{self, App, Application, CheckRecipient, Clock as _, Job as _, ManualClock, TokenSubject, live, runner},
        db::BenchDatabase,
        env_or,
        rows::{INSERT_ROWS, session_row, spotify_link_row, track_id, track_row, user_row},
    },
    env_seconds,
    fake::{COUNTS_AFTER, Fake, Plan, TRACK_LENGTH},
    listeners, seconds, since,
};

/// What the settings ask for.
pub struct Scenario {
    pub recipients: usize,
    pub open_within: TimeDelta,
    pub play_within: TimeDelta,
    pub lag_min: TimeDelta,
    pub lag_max: TimeDelta,
    pub step: TimeDelta,
    pub seed: u64,
    delay: Duration,
}

/// What a run measured.
pub struct Outcome {
    pub recipients: usize,
    /// Seconds from each play's 30-second mark to its sender's event.
    pub latencies: Vec<f64>,
    /// Receipts whose event came before Spotify's history listed the play.
    pub found_live: usize,
    /// Calls to currently-playing, recently-played, the token endpoint.
    pub calls: (u64, u64, u64),
    pub jobs: usize,
    /// Real time of the simulation, and the simulated time it covered.
    pub real: Duration,
    pub simulated: TimeDelta,
    /// Real time each simulated step took.
    pub step_walls: Vec<Duration>,
}

impl Outcome {
    pub fn calls_per_receipt(&self) -> f64 {
        (self.calls.0 + self.calls.1) as f64 / self.latencies.len().max(1) as f64
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.latencies.len() != self.recipients {
            problems.push(format!(
                "{} of {} receipts reached their senders",
                self.latencies.len(),
                self.recipients
            ));
        }
        if self.calls.2 > 0 {
            problems.push(format!("{} token requests (none expected)", self.calls.2));
        }
        if self.latencies.iter().any(|l| *l < 0.0) {
            problems.push("a receipt before its play's 30-second mark".into());
        }
        problems
    }
}

/// One recipient: who, their share, its sender, when they open and play.
struct Person {
    recipient: Uuid,
    sender: Uuid,
    session: Uuid,
    share: Uuid,
    open_at: DateTime<Utc>,
    plan: Plan,
}

impl Scenario {
    pub fn from_env() -> Self {
        Self {
            recipients: env_or("RECIPIENTS", 2000),
            open_within: env_seconds("OPEN_WITHIN_S", 3600),
            play_within: env_seconds("PLAY_WITHIN_S", 300),
            lag_min: env_seconds("LAG_MIN_S", 120),
            lag_max: env_seconds("LAG_MAX_S", 480),
            step: TimeDelta::milliseconds(env_or("STEP_MS", 1000)),
            seed: env_or("SEED", 1),
            delay: Duration::from_millis(env_or("SPOTIFY_DELAY_MS", 20)),
        }
    }

    /// The same random moments for every run with the same seed.
    fn people(&self, t0: DateTime<Utc>) -> Vec<Person> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut between = |low: TimeDelta, high: TimeDelta| {
            TimeDelta::milliseconds(rng.random_range(low.num_milliseconds()..=high.num_milliseconds()))
        };
        (0..self.recipients)
            .map(|n| {
                let open_at = t0 + between(TimeDelta::seconds(60), self.open_within);
                let start = open_at + between(TimeDelta::seconds(5), self.play_within);
                let lag = between(self.lag_min, self.lag_max);
                Person {
                    recipient: Uuid::now_v7(),
                    sender: Uuid::now_v7(),
                    session: Uuid::now_v7(),
                    share: Uuid::now_v7(),
                    open_at,
                    plan: Plan {
                        track_id: track_id(n),
                        start,
                        lag,
                    },
                }
            })
            .collect()
    }

    pub async fn run(&self, database: &BenchDatabase, extra: &[(&str, &str)]) -> anyhow::Result<Outcome> {
        let clock = ManualClock::new();
        let (fake_url, fake) = Fake::start(clock.clone(), self.delay);
        let accounts = format!("{fake_url}/accounts");
        let api = format!("{fake_url}/api");
        let mut settings = vec![
            ("SPOTIFY_ACCOUNTS_URL", accounts.as_str()),
            ("SPOTIFY_API_URL", api.as_str()),
        ];
        settings.extend_from_slice(extra);
        let application = Application::build_with_clock(app::settings(&database.url, &settings), clock.clone()).await?;
        let (state, port) = (application.state(), application.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        }));

        let t0 = clock.now();
        let people = self.people(t0);
        seed(&state, &people, t0).await?;
        fake.plan(
            people
                .iter()
                .map(|p| (format!("access-{}", p.recipient), p.plan.clone()))
                .collect(),
        );
        let tokens = || {
            people
                .iter()
                .map(|p| {
                    app::access_token(
                        &state,
                        TokenSubject {
                            user_id: p.sender,
                            session_id: p.session,
                        },
                    )
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        let (arrivals_to, mut arrived) = tokio::sync::mpsc::unbounded_channel();
        listeners::subscribe(port, tokens()?, clock.clone(), &arrivals_to).await?;
        let mut subscribed_at = clock.now();
        tokio::time::sleep(Duration::from_millis(500)).await; // subscriptions registered

        let calls_before = fake.counts.read();
        let runner = runner(&state);
        let mut opens: Vec<(DateTime<Utc>, usize)> = people.iter().enumerate().map(|(n, p)| (p.open_at, n)).collect();
        opens.sort();
        let mut opens = opens.into_iter().peekable();
        let last_play = people.iter().map(|p| p.plan.start).max().unwrap_or(t0);
        let end = last_play + TimeDelta::hours(2);
        let mut arrivals: HashMap<usize, DateTime<Utc>> = HashMap::new();
        let (mut jobs, mut step_walls) = (0, Vec::new());
        let started = Instant::now();
        while arrivals.len() < people.len() && clock.now() < end {
            if clock.now() - subscribed_at >= listeners::RESUBSCRIBE_EVERY {
                listeners::subscribe(port, tokens()?, clock.clone(), &arrivals_to).await?;
                subscribed_at = clock.now();
                tokio::time::sleep(Duration::from_millis(200)).await; // subscriptions registered
            }
            clock.advance(self.step.to_std()?);
            let now = clock.now();
            let step = Instant::now();
            while let Some((_, n)) = opens.next_if(|(at, _)| *at <= now) {
                live::open(&state, people[n].recipient, people[n].share).await?;
            }
            jobs += runner.run_due().await;
            let recorded = play_events::Entity::find().count(&state.db).await? as usize;
            while arrivals.len() < recorded {
                match tokio::time::timeout(Duration::from_secs(10), arrived.recv()).await {
                    Ok(Some((n, at))) => {
                        arrivals.entry(n).or_insert(at);
                    }
                    _ => anyhow::bail!(
                        "{} receipts recorded, {} reached their senders",
                        recorded,
                        arrivals.len()
                    ),
                }
            }
            step_walls.push(step.elapsed());
        }
        let real = since(started);
        let calls = fake.counts.read();

        let mut latencies = Vec::with_capacity(arrivals.len());
        let mut found_live = 0;
        for (n, at) in &arrivals {
            let plan = &people[*n].plan;
            latencies.push(seconds(*at - (plan.start + COUNTS_AFTER.min(TRACK_LENGTH))));
            if *at < plan.start + COUNTS_AFTER + plan.lag {
                found_live += 1;
            }
        }
        let _ = stop.send(());
        let _ = server.await;
        Ok(Outcome {
            recipients: people.len(),
            latencies,
            found_live,
            calls: (
                calls.0 - calls_before.0,
                calls.1 - calls_before.1,
                calls.2 - calls_before.2,
            ),
            jobs,
            real,
            simulated: clock.now() - t0,
            step_walls,
        })
    }
}

/// Senders with sessions, recipients with Spotify links, one track and one
/// share per recipient made at `t0`, and each recipient's check job as
/// sharing queues it (the first live look, or the first history check
/// without live checks).
async fn seed(app: &App, people: &[Person], t0: DateTime<Utc>) -> anyhow::Result<()> {
    let txn = app.db.begin().await?;
    for (chunk_start, chunk) in people.chunks(INSERT_ROWS / 2).enumerate() {
        let base = chunk_start * INSERT_ROWS / 2;
        let rows = chunk.iter().enumerate().flat_map(|(k, p)| {
            [
                user_row(p.sender, &format!("sender{}", base + k), t0),
                user_row(p.recipient, &format!("recipient{}", base + k), t0),
            ]
        });
        users::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        let rows = chunk.iter().map(|p| session_row(p.sender, p.session, t0));
        sessions::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        let rows = chunk
            .iter()
            .enumerate()
            .map(|(k, p)| spotify_link_row(app, p.recipient, base + k, t0));
        spotify_links::Entity::insert_many(rows)
            .exec_without_returning(&txn)
            .await?;
        let rows = (base..base + chunk.len()).map(|n| track_row(n, t0));
        tracks::Entity::insert_many(rows).exec_without_returning(&txn).await?;
        let rows = chunk.iter().enumerate().map(|(k, p)| shares::ActiveModel {
            id: Set(p.share),
            sender_id: Set(p.sender),
            recipient_id: Set(p.recipient),
            track_id: Set(track_id(base + k)),
            note: Set(None),
            status: Set(shares::Status::Pending),
            created_at: Set(t0),
            played_at: Set(None),
            opened_at: Set(None),
            listening_at: Set(None),
            expires_at: Set(t0 + TimeDelta::days(7)),
            next_check_at: Set(Some(t0 + TRACK_LENGTH)),
            updated_at: Set(t0),
        });
        shares::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    let live = app.settings.play_check.live_window > Duration::ZERO;
    let first_run = if live {
        t0 + TimeDelta::from_std(app.settings.play_check.live_interval)?
    } else {
        t0 + TRACK_LENGTH
    };
    for p in people {
        CheckRecipient {
            recipient_id: p.recipient,
        }
        .enqueue_at(&txn, first_run, t0)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

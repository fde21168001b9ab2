//! Part (a): a week of a group of friends, replayed on the moved clock.
//!
//! Five friends, all friends of each other, each linked to the fake
//! Spotify. Every day each listens twice for an hour (random tracks, one
//! after another) at random moments between 8:00 and 23:00 of the
//! simulation's day, and shares two songs with a random friend between
//! 9:00 and 21:00 (through `sharing::create`, the app's own path). A
//! recipient opens a share (`live::open`, what the tracked link calls) with
//! probability 3/4, from a minute to three hours later, and then plays it
//! with probability 4/5, 5 s to 10 min after opening; a share not opened is
//! played with probability 2/5, 10 min to a day later. The first friend's
//! now playing is public, and a web page asks for it every `POLL_S`
//! seconds all week (`GET /v1/users/{handle}/now-playing`). The clock moves
//! `STEP_S` at a time; at each step the due events happen and every due
//! job runs (as the workers would within their poll interval).
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{friendships, play_events, spotify_links, tracks, users};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use sea_orm::{EntityTrait as _, Set, TransactionTrait as _};
use uuid::Uuid;

use crate::{
    common::{
        app::{self, Application, Clock as _, ManualClock, NewShare, live, runner, share_song},
        db::BenchDatabase,
        env_or,
        rows::{spotify_link_row, track_id, track_row, user_row},
    },
    fake::{COUNTS_AFTER, Endpoint, Fake, TRACK_LENGTH, most_in_any},
};

const FRIENDS: usize = 5;
const TRACKS: usize = 400;

pub struct Week {
    pub days: i64,
    pub shares_per_day: usize,
    pub poll: TimeDelta,
    pub step: TimeDelta,
    pub lag: TimeDelta,
    pub seed: u64,
}

/// What happens, in order of time.
enum Event {
    Share {
        from: usize,
        to: usize,
        track: usize,
        plan: usize,
    },
    Open {
        plan: usize,
    },
}

/// One share's fate.
struct Plan {
    share: Option<Uuid>,
    /// When the recipient plays it, if they do.
    play: Option<DateTime<Utc>>,
}

pub struct WeekOutcome {
    pub calls_per_day: Vec<usize>,
    pub most_in_24h: usize,
    pub most_in_30s: usize,
    pub by_endpoint: (usize, usize),
    pub shares: usize,
    pub plays: usize,
    /// Seconds from each recorded play's 30-second mark to its receipt.
    pub latencies: Vec<f64>,
    /// Polls of the public page: fresh, stale (cached, marked), refused.
    pub polls: (usize, usize, usize),
    pub real: Duration,
}

impl Week {
    pub fn from_env() -> Self {
        Self {
            days: env_or("DAYS", 7),
            shares_per_day: env_or("SHARES_PER_DAY", 2),
            poll: TimeDelta::seconds(env_or("POLL_S", 10)),
            step: TimeDelta::seconds(env_or("STEP_S", 5)),
            lag: TimeDelta::seconds(env_or("LAG_S", 180)),
            seed: env_or("SEED", 1),
        }
    }

    pub async fn run(&self, database: &BenchDatabase, extra: &[(&str, &str)]) -> anyhow::Result<WeekOutcome> {
        let clock = ManualClock::new();
        let (fake_url, fake) = Fake::start(clock.clone(), self.lag);
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

        // Midnight of the simulation's first day.
        let t0 = clock.now();
        let day0 = t0 - TimeDelta::seconds(t0.timestamp().rem_euclid(86_400)) + TimeDelta::days(1);
        clock.advance((day0 - t0).to_std()?);
        let friends: Vec<Uuid> = (0..FRIENDS).map(|_| Uuid::now_v7()).collect();
        seed(&state, &friends, day0).await?;
        let token = |n: usize| format!("access-{}", friends[n]);

        let mut rng = StdRng::seed_from_u64(self.seed);
        let at = |day: i64, from_h: i64, to_h: i64, rng: &mut StdRng| {
            day0 + TimeDelta::days(day) + TimeDelta::seconds(rng.random_range(from_h * 3600..to_h * 3600))
        };
        let mut events: Vec<(DateTime<Utc>, Event)> = Vec::new();
        let mut plans: Vec<Plan> = Vec::new();
        for day in 0..self.days {
            for friend in 0..FRIENDS {
                for _ in 0..2 {
                    let start = at(day, 8, 22, &mut rng);
                    for k in 0..18 {
                        let track = rng.random_range(0..TRACKS);
                        fake.play(&token(friend), &track_id(track), start + TRACK_LENGTH * k);
                    }
                }
                for _ in 0..self.shares_per_day {
                    let shared_at = at(day, 9, 21, &mut rng);
                    let to = (friend + rng.random_range(1..FRIENDS)) % FRIENDS;
                    let track = rng.random_range(0..TRACKS);
                    let plan = plans.len();
                    let between =
                        |rng: &mut StdRng, low: i64, high: i64| TimeDelta::seconds(rng.random_range(low..high));
                    let play = if rng.random_bool(0.75) {
                        let opened = shared_at + between(&mut rng, 60, 3 * 3600);
                        events.push((opened, Event::Open { plan }));
                        rng.random_bool(0.8).then(|| opened + between(&mut rng, 5, 600))
                    } else {
                        rng.random_bool(0.4).then(|| shared_at + between(&mut rng, 600, 86_400))
                    };
                    if let Some(play) = play {
                        fake.play(&token(to), &track_id(track), play);
                    }
                    plans.push(Plan { share: None, play });
                    events.push((
                        shared_at,
                        Event::Share {
                            from: friend,
                            to,
                            track,
                            plan,
                        },
                    ));
                }
            }
        }
        events.sort_by_key(|(at, _)| *at);
        let mut events = events.into_iter().peekable();

        let http = reqwest::Client::new();
        let page = format!("http://127.0.0.1:{port}/v1/users/friend0/now-playing");
        let runner = runner(&state);
        let end = day0 + TimeDelta::days(self.days);
        let mut next_poll = day0;
        let mut polls = (0, 0, 0);
        let started = Instant::now();
        while clock.now() < end {
            clock.advance(self.step.to_std()?);
            let now = clock.now();
            while let Some((_, event)) = events.next_if(|(at, _)| *at <= now) {
                match event {
                    Event::Share { from, to, track, plan } => {
                        let (share, _) = share_song(
                            &state,
                            friends[from],
                            NewShare {
                                to: format!("friend{to}"),
                                track: track_id(track),
                                note: None,
                            },
                        )
                        .await?;
                        plans[plan].share = Some(share.id);
                    }
                    Event::Open { plan } => {
                        let share = plans[plan].share.expect("shared before opened");
                        let recipient = share_recipient(&state, share).await?;
                        live::open(&state, recipient, share).await?;
                    }
                }
            }
            if now >= next_poll {
                next_poll = now + self.poll;
                let response = http.get(&page).send().await?;
                if response.status().is_success() {
                    let body: serde_json::Value = response.json().await?;
                    if body["stale"] == true {
                        polls.1 += 1;
                    } else {
                        polls.0 += 1;
                    }
                } else {
                    polls.2 += 1;
                }
            }
            runner.run_due().await;
        }
        let real = started.elapsed();

        let calls = fake.calls();
        let mut times: Vec<i64> = calls.iter().map(|(t, _, _)| *t).collect();
        times.sort_unstable();
        let mut calls_per_day = vec![0; usize::try_from(self.days)?];
        for t in &times {
            let day = (t - day0.timestamp_millis()).div_euclid(86_400_000);
            if let Some(count) = usize::try_from(day).ok().and_then(|d| calls_per_day.get_mut(d)) {
                *count += 1;
            }
        }
        let by_endpoint = (
            calls.iter().filter(|c| c.1 == Endpoint::CurrentlyPlaying).count(),
            calls.iter().filter(|c| c.1 == Endpoint::RecentlyPlayed).count(),
        );
        let recorded = play_events::Entity::find().all(&state.db).await?;
        let mut latencies = Vec::new();
        for plan in &plans {
            let (Some(share), Some(play)) = (plan.share, plan.play) else {
                continue;
            };
            if let Some(event) = recorded.iter().find(|e| e.share_id == share) {
                latencies.push((event.detected_at - (play + COUNTS_AFTER)).num_milliseconds() as f64 / 1000.0);
            }
        }
        let _ = stop.send(());
        let _ = server.await;
        Ok(WeekOutcome {
            calls_per_day,
            most_in_24h: most_in_any(&times, 86_400_000),
            most_in_30s: most_in_any(&times, 30_000),
            by_endpoint,
            shares: plans.iter().filter(|p| p.share.is_some()).count(),
            plays: plans
                .iter()
                .filter(|p| p.share.is_some() && p.play.is_some_and(|at| at + COUNTS_AFTER < end))
                .count(),
            latencies,
            polls,
            real,
        })
    }
}

async fn share_recipient(state: &app::App, share: Uuid) -> anyhow::Result<Uuid> {
    Ok(entity::shares::Entity::find_by_id(share)
        .one(&state.db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no share {share}"))?
        .recipient_id)
}

/// The friends (`friend0`…, the first with a public now playing), all
/// friends of each other, linked to Spotify; the catalogue's tracks.
async fn seed(state: &app::App, friends: &[Uuid], at: DateTime<Utc>) -> anyhow::Result<()> {
    let txn = state.db.begin().await?;
    let rows = friends.iter().enumerate().map(|(n, id)| {
        let mut row = user_row(*id, &format!("friend{n}"), at);
        row.now_playing_public = Set(n == 0);
        row
    });
    users::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    let rows = friends
        .iter()
        .enumerate()
        .map(|(n, id)| spotify_link_row(state, *id, n, at));
    spotify_links::Entity::insert_many(rows)
        .exec_without_returning(&txn)
        .await?;
    let mut pairs = Vec::new();
    for (i, a) in friends.iter().enumerate() {
        for b in &friends[i + 1..] {
            let (low, high) = if a < b { (*a, *b) } else { (*b, *a) };
            pairs.push(friendships::ActiveModel {
                id: Set(Uuid::now_v7()),
                user_low: Set(low),
                user_high: Set(high),
                requester_id: Set(*a),
                accepted: Set(true),
                created_at: Set(at),
                updated_at: Set(at),
            });
        }
    }
    friendships::Entity::insert_many(pairs)
        .exec_without_returning(&txn)
        .await?;
    tracks::Entity::insert_many((0..TRACKS).map(|n| track_row(n, at)))
        .exec_without_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

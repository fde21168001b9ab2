//! A budget of calls per Spotify app (client id), shared by every replica:
//! every Web API call spends from it before it is made.
//!
//! Spotify counts calls per app "in a rolling 30 second window" (Rate
//! Limits concept page) and, in Development Mode, against a daily quota
//! per developer account whose 429 (`QUOTA_EXCEEDED`) lasts many hours
//! (see [`pause`](super::pause)). Two budgets keep us below both:
//! `SPOTIFY_DAILY_BUDGET` calls in any rolling 24 hours and
//! `SPOTIFY_WINDOW_BUDGET` calls in any rolling 30 seconds. Rolling, not
//! per calendar day: Spotify's quota came back 13.6 and 22 hours after it
//! ran out in public reports, so it is no calendar day either, and a
//! budget reset at midnight UTC could spend it twice in a few hours.
//!
//! Each budget is a bucket counted with the generic cell rate algorithm:
//! a call adds `interval` to the bucket's level (a duration), which drains
//! at one second per second; a call goes only if the level stays within
//! the bucket's capacity. In any span of length `period` at most
//! `(capacity + period) / interval` calls go, so `interval` is
//! `(capacity + period) / budget`: never more than the budget in any
//! rolling period, bursts of up to `capacity / interval` calls, and a
//! steady rate of `period / (capacity + period)` of the budget.
//!
//! Priorities share the buckets: a call of a lower [`Priority`] may only
//! fill them to a part of their capacity, so that what is left is for the
//! calls above it. Receipts (recently-played for pending shares) may fill
//! them whole, live checks three quarters, now playing and lookups half.
//! When the budget is tight the lower ones are refused first
//! ([`Verdict::Wait`]) and their callers fall back (a cached now playing,
//! no live look); a receipt is only ever later. Background calls refused
//! together are told different waits: each refusal in the last 30 seconds
//! puts the next one a call's interval further back, so a backlog of
//! thousands of checks comes back one by one as room appears, not all at
//! once to be refused again.
//!
//! The level is kept as the moment the bucket will be empty, in
//! milliseconds since the Unix epoch. On PostgreSQL that is the client's
//! `spotify_clients` row, spent in one `UPDATE … WHERE … RETURNING` (the
//! row lock makes replicas spend one after another, each seeing the
//! other's level); on SQLite (one process) it is kept in the process.
use std::{collections::HashMap, sync::Arc, time::Duration};

use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbErr, EntityTrait as _, Statement};

use crate::{clock::Clock, db, throttle::placeholders};
use entity::spotify_clients;

/// Whose call it is, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Listen receipts: recently-played for pending shares, the ISRCs they
    /// are matched by, and a person's profile while they link. Never
    /// dropped, only later.
    Receipts,
    /// Live checks: currently-playing while a share is opened or new.
    Live,
    /// What a person waits for: now playing (the public route too) and
    /// catalogue lookups.
    Interactive,
}

impl Priority {
    /// The part of a bucket's capacity this priority may fill, in quarters.
    fn quarters(self) -> i64 {
        match self {
            Self::Receipts => 4,
            Self::Live => 3,
            Self::Interactive => 2,
        }
    }
}

/// What a call may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go: the call was counted.
    Go,
    /// Not now: a call of this priority may go after this long.
    Wait(Duration),
}

/// One budget: `budget` calls in any rolling `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// What one call adds to the level, in milliseconds.
    interval: i64,
    /// The most the level may be, in milliseconds.
    capacity: i64,
}

impl Bucket {
    /// `budget` calls in any rolling `period`, in bursts of up to the calls
    /// of `capacity`.
    pub fn new(budget: u32, period: Duration, capacity: Duration) -> Self {
        let capacity = millis(capacity);
        let interval = ((capacity + millis(period)) / i64::from(budget.max(1))).max(1);
        Self { interval, capacity }
    }

    /// `SPOTIFY_DAILY_BUDGET`: any rolling 24 hours, bursts of up to a
    /// thirteenth of the budget (two hours' worth), a steady 12/13 of it.
    pub fn daily(budget: u32) -> Self {
        Self::new(budget, Duration::from_secs(24 * 3600), Duration::from_secs(2 * 3600))
    }

    /// `SPOTIFY_WINDOW_BUDGET`: any rolling 30 seconds, bursts of up to a
    /// third of the budget, a steady two thirds of it.
    pub fn window(budget: u32) -> Self {
        Self::new(budget, Duration::from_secs(30), Duration::from_secs(15))
    }

    /// The most a call of `priority` may fill the bucket to (at least one
    /// call's worth, so every priority can go when it is empty).
    fn limit(self, priority: Priority) -> i64 {
        (self.capacity * priority.quarters() / 4).max(self.interval)
    }

    /// When the bucket will be empty after one more call now, or how long
    /// a call of `priority` must wait (milliseconds).
    fn spend(self, full_until: i64, now: i64, priority: Priority) -> Result<i64, i64> {
        let after = full_until.max(now) + self.interval;
        let over = after - now - self.limit(priority);
        if over <= 0 { Ok(after) } else { Err(over) }
    }

    /// How full the bucket is at `now`, from 0 (empty) to 1 (full).
    fn load(self, full_until: i64, now: i64) -> f64 {
        (full_until - now).max(0) as f64 / self.capacity.max(1) as f64
    }
}

/// The budgets of every Spotify app this process calls with.
pub struct Budgets {
    day: Bucket,
    window: Bucket,
    clock: Arc<dyn Clock>,
    store: Store,
    /// How full each app's daily bucket was at its latest call from this
    /// process (0 to 1), for [`tight`](Self::tight).
    loads: std::sync::Mutex<HashMap<String, f64>>,
    /// Background refusals per app in the current 30 seconds (when they
    /// began, how many), the queue a refused check joins.
    refusals: std::sync::Mutex<HashMap<String, (i64, i64)>>,
}

/// How long a run of refusals counts towards the queue.
const QUEUE_WINDOW_MS: i64 = 30_000;

enum Store {
    /// One process (SQLite): each app's two levels, in memory.
    Process(std::sync::Mutex<HashMap<String, [i64; 2]>>),
    /// Replicas (PostgreSQL): each app's `spotify_clients` row.
    Database(DatabaseConnection),
}

/// Spends one call if both buckets allow it, in one statement; no row when
/// they do not (or the app has no row yet).
const SPEND: &str = "UPDATE spotify_clients SET \
     day_full_until = CASE WHEN day_full_until > ?1 THEN day_full_until ELSE ?1 END + ?2, \
     window_full_until = CASE WHEN window_full_until > ?1 THEN window_full_until ELSE ?1 END + ?3 \
     WHERE client_id = ?6 \
     AND CASE WHEN day_full_until > ?1 THEN day_full_until ELSE ?1 END + ?2 - ?1 <= ?4 \
     AND CASE WHEN window_full_until > ?1 THEN window_full_until ELSE ?1 END + ?3 - ?1 <= ?5 \
     RETURNING day_full_until";

impl Budgets {
    /// Shared through `db` when it is PostgreSQL, else kept in the process.
    pub fn new(day: Bucket, window: Bucket, clock: Arc<dyn Clock>, db: &DatabaseConnection) -> Self {
        let store = if db::is_postgres(db) {
            Store::Database(db.clone())
        } else {
            Store::Process(std::sync::Mutex::default())
        };
        Self {
            day,
            window,
            clock,
            store,
            loads: std::sync::Mutex::default(),
            refusals: std::sync::Mutex::default(),
        }
    }

    /// Spends one call of `client_id`'s budgets for `priority`, or answers
    /// how long until such a call may go.
    ///
    /// # Errors
    /// The database's, on PostgreSQL.
    pub async fn spend(&self, client_id: &str, priority: Priority) -> Result<Verdict, DbErr> {
        let now = self.clock.now().timestamp_millis();
        let (verdict, day_full_until) = match &self.store {
            Store::Process(levels) => {
                let mut levels = levels.lock().expect("budget lock");
                let level = levels.entry(client_id.to_owned()).or_insert([0, 0]);
                let verdict = self.verdict(*level, now, priority);
                if let Ok(spent) = verdict {
                    *level = spent;
                }
                (verdict.map(|_| ()), level[0])
            }
            Store::Database(db) => self.spend_in(db, client_id, now, priority).await?,
        };
        self.loads
            .lock()
            .expect("budget loads")
            .insert(client_id.to_owned(), self.day.load(day_full_until, now));
        Ok(match verdict {
            Ok(()) => {
                metrics::counter!("spotify_budget_spent_total", "priority" => priority.label()).increment(1);
                Verdict::Go
            }
            Err((wait, interval)) => {
                metrics::counter!("spotify_budget_refused_total", "priority" => priority.label()).increment(1);
                let wait = if priority == Priority::Interactive {
                    wait // a person is told the real wait
                } else {
                    wait + self.queue_position(client_id, now) * interval
                };
                Verdict::Wait(Duration::from_millis(u64::try_from(wait).unwrap_or(0).max(1)))
            }
        })
    }

    /// Whether `client_id`'s daily budget was, at its latest call from this
    /// process, too full for live checks (receipts are using the room kept
    /// for them): checks that can wait should wait longer. Not merely too
    /// full for now playing: now playing fills its half whenever a page
    /// polls it, which says nothing about the room left for receipts.
    pub fn tight(&self, client_id: &str) -> bool {
        let loads = self.loads.lock().expect("budget loads");
        loads
            .get(client_id)
            .is_some_and(|load| *load * 4.0 > Priority::Live.quarters() as f64)
    }

    /// How many background calls of `client_id` this process was refused
    /// in the current 30 seconds, this one included.
    fn queue_position(&self, client_id: &str, now: i64) -> i64 {
        let mut refusals = self.refusals.lock().expect("budget refusals");
        let (since, count) = refusals.entry(client_id.to_owned()).or_insert((now, 0));
        if now - *since >= QUEUE_WINDOW_MS {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        *count - 1
    }

    /// Both levels after one more call now; or how long to wait, and the
    /// interval of a call in the bucket that makes it wait longest.
    fn verdict(&self, [day, window]: [i64; 2], now: i64, priority: Priority) -> Result<[i64; 2], (i64, i64)> {
        match (
            self.day.spend(day, now, priority),
            self.window.spend(window, now, priority),
        ) {
            (Ok(day), Ok(window)) => Ok([day, window]),
            (Err(day), Err(window)) if window > day => Err((window, self.window.interval)),
            (Err(day), _) => Err((day, self.day.interval)),
            (Ok(_), Err(window)) => Err((window, self.window.interval)),
        }
    }

    /// [`SPEND`] on the app's row, creating it the first time; when
    /// refused, how long to wait from the row as it stands.
    async fn spend_in(
        &self,
        db: &DatabaseConnection,
        client_id: &str,
        now: i64,
        priority: Priority,
    ) -> Result<(Result<(), (i64, i64)>, i64), DbErr> {
        let backend = db.get_database_backend();
        for _ in 0..3 {
            let statement = Statement::from_sql_and_values(
                backend,
                placeholders(backend, SPEND),
                [
                    now.into(),
                    self.day.interval.into(),
                    self.window.interval.into(),
                    self.day.limit(priority).into(),
                    self.window.limit(priority).into(),
                    client_id.into(),
                ],
            );
            if let Some(row) = db.query_one_raw(statement).await? {
                return Ok((Ok(()), row.try_get("", "day_full_until")?));
            }
            let Some(row) = spotify_clients::Entity::find_by_id(client_id.to_owned())
                .one(db)
                .await?
            else {
                super::pause::create_row(db, client_id, self.clock.now()).await?;
                continue;
            };
            let level = [row.day_full_until, row.window_full_until];
            match self.verdict(level, now, priority) {
                // Drained between the two statements: spend again.
                Ok(_) => continue,
                Err(wait) => return Ok((Err(wait), row.day_full_until)),
            }
        }
        Ok((Err((self.window.interval, self.window.interval)), now))
    }
}

impl Priority {
    fn label(self) -> &'static str {
        match self {
            Self::Receipts => "receipts",
            Self::Live => "live",
            Self::Interactive => "interactive",
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most calls of `priority` that go in any `span` ms, calling as
    /// soon as allowed for `total` ms.
    fn most_in_any_span(bucket: Bucket, priority: Priority, span: i64, total: i64) -> usize {
        let mut level = 0;
        let mut calls = Vec::new();
        let mut now = 0;
        while now < total {
            match bucket.spend(level, now, priority) {
                Ok(after) => {
                    level = after;
                    calls.push(now);
                }
                Err(wait) => now += wait,
            }
        }
        (0..calls.len())
            .map(|i| calls[i..].iter().take_while(|t| **t < calls[i] + span).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn never_more_than_the_budget_in_any_rolling_period() {
        let window = Bucket::window(60);
        for priority in [Priority::Receipts, Priority::Live, Priority::Interactive] {
            let most = most_in_any_span(window, priority, 30_000, 600_000);
            assert!(most <= 60, "{priority:?}: {most} calls in 30 s");
            assert!(most >= 30, "{priority:?}: the budget is usable ({most})");
        }
        let day = Bucket::daily(1_000);
        let most = most_in_any_span(day, Priority::Receipts, 86_400_000, 4 * 86_400_000);
        assert!((900..=1_000).contains(&most), "{most} calls in 24 h");
        let one = Bucket::window(1);
        assert_eq!(most_in_any_span(one, Priority::Interactive, 30_000, 300_000), 1);
    }

    #[test]
    fn lower_priorities_leave_room_for_receipts() {
        let bucket = Bucket::window(60);
        let mut level = 0;
        let mut interactive = 0;
        while let Ok(after) = bucket.spend(level, 0, Priority::Interactive) {
            level = after;
            interactive += 1;
        }
        assert!(bucket.spend(level, 0, Priority::Live).is_ok());
        let mut receipts = 0;
        while let Ok(after) = bucket.spend(level, 0, Priority::Receipts) {
            level = after;
            receipts += 1;
        }
        assert!(
            interactive > 0 && receipts >= interactive / 2,
            "{interactive} then {receipts}"
        );
        let Err(wait) = bucket.spend(level, 0, Priority::Interactive) else {
            panic!("a full bucket refuses");
        };
        assert!(
            bucket.spend(level, wait, Priority::Interactive).is_ok(),
            "after the wait it goes"
        );
    }
}

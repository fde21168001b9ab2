//! Live events for subscriptions: "something changed for user X".
//!
//! An event names the user it is for, what kind it is, and the id of the
//! thing that changed; subscribers reload that thing, so an event carries no
//! data that could be stale or leak to the wrong person. Events are
//! published after the change commits.
//!
//! Each process hands events to its own subscribers through one queue per
//! subscription, listed by user and topic: an event wakes only the
//! subscriptions of its topic, and the two topics that end sessions share
//! one list. A queue holds nothing until an event arrives, so ten
//! thousand idle subscriptions cost a few hundred bytes each, not a
//! preallocated ring each (a `tokio::sync::broadcast` channel of 64 slots
//! costs 4.6 KiB). On PostgreSQL, publishing goes through `NOTIFY` and
//! every replica `LISTEN`s, so a subscriber on any replica gets every event
//! meant for it; on SQLite (one process) delivery is direct.
//!
//! Besides the subscriptions' topics, the end of a session travels here
//! ([`Topic::SessionEnded`], [`Topic::AllSessionsEnded`]), so that every
//! replica closes the WebSockets signed in with it at once; an observer
//! set at start-up ([`EventBus::observed_by`]) sees every event this
//! process receives, before the subscribers do.
use std::{
    collections::{HashMap, VecDeque, hash_map},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
};

use futures_util::Stream;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Events of one topic a busy subscriber may fall behind by before it
/// skips the oldest (one history check may record 50 plays at once).
const PER_TOPIC_BUFFER: usize = 64;
/// Session ends a socket may fall behind by: any one of them makes it
/// check its session, so a few are plenty.
const SESSION_ENDS_BUFFER: usize = 4;
/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "sendsongs_events";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    /// A friend request to the user, or the user's request accepted.
    FriendshipChanged,
    /// A friend shared a song with the user (subject: the share).
    ShareReceived,
    /// A song the user shared, or was sent, was played (subject: the play event).
    SharePlayed,
    /// A share the user sent or received took a step: opened, listening,
    /// played, expired, cancelled (subject: the step, a `share_activities` row).
    ShareActivity,
    /// One session of the user ended: logged out, or revoked because its
    /// refresh token was used twice (subject: the session).
    SessionEnded,
    /// Every session the user had ended: logged out everywhere, or the
    /// account was deleted (subject: the user).
    AllSessionsEnded,
}

impl Topic {
    /// True for the topics that end sessions rather than tell news.
    pub fn ends_sessions(self) -> bool {
        matches!(self, Self::SessionEnded | Self::AllSessionsEnded)
    }

    /// The channel that carries this topic's events: its own, or the one
    /// both session-ending topics share.
    fn route(self) -> Route {
        if self.ends_sessions() {
            Route::SessionEnds
        } else {
            Route::Topic(self)
        }
    }
}

/// What one per-user list of subscriptions hears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Route {
    /// One topic that tells news.
    Topic(Topic),
    /// [`Topic::SessionEnded`] and [`Topic::AllSessionsEnded`].
    SessionEnds,
}

impl Route {
    fn buffer(self) -> usize {
        match self {
            Self::Topic(_) => PER_TOPIC_BUFFER,
            Self::SessionEnds => SESSION_ENDS_BUFFER,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Whom the event is for; only their subscriptions see it.
    pub user_id: Uuid,
    pub topic: Topic,
    /// The id of the row that changed (a friendship, a share, …).
    pub subject_id: Uuid,
}

/// What sees every event this process receives, before its subscribers.
pub type Observer = Box<dyn Fn(&Event) + Send + Sync>;

pub struct EventBus {
    /// The live subscriptions' queues, by user and topic.
    channels: Mutex<Channels>,
    /// Set on PostgreSQL: events go out through `NOTIFY` and come back in
    /// through [`listen`], to this process and every other replica alike.
    notify: Option<DatabaseConnection>,
    /// Sees every event first (the caches forget an ended session).
    observer: Option<Observer>,
    /// Counts the times events may have been missed (the listener lost its
    /// connection): whoever depends on hearing every event checks again.
    gaps: watch::Sender<u64>,
}

/// The subscriptions' queues, by user and [`Route`]. A queue whose
/// subscription was dropped is let go at the next event for its key, and
/// keys nobody listens to any more are swept when their number has doubled
/// since the last sweep, so a subscription costs O(1) amortized, not a
/// pass over every person's list (10,000 sockets connecting would
/// otherwise cost 10,000² checks).
#[derive(Default)]
struct Channels {
    by_user: HashMap<(Uuid, Route), Vec<Arc<Queue>>>,
    /// How many keys there were after the last sweep.
    after_sweep: usize,
}

impl Channels {
    /// Fewer keys than this are never swept.
    const SWEEP_FROM: usize = 64;

    fn sweep(&mut self) {
        if self.by_user.len() >= (2 * self.after_sweep).max(Self::SWEEP_FROM) {
            self.by_user.retain(|_, queues| {
                queues.retain(Queue::is_listened_to);
                !queues.is_empty()
            });
            self.after_sweep = self.by_user.len();
        }
    }
}

/// One subscription's events not yet taken, shared by the bus (which
/// pushes) and the [`Subscription`] (which takes).
#[derive(Default)]
struct Queue(Mutex<Pending>);

#[derive(Default)]
struct Pending {
    events: VecDeque<Event>,
    /// Events dropped since the subscriber last took one, because it had
    /// fallen [`Route::buffer`] behind.
    skipped: u64,
    /// The subscriber waiting for the next event.
    waker: Option<Waker>,
}

impl Queue {
    /// Whether its [`Subscription`] still exists (the bus holds the other
    /// reference).
    fn is_listened_to(queue: &Arc<Self>) -> bool {
        Arc::strong_count(queue) > 1
    }

    /// Adds an event, dropping the oldest when `limit` are waiting; returns
    /// the subscriber to wake.
    fn push(&self, event: Event, limit: usize) -> Option<Waker> {
        let mut pending = self.0.lock().expect("event queue lock");
        if pending.events.len() >= limit {
            pending.events.pop_front();
            pending.skipped += 1;
        }
        pending.events.push_back(event);
        pending.waker.take()
    }
}

/// The events of one subscription, in the order they were delivered: a
/// stream that never ends.
struct Subscription(Arc<Queue>);

impl Stream for Subscription {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut pending = self.0.0.lock().expect("event queue lock");
        if pending.skipped > 0 {
            tracing::warn!(skipped = pending.skipped, "a subscriber fell behind; events skipped");
            pending.skipped = 0;
        }
        if let Some(event) = pending.events.pop_front() {
            if pending.events.is_empty() && pending.events.capacity() > 4 {
                // A burst is over: give its room back.
                pending.events = VecDeque::new();
            }
            return Poll::Ready(Some(event));
        }
        match &mut pending.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// In-process delivery only (one process, no database to notify through).
impl Default for EventBus {
    fn default() -> Self {
        Self {
            channels: Mutex::default(),
            notify: None,
            observer: None,
            gaps: watch::Sender::new(0),
        }
    }
}

impl EventBus {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            notify: (db.get_database_backend() == DbBackend::Postgres).then(|| db.clone()),
            ..Self::default()
        }
    }

    /// Changes each time this process may have missed events (its
    /// PostgreSQL listener lost its connection and is listening again):
    /// what cannot afford to miss one (an ended session) checks again.
    pub fn gaps(&self) -> watch::Receiver<u64> {
        self.gaps.subscribe()
    }

    fn missed_some(&self) {
        self.gaps.send_modify(|count| *count += 1);
    }

    /// Hands every event this process receives (its own and, on
    /// PostgreSQL, every replica's) to `observer` before the subscribers.
    #[must_use]
    pub fn observed_by(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    pub async fn publish(&self, event: Event) {
        metrics::counter!("events_published_total").increment(1);
        let Some(db) = &self.notify else {
            self.deliver_locally(event);
            return;
        };
        let payload = serde_json::to_string(&event).expect("events serialize");
        let sent = db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await;
        if let Err(err) = sent {
            // The change itself is committed; only the live nudge is lost.
            tracing::warn!(error = %err, "publishing an event failed; delivering locally only");
            self.deliver_locally(event);
        }
    }

    /// Hands an event to the observer, then to this process's subscribers
    /// of its user and topic. The channels' lock is not held while the
    /// subscribers are woken: thousands of events published at once would
    /// queue behind each wake.
    pub fn deliver_locally(&self, event: Event) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
        let route = event.topic.route();
        let wakers: Vec<Waker> = {
            let mut channels = self.channels.lock().expect("event channels lock");
            let hash_map::Entry::Occupied(mut entry) = channels.by_user.entry((event.user_id, route)) else {
                return;
            };
            let queues = entry.get_mut();
            queues.retain(Queue::is_listened_to);
            if queues.is_empty() {
                entry.remove();
                return;
            }
            queues
                .iter()
                .filter_map(|queue| queue.push(event.clone(), route.buffer()))
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The events of `topic` for `user_id`, from now on.
    pub fn subscribe(&self, user_id: Uuid, topic: Topic) -> impl Stream<Item = Event> + Send + use<> {
        self.subscribe_to(user_id, topic.route())
    }

    /// The events that end sessions of `user_id` ([`Topic::SessionEnded`],
    /// [`Topic::AllSessionsEnded`]), from now on. News never wakes it.
    pub fn session_ends(&self, user_id: Uuid) -> impl Stream<Item = Event> + Send + use<> {
        self.subscribe_to(user_id, Route::SessionEnds)
    }

    fn subscribe_to(&self, user_id: Uuid, route: Route) -> impl Stream<Item = Event> + Send + use<> {
        let queue = Arc::new(Queue::default());
        let mut channels = self.channels.lock().expect("event channels lock");
        channels.sweep();
        channels
            .by_user
            .entry((user_id, route))
            .or_default()
            .push(queue.clone());
        Subscription(queue)
    }
}

/// Connects a PostgreSQL listener on the events channel.
pub async fn connect_listener(database_url: &str) -> Result<sea_orm::sqlx::postgres::PgListener, sea_orm::sqlx::Error> {
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Hands every notification to this process's subscribers until `stop`.
/// Reconnects after a lost connection; events published meanwhile are
/// missed (subscriptions are live nudges, the data itself is in the
/// database), and once listening again it says so ([`EventBus::gaps`]).
pub async fn listen(
    mut listener: sea_orm::sqlx::postgres::PgListener,
    database_url: String,
    bus: std::sync::Arc<EventBus>,
    stop: CancellationToken,
) {
    loop {
        let notification = tokio::select! {
            () = stop.cancelled() => return,
            n = listener.try_recv() => n,
        };
        match notification {
            Ok(Some(n)) => match serde_json::from_str::<Event>(n.payload()) {
                Ok(event) => bus.deliver_locally(event),
                Err(err) => tracing::warn!(error = %err, "unreadable event notification"),
            },
            // The connection was lost and sqlx listens again on a new one.
            Ok(None) => {
                tracing::warn!("event listener reconnected; events published meanwhile were missed");
                bus.missed_some();
            }
            Err(err) => {
                tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
                listener = loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                    match connect_listener(&database_url).await {
                        Ok(listener) => break listener,
                        Err(err) => tracing::warn!(error = %err, "cannot LISTEN for events; retrying"),
                    }
                };
                bus.missed_some();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{FutureExt as _, StreamExt as _};

    use super::*;

    #[test]
    fn channels_nobody_listens_to_are_swept_as_their_number_doubles() {
        let bus = EventBus::default();
        let kept: Vec<_> = (0..100)
            .map(|_| bus.subscribe(Uuid::new_v4(), Topic::SharePlayed))
            .collect();
        for _ in 0..1_000 {
            drop(bus.subscribe(Uuid::new_v4(), Topic::SharePlayed));
        }
        let channels = bus.channels.lock().unwrap();
        let live = channels
            .by_user
            .values()
            .flatten()
            .filter(|queue| Queue::is_listened_to(queue))
            .count();
        assert_eq!(live, 100);
        assert!(
            channels.by_user.len() <= 2 * channels.after_sweep.max(Channels::SWEEP_FROM),
            "{} channels kept after {} subscriptions",
            channels.by_user.len(),
            kept.len() + 1_000
        );
    }

    #[tokio::test]
    async fn session_ends_hear_both_ending_topics_and_no_news() {
        let bus = EventBus::default();
        let sam = Uuid::new_v4();
        let mut ends = Box::pin(bus.session_ends(sam));
        let mut news = Box::pin(bus.subscribe(sam, Topic::FriendshipChanged));
        for topic in [
            Topic::FriendshipChanged,
            Topic::SessionEnded,
            Topic::ShareActivity,
            Topic::AllSessionsEnded,
        ] {
            bus.publish(Event {
                user_id: sam,
                topic,
                subject_id: Uuid::new_v4(),
            })
            .await;
        }
        assert_eq!(ends.next().await.unwrap().topic, Topic::SessionEnded);
        assert_eq!(ends.next().await.unwrap().topic, Topic::AllSessionsEnded);
        assert!(ends.next().now_or_never().is_none(), "news reached the session ends");
        assert_eq!(news.next().await.unwrap().topic, Topic::FriendshipChanged);
        assert!(
            news.next().now_or_never().is_none(),
            "another topic reached a subscription"
        );
    }

    #[tokio::test]
    async fn a_subscriber_behind_by_more_than_its_buffer_gets_the_newest_in_order() {
        let bus = EventBus::default();
        let sam = Uuid::new_v4();
        let mut slow = Box::pin(bus.subscribe(sam, Topic::SharePlayed));
        let subjects: Vec<Uuid> = (0..PER_TOPIC_BUFFER + 10).map(|_| Uuid::new_v4()).collect();
        for &subject_id in &subjects {
            bus.publish(Event {
                user_id: sam,
                topic: Topic::SharePlayed,
                subject_id,
            })
            .await;
        }
        let mut heard = Vec::new();
        while let Some(event) = slow.next().now_or_never().flatten() {
            heard.push(event.subject_id);
        }
        assert_eq!(heard, subjects[10..]);
    }

    #[tokio::test]
    async fn a_dropped_subscription_is_let_go_at_the_next_event() {
        let bus = EventBus::default();
        let sam = Uuid::new_v4();
        let kept = Box::pin(bus.subscribe(sam, Topic::ShareActivity));
        drop(bus.subscribe(sam, Topic::ShareActivity));
        let event = Event {
            user_id: sam,
            topic: Topic::ShareActivity,
            subject_id: Uuid::new_v4(),
        };
        bus.publish(event.clone()).await;
        assert_eq!(bus.channels.lock().unwrap().by_user.values().flatten().count(), 1);
        drop(kept);
        bus.publish(event).await;
        assert!(bus.channels.lock().unwrap().by_user.is_empty());
    }

    #[tokio::test]
    async fn each_user_sees_only_their_events() {
        let bus = EventBus::default();
        let (sam, alex) = (Uuid::new_v4(), Uuid::new_v4());
        let mut sams = Box::pin(bus.subscribe(sam, Topic::FriendshipChanged));
        let subject_id = Uuid::new_v4();
        bus.publish(Event {
            user_id: alex,
            topic: Topic::FriendshipChanged,
            subject_id: Uuid::new_v4(),
        })
        .await;
        bus.publish(Event {
            user_id: sam,
            topic: Topic::FriendshipChanged,
            subject_id,
        })
        .await;
        assert_eq!(sams.next().await.unwrap().subject_id, subject_id);
    }
}

//! Live events for subscriptions: "something changed for user X".
//!
//! An event names the user it is for, what kind it is, and the id of the
//! thing that changed; subscribers reload that thing, so an event carries no
//! data that could be stale or leak to the wrong person. Events are published
//! after the change commits. Delivery is in-process: each user has a channel,
//! created on first subscription and dropped when its last subscriber leaves.
use std::{collections::HashMap, sync::Mutex};

use futures_util::{Stream, StreamExt as _, stream};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// Events a busy subscriber may fall behind by before it skips some.
const PER_USER_BUFFER: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Topic {
    /// A friend request to the user, or the user's request accepted.
    FriendshipChanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Whom the event is for; only their subscriptions see it.
    pub user_id: Uuid,
    pub topic: Topic,
    /// The id of the row that changed (a friendship, a share, …).
    pub subject_id: Uuid,
}

#[derive(Default)]
pub struct EventBus {
    /// One broadcast channel per user with at least one live subscription.
    channels: Mutex<HashMap<Uuid, broadcast::Sender<Event>>>,
}

impl EventBus {
    pub async fn publish(&self, event: Event) {
        self.deliver_locally(event);
    }

    fn deliver_locally(&self, event: Event) {
        let mut channels = self.channels.lock().expect("event channels lock");
        if let Some(sender) = channels.get(&event.user_id)
            && sender.send(event.clone()).is_err()
        {
            // Nobody listens any more.
            channels.remove(&event.user_id);
        }
    }

    /// The events of `topic` for `user_id`, from now on.
    pub fn subscribe(&self, user_id: Uuid, topic: Topic) -> impl Stream<Item = Event> + Send + use<> {
        let receiver = {
            let mut channels = self.channels.lock().expect("event channels lock");
            channels.retain(|_, sender| sender.receiver_count() > 0);
            channels
                .entry(user_id)
                .or_insert_with(|| broadcast::channel(PER_USER_BUFFER).0)
                .subscribe()
        };
        stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::warn!(skipped, "a subscriber fell behind; events skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |event| std::future::ready(event.topic == topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

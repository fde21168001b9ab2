//! Friends over GraphQL: add, remove, and the live `friendshipChanged`.
use std::sync::Arc;

use async_graphql::{Context, Enum, Object, Result, Subscription, dataloader::DataLoader};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};

use super::{
    accounts::PublicUser,
    context::{app, viewer},
    loaders::{Subjects, UserLoader},
};
use crate::{
    error::Error,
    events::Topic,
    friends::{self, Status},
};

/// A friendship as the viewer sees it, with the other person when already
/// loaded.
pub struct Friendship(pub friends::Friendship, pub Option<entity::users::Model>);

/// Where a friendship stands, as I see it.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum FriendshipStatus {
    /// You asked; they have not accepted yet.
    Requested,
    /// They asked you: `addFriend` accepts.
    Incoming,
    /// Friends: you may share songs and see what each other plays.
    Accepted,
}

/// A friendship or a friend request, as I see it.
#[Object]
impl Friendship {
    /// The other person.
    async fn user(&self, ctx: &Context<'_>) -> Result<PublicUser> {
        if let Some(user) = &self.1 {
            return Ok(PublicUser(user.clone()));
        }
        let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
        let found = loader
            .load_one(self.0.other_user_id)
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("loading users: {e}")))?;
        Ok(PublicUser(
            found.ok_or_else(|| Error::not_found("this person no longer exists"))?,
        ))
    }

    /// Where it stands.
    async fn status(&self) -> FriendshipStatus {
        match self.0.status {
            Status::Requested => FriendshipStatus::Requested,
            Status::Incoming => FriendshipStatus::Incoming,
            Status::Accepted => FriendshipStatus::Accepted,
        }
    }

    /// When the request was made, or when it was accepted.
    async fn since(&self) -> DateTime<Utc> {
        self.0.since
    }
}

#[derive(Default)]
pub struct FriendsMutation;

/// Friends and friend requests.
#[Object]
impl FriendsMutation {
    /// Sends a friend request, or accepts theirs. Repeating it changes nothing.
    async fn add_friend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Their handle, like `sam` or `@Sam`.")] handle: String,
    ) -> Result<Friendship> {
        let viewer = viewer(ctx)?;
        Ok(Friendship(app(ctx).friends.add(viewer.user_id, &handle).await?, None))
    }

    /// Ends a friendship, or withdraws or declines a request.
    async fn remove_friend(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Their handle, like `sam` or `@Sam`.")] handle: String,
    ) -> Result<bool> {
        let viewer = viewer(ctx)?;
        Ok(app(ctx).friends.remove(viewer.user_id, &handle).await?)
    }
}

#[derive(Default)]
pub struct FriendsSubscription;

/// Live friendship changes.
#[Subscription]
impl FriendsSubscription {
    /// A friend request to me, or my request accepted.
    async fn friendship_changed(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<Friendship>> + use<>> {
        let viewer = viewer(ctx)?;
        let state = ctx.data_unchecked::<crate::app::AppState>();
        let subjects = ctx.data_unchecked::<Arc<Subjects>>().clone();
        let me = viewer.user_id;
        let events = state.events.subscribe(me, Topic::FriendshipChanged);
        Ok(events.filter_map(move |event| {
            let subjects = subjects.clone();
            async move {
                // A request withdrawn before we reloaded it is simply gone.
                match subjects.friendships.load_one(event.subject_id).await {
                    Ok(row) => row
                        .filter(|row| row.user_low == me || row.user_high == me)
                        .map(|row| Ok(Friendship(friends::Friendship::seen_by(&row, me), None))),
                    Err(err) => Some(Err(
                        Error::Internal(anyhow::anyhow!("loading a friendship: {err}")).into()
                    )),
                }
            }
        }))
    }
}

//! Reactions and replies to shares over GraphQL: `reactToShare`,
//! `replyToShare`, and a share's `reactions` and `replies`. Thin callers of
//! `reacting` and `shares::answers`.
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    accounts::PublicUser,
    context::{app, viewer},
    shares::{Share, load_user, parse_id},
};
use crate::{error::Error, reacting, shares::answers};
use entity::{share_activities, share_reactions, shares as share};

/// One person's reaction to a share.
pub struct Reaction(share_reactions::Model);

/// An emoji one of the two people in a share reacted with (one each at
/// most; the latest replaces the one before).
#[Object]
impl Reaction {
    /// Who reacted: the share's sender or its recipient.
    async fn user(&self, ctx: &Context<'_>) -> Result<PublicUser> {
        load_user(ctx, self.0.user_id).await
    }

    /// One emoji, in its fully qualified form (`❤️`, `👍🏽`, `👨‍👩‍👧`).
    async fn emoji(&self) -> &str {
        self.0.emoji.as_deref().unwrap_or_default()
    }

    /// When they reacted (in Messenger: when Meta says they did).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// One reply to a share.
pub struct Reply(share_activities::Model);

/// What one of the two people in a share wrote about it.
#[Object]
impl Reply {
    /// Who replied: the share's sender or its recipient.
    async fn user(&self, ctx: &Context<'_>) -> Result<PublicUser> {
        let id = self
            .0
            .user_id
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a reply without its author")))?;
        load_user(ctx, id).await
    }

    /// What they wrote (at most 280 characters).
    async fn text(&self) -> &str {
        self.0.detail.as_deref().unwrap_or_default()
    }

    /// When they replied (in Messenger: when Meta says they did).
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

/// Whether the viewer is one of the two people in `share`: nobody else
/// sees its answers.
fn in_share(ctx: &Context<'_>, share: &share::Model) -> Result<bool> {
    let me: Uuid = viewer(ctx)?.user_id;
    Ok(share.sender_id == me || share.recipient_id == me)
}

/// `Share.reactions`.
pub async fn reactions_of(ctx: &Context<'_>, share: &share::Model) -> Result<Vec<Reaction>> {
    if !in_share(ctx, share)? {
        return Ok(Vec::new());
    }
    let rows = answers::reactions(&app(ctx).db, share.id).await.map_err(Error::from)?;
    Ok(rows.into_iter().map(Reaction).collect())
}

/// `Share.replies`.
pub async fn replies_of(ctx: &Context<'_>, share: &share::Model) -> Result<Vec<Reply>> {
    if !in_share(ctx, share)? {
        return Ok(Vec::new());
    }
    let rows = answers::replies(&app(ctx).db, share.id).await.map_err(Error::from)?;
    Ok(rows.into_iter().map(Reply).collect())
}

#[derive(Default)]
pub struct AnswersMutation;

/// Answering shares.
#[Object]
impl AnswersMutation {
    /// Reacts to a share with one emoji, replacing my reaction before;
    /// `null` takes it back. For its recipient (unless it was cancelled),
    /// and for its sender once it was played (a reaction to the listen
    /// receipt). The other person gets a REACTED `shareActivity`, and a
    /// push and a Messenger message if their `notifySteps` include REACTED
    /// (the default). Errors: BAD_USER_INPUT for anything but exactly one
    /// emoji; NOT_FOUND for someone not in the share; CONFLICT when not
    /// allowed yet or any more.
    async fn react_to_share(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The share's `id`.")] id: ID,
        #[graphql(desc = "One emoji (one grapheme: `👍🏽` and `👨‍👩‍👧` count as one); `null` removes mine.")] emoji: Option<
            String,
        >,
    ) -> Result<Share> {
        let viewer = viewer(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(Share(
            reacting::react(app(ctx), viewer.user_id, id, emoji.as_deref()).await?,
        ))
    }

    /// Replies to a share, with the same rights as `reactToShare`. The
    /// other person gets a REPLIED `shareActivity`, and a push and a
    /// Messenger message if their `notifySteps` include REPLIED (the
    /// default). Errors: BAD_USER_INPUT for an empty text or one over 280
    /// characters; NOT_FOUND, CONFLICT as `reactToShare`.
    async fn reply_to_share(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The share's `id`.")] id: ID,
        #[graphql(desc = "What to say: 1 to 280 characters.")] text: String,
    ) -> Result<Share> {
        let viewer = viewer(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(Share(reacting::reply(app(ctx), viewer.user_id, id, &text).await?))
    }
}

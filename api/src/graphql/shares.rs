//! Shares over GraphQL: share, open, cancel, list, the live events (the
//! steps of each share, and plays), stats.
use std::sync::Arc;

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject, Subscription,
    connection::{Connection, Edge},
    dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};
use uuid::Uuid;

use super::{
    accounts::PublicUser,
    context::{app, viewer},
    loaders::{Subjects, TrackLoader, UserLoader},
    spotify::Track,
};
use crate::{
    app::AppState,
    detection::live,
    error::Error,
    events::Topic,
    paging::{Page, encode_cursor},
    receipts,
    shares::{self, Mailbox},
    sharing::{self, NewShare},
};
use entity::{
    play_events, share_activities, share_activities::Kind as StoredKind, shares as share, shares::Status as Stored,
};

pub struct Share(pub share::Model);

/// Where a share stands.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum ShareStatus {
    /// Waiting for the recipient to play it.
    Pending,
    /// The recipient played it: `playEvent` is the listen receipt.
    Played,
    /// Not played before it expired.
    Expired,
    /// Withdrawn by its sender (`cancelShare`) before it was played.
    Cancelled,
}

impl From<ShareStatus> for Stored {
    fn from(status: ShareStatus) -> Self {
        match status {
            ShareStatus::Pending => Self::Pending,
            ShareStatus::Played => Self::Played,
            ShareStatus::Expired => Self::Expired,
            ShareStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// Which of my shares to list.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum ShareBox {
    /// The shares I sent.
    Sent,
    /// The shares sent to me.
    Received,
}

pub(super) fn parse_id(id: &ID, field: &'static str) -> Result<Uuid, Error> {
    id.parse::<Uuid>()
        .map_err(|_| Error::bad_input(field, "this is not an id this server gave out"))
}

pub(super) async fn load_user(ctx: &Context<'_>, id: Uuid) -> Result<PublicUser> {
    let found = ctx
        .data_unchecked::<DataLoader<UserLoader>>()
        .load_one(id)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("loading users: {e}")))?;
    Ok(PublicUser(
        found.ok_or_else(|| Error::not_found("this person no longer exists"))?,
    ))
}

/// A song one friend sent another; Send Songs watches the recipient's
/// Spotify listening and tells the sender when they play it.
#[Object]
impl Share {
    /// Unique among shares.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Who shared it.
    async fn sender(&self, ctx: &Context<'_>) -> Result<PublicUser> {
        load_user(ctx, self.0.sender_id).await
    }

    /// Who it was shared with.
    async fn recipient(&self, ctx: &Context<'_>) -> Result<PublicUser> {
        load_user(ctx, self.0.recipient_id).await
    }

    /// The song.
    async fn track(&self, ctx: &Context<'_>) -> Result<Track> {
        let found = ctx
            .data_unchecked::<DataLoader<TrackLoader>>()
            .load_one(self.0.track_id.clone())
            .await
            .map_err(|e| Error::Internal(anyhow::anyhow!("loading tracks: {e}")))?;
        Ok(Track(found.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("share without its track"))
        })?))
    }

    /// What the sender wrote with it (up to 280 characters).
    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    /// Where it stands.
    async fn status(&self) -> ShareStatus {
        match self.0.status {
            Stored::Pending => ShareStatus::Pending,
            Stored::Played => ShareStatus::Played,
            Stored::Expired => ShareStatus::Expired,
            Stored::Cancelled => ShareStatus::Cancelled,
        }
    }

    /// When it was shared.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the recipient played it: the start of the play that counted
    /// (at least 30 seconds of it, or all of a shorter track).
    async fn played_at(&self) -> Option<DateTime<Utc>> {
        self.0.played_at
    }

    /// When the recipient first opened it: the link in their notification,
    /// or their app (`markShareOpened`). Null if they went straight to
    /// listening, or never opened it.
    async fn opened_at(&self) -> Option<DateTime<Utc>> {
        self.0.opened_at
    }

    /// When the recipient started playing it, as Spotify's currently
    /// playing showed while Send Songs watched live (in the first
    /// `LIVE_WINDOW` after the share was made or opened). Null when no live
    /// look saw it playing.
    async fn listening_at(&self) -> Option<DateTime<Utc>> {
        self.0.listening_at
    }

    /// Pending shares stop being watched then.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// When Send Songs next looks at the recipient's history for it; null
    /// once it ended, or while the recipient's Spotify is not linked.
    async fn next_check_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_check_at
    }

    /// How notifications about this share went out to me (the sender sees
    /// their listen receipt; the recipient, the "new song" notice).
    async fn deliveries(&self, ctx: &Context<'_>) -> Result<Vec<super::deliveries::Delivery>> {
        let viewer = viewer(ctx)?;
        super::deliveries::for_share(ctx, self.0.id, viewer.user_id).await
    }

    /// The reactions standing on it, oldest first: one emoji at most from
    /// each of its two people (`reactToShare`, or a reaction in Messenger
    /// to the page's message about it). Only they see them.
    async fn reactions(&self, ctx: &Context<'_>) -> Result<Vec<super::answers::Reaction>> {
        super::answers::reactions_of(ctx, &self.0).await
    }

    /// What its two people replied about it, oldest first
    /// (`replyToShare`, or a Messenger reply to the page's message about
    /// it). Only they see them.
    async fn replies(&self, ctx: &Context<'_>) -> Result<Vec<super::answers::Reply>> {
        super::answers::replies_of(ctx, &self.0).await
    }

    /// The listen receipt, once played.
    async fn play_event(&self, ctx: &Context<'_>) -> Result<Option<PlayEvent>> {
        if self.0.status != Stored::Played {
            return Ok(None);
        }
        let event = shares::play_of(&app(ctx).db, self.0.id).await.map_err(Error::from)?;
        Ok(event.map(|e| PlayEvent {
            event: e,
            share: Some(self.0.clone()),
        }))
    }
}

/// A detected play of a shared song.
pub struct PlayEvent {
    event: play_events::Model,
    /// The share, when already at hand.
    share: Option<share::Model>,
}

/// A listen receipt: the recipient played a shared song.
#[Object]
impl PlayEvent {
    /// Unique among plays.
    async fn id(&self) -> ID {
        ID(self.event.id.to_string())
    }

    /// The share that was played.
    async fn share(&self, ctx: &Context<'_>) -> Result<Share> {
        if let Some(share) = &self.share {
            return Ok(Share(share.clone()));
        }
        let found = shares::find(&app(ctx).db, self.event.share_id)
            .await
            .map_err(Error::from)?;
        Ok(Share(
            found.ok_or_else(|| Error::not_found("this share no longer exists"))?,
        ))
    }

    /// When the recipient played it (as Spotify reports).
    async fn played_at(&self) -> DateTime<Utc> {
        self.event.played_at
    }

    /// When Send Songs noticed.
    async fn detected_at(&self) -> DateTime<Utc> {
        self.event.detected_at
    }
}

/// A step of a share: what happened, when, and the share as it stands now.
pub struct ShareActivity {
    step: share_activities::Model,
    share: share::Model,
}

/// What happened to a share. A pending share climbs OPENED → LISTENING →
/// PLAYED (a step may be skipped, never undone: a played share is not
/// moved back); EXPIRED and CANCELLED end it; each of these happens at most
/// once. REACTED and REPLIED may come at any time, as often as people
/// react or reply.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum ShareActivityKind {
    /// The recipient opened the share: the link in their notification, or
    /// their app called `markShareOpened`.
    Opened,
    /// Spotify shows the recipient playing the shared track.
    Listening,
    /// The recipient played at least 30 seconds of it (or all of a shorter
    /// track): the listen receipt.
    Played,
    /// Not played before `expiresAt`.
    Expired,
    /// Withdrawn by its sender.
    Cancelled,
    /// Its sender or recipient reacted to the share, or took their
    /// reaction back (`share.reactions` as it stands).
    Reacted,
    /// Its sender or recipient replied to the share (`share.replies`).
    Replied,
}

impl From<StoredKind> for ShareActivityKind {
    fn from(kind: StoredKind) -> Self {
        match kind {
            StoredKind::Opened => Self::Opened,
            StoredKind::Listening => Self::Listening,
            StoredKind::Played => Self::Played,
            StoredKind::Expired => Self::Expired,
            StoredKind::Cancelled => Self::Cancelled,
            StoredKind::Reacted => Self::Reacted,
            StoredKind::Replied => Self::Replied,
        }
    }
}

impl From<ShareActivityKind> for StoredKind {
    fn from(kind: ShareActivityKind) -> Self {
        match kind {
            ShareActivityKind::Opened => Self::Opened,
            ShareActivityKind::Listening => Self::Listening,
            ShareActivityKind::Played => Self::Played,
            ShareActivityKind::Expired => Self::Expired,
            ShareActivityKind::Cancelled => Self::Cancelled,
            ShareActivityKind::Reacted => Self::Reacted,
            ShareActivityKind::Replied => Self::Replied,
        }
    }
}

/// A step of one of my shares, sent or received: what happened, when, and
/// the share as it stands.
#[Object]
impl ShareActivity {
    /// What happened.
    async fn kind(&self) -> ShareActivityKind {
        self.step.kind.into()
    }

    /// When it happened: the share's `openedAt`, `listeningAt` or
    /// `playedAt` for those steps, its `expiresAt` when it expired, the
    /// moment it was cancelled, the moment of a reaction (or its taking
    /// back) or a reply.
    async fn at(&self) -> DateTime<Utc> {
        self.step.at
    }

    /// The share, as it stands when the event is delivered.
    async fn share(&self) -> Share {
        Share(self.share.clone())
    }
}

/// My sharing statistics, over all my shares.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Stats {
    /// Shares I sent.
    shares_sent: i32,
    /// Shares sent to me.
    shares_received: i32,
    /// Sent shares the recipient played.
    sent_played: i32,
    /// Played among sent shares that were not cancelled (0–1); null before any.
    play_rate: Option<f64>,
    #[graphql(skip)]
    median: Option<i64>,
}

#[ComplexObject]
impl Stats {
    /// Median time from sharing to playing, over played sent shares.
    async fn median_seconds_to_play(&self) -> Option<i32> {
        self.median.map(|m| i32::try_from(m).unwrap_or(i32::MAX))
    }
}

pub async fn stats_for(ctx: &Context<'_>, user_id: Uuid) -> Result<Stats> {
    let s = shares::stats::for_user(&app(ctx).db, user_id).await?;
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    Ok(Stats {
        shares_sent: count(s.shares_sent),
        shares_received: count(s.shares_received),
        sent_played: count(s.sent_played),
        play_rate: s.play_rate,
        median: s.median_seconds_to_play,
    })
}

/// A song to share with a friend.
#[derive(InputObject)]
pub struct ShareSongInput {
    /// The friend's handle.
    to: String,
    /// A Spotify track link, `spotify:track:…` URI or track id.
    track: String,
    /// Up to 280 characters.
    note: Option<String>,
}

#[derive(Default)]
pub struct SharesQuery;

/// Reading shares.
#[Object]
impl SharesQuery {
    /// My shares, newest first.
    async fn shares(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "box", desc = "Sent or received.")] which: ShareBox,
        #[graphql(desc = "Only the shares in this status; all when not given.")] status: Option<ShareStatus>,
        #[graphql(default = 20, desc = "How many (1–100).")] first: Option<i32>,
        #[graphql(desc = "The `cursor` (or `endCursor`) to continue after.")] after: Option<String>,
    ) -> Result<Connection<String, Share>> {
        let viewer = viewer(ctx)?;
        let page = Page::parse(first, after.as_deref())?;
        let mailbox = match which {
            ShareBox::Sent => Mailbox::Sent,
            ShareBox::Received => Mailbox::Received,
        };
        let (rows, more) = shares::list(&app(ctx).db, viewer.user_id, mailbox, status.map(Stored::from), page).await?;
        let mut connection = Connection::new(page.after.is_some(), more);
        connection
            .edges
            .extend(rows.into_iter().map(|row| Edge::new(encode_cursor(row.id), Share(row))));
        Ok(connection)
    }

    /// One share; only its sender or recipient may see it.
    async fn share(&self, ctx: &Context<'_>, #[graphql(desc = "The share's `id`.")] id: ID) -> Result<Option<Share>> {
        let viewer = viewer(ctx)?;
        let Ok(id) = id.parse::<Uuid>() else { return Ok(None) };
        Ok(shares::get(&app(ctx).db, viewer.user_id, id).await?.map(Share))
    }
}

#[derive(Default)]
pub struct SharesMutation;

/// Sharing songs.
#[Object]
impl SharesMutation {
    /// Shares a track with a friend. The same pending share twice answers
    /// the existing one.
    async fn share_song(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The friend, the track and a note.")] input: ShareSongInput,
    ) -> Result<Share> {
        let viewer = viewer(ctx)?;
        let new = NewShare {
            to: input.to,
            track: input.track,
            note: input.note,
        };
        let (share, _created) = sharing::create(app(ctx), viewer.user_id, new).await?;
        Ok(Share(share))
    }

    /// Withdraws a pending share I sent. Its sender and recipient get a
    /// CANCELLED `shareActivity`.
    async fn cancel_share(&self, ctx: &Context<'_>, #[graphql(desc = "The share's `id`.")] id: ID) -> Result<Share> {
        let viewer = viewer(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(Share(receipts::cancel(app(ctx), viewer.user_id, id).await?))
    }

    /// Says that I, its recipient, opened a share (the link in the
    /// notification does the same): its first OPENED step, told to its
    /// sender, and Send Songs watches my Spotify closely for the next
    /// `LIVE_WINDOW`, to tell them within seconds when I play it. Opening a
    /// share again, or one already seen playing, played, expired or
    /// cancelled, changes nothing and answers it as it stands.
    async fn mark_share_opened(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The share's `id`.")] id: ID,
    ) -> Result<Share> {
        let viewer = viewer(ctx)?;
        let id = parse_id(&id, "id")?;
        Ok(Share(live::open(app(ctx), viewer.user_id, id).await?))
    }
}

#[derive(Default)]
pub struct SharesSubscription;

/// Live share events.
#[Subscription]
impl SharesSubscription {
    /// A friend shared a song with me.
    async fn share_received(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Share> + use<>> {
        let me = viewer(ctx)?.user_id;
        let subjects = ctx.data_unchecked::<Arc<Subjects>>().clone();
        Ok(ctx
            .data_unchecked::<AppState>()
            .events
            .subscribe(me, Topic::ShareReceived)
            .filter_map(move |event| {
                let subjects = subjects.clone();
                async move {
                    let found = subjects.shares.load_one(event.subject_id).await.ok()??;
                    (found.recipient_id == me).then_some(Share(found))
                }
            }))
    }

    /// Every step of my shares, sent or received: opened, listening,
    /// played, expired, cancelled (and reactions and replies), each once,
    /// in order, whichever server instance I am connected to.
    async fn share_activity(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = ShareActivity> + use<>> {
        let me = viewer(ctx)?.user_id;
        let subjects = ctx.data_unchecked::<Arc<Subjects>>().clone();
        Ok(ctx
            .data_unchecked::<AppState>()
            .events
            .subscribe(me, Topic::ShareActivity)
            .filter_map(move |event| {
                let subjects = subjects.clone();
                async move {
                    let (step, share) = subjects.steps.load_one(event.subject_id).await.ok()??;
                    (share.sender_id == me || share.recipient_id == me).then_some(ShareActivity { step, share })
                }
            }))
    }

    /// A song I shared was played (and: I played one shared with me).
    async fn share_played(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = PlayEvent> + use<>> {
        let me = viewer(ctx)?.user_id;
        let subjects = ctx.data_unchecked::<Arc<Subjects>>().clone();
        Ok(ctx
            .data_unchecked::<AppState>()
            .events
            .subscribe(me, Topic::SharePlayed)
            .filter_map(move |event| {
                let subjects = subjects.clone();
                async move {
                    let (event, share) = subjects.plays.load_one(event.subject_id).await.ok()??;
                    (share.sender_id == me || share.recipient_id == me).then_some(PlayEvent {
                        event,
                        share: Some(share),
                    })
                }
            }))
    }
}

//! Spotify over GraphQL: linking, link codes, tracks and "now playing".
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject, dataloader::DataLoader};
use chrono::{DateTime, Utc};

use super::{
    context::{app, viewer},
    loaders::TrackLookups,
};
use crate::{
    accounts::link_codes,
    error::Error,
    linking::spotify::{self as linking, ClientId, Origin},
    listening::{self, Asker, Seen},
    spotify::now_playing,
};
use entity::{spotify_links, spotify_links::Status as Stored, tracks};

/// A Spotify track.
pub struct Track(pub tracks::Model);

/// A Spotify track, as Spotify's catalogue describes it.
#[Object]
impl Track {
    /// The Spotify track id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The Spotify URI (`spotify:track:…`), which opens the Spotify app.
    async fn uri(&self) -> String {
        format!("spotify:track:{}", self.0.id)
    }

    /// The web link (`https://open.spotify.com/track/…`).
    async fn url(&self) -> String {
        format!("https://open.spotify.com/track/{}", self.0.id)
    }

    /// The track's title.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The artists' names, in Spotify's order.
    async fn artists(&self) -> Vec<String> {
        self.0.artist_names()
    }

    /// The album's name, when Spotify gives one.
    async fn album(&self) -> Option<&str> {
        self.0.album.as_deref()
    }

    /// Length in milliseconds.
    async fn duration_ms(&self) -> i32 {
        self.0.duration_ms
    }

    /// The album cover's URL, when Spotify gives one.
    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }
}

/// Whether Send Songs can still read a linked Spotify account.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum SpotifyLinkStatus {
    /// Working: plays are being watched.
    Active,
    /// Spotify no longer accepts our access: connect again.
    RelinkRequired,
}

/// Which Spotify app a link runs on.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum SpotifyApp {
    /// The host's app: the one this Send Songs server is registered with.
    Host,
    /// The person's own app, connected with its Client ID
    /// (`connectSpotify(clientId:)`).
    Own,
}

pub struct SpotifyLink(pub spotify_links::Model);

/// My linked Spotify account, whose listening Send Songs watches.
#[Object]
impl SpotifyLink {
    /// Spotify's immutable `account_id` for the linked account, the key of
    /// the link (for links made before Spotify returned it, the user id
    /// until their next token refresh).
    async fn account_id(&self) -> &str {
        &self.0.account_id
    }

    /// The Spotify user id, for display (`open.spotify.com/user/<userId>`).
    async fn user_id(&self) -> &str {
        self.0.spotify_user_id.as_deref().unwrap_or(&self.0.account_id)
    }

    /// The Spotify profile's name, when it has one.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }

    /// Which Spotify app the link runs on: the host's, or the person's own
    /// (connected with `connectSpotify(clientId:)`). Its calls count on
    /// that app's budget, and that app's pauses hold them.
    async fn app(&self) -> SpotifyApp {
        match self.0.client_id {
            Some(_) => SpotifyApp::Own,
            None => SpotifyApp::Host,
        }
    }

    /// The Client ID of the person's own Spotify app the link runs on (32
    /// lower-case hexadecimal characters; public, not a secret: every
    /// authorization link carries it). Null on the host's app.
    async fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }

    /// Whether it still works.
    async fn status(&self) -> SpotifyLinkStatus {
        match self.0.status {
            Stored::Active => SpotifyLinkStatus::Active,
            Stored::RelinkRequired => SpotifyLinkStatus::RelinkRequired,
        }
    }

    /// Spotify stops honouring the consent six months after it was given.
    async fn consent_expires_at(&self) -> DateTime<Utc> {
        self.0.consent_expires_at
    }

    /// When listen receipts resume, while Spotify has paused this server's
    /// calls (a rate limit, or the app's daily quota in Spotify's
    /// development mode): no share is lost, they are checked then. Null
    /// while receipts run.
    async fn receipts_resume_at(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        app(ctx).spotify.paused_until().await
    }
}

pub struct NowPlaying(pub now_playing::NowPlaying);

/// What someone is listening to on Spotify, or last listened to.
#[Object]
impl NowPlaying {
    /// True while a track is playing.
    async fn is_playing(&self) -> bool {
        self.0.is_playing
    }

    /// The current track, else the last one played.
    async fn track(&self) -> Option<Track> {
        self.0.track.clone().map(Track)
    }

    /// When the track was playing or played.
    async fn at(&self) -> Option<DateTime<Utc>> {
        self.0.at
    }

    /// "Sam is listening to “Song” by Artist".
    async fn text(&self) -> &str {
        &self.0.text
    }

    /// When Spotify was asked.
    async fn fetched_at(&self) -> DateTime<Utc> {
        self.0.fetched_at
    }

    /// True when this is an older answer, served because Spotify could not
    /// be asked just now (this server's call budget, or a pause Spotify
    /// ordered); `fetchedAt` says how old.
    async fn stale(&self) -> bool {
        self.0.stale
    }
}

/// A code that links a Messenger conversation to my account.
#[derive(SimpleObject)]
pub struct LinkCode {
    /// 16 digits; send them to Send Songs on Messenger.
    code: String,
    /// After this (30 minutes) the code no longer works.
    expires_at: DateTime<Utc>,
}

/// Where to give Send Songs access to a Spotify account.
#[derive(SimpleObject)]
pub struct SpotifyConnect {
    /// Open this in a browser to give Send Songs access.
    url: String,
    /// After this (10 minutes) the link no longer works.
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct SpotifyQuery;

/// Reading Spotify.
#[Object]
impl SpotifyQuery {
    /// A track from any link form people paste (open.spotify.com, spotify:
    /// URIs, short links, bare ids): to preview before sharing.
    async fn track(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A Spotify track link, URI or id, as pasted.")] link: String,
    ) -> Result<Track> {
        let viewer = viewer(ctx)?;
        let id = app(ctx).spotify.resolve(&link).await?;
        let found = ctx
            .data_unchecked::<DataLoader<TrackLookups>>()
            .load_one((viewer.user_id, id))
            .await
            .map_err(|err| err.duplicate())?;
        match found {
            Some(Ok(track)) => Ok(Track(track)),
            Some(Err(err)) => Err(err.duplicate().into()),
            None => Err(Error::bad_input("track", "Spotify has no track with this link").into()),
        }
    }

    /// What someone is playing: yourself, or an accepted friend.
    async fn now_playing(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Their handle (or mine), like `sam` or `@Sam`.")] handle: String,
    ) -> Result<Option<NowPlaying>> {
        let viewer = viewer(ctx)?;
        match listening::now_playing(app(ctx), Asker::Person(viewer.user_id), &handle).await? {
            Seen::Playing(playing) => Ok(Some(NowPlaying(playing))),
            Seen::Unknown => Ok(None),
            Seen::Hidden { handle } => {
                Err(Error::Forbidden(format!("@{handle} isn't your friend yet: send a friend request first")).into())
            }
        }
    }
}

#[derive(Default)]
pub struct SpotifyMutation;

/// Linking Spotify and Messenger.
#[Object]
impl SpotifyMutation {
    /// A Spotify authorization link for the signed-in person (10 minutes).
    /// With `clientId`, through the person's own Spotify app (authorization
    /// code with PKCE, no secret); its calls count on that app's budget.
    /// Without it, through the host's app.
    async fn connect_spotify(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The Client ID of the person's own Spotify app: 32 lower-case hexadecimal characters, exactly \
                    as the app's page in Spotify's developer dashboard shows them (nothing is trimmed). The app must list this server's redirect URI and, in \
                    development mode, the person's Spotify e-mail under User Management. Anything else is \
                    refused with BAD_USER_INPUT and nothing is stored."
        )]
        client_id: Option<String>,
    ) -> Result<SpotifyConnect> {
        let viewer = viewer(ctx)?;
        let own = client_id
            .as_deref()
            .map(|raw| ClientId::parse("clientId", raw))
            .transpose()?;
        let started = linking::start(app(ctx), Origin::Account(viewer.user_id), own.as_ref()).await?;
        Ok(SpotifyConnect {
            url: started.url,
            expires_at: started.expires_at,
        })
    }

    /// Forgets the Spotify tokens. False when nothing was linked.
    async fn disconnect_spotify(&self, ctx: &Context<'_>) -> Result<bool> {
        let viewer = viewer(ctx)?;
        Ok(app(ctx).spotify.disconnect(viewer.user_id).await.map_err(Error::from)?)
    }

    /// A 16-digit code that links Messenger to this account (30 minutes, once).
    async fn create_link_code(&self, ctx: &Context<'_>) -> Result<LinkCode> {
        let viewer = viewer(ctx)?;
        let app = app(ctx);
        let (code, expires_at) = link_codes::create(&app.db, viewer.user_id, app.clock.now()).await?;
        Ok(LinkCode { code, expires_at })
    }
}

//! Accounts over GraphQL: `me`, `user`, sign-up, log-in, sessions, settings.
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{
    context::{CurrentUser, app, client_address, optional_viewer, viewer},
    devices::Device,
    friends::Friendship,
    spotify::SpotifyLink,
};
use crate::{
    accounts::{self, Authenticated, sessions::SignUp, settings::SettingsUpdate},
    devices,
    error::Error,
    messenger::links,
    spotify,
};
use entity::users as user;

/// The signed-in person, with what only they may see.
pub struct User(pub user::Model);

/// The signed-in person, with what only they may see: their email,
/// settings, linked accounts, friends, statistics and devices.
#[Object]
impl User {
    /// Never changes, even when the handle does.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Unique, 3–30 characters of `a-z`, `0-9`, `_` and `.`: how friends
    /// find each other (`user`, `addFriend`, the bot's `add @handle`).
    async fn handle(&self) -> &str {
        &self.0.handle
    }

    /// The name others see (1–64 characters).
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Empty for accounts created from Spotify or Messenger without one.
    async fn email(&self) -> &str {
        self.0.email.as_deref().unwrap_or_default()
    }

    /// How Send Songs notifies me, and what it shows of me.
    async fn settings(&self) -> Settings {
        Settings::from(&self.0)
    }

    /// The linked Spotify account, if any.
    async fn spotify(&self, ctx: &Context<'_>) -> Result<Option<SpotifyLink>> {
        let link = spotify::vault::find(&app(ctx).db, self.0.id)
            .await
            .map_err(crate::error::Error::from)?;
        Ok(link.map(SpotifyLink))
    }

    /// True when a Messenger conversation is linked to this account.
    async fn messenger_linked(&self, ctx: &Context<'_>) -> Result<bool> {
        let link = links::of_user(&app(ctx).db, self.0.id).await.map_err(Error::from)?;
        Ok(link.is_some())
    }

    /// Friends, and requests in both directions; newest change first.
    async fn friends(&self, ctx: &Context<'_>) -> Result<Vec<Friendship>> {
        let list = app(ctx).friends.list(self.0.id).await?;
        Ok(list.into_iter().map(|(f, user)| Friendship(f, Some(user))).collect())
    }

    /// My sharing statistics.
    async fn stats(&self, ctx: &Context<'_>) -> Result<super::shares::Stats> {
        super::shares::stats_for(ctx, self.0.id).await
    }

    /// Registered push devices, most recently registered first.
    async fn devices(&self, ctx: &Context<'_>) -> Result<Vec<Device>> {
        let list = devices::list(&app(ctx).db, self.0.id).await?;
        Ok(list.into_iter().map(Device).collect())
    }
}

/// What anyone may see of a person.
pub struct PublicUser(pub user::Model);

/// What anyone may see of a person: who they are, not what they do.
#[Object]
impl PublicUser {
    /// Never changes, even when the handle does.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// Unique, 3–30 characters of `a-z`, `0-9`, `_` and `.`.
    async fn handle(&self) -> &str {
        &self.0.handle
    }

    /// The name they chose to be shown (1–64 characters).
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
}

/// How Send Songs notifies me, and what it shows of me (`updateSettings`
/// changes them).
#[derive(SimpleObject)]
pub struct Settings {
    /// Notify me by push on my registered devices.
    notify_push: bool,
    /// Notify me on Messenger, once a conversation is linked.
    notify_messenger: bool,
    /// Which steps of the shares I send also reach me by push and on
    /// Messenger (each channel as `notifyPush` and `notifyMessenger` allow);
    /// every step reaches my `shareActivity` subscription regardless.
    /// REACTED and REPLIED are the other person's reactions and replies, on
    /// shares I sent or received. Default: PLAYED (the listen receipt),
    /// REACTED and REPLIED.
    notify_steps: Vec<super::shares::ShareActivityKind>,
    /// Anyone may see what I am playing, without signing in
    /// (`/v1/users/{handle}/now-playing`); accepted friends always may.
    now_playing_public: bool,
    /// IANA time zone name, used for quiet hours.
    timezone: String,
    /// Hour (0–23, in `timezone`) when push notifications start waiting.
    quiet_hours_start: Option<i32>,
    /// Hour (0–23) when they resume.
    quiet_hours_end: Option<i32>,
}

impl From<&user::Model> for Settings {
    fn from(u: &user::Model) -> Self {
        Self {
            notify_push: u.notify_push,
            notify_messenger: u.notify_messenger,
            notify_steps: u.notified_steps().into_iter().map(Into::into).collect(),
            now_playing_public: u.now_playing_public,
            timezone: u.timezone.clone(),
            quiet_hours_start: u.quiet_hours_start.map(i32::from),
            quiet_hours_end: u.quiet_hours_end.map(i32::from),
        }
    }
}

/// A new session: what `signUp`, `logIn` and `refreshSession` answer.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived (15 minutes): send as `Authorization: Bearer …`.
    access_token: String,
    /// Single use: exchange it with `refreshSession` for a new pair.
    refresh_token: String,
    /// When the access token expires.
    expires_at: DateTime<Utc>,
    /// Who signed in.
    user: User,
}

impl From<Authenticated> for AuthPayload {
    fn from(a: Authenticated) -> Self {
        Self {
            access_token: a.access_token,
            refresh_token: a.refresh_token,
            expires_at: a.expires_at,
            user: User(a.user),
        }
    }
}

/// A new account.
#[derive(InputObject)]
pub struct SignUpInput {
    /// An email address no other account uses (compared without case).
    email: String,
    /// 8 to 128 characters.
    password: String,
    /// 3–30 characters of `a-z`, `0-9`, `_` and `.` (stored lower-case, a
    /// leading `@` dropped), unique.
    handle: String,
    /// 1–64 characters, no control characters.
    display_name: String,
}

/// An email and password to sign in with.
#[derive(InputObject)]
pub struct LogInInput {
    /// The account's email (any case).
    email: String,
    /// The account's password. Too many wrong ones in a row are refused for
    /// a while (`RATE_LIMITED`).
    password: String,
}

/// Only the fields given change. Send `null` for quiet hours to clear them.
#[derive(InputObject)]
pub struct SettingsInput {
    /// 1–64 characters, no control characters.
    display_name: Option<String>,
    /// Notify me by push on my registered devices.
    notify_push: Option<bool>,
    /// Notify me on Messenger, once a conversation is linked.
    notify_messenger: Option<bool>,
    /// Anyone may see what I am playing, without signing in.
    now_playing_public: Option<bool>,
    /// An IANA time zone name, like `Europe/Paris`.
    timezone: Option<String>,
    /// Hour (0–23, in `timezone`) when push notifications start waiting;
    /// `null` clears quiet hours.
    quiet_hours_start: MaybeUndefined<i32>,
    /// Hour (0–23, in `timezone`) when they resume; `null` clears quiet
    /// hours.
    quiet_hours_end: MaybeUndefined<i32>,
    /// Which steps of my shares also push and message me: any of OPENED,
    /// LISTENING, PLAYED, EXPIRED (and REACTED, REPLIED); `[]` for none.
    /// CANCELLED is refused: only I cancel my shares.
    notify_steps: Option<Vec<super::shares::ShareActivityKind>>,
}

fn maybe(value: MaybeUndefined<i32>) -> Option<Option<i32>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

#[derive(Default)]
pub struct AccountsQuery;

/// Reading accounts.
#[Object]
impl AccountsQuery {
    /// The signed-in person; null when not signed in.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(viewer) = optional_viewer(ctx)? else {
            return Ok(None);
        };
        if let Some(CurrentUser(user)) = ctx.data_opt::<CurrentUser>()
            && user.id == viewer.user_id
        {
            return Ok(Some(User(user.clone())));
        }
        Ok(Some(User(accounts::users::get(&app(ctx).db, viewer.user_id).await?)))
    }

    /// Someone by handle (a leading `@` and case do not matter); null when
    /// nobody has it.
    async fn user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Their handle, like `sam` or `@Sam`.")] handle: String,
    ) -> Result<Option<PublicUser>> {
        let found = accounts::users::find_by_handle(&app(ctx).db, &handle).await?;
        Ok(found.map(PublicUser))
    }
}

#[derive(Default)]
pub struct AccountsMutation;

/// Accounts and their sessions.
#[Object]
impl AccountsMutation {
    /// Creates an account and signs it in. A malformed field is
    /// `BAD_USER_INPUT` naming it; a taken email or handle is `CONFLICT`.
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account.")] input: SignUpInput,
    ) -> Result<AuthPayload> {
        let input = SignUp {
            email: input.email,
            password: input.password,
            handle: input.handle,
            display_name: input.display_name,
        };
        Ok(app(ctx).accounts.sign_up(input).await?.into())
    }

    /// Starts a session with an email and password. A wrong pair is
    /// `UNAUTHENTICATED`.
    async fn log_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The email and password.")] input: LogInInput,
    ) -> Result<AuthPayload> {
        let authenticated = app(ctx)
            .accounts
            .log_in(&input.email, input.password, client_address(ctx))
            .await?;
        Ok(authenticated.into())
    }

    /// Rotates the refresh token: the one sent is spent. Sent again, it is
    /// taken as stolen and its session ends (on every device and socket).
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token of the last `AuthPayload`.")] refresh_token: String,
    ) -> Result<AuthPayload> {
        Ok(app(ctx).accounts.refresh(&refresh_token).await?.into())
    }

    /// Ends the session of this refresh token (and its access tokens, and
    /// the WebSockets signed in with them). False when it had already ended
    /// or the token is unknown; `FORBIDDEN` for another account's token.
    async fn log_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's refresh token (one of mine when signed in).")] refresh_token: String,
    ) -> Result<bool> {
        let viewer = optional_viewer(ctx)?;
        Ok(app(ctx).accounts.log_out(viewer, &refresh_token).await?)
    }

    /// Ends every session of mine, this one included (a lost phone): every
    /// token stops working and every WebSocket closes. False when none was
    /// open.
    async fn log_out_everywhere(&self, ctx: &Context<'_>) -> Result<bool> {
        let viewer = viewer(ctx)?;
        Ok(app(ctx).accounts.log_out_everywhere(viewer).await?)
    }

    /// Deletes my account and everything that names me, for good; every
    /// session ends. A wrong password is `BAD_USER_INPUT` and changes
    /// nothing.
    async fn delete_account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "My password, to confirm.")] password: String,
    ) -> Result<bool> {
        let viewer = viewer(ctx)?;
        app(ctx)
            .accounts
            .delete_account(viewer, password, client_address(ctx))
            .await?;
        Ok(true)
    }

    /// Changes the settings given, and answers me as I am now.
    async fn update_settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the fields given change.")] input: SettingsInput,
    ) -> Result<User> {
        let viewer = viewer(ctx)?;
        let update = SettingsUpdate {
            display_name: input.display_name,
            notify_push: input.notify_push,
            notify_messenger: input.notify_messenger,
            now_playing_public: input.now_playing_public,
            timezone: input.timezone,
            quiet_hours_start: maybe(input.quiet_hours_start),
            quiet_hours_end: maybe(input.quiet_hours_end),
            notify_steps: input
                .notify_steps
                .map(|steps| steps.into_iter().map(Into::into).collect()),
        };
        Ok(User(app(ctx).accounts.update_settings(viewer.user_id, update).await?))
    }
}

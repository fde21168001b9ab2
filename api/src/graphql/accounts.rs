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

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn handle(&self) -> &str {
        &self.0.handle
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Empty for accounts created from Spotify or Messenger without one.
    async fn email(&self) -> &str {
        self.0.email.as_deref().unwrap_or_default()
    }

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

#[Object]
impl PublicUser {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn handle(&self) -> &str {
        &self.0.handle
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
}

#[derive(SimpleObject)]
pub struct Settings {
    notify_push: bool,
    notify_messenger: bool,
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
            now_playing_public: u.now_playing_public,
            timezone: u.timezone.clone(),
            quiet_hours_start: u.quiet_hours_start.map(i32::from),
            quiet_hours_end: u.quiet_hours_end.map(i32::from),
        }
    }
}

#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived (15 minutes): send as `Authorization: Bearer …`.
    access_token: String,
    /// Single use: exchange it with `refreshSession` for a new pair.
    refresh_token: String,
    /// When the access token expires.
    expires_at: DateTime<Utc>,
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

#[derive(InputObject)]
pub struct SignUpInput {
    email: String,
    password: String,
    handle: String,
    display_name: String,
}

#[derive(InputObject)]
pub struct LogInInput {
    email: String,
    password: String,
}

/// Only the fields given change. Send `null` for quiet hours to clear them.
#[derive(InputObject)]
pub struct SettingsInput {
    display_name: Option<String>,
    notify_push: Option<bool>,
    notify_messenger: Option<bool>,
    now_playing_public: Option<bool>,
    timezone: Option<String>,
    quiet_hours_start: MaybeUndefined<i32>,
    quiet_hours_end: MaybeUndefined<i32>,
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

    async fn user(&self, ctx: &Context<'_>, handle: String) -> Result<Option<PublicUser>> {
        let found = accounts::users::find_by_handle(&app(ctx).db, &handle).await?;
        Ok(found.map(PublicUser))
    }
}

#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> Result<AuthPayload> {
        let input = SignUp {
            email: input.email,
            password: input.password,
            handle: input.handle,
            display_name: input.display_name,
        };
        Ok(app(ctx).accounts.sign_up(input).await?.into())
    }

    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> Result<AuthPayload> {
        let authenticated = app(ctx)
            .accounts
            .log_in(&input.email, input.password, client_address(ctx))
            .await?;
        Ok(authenticated.into())
    }

    /// Rotates the refresh token: the one sent is spent.
    async fn refresh_session(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(app(ctx).accounts.refresh(&refresh_token).await?.into())
    }

    /// Ends the session of this refresh token (and its access tokens).
    async fn log_out(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        let viewer = optional_viewer(ctx)?;
        Ok(app(ctx).accounts.log_out(viewer, &refresh_token).await?)
    }

    async fn log_out_everywhere(&self, ctx: &Context<'_>) -> Result<bool> {
        let viewer = viewer(ctx)?;
        Ok(app(ctx).accounts.log_out_everywhere(viewer).await?)
    }

    async fn delete_account(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        let viewer = viewer(ctx)?;
        app(ctx)
            .accounts
            .delete_account(viewer, password, client_address(ctx))
            .await?;
        Ok(true)
    }

    async fn update_settings(&self, ctx: &Context<'_>, input: SettingsInput) -> Result<User> {
        let viewer = viewer(ctx)?;
        let update = SettingsUpdate {
            display_name: input.display_name,
            notify_push: input.notify_push,
            notify_messenger: input.notify_messenger,
            now_playing_public: input.now_playing_public,
            timezone: input.timezone,
            quiet_hours_start: maybe(input.quiet_hours_start),
            quiet_hours_end: maybe(input.quiet_hours_end),
        };
        Ok(User(app(ctx).accounts.update_settings(viewer.user_id, update).await?))
    }
}

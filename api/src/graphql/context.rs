//! Reading the app and the signed-in viewer from a resolver's context.
use std::net::IpAddr;

use async_graphql::Context;

use crate::{
    accounts::Viewer,
    app::{App, AppState},
    error::Error,
};

/// Who is asking, decided once per request (or per WebSocket connection).
#[derive(Debug, Clone)]
pub enum Auth {
    Anonymous,
    Signed(Viewer),
    /// A token was sent but is not valid: the message says why (expired…).
    Invalid(String),
}

/// The signed-in person's user row, read with the session (HTTP requests).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub entity::users::Model);

/// The client's IP address, for the log-in throttle.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

pub fn app<'a>(ctx: &Context<'a>) -> &'a App {
    ctx.data_unchecked::<AppState>()
}

/// The viewer, or `UNAUTHENTICATED` saying why not.
pub fn viewer(ctx: &Context<'_>) -> Result<Viewer, Error> {
    match ctx.data_opt::<Auth>() {
        Some(Auth::Signed(viewer)) => Ok(*viewer),
        Some(Auth::Invalid(reason)) => Err(Error::Unauthenticated(reason.clone())),
        Some(Auth::Anonymous) | None => Err(Error::unauthenticated()),
    }
}

/// The viewer if there is one; an invalid token is still an error, so an
/// app learns to refresh instead of silently seeing a signed-out view.
pub fn optional_viewer(ctx: &Context<'_>) -> Result<Option<Viewer>, Error> {
    match ctx.data_opt::<Auth>() {
        Some(Auth::Signed(viewer)) => Ok(Some(*viewer)),
        Some(Auth::Invalid(reason)) => Err(Error::Unauthenticated(reason.clone())),
        Some(Auth::Anonymous) | None => Ok(None),
    }
}

pub fn client_address(ctx: &Context<'_>) -> Option<IpAddr> {
    ctx.data_opt::<ClientAddress>().and_then(|a| a.0)
}

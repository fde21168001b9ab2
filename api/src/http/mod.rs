//! HTTP: the router, middleware, and the routes. The GraphQL transport:
//! `graphql.rs` (POST, GET), `persisted.rs` (automatic persisted queries),
//! `ws.rs` (WebSocket), `graphiql.rs` (the page and its files), `cors.rs`
//! (other origins), `shape.rs` (fields in selection order, failed fields null).
use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, middleware, routing::get};
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use tokio::net::TcpListener;

use crate::{app::AppState, graphql::AppSchema, sandbox::Sandboxes, webhook::Webhook};

mod auth;
mod cors;
mod graphiql;
mod graphql;
mod health;
mod messenger;
mod metrics;
mod now_playing;
mod persisted;
mod sandbox;
mod shape;
mod tracked;
mod ws;

pub use ws::{closed as websockets_closed, with_small_buffers};

/// The server's socket. A failure is one line naming `LISTEN_ADDR`, the
/// address and what to set instead (a port in use, an address this machine
/// does not have, a port below 1024 without the right to it).
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|err| {
        anyhow::anyhow!(
            "setting LISTEN_ADDR: cannot listen on {address}: {err}; set a free address of this machine, \
             like 127.0.0.1:8081 (port 0: any free port)"
        )
    })
}

/// The span every request is logged in: its method and path, never its
/// query string (the webhook's `hub.verify_token`, the Spotify callback's
/// `code` and `state`, the signed sign-up link's signature travel there).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

/// Largest request body accepted on every route but the webhook's: a
/// GraphQL query is a few KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Refuses a body over `limit` bytes with 413: at once when its
/// `Content-Length` says so, else as soon as that many bytes arrived.
fn body_limit(limit: usize) -> tower::layer::util::Stack<RequestBodyLimitLayer, DefaultBodyLimit> {
    tower::layer::util::Stack::new(RequestBodyLimitLayer::new(limit), DefaultBodyLimit::max(limit))
}

/// Every route: `state` for most, the edges' own state for theirs, and the
/// stand-ins under `/sandbox` when there are any.
pub fn router(state: AppState, schema: AppSchema, webhook: Arc<Webhook>, sandboxes: Option<Sandboxes>) -> Router {
    let cors = cors::Cors::new(&state.settings.graphql.cors_allowed_origins);
    let graphql_routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .with_state(graphql::GraphqlState::new(state.clone(), schema))
        .layer(middleware::from_fn_with_state(cors, cors::only_allowed_origins))
        .route("/graphiql/{hash}/{file}", get(graphiql::asset));
    // Pages anywhere may read the public JSON routes.
    let public_api = Router::new()
        .route("/v1/users/{handle}/now-playing", get(now_playing::show))
        .layer(cors::public());
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/auth/spotify/start", get(auth::start))
        .route("/auth/spotify/callback", get(auth::callback))
        .route("/s/{token}", get(tracked::open))
        .merge(public_api)
        .with_state(state)
        .merge(graphql_routes);
    if let Some(Sandboxes { spotify, providers }) = sandboxes {
        let demo = Router::new()
            .route("/messenger/send", axum::routing::post(sandbox::messenger_send))
            .with_state(sandbox::Demo {
                webhook: webhook.clone(),
                outbox: providers.clone(),
            });
        let sandbox = crate::sandbox::providers::router(providers)
            .nest("/spotify", crate::sandbox::spotify::router(spotify))
            .merge(demo)
            .fallback(crate::sandbox::control::not_found)
            .method_not_allowed_fallback(crate::sandbox::control::wrong_method);
        router = router.nest("/sandbox", sandbox);
    }
    // Meta batches up to 1,000 events in one POST: the webhook has a limit
    // of its own, sized for that (`webhook::BODY_LIMIT`).
    let webhook_route = Router::new()
        .route("/webhooks/messenger", get(messenger::verify).post(messenger::receive))
        .with_state(webhook)
        .layer(body_limit(crate::webhook::BODY_LIMIT));
    router
        .layer(body_limit(BODY_LIMIT))
        .merge(webhook_route)
        .layer(middleware::from_fn(metrics::track))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

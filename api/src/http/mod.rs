//! HTTP: the router, middleware, and the routes that are not GraphQL.
use std::{sync::Arc, time::Duration};

use axum::{Router, extract::DefaultBodyLimit, http::Method, middleware, routing::get};
use tower_http::{
    cors::{Any, CorsLayer},
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{app::AppState, graphql::AppSchema, sandbox::Sandboxes, webhook::Webhook};

mod auth;
mod graphql;
mod health;
mod messenger;
mod metrics;
mod now_playing;
mod sandbox;

pub use graphql::with_small_buffers;

/// Largest request body accepted anywhere: a GraphQL query is a few KiB.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route: `state` for most, the edges' own state for theirs, and the
/// stand-ins under `/sandbox` when there are any.
pub fn router(state: AppState, schema: AppSchema, webhook: Arc<Webhook>, sandboxes: Option<Sandboxes>) -> Router {
    let graphql_routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .with_state(graphql::GraphqlState {
            app: state.clone(),
            schema,
        });
    // Static pages anywhere may read public now-playing.
    let public_api = Router::new()
        .route("/v1/users/{handle}/now-playing", get(now_playing::show))
        .layer(CorsLayer::new().allow_origin(Any).allow_methods([Method::GET]));
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/auth/spotify/start", get(auth::start))
        .route("/auth/spotify/callback", get(auth::callback))
        .merge(public_api)
        .with_state(state)
        .merge(graphql_routes)
        .merge(
            Router::new()
                .route("/webhooks/messenger", get(messenger::verify).post(messenger::receive))
                .with_state(webhook.clone()),
        );
    if let Some(Sandboxes { spotify, providers }) = sandboxes {
        let demo = Router::new()
            .route("/messenger/send", axum::routing::post(sandbox::messenger_send))
            .with_state(webhook);
        let sandbox = crate::sandbox::providers::router(providers)
            .nest("/spotify", crate::sandbox::spotify::router(spotify))
            .merge(demo);
        router = router.nest("/sandbox", sandbox);
    }
    router
        .layer(middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

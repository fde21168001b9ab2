//! CORS for `/graphql`: web apps on the origins in `CORS_ALLOWED_ORIGINS`
//! may call it from a browser (POST, GET, and the preflight before them).
//! The public JSON routes (`/v1/…`) are open to every page ([`public`]).
//!
//! tower-http's [`CorsLayer`] writes the headers. It would also send its
//! `Access-Control-Allow-Methods`/`-Headers` to any origin; this middleware
//! hands it only the requests from listed origins, so every other origin
//! gets no CORS headers at all (its preflight meets the plain route: 405).
//!
//! Listed origins may send credentials (the API uses none, but stock
//! clients set `credentials: 'include'` freely); `*` allows any origin
//! without them, as the Fetch standard requires.
//!
//! A preflight from an allowed origin is allowed whatever request headers
//! it names: besides `Authorization` and `Content-Type`, stock clients and
//! the libraries around them add their own (`apollographql-client-name`,
//! `apollo-require-preflight`, Sentry's `sentry-trace` and `baggage`, W3C
//! `traceparent`), and a fixed list breaks a page the day it adds a
//! tracer, while protecting nothing: the origin is already trusted, and
//! the server reads no header it does not know.
use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;

/// The response headers scripts may read besides the safelisted ones:
/// the request id to quote in a support request, and when to retry.
const EXPOSED_HEADERS: [HeaderName; 2] = [HeaderName::from_static("x-request-id"), header::RETRY_AFTER];

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(3600);

/// CORS of the public JSON routes (`/v1/users/{handle}/now-playing`): any
/// page may read them, from any origin (`file://` pages send `null`).
///
/// The preflight allows whatever request headers it asks for: a page's
/// fetch sends `Content-Type`, `Cache-Control`, `If-None-Match` or a
/// tracing header of its own as its library pleases, and refusing one
/// breaks the page while protecting nothing (these routes read no
/// credentials and answer what a plain GET from anywhere answers).
pub fn public() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED_HEADERS)
        .max_age(PREFLIGHT_MAX_AGE)
}

/// The CORS policy of `/graphql`, built once from the setting.
#[derive(Clone)]
pub struct Cors(Arc<Policy>);

struct Policy {
    origins: CorsOrigins,
    layer: CorsLayer,
}

impl Cors {
    pub fn new(origins: &CorsOrigins) -> Self {
        let layer = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers(EXPOSED_HEADERS)
            .max_age(PREFLIGHT_MAX_AGE);
        let layer = match origins {
            CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
            CorsOrigins::List(list) => layer
                .allow_origin(AllowOrigin::list(
                    list.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()),
                ))
                .allow_credentials(true),
        };
        Self(Arc::new(Policy {
            origins: origins.clone(),
            layer,
        }))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        match &self.0.origins {
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => list.iter().any(|allowed| allowed.as_bytes() == origin.as_bytes()),
        }
    }
}

/// Middleware: requests from allowed origins go through the CORS layer;
/// the rest pass as if CORS did not exist. With a list of origins every
/// answer varies by `Origin`, so a shared cache never hands one origin's
/// answer to another.
pub async fn only_allowed_origins(State(cors): State<Cors>, request: Request, next: Next) -> Response {
    let allowed = request.headers().get(header::ORIGIN).is_some_and(|o| cors.allows(o));
    if allowed {
        return match cors.0.layer.layer(next).oneshot(request).await {
            Ok(response) => response.into_response(),
            Err(never) => match never {},
        };
    }
    let mut response = next.run(request).await;
    if matches!(&cors.0.origins, CorsOrigins::List(list) if !list.is_empty()) {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

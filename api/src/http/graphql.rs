//! GraphQL over HTTP (POST and GET, as the GraphQL-over-HTTP specification
//! describes, with Apollo's automatic persisted queries: [`super::persisted`]);
//! `GET /graphql` also leads to GraphiQL ([`super::graphiql`]) and to
//! WebSocket subscriptions ([`super::ws`]).
use std::{net::SocketAddr, sync::Arc};

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::{
    body::Bytes,
    extract::{ConnectInfo, Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use serde::Deserialize;

use super::{
    persisted,
    shape::{FieldTypes, Shapes},
};
use crate::{
    app::AppState,
    graphql::{AppSchema, Auth, ClientAddress, CurrentUser, is_request_error},
};

#[derive(Clone)]
pub struct GraphqlState {
    pub app: AppState,
    pub schema: AppSchema,
    /// The schema's field types and the documents parsed lately, to shape
    /// every response as the specification says ([`super::shape`]).
    pub shapes: Arc<Shapes>,
}

impl GraphqlState {
    pub fn new(app: AppState, schema: AppSchema) -> Self {
        let shapes = Arc::new(Shapes::new(FieldTypes::from_sdl(&schema.sdl())));
        Self { app, schema, shapes }
    }
}

/// The two response media types of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    /// `application/graphql-response+json`: status codes tell request errors.
    GraphqlResponse,
    /// `application/json`: always 200 for a GraphQL response (legacy clients).
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// Chooses the response type from `Accept`; `None` means 406.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let types: Vec<&str> = accept
        .split(',')
        .map(|part| part.split(';').next().unwrap_or("").trim())
        .collect();
    if types.contains(&"application/graphql-response+json") {
        Some(Media::GraphqlResponse)
    } else if types
        .iter()
        .any(|t| matches!(*t, "application/json" | "application/*" | "*/*"))
    {
        Some(Media::Json)
    } else {
        None
    }
}

fn problem(status: StatusCode, media: Media, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }] });
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

pub async fn post(
    State(state): State<GraphqlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !is_json {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            media,
            "send the request as application/json",
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                media,
                "the body is not a GraphQL request: expected JSON with `query`, and optionally `variables`, \
                 `operationName` and `extensions`",
            );
        }
    };
    let request = match persisted::resolve(&state.app.persisted_queries, request).await {
        Ok(request) => request,
        Err(refusal) => return refused(refusal, media),
    };
    execute(&state, peer, &headers, request, media).await
}

/// The parameters of a GET: the specification's, each a string (variables
/// and extensions as JSON), as Apollo's `HttpLink` writes them.
#[derive(Deserialize)]
struct GetParameters {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParameters {
    fn into_request(self) -> Result<async_graphql::Request, &'static str> {
        let variables = match self.variables.as_deref().map(serde_json::from_str) {
            Some(Ok(variables)) => async_graphql::Variables::from_json(variables),
            Some(Err(_)) => return Err("`variables` must be a JSON object"),
            None => async_graphql::Variables::default(),
        };
        let extensions = match self.extensions.as_deref().map(serde_json::from_str) {
            Some(Ok(extensions)) => extensions,
            Some(Err(_)) => return Err("`extensions` must be a JSON object"),
            None => async_graphql::Extensions::default(),
        };
        let mut request = async_graphql::Request::new(self.query).variables(variables);
        request.operation_name = self.operation_name;
        request.extensions = extensions;
        Ok(request)
    }
}

fn refused(refusal: persisted::Refusal, media: Media) -> Response {
    match refusal {
        persisted::Refusal::NotFound => persisted::not_found(media.content_type()),
        persisted::Refusal::Bad(why) => problem(StatusCode::BAD_REQUEST, media, why),
    }
}

pub async fn get(State(state): State<GraphqlState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let (parts, _body) = request.into_parts();
    let is_upgrade = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return super::ws::upgrade(state, peer, parts).await;
    }
    let headers = &parts.headers;
    let query = parts.uri.query().unwrap_or("");
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if query.is_empty() && wants_html {
        return super::graphiql::page(state.app.settings.graphql.introspection);
    }
    let Some(media) = negotiate(headers) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let parsed = Query::<GetParameters>::try_from_uri(&parts.uri)
        .map_err(|_| "pass the operation as ?query=…")
        .and_then(|Query(parameters)| parameters.into_request());
    let gql_request = match parsed {
        Ok(request) => request,
        Err(why) => return problem(StatusCode::BAD_REQUEST, media, why),
    };
    let gql_request = match persisted::resolve(&state.app.persisted_queries, gql_request).await {
        Ok(request) => request,
        Err(refusal) => return refused(refusal, media),
    };
    if gql_request.query.is_empty() {
        return problem(
            StatusCode::BAD_REQUEST,
            media,
            "pass the operation as ?query=… (or a persisted query's hash in ?extensions=…)",
        );
    }
    if is_mutation(&gql_request) {
        let mut response = problem(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            "mutations are only accepted with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, peer, headers, gql_request, media).await
}

/// True when the operation that would run is a mutation (GET must not change anything).
fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let ty = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| op.node.ty),
    };
    ty == Some(OperationType::Mutation)
}

async fn execute(
    state: &GraphqlState,
    peer: SocketAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
    media: Media,
) -> Response {
    let mut request = request.data(ClientAddress(Some(peer.ip())));
    request = match bearer(headers) {
        None => request.data(Auth::Anonymous),
        Some(token) => match state.app.accounts.authenticate_with_user(token).await {
            Ok((viewer, user)) => request.data(Auth::Signed(viewer)).data(CurrentUser(user)),
            Err(err) => {
                err.log();
                request.data(Auth::Invalid(err.to_string()))
            }
        },
    };
    let shape = state.shapes.of(&request);
    let mut response = state.schema.execute(request).await;
    if let Some(shape) = shape {
        shape.apply(&mut response);
    }

    let request_error = is_request_error(&response);
    let status = if request_error && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let mut json = match serde_json::to_value(&response) {
        Ok(json) => json,
        Err(err) => {
            tracing::error!(error = %err, "serializing a GraphQL response");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if request_error && let Some(object) = json.as_object_mut() {
        // The specification: a request error has no `data` entry at all.
        object.remove("data");
    }
    let body = match serde_json::to_vec(&json) {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "serializing a GraphQL response");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    strip_bearer(value)
}

/// The token of `Bearer <token>` (any case of `Bearer`).
pub(super) fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

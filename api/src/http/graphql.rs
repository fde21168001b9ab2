//! GraphQL over HTTP (POST and GET, as the GraphQL-over-HTTP specification
//! describes), GraphiQL for browsers, and WebSocket subscriptions in both
//! the `graphql-transport-ws` and the legacy `graphql-ws` protocol.
use std::net::SocketAddr;

use async_graphql::{
    Data, Value,
    http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource},
    parser::types::{DocumentOperations, OperationType},
};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequestParts as _, Request, State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

use crate::{
    app::AppState,
    graphql::{AppSchema, Auth, ClientAddress, CurrentUser},
};

#[derive(Clone)]
pub struct GraphqlState {
    pub app: AppState,
    pub schema: AppSchema,
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
                "the body is not a GraphQL request: expected JSON with `query`, and optionally `variables` and `operationName`",
            );
        }
    };
    execute(&state, peer, &headers, request, media).await
}

pub async fn get(State(state): State<GraphqlState>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        return websocket(state, request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let headers = request.headers().clone();
    let query = request.uri().query().unwrap_or("");
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if query.is_empty() && wants_html {
        return Html(graphiql_page()).into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let gql_request = match async_graphql::http::parse_query_string(query) {
        Ok(r) => r,
        Err(_) => return problem(StatusCode::BAD_REQUEST, media, "pass the operation as ?query=…"),
    };
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
    execute(&state, peer, &headers, gql_request, media).await
}

/// GraphiQL, with subscriptions over WebSocket signed in with the same
/// `Authorization` header the person typed into its Headers tab (GraphiQL
/// keeps those in local storage; the WebSocket client reads them when it
/// connects).
fn graphiql_page() -> String {
    const MARK: &str = "'authorization': '__FROM_HEADERS_TAB__',";
    const FROM_HEADERS_TAB: &str = "get authorization() { try { const h = JSON.parse(localStorage.getItem('graphiql:headers') || '{}'); return h.Authorization || h.authorization || ''; } catch (e) { return ''; } },";
    GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql")
        .ws_connection_param("authorization", "__FROM_HEADERS_TAB__")
        .title("Send Songs")
        .finish()
        .replace(MARK, FROM_HEADERS_TAB)
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
    let response = state.schema.execute(request).await;

    // A request error (nothing executed) has no data and no error paths.
    let request_error = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
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

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Subscriptions. The `connection_init` payload carries
/// `{"authorization": "Bearer …"}`; a bad token closes the connection
/// (4403), none makes an anonymous connection whose subscriptions ask to
/// sign in.
async fn websocket(state: GraphqlState, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(status) => return (status, "ask for the graphql-transport-ws or graphql-ws subprotocol").into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let GraphqlState { app, schema } = state;
    with_small_buffers(upgrade)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| async move {
            let shutdown = app.shutdown.clone();
            let connection = GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| connection_init(app, payload))
                .serve();
            tokio::select! {
                () = connection => {}
                () = shutdown.cancelled() => {}
            }
        })
}

/// The WebSocket limits for subscriptions. They carry small messages, and a
/// server holds thousands of them: the default 128 KiB buffers per
/// connection would dominate memory.
pub fn with_small_buffers(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
}

async fn connection_init(app: AppState, payload: serde_json::Value) -> async_graphql::Result<Data> {
    let header = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .filter(|value| !value.trim().is_empty());
    let auth = match header {
        None => Auth::Anonymous,
        Some(value) => {
            let token = strip_bearer(value).unwrap_or(value);
            match app.accounts.authenticate(token).await {
                Ok(viewer) => Auth::Signed(viewer),
                Err(err) => return Err(async_graphql::Error::new(err.to_string())),
            }
        }
    };
    let mut data = Data::default();
    data.insert(auth);
    Ok(data)
}

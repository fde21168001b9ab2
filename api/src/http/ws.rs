//! GraphQL over WebSocket: `graphql-transport-ws` (the protocol of the
//! `graphql-ws` library, PROTOCOL.md) and the legacy `graphql-ws` of
//! subscriptions-transport-ws.
//!
//! async-graphql executes every operation
//! ([`Schema::execute_stream_with_session_data`](async_graphql::Schema)) and
//! names the subprotocols; this module runs the socket around it. The
//! connection loop async-graphql ships (7.2) lets a second `subscribe` with
//! a running id replace the first, never times out a silent socket, closes
//! with 1002 or 1011 where the protocol names 4400, 4401 and 4403 (stock
//! clients treat 1002 as fatal and stop retrying), and sends no keep-alive.
//!
//! | rule | graphql-transport-ws | legacy graphql-ws |
//! |---|---|---|
//! | no `connection_init` within `WS_INIT_TIMEOUT` | close 4408 | `connection_error`, close 4408 |
//! | a message before the ack other than `connection_init`, `ping` or `pong` (which the protocol allows at any time) | close 4401 | a `start` or `stop` before `connection_init`: `connection_error`, close 4401 |
//! | `start` after `connection_init`, before the ack (subscriptions-transport-ws clients do not wait for it) | — | runs once the token is accepted |
//! | `connection_terminate` | — | close 1000, before the ack too |
//! | a missing, invalid or expired token in `connection_init` | close 4403 | `connection_error`, close 4403 |
//! | a second `connection_init` | close 4429 | `connection_error`, close 4429 |
//! | a malformed message | close 4400 | `connection_error`, the socket stays open |
//! | `subscribe`/`start` with the id of a running operation | close 4409 | `error` for that id; the first keeps running |
//! | an operation refused before running (parse, validation) | `error` with the errors, no `complete` | `data` with the errors, then `complete` |
//! | the operation ends | `complete` | `complete` |
//! | the client's `complete` / `stop` | the operation stops, nothing more is sent for it | the operation stops, then `complete` |
//! | keep-alive, every `WS_KEEPALIVE_INTERVAL` | `ping` (the client answers `pong`); a client's `ping` gets `pong` | `ka`, also right after the ack |
//! | the session ends (log-out, revoked, logged out everywhere, account deleted) or its access token expires | running queries and mutations answered, `error` (`UNAUTHENTICATED`) for each subscription, close 4403 | the same, `connection_error`, close 4403 |
//! | the server stops | close 1001 | close 1001 |
//!
//! A session's end reaches the socket as an event, on whichever replica it
//! is ([`session`]); the socket closes at once, so the client reconnects
//! with a fresh token from its `connectionParams`.
//!
//! Auth needs no origin check here: the token travels in `connection_init`,
//! never in a cookie a foreign page could ride on.
use std::{
    net::SocketAddr,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use async_graphql::{
    Data, Response, ServerError,
    futures_util::future::BoxFuture,
    http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols as Protocols},
};
use axum::{
    extract::{
        FromRequestParts as _,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response as HttpResponse},
};
use futures_util::{
    StreamExt as _,
    future::poll_fn,
    stream::{self, BoxStream},
};

use super::{
    graphql::GraphqlState,
    shape::{ResponseShape, Shapes},
};
use crate::{
    app::{App, AppState},
    graphql::{AppSchema, Auth, ClientAddress, is_request_error},
};

mod messages;
mod session;

use messages::{ClientMessage, ServerMessage, truncate};
use session::{Ended, Session};

/// Answers a WebSocket upgrade on `/graphql`.
pub async fn upgrade(state: GraphqlState, peer: SocketAddr, mut parts: Parts) -> HttpResponse {
    let offered = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(protocol) = offered.split(',').find_map(|p| p.trim().parse::<Protocols>().ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            "ask for the graphql-transport-ws or graphql-ws subprotocol",
        )
            .into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => with_small_buffers(upgrade),
        Err(rejection) => return rejection.into_response(),
    };
    let connections = state.app.websockets.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| connections.track_future(serve(socket, protocol, state, peer)))
}

/// How long shutdown waits for the sockets to send their close frames; a
/// client that reads nothing must not hold the process.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// At shutdown, once the server stopped taking connections: waits until
/// every WebSocket has been closed with 1001 (each sees
/// [`App::shutdown`](crate::App) cancelled), so none is cut off without a
/// close frame when the process ends.
pub async fn closed(app: &App) {
    app.websockets.close();
    if tokio::time::timeout(CLOSE_WAIT, app.websockets.wait()).await.is_err() {
        tracing::warn!(
            open = app.websockets.len(),
            "WebSockets still closing after {CLOSE_WAIT:?}; ending them"
        );
    }
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

/// How long queries and mutations already running when the session ends
/// may take to be answered before the socket closes without them.
const ANSWER_GRACE: Duration = Duration::from_secs(5);

/// Why a connection ends early: the close code and reason.
struct Fatal(u16, String);

impl Fatal {
    fn unauthorized() -> Self {
        Self(4401, "Unauthorized".into())
    }
}

/// What one read from the socket brought.
enum Incoming {
    Message(ClientMessage),
    /// A frame that needs no answer here.
    Nothing,
    /// The client closed the socket or the connection broke.
    Gone,
}

/// What an operation produced: its id, then a response (`true` for its
/// first), or `None` once it has ended.
type OperationEvent = (String, Option<(bool, Response)>);

/// One running operation.
struct Operation {
    id: String,
    /// A query or mutation, not a subscription: when the session ends it
    /// is answered before the socket closes.
    answering: bool,
    /// What async-graphql answers, in its order.
    responses: BoxStream<'static, Response>,
    /// How each response is put in the specification's order.
    shape: Option<ResponseShape>,
    /// Whether a response has gone out.
    answered: bool,
}

/// The running operations of one socket. A socket runs one or a few, so
/// each wake polls them in turn from a rotating start, as async-graphql's
/// own connection loop does: no task, waker or abort handle per
/// operation. Dropping one silences it at once.
#[derive(Default)]
struct Operations {
    running: Vec<Operation>,
    /// Where the next turn starts, so that a busy operation cannot starve
    /// the others.
    next: usize,
}

impl Operations {
    fn contains(&self, id: &str) -> bool {
        self.running.iter().any(|operation| operation.id == id)
    }

    /// Stops `id`; `false` when nothing ran under it.
    fn remove(&mut self, id: &str) -> bool {
        let before = self.running.len();
        self.running.retain(|operation| operation.id != id);
        self.running.len() < before
    }

    fn answering(&self) -> bool {
        self.running.iter().any(|operation| operation.answering)
    }

    /// What the next operation to be ready produced; pending while none
    /// runs.
    async fn next(&mut self) -> OperationEvent {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<OperationEvent> {
        let count = self.running.len();
        for turn in 0..count {
            let index = (self.next + turn) % count;
            let operation = &mut self.running[index];
            match operation.responses.poll_next_unpin(cx) {
                Poll::Ready(Some(mut response)) => {
                    if let Some(shape) = &operation.shape {
                        shape.apply(&mut response);
                    }
                    let first = !std::mem::replace(&mut operation.answered, true);
                    self.next = index + 1;
                    return Poll::Ready((operation.id.clone(), Some((first, response))));
                }
                Poll::Ready(None) => {
                    let ended = self.running.swap_remove(index);
                    self.next = index;
                    return Poll::Ready((ended.id, None));
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}

/// One socket, from upgrade to close.
struct Connection {
    socket: WebSocket,
    protocol: Protocols,
    operations: Operations,
    /// The schema's field types and the documents parsed lately, to shape
    /// each response.
    shapes: Arc<Shapes>,
}

async fn serve(socket: WebSocket, protocol: Protocols, state: GraphqlState, peer: SocketAddr) {
    let GraphqlState { app, schema, shapes } = state;
    let mut connection = Connection {
        socket,
        protocol,
        operations: Operations::default(),
        shapes,
    };
    let shutdown = app.shutdown.clone();
    let ended = tokio::select! {
        ended = connection.run(&app, &schema, peer) => ended,
        () = shutdown.cancelled() => Err(Fatal(1001, "the server is shutting down".into())),
    };
    if let Err(Fatal(code, reason)) = ended {
        connection.close(code, &reason).await;
    }
}

impl Connection {
    fn legacy(&self) -> bool {
        self.protocol == Protocols::SubscriptionsTransportWS
    }

    /// `Ok` when the client left; `Err` says how to close the socket.
    async fn run(&mut self, app: &AppState, schema: &AppSchema, peer: SocketAddr) -> Result<(), Fatal> {
        let Some(session) = self.handshake(app).await? else {
            return Ok(());
        };
        let mut data = Data::default();
        data.insert(Auth::Signed(session.viewer));
        data.insert(ClientAddress(Some(peer.ip())));
        let data = Arc::new(data);

        self.send(&ServerMessage::bare("connection_ack")).await?;
        let every = app.settings.graphql.ws_keepalive_interval;
        let first_beat = if self.legacy() { Duration::ZERO } else { every };
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + first_beat, every);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let expired = app.clock.sleep_until(session.until);
        tokio::pin!(expired);
        let mut ends = Box::pin(session.ends(app).fuse());
        // A stream, not `changed()` asked afresh on each turn of the loop:
        // the loop turns once per event sent, and each fresh `changed()`
        // would join and leave the wait list every socket shares.
        let mut gaps = Box::pin(
            stream::unfold(app.events.gaps(), |mut gaps| async move {
                gaps.changed().await.ok()?;
                Some(((), gaps))
            })
            .fuse(),
        );
        loop {
            tokio::select! {
                // What an operation produced goes out before the session's
                // end is looked at: `logOut` sent over this socket gets its
                // answer, then the socket closes.
                biased;
                frame = self.socket.recv() => {
                    let message = match self.read(frame).await? {
                        Incoming::Message(message) => message,
                        Incoming::Nothing => continue,
                        Incoming::Gone => return Ok(()),
                    };
                    match message {
                        ClientMessage::Subscribe { id, request } => {
                            if let Err(ended) = session.check(app).await {
                                return Err(self.end(ended, Some(id)).await);
                            }
                            self.start(schema, &data, id, *request).await?;
                        }
                        ClientMessage::Complete { id } => self.stop(&id).await?,
                        ClientMessage::Init(_) => return Err(Fatal(4429, "Too many initialisation requests".into())),
                        ClientMessage::Ping => self.send(&ServerMessage::bare("pong")).await?,
                        ClientMessage::Pong => {}
                        ClientMessage::Terminate => return Err(Fatal(1000, String::new())),
                    }
                }
                (id, event) = self.operations.next() => self.deliver(id, event).await?,
                Some(_) = ends.next() => {
                    if let Err(ended) = session.check(app).await {
                        return Err(self.end(ended, None).await);
                    }
                }
                Some(()) = gaps.next() => {
                    if let Err(ended) = session.check_afresh(app).await {
                        return Err(self.end(ended, None).await);
                    }
                }
                () = &mut expired => {
                    let ended = session.check(app).await.err().unwrap_or_else(Ended::expired);
                    return Err(self.end(ended, None).await);
                }
                _ = keepalive.tick() => {
                    let beat = if self.legacy() { "ka" } else { "ping" };
                    self.send(&ServerMessage::bare(beat)).await?;
                }
            }
        }
    }

    /// Waits for `connection_init` and checks its token, answering `ping`
    /// meanwhile; `None` when the client left first.
    ///
    /// A legacy client sends its `start`s right behind `connection_init`
    /// without waiting for the ack (subscriptions-transport-ws's client:
    /// "no need to wait for connection to success"), so while its token is
    /// checked nothing more is read: what it sent waits in the socket and
    /// runs in order once the ack is out (or is dropped with the socket
    /// when the token is refused, and the client sends it again on its
    /// next connection).
    async fn handshake(&mut self, app: &AppState) -> Result<Option<Session>, Fatal> {
        let deadline = tokio::time::sleep(app.settings.graphql.ws_init_timeout);
        tokio::pin!(deadline);
        let mut checking: Option<BoxFuture<'static, Result<Session, Fatal>>> = None;
        loop {
            tokio::select! {
                () = &mut deadline, if checking.is_none() => {
                    return Err(Fatal(4408, "Connection initialisation timeout".into()));
                }
                checked = async { checking.as_mut().expect("guarded").await }, if checking.is_some() => {
                    return checked.map(Some);
                }
                frame = self.socket.recv(), if checking.is_none() || !self.legacy() => {
                    let message = match self.read(frame).await? {
                        Incoming::Message(message) => message,
                        Incoming::Nothing => continue,
                        Incoming::Gone => return Ok(None),
                    };
                    match message {
                        ClientMessage::Init(_) if checking.is_some() => {
                            return Err(Fatal(4429, "Too many initialisation requests".into()));
                        }
                        ClientMessage::Init(payload) => checking = Some(Box::pin(Session::open(app.clone(), payload))),
                        ClientMessage::Ping => self.send(&ServerMessage::bare("pong")).await?,
                        // "Can be sent at any time", unsolicited too (PROTOCOL.md).
                        ClientMessage::Pong => {}
                        ClientMessage::Terminate => return Err(Fatal(1000, String::new())),
                        ClientMessage::Subscribe { .. } | ClientMessage::Complete { .. } => {
                            return Err(Fatal::unauthorized());
                        }
                    }
                }
            }
        }
    }

    /// One frame from the socket. A malformed message ends a
    /// graphql-transport-ws connection (4400); a legacy client gets a
    /// `connection_error` for it and the socket stays open.
    async fn read(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<Incoming, Fatal> {
        let parsed = match frame {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(Incoming::Gone),
            // Transport-level ping/pong: axum answers pings itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Ok(Incoming::Nothing),
            Some(Ok(Message::Binary(_))) => Err("Invalid message: expected text frames".to_owned()),
            Some(Ok(Message::Text(text))) => messages::parse(self.protocol, &text),
        };
        match parsed {
            Ok(message) => Ok(Incoming::Message(message)),
            Err(why) if self.legacy() => {
                self.send(&ServerMessage::connection_error(&why)).await?;
                Ok(Incoming::Nothing)
            }
            Err(why) => Err(Fatal(4400, why)),
        }
    }

    /// Starts an operation under `id`, unless one is running under it.
    async fn start(
        &mut self,
        schema: &AppSchema,
        data: &Arc<Data>,
        id: String,
        request: async_graphql::Request,
    ) -> Result<(), Fatal> {
        if self.operations.contains(&id) {
            let reason = format!("Subscriber for {} already exists", truncate(&id, 80));
            if !self.legacy() {
                return Err(Fatal(4409, reason));
            }
            let error = ServerError::new(reason, None);
            return self.send(&ServerMessage::about(&id, "error", error)).await;
        }
        let shape = self.shapes.of(&request);
        self.operations.running.push(Operation {
            id,
            answering: !shape.as_ref().is_some_and(ResponseShape::is_subscription),
            responses: schema.execute_stream_with_session_data(request, data.clone()),
            shape,
            answered: false,
        });
        Ok(())
    }

    /// The client stops listening to `id`.
    async fn stop(&mut self, id: &str) -> Result<(), Fatal> {
        if self.operations.remove(id) && self.legacy() {
            self.send(&ServerMessage::complete(id)).await?;
        }
        Ok(())
    }

    /// Sends what an operation produced.
    async fn deliver(&mut self, id: String, event: Option<(bool, Response)>) -> Result<(), Fatal> {
        match event {
            Some((first, response)) if first && !self.legacy() && is_request_error(&response) => {
                // Refused before running: `error`, and no `complete` after it.
                self.operations.remove(&id);
                self.send(&ServerMessage::about(&id, "error", &response.errors)).await
            }
            Some((_, response)) => {
                let kind = if self.legacy() { "data" } else { "next" };
                self.send(&ServerMessage::about(&id, kind, &response)).await
            }
            None => self.send(&ServerMessage::complete(&id)).await,
        }
    }

    /// The session ended: queries and mutations already running are
    /// answered first (for up to [`ANSWER_GRACE`]: `logOut` sent over this
    /// socket learns it succeeded), each subscription (and `refused`, the
    /// operation just asked for) gets an `error` saying why; then the
    /// socket closes with 4403.
    async fn end(&mut self, ended: Ended, refused: Option<String>) -> Fatal {
        let error = ended.error();
        let mut ids = Vec::new();
        self.operations.running.retain_mut(|operation| {
            if !operation.answering {
                ids.push(std::mem::take(&mut operation.id));
            }
            operation.answering
        });
        let grace = tokio::time::sleep(ANSWER_GRACE);
        tokio::pin!(grace);
        while self.operations.answering() {
            let (id, event) = tokio::select! {
                next = self.operations.next() => next,
                () = &mut grace => break,
            };
            if let Err(gone) = self.deliver(id, event).await {
                return gone;
            }
        }
        // What the grace did not see finish.
        ids.extend(self.operations.running.drain(..).map(|operation| operation.id));
        ids.extend(refused);
        for id in &ids {
            let sent = if self.legacy() {
                self.send(&ServerMessage::about(id, "error", &error)).await
            } else {
                self.send(&ServerMessage::about(id, "error", [&error])).await
            };
            if sent.is_err() {
                break;
            }
        }
        Fatal(4403, format!("Forbidden: {}", ended.0))
    }

    async fn send<P: serde::Serialize>(&mut self, message: &ServerMessage<'_, P>) -> Result<(), Fatal> {
        self.socket
            .send(Message::text(message.to_text()))
            .await
            // The client is gone: nothing left to close.
            .map_err(|_| Fatal(1006, String::new()))
    }

    /// Closes with `code` (legacy clients read the reason in a
    /// `connection_error` first: they do not look at close codes).
    async fn close(&mut self, code: u16, reason: &str) {
        if code == 1006 {
            return;
        }
        if self.legacy() && code >= 4000 {
            let _ = self.send(&ServerMessage::connection_error(reason)).await;
        }
        let frame = CloseFrame {
            code,
            reason: truncate(reason, 123).into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Value;
    use futures_util::FutureExt as _;

    use super::*;

    fn operation(id: &str, responses: Vec<i32>) -> Operation {
        Operation {
            id: id.into(),
            answering: false,
            responses: stream::iter(responses.into_iter().map(|n| Response::new(Value::from(n))))
                .chain(stream::pending())
                .boxed(),
            shape: None,
            answered: false,
        }
    }

    fn heard(operations: &mut Operations) -> Vec<(String, bool, Value)> {
        std::iter::from_fn(|| operations.next().now_or_never())
            .map(|(id, event)| {
                let (first, response) = event.expect("running");
                (id, first, response.data)
            })
            .collect()
    }

    #[test]
    fn operations_take_turns_and_each_first_response_is_marked() {
        let mut operations = Operations::default();
        operations.running.push(operation("busy", vec![1, 2, 3]));
        operations.running.push(operation("quiet", vec![10]));
        let heard = heard(&mut operations);
        let order: Vec<(&str, bool)> = heard.iter().map(|(id, first, _)| (id.as_str(), *first)).collect();
        assert_eq!(
            order,
            [("busy", true), ("quiet", true), ("busy", false), ("busy", false)]
        );
        assert_eq!(heard[3].2, Value::from(3));
    }

    #[test]
    fn an_operation_that_ends_is_said_once_and_let_go() {
        let mut operations = Operations::default();
        operations.running.push(Operation {
            responses: stream::iter([Response::new(Value::from(1))]).boxed(),
            ..operation("once", Vec::new())
        });
        operations.running.push(operation("stays", Vec::new()));
        assert!(matches!(operations.next().now_or_never(), Some((id, Some((true, _)))) if id == "once"));
        assert!(matches!(operations.next().now_or_never(), Some((id, None)) if id == "once"));
        assert!(operations.next().now_or_never().is_none());
        assert!(!operations.contains("once") && operations.contains("stays"));
        assert!(operations.remove("stays") && !operations.remove("stays"));
    }
}

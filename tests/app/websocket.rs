//! The WebSocket protocols' rules, over a raw socket: `graphql-transport-ws`
//! (close codes 4400, 4401, 4403, 4408, 4409, 4429; ping and pong; complete
//! from either side) and the legacy `graphql-ws` (`connection_error`, `ka`).
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue},
};

use crate::helpers::{Session, TestApp, relog, spawn_app, spawn_app_with};

const CURRENT: &str = "graphql-transport-ws";
const LEGACY: &str = "graphql-ws";
const CHANGED: &str = "subscription { friendshipChanged { status user { handle } } }";
const ADD: &str = "mutation($h: String!) { addFriend(handle: $h) { status } }";
const LOG_OUT: &str = "mutation($t: String!) { logOut(refreshToken: $t) }";

/// A WebSocket on `/graphql` that the test drives message by message.
struct Raw {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    async fn open(app: &TestApp, protocol: &'static str) -> Self {
        let mut request = format!("ws://127.0.0.1:{}/graphql", app.port)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
        let (socket, response) = tokio_tungstenite::connect_async(request).await.expect("socket opens");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        Self { socket }
    }

    /// Open, `connection_init` with `token`, and the ack (and, legacy, its `ka`).
    async fn signed_in(app: &TestApp, protocol: &'static str, token: &str) -> Self {
        let mut raw = Self::open(app, protocol).await;
        raw.send(init(Some(token))).await;
        assert_eq!(raw.next().await["type"], "connection_ack");
        raw
    }

    async fn send(&mut self, message: Value) {
        self.send_text(&message.to_string()).await;
    }

    /// Sends `messages` in one write, as a client that does not wait
    /// between them.
    async fn send_together(&mut self, messages: &[Value]) {
        for message in messages {
            self.socket
                .feed(Message::text(message.to_string()))
                .await
                .expect("queued");
        }
        self.socket.flush().await.expect("sent");
    }

    async fn send_text(&mut self, text: &str) {
        self.socket.send(Message::text(text)).await.expect("sent");
    }

    /// The next text message, keep-alives included; panics on close or after 5 s.
    async fn next_any(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("a message within 5 s");
            match message {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Close(frame))) => panic!("closed: {frame:?}"),
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
    }

    /// The next text message that is not a keep-alive (`ka`, `ping`).
    async fn next(&mut self) -> Value {
        loop {
            let message = self.next_any().await;
            if message["type"] != "ka" && message["type"] != "ping" {
                return message;
            }
        }
    }

    /// The next message other than a keep-alive, if one comes within `wait`.
    async fn within(&mut self, wait: Duration) -> Option<Value> {
        tokio::time::timeout(wait, self.next()).await.ok()
    }

    /// Waits for the server to close; answers the code, the reason, and
    /// the text messages that came before.
    async fn closed(&mut self) -> (u16, String, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("closed within 5 s");
            match message {
                Some(Ok(Message::Text(text))) => before.push(serde_json::from_str(&text).unwrap()),
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string(), before);
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new(), before),
                Some(Ok(_)) => {}
                other => panic!("no close frame: {other:?}"),
            }
        }
    }

    /// The close code, after any keep-alives.
    async fn close_code(&mut self) -> u16 {
        let (code, reason, before) = self.closed().await;
        let unexpected: Vec<&Value> = before
            .iter()
            .filter(|m| m["type"] != "ka" && m["type"] != "ping")
            .collect();
        assert!(unexpected.is_empty(), "{code} {reason} after {unexpected:?}");
        code
    }
}

fn init(token: Option<&str>) -> Value {
    match token {
        Some(token) => json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
        None => json!({ "type": "connection_init" }),
    }
}

fn subscribe(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } })
}

fn start(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "start", "payload": { "query": query } })
}

/// Sam asks Alex to be friends: Alex's `friendshipChanged` fires.
async fn trigger(app: &TestApp, sam: &Session) {
    let body = app.graphql(ADD, json!({ "h": "alex" }), Some(&sam.access)).await;
    assert_eq!(body["data"]["addFriend"]["status"], "REQUESTED", "{body}");
}

async fn sam_and_alex(app: &TestApp) -> (Session, Session) {
    (app.sign_up("sam").await, app.sign_up("alex").await)
}

#[tokio::test]
async fn a_second_subscribe_with_a_running_id_closes_with_4409() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut ws = Raw::signed_in(&app, CURRENT, &sam.access).await;

    ws.send(subscribe("a", CHANGED)).await;
    ws.send(subscribe("a", CHANGED)).await;

    let (code, reason, _) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4409, "Subscriber for a already exists"));
}

#[tokio::test]
async fn a_socket_that_never_sends_connection_init_is_closed_with_4408() {
    let app = spawn_app_with(&[("WS_INIT_TIMEOUT", "300ms")]).await;
    let mut ws = Raw::open(&app, CURRENT).await;

    // A ping is answered, but it is not a connection_init.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await, json!({ "type": "pong" }));

    assert_eq!(ws.close_code().await, 4408);
}

#[tokio::test]
async fn an_operation_message_before_the_ack_closes_with_4401() {
    let app = spawn_app().await;
    for early in [subscribe("1", CHANGED), json!({ "id": "1", "type": "complete" })] {
        let mut ws = Raw::open(&app, CURRENT).await;
        ws.send(early.clone()).await;
        assert_eq!(ws.close_code().await, 4401, "{early}");
    }
}

/// PROTOCOL.md: a `pong` "can be sent at any time", even unsolicited, and
/// so can a `ping`: before `connection_init`, and while it is checked.
#[tokio::test]
async fn ping_and_pong_before_the_ack_are_welcome() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut ws = Raw::open(&app, CURRENT).await;

    ws.send(json!({ "type": "pong" })).await;
    ws.send(json!({ "type": "pong", "payload": { "at": 1 } })).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await, json!({ "type": "pong" }), "still open");
    ws.send_together(&[
        init(Some(&sam.access)),
        json!({ "type": "pong" }),
        json!({ "type": "ping" }),
    ])
    .await;

    let mut answers = vec![ws.next().await, ws.next().await];
    answers.sort_by_key(|m| m["type"].as_str().map(str::to_owned));
    assert_eq!(
        answers,
        [json!({ "type": "connection_ack" }), json!({ "type": "pong" })]
    );
    ws.send(subscribe("q", "{ me { handle } }")).await;
    assert_eq!(ws.next().await["payload"]["data"]["me"]["handle"], "sam");
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut ws = Raw::signed_in(&app, CURRENT, &sam.access).await;

    ws.send(init(Some(&sam.access))).await;

    assert_eq!(ws.close_code().await, 4429);
}

#[tokio::test]
async fn malformed_messages_close_with_4400() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let malformed = [
        "not json".to_owned(),
        json!({ "type": "hello" }).to_string(),
        json!({ "type": "subscribe", "payload": { "query": CHANGED } }).to_string(),
        json!({ "type": "subscribe", "id": "1" }).to_string(),
        json!({ "type": "subscribe", "id": "1", "payload": { "query": ["not", "text"] } }).to_string(),
        // The legacy protocol's word is not this one's.
        start("1", CHANGED).to_string(),
    ];
    for text in &malformed {
        let mut ws = Raw::signed_in(&app, CURRENT, &sam.access).await;
        ws.send_text(text).await;
        let (code, reason, _) = ws.closed().await;
        assert_eq!(code, 4400, "{text}: {reason}");
        assert!(reason.starts_with("Invalid message"), "{reason}");
    }
    // Before the ack too, and binary frames.
    let mut ws = Raw::open(&app, CURRENT).await;
    ws.send_text("{").await;
    assert_eq!(ws.close_code().await, 4400);
    let mut ws = Raw::signed_in(&app, CURRENT, &sam.access).await;
    ws.socket.send(Message::binary(b"{}".to_vec())).await.unwrap();
    assert_eq!(ws.close_code().await, 4400);
}

#[tokio::test]
async fn ping_and_pong_go_both_ways() {
    let app = spawn_app_with(&[("WS_KEEPALIVE_INTERVAL", "200ms")]).await;
    let (sam, alex) = sam_and_alex(&app).await;
    let mut ws = Raw::signed_in(&app, CURRENT, &alex.access).await;

    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next_any().await, json!({ "type": "pong" }));
    // The server pings at the keep-alive interval; the client answers.
    assert_eq!(ws.next_any().await, json!({ "type": "ping" }));
    ws.send(json!({ "type": "pong" })).await;
    assert_eq!(ws.next_any().await, json!({ "type": "ping" }));

    ws.send(subscribe("s", CHANGED)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    trigger(&app, &sam).await;
    let event = ws.next().await;
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(event["payload"]["data"]["friendshipChanged"]["status"], "INCOMING");
}

#[tokio::test]
async fn the_clients_complete_stops_a_subscription_and_frees_its_id() {
    let app = spawn_app().await;
    let (sam, alex) = sam_and_alex(&app).await;
    let kim = app.sign_up("kim").await;
    let mut ws = Raw::signed_in(&app, CURRENT, &alex.access).await;
    ws.send(subscribe("s", CHANGED)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    ws.send(json!({ "id": "s", "type": "complete" })).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    trigger(&app, &sam).await;

    assert_eq!(
        ws.within(Duration::from_millis(500)).await,
        None,
        "nothing after complete"
    );
    // The id is free again (no 4409), and events flow under it.
    ws.send(subscribe("s", CHANGED)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    trigger(&app, &kim).await;
    let event = ws.next().await;
    assert_eq!(
        (event["type"].as_str(), event["id"].as_str()),
        (Some("next"), Some("s")),
        "{event}"
    );
    assert_eq!(event["payload"]["data"]["friendshipChanged"]["user"]["handle"], "kim");
}

#[tokio::test]
async fn the_server_completes_what_ends_and_answers_refused_operations_with_error() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut ws = Raw::signed_in(&app, CURRENT, &sam.access).await;

    // A query runs once: next, then complete; its id can be used again.
    for _ in 0..2 {
        ws.send(subscribe("q", "{ me { handle } }")).await;
        let next = ws.next().await;
        assert_eq!(
            next,
            json!({ "type": "next", "id": "q", "payload": { "data": { "me": { "handle": "sam" } } } })
        );
        assert_eq!(ws.next().await, json!({ "type": "complete", "id": "q" }));
    }

    // Refused before running: `error` with the errors, and no complete.
    ws.send(subscribe("bad", "subscription { noSuchField }")).await;
    let error = ws.next().await;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("bad")),
        "{error}"
    );
    assert_eq!(error["payload"][0]["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await, json!({ "type": "pong" }), "no complete after an error");
}

#[tokio::test]
async fn connection_init_without_a_valid_token_closes_with_4403() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let logged_out = app.sign_up("kim").await;
    app.graphql(LOG_OUT, json!({ "t": logged_out.refresh }), None).await;
    let expiring = app.sign_up("alex").await;
    let refused = async |message: Value| {
        let mut ws = Raw::open(&app, CURRENT).await;
        ws.send(message).await;
        let (code, reason, _) = ws.closed().await;
        assert_eq!(code, 4403, "{reason}");
        reason
    };

    for (message, why) in [
        (json!({ "type": "connection_init", "payload": {} }), "authorization"),
        (
            json!({ "type": "connection_init", "payload": { "authorization": " " } }),
            "authorization",
        ),
        (init(Some("not-a-token")), "not valid"),
        (init(Some(&logged_out.access)), "ended"),
    ] {
        let reason = refused(message.clone()).await;
        assert!(
            reason.starts_with("Forbidden: ") && reason.contains(why),
            "{message}: {reason}"
        );
    }
    app.advance(Duration::from_secs(16 * 60));
    let reason = refused(init(Some(&expiring.access))).await;
    assert!(reason.contains("expired"), "{reason}");

    let fresh = relog(&app, &sam).await;
    // A fresh token is welcome.
    Raw::signed_in(&app, CURRENT, &fresh).await;
}

#[tokio::test]
async fn legacy_sockets_get_ka_after_the_ack_and_at_the_interval() {
    let app = spawn_app_with(&[("WS_KEEPALIVE_INTERVAL", "200ms")]).await;
    let sam = app.sign_up("sam").await;
    let mut ws = Raw::open(&app, LEGACY).await;
    ws.send(init(Some(&sam.access))).await;

    assert_eq!(ws.next_any().await, json!({ "type": "connection_ack" }));
    assert_eq!(ws.next_any().await, json!({ "type": "ka" }));
    assert_eq!(ws.next_any().await, json!({ "type": "ka" }));
}

/// Opens a legacy socket, sends `messages`, and checks it is refused the
/// legacy way: a `connection_error` carrying the reason, then the close
/// with `expected`. Answers the reason.
async fn legacy_refused(app: &TestApp, case: &str, messages: Vec<Value>, expected: u16) -> String {
    let mut ws = Raw::open(app, LEGACY).await;
    for message in messages {
        ws.send(message).await;
    }
    let (code, reason, before) = ws.closed().await;
    assert_eq!(code, expected, "{case}: {reason}");
    let errors: Vec<&Value> = before
        .iter()
        .filter(|m| m["type"] != "ka" && m["type"] != "connection_ack")
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "{case}: one connection_error, nothing else: {before:?}"
    );
    assert_eq!(errors[0]["type"], "connection_error", "{case}: {before:?}");
    assert_eq!(errors[0]["payload"]["message"], reason.as_str(), "{case}");
    reason
}

#[tokio::test]
async fn legacy_refusals_say_connection_error_then_close() {
    let app = spawn_app_with(&[("WS_INIT_TIMEOUT", "300ms")]).await;
    let sam = app.sign_up("sam").await;
    let cases: [(&str, Vec<Value>, u16); 5] = [
        ("no token", vec![init(None)], 4403),
        ("start first", vec![start("1", CHANGED)], 4401),
        ("stop first", vec![json!({ "id": "1", "type": "stop" })], 4401),
        (
            "init twice",
            vec![init(Some(&sam.access)), init(Some(&sam.access))],
            4429,
        ),
        ("silence", vec![], 4408),
    ];
    for (case, messages, expected) in cases {
        legacy_refused(&app, case, messages, expected).await;
    }
}

/// Like the missing token: an invalid, an ended or an expired one is a
/// `connection_error` and 4403, and a `start` sent behind it never runs.
#[tokio::test]
async fn legacy_connection_init_with_an_invalid_or_expired_token_is_refused() {
    let app = spawn_app().await;
    let logged_out = app.sign_up("kim").await;
    app.graphql(LOG_OUT, json!({ "t": logged_out.refresh }), None).await;
    let expiring = app.sign_up("alex").await;

    for (case, token, why) in [
        ("invalid", "not-a-token", "not valid"),
        ("logged out", logged_out.access.as_str(), "ended"),
    ] {
        let messages = vec![init(Some(token)), start("1", "{ me { handle } }")];
        let reason = legacy_refused(&app, case, messages, 4403).await;
        assert!(
            reason.starts_with("Forbidden: ") && reason.contains(why),
            "{case}: {reason}"
        );
    }
    app.advance(Duration::from_secs(16 * 60));
    let messages = vec![init(Some(&expiring.access)), start("1", "{ me { handle } }")];
    let reason = legacy_refused(&app, "expired", messages, 4403).await;
    assert!(reason.contains("expired"), "{reason}");

    // A fresh token is welcome.
    let fresh = relog(&app, &expiring).await;
    Raw::signed_in(&app, LEGACY, &fresh).await;
}

/// subscriptions-transport-ws's client sends its `start`s right behind
/// `connection_init`, without waiting for the ack: they run once the token
/// is accepted. (Several sockets: however soon the token check ends.)
#[tokio::test]
async fn legacy_starts_sent_before_the_ack_run_after_it() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    for _ in 0..6 {
        let mut ws = Raw::open(&app, LEGACY).await;

        ws.send_together(&[
            init(Some(&sam.access)),
            start("1", "{ me { handle } }"),
            start("2", "{ me { displayName } }"),
        ])
        .await;

        assert_eq!(ws.next().await, json!({ "type": "connection_ack" }));
        let mut seen = Vec::new();
        while seen.len() < 4 {
            seen.push(ws.next().await);
        }
        let of = |id: &str| -> Vec<&Value> { seen.iter().filter(|m| m["id"] == id).collect() };
        assert_eq!(
            of("1"),
            [
                &json!({ "type": "data", "id": "1", "payload": { "data": { "me": { "handle": "sam" } } } }),
                &json!({ "type": "complete", "id": "1" })
            ],
            "{seen:?}"
        );
        assert_eq!(of("2")[0]["payload"]["data"]["me"]["displayName"], "sam", "{seen:?}");
    }
}

#[tokio::test]
async fn legacy_connection_terminate_before_the_ack_closes_like_after_it() {
    let app = spawn_app().await;
    let mut ws = Raw::open(&app, LEGACY).await;

    ws.send(json!({ "type": "connection_terminate" })).await;

    assert_eq!(ws.close_code().await, 1000);
}

#[tokio::test]
async fn legacy_malformed_messages_get_connection_error_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let (sam, alex) = sam_and_alex(&app).await;
    let mut ws = Raw::signed_in(&app, LEGACY, &alex.access).await;

    ws.send_text("not json").await;
    let error = ws.next().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    ws.send(subscribe("1", CHANGED)).await;
    assert_eq!(ws.next().await["type"], "connection_error", "`subscribe` is not legacy");

    ws.send(start("1", CHANGED)).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    trigger(&app, &sam).await;
    let data = ws.next().await;
    assert_eq!(
        (data["type"].as_str(), data["id"].as_str()),
        (Some("data"), Some("1")),
        "{data}"
    );
}

#[tokio::test]
async fn legacy_duplicate_ids_get_an_error_and_the_first_keeps_running() {
    let app = spawn_app().await;
    let (sam, alex) = sam_and_alex(&app).await;
    let mut ws = Raw::signed_in(&app, LEGACY, &alex.access).await;
    ws.send(start("1", CHANGED)).await;

    ws.send(start("1", CHANGED)).await;

    let error = ws.next().await;
    assert_eq!(
        (error["type"].as_str(), error["id"].as_str()),
        (Some("error"), Some("1")),
        "{error}"
    );
    assert_eq!(error["payload"]["message"], "Subscriber for 1 already exists");
    trigger(&app, &sam).await;
    let data = ws.next().await;
    assert_eq!(
        data["payload"]["data"]["friendshipChanged"]["status"], "INCOMING",
        "{data}"
    );
    assert_eq!(
        ws.within(Duration::from_millis(300)).await,
        None,
        "one subscription, one event"
    );
}

#[tokio::test]
async fn legacy_stop_completes_and_connection_terminate_closes() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut ws = Raw::signed_in(&app, LEGACY, &sam.access).await;
    ws.send(start("1", CHANGED)).await;

    ws.send(json!({ "id": "1", "type": "stop" })).await;
    assert_eq!(ws.next().await, json!({ "type": "complete", "id": "1" }));

    ws.send(json!({ "type": "connection_terminate" })).await;
    assert_eq!(ws.close_code().await, 1000);
}

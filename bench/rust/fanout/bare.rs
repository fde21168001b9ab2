//! The transport floor's server: the same clients against a bare WebSocket
//! server that acknowledges, accepts the subscription and, for each event
//! from an `EventBus` of its own, sends a fixed `next` message: no GraphQL
//! execution, no reload from the database, no session check.
use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{
        State, WebSocketUpgrade,
        ws::{Message as WsMessage, WebSocket},
    },
    response::Response,
    routing::get,
};
use futures_util::StreamExt as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    Kind,
    common::app::{EventBus, Topic, with_small_buffers},
};

struct Bare {
    bus: Arc<EventBus>,
    user_by_token: HashMap<String, Uuid>,
    topic: Topic,
    frame: String,
}

/// Serves on a loopback port; answers the port.
pub async fn serve(bus: Arc<EventBus>, tokens: &[String], users: &[Uuid], kind: Kind) -> anyhow::Result<u16> {
    let data = match kind {
        Kind::Friendship => json!({ "friendshipChanged": { "status": "FRIEND" } }),
        Kind::Played => json!({ "sharePlayed": {
            "id": Uuid::nil(), "playedAt": "2026-11-23T00:00:00Z", "share": { "status": "PLAYED" } } }),
    };
    let state = Arc::new(Bare {
        bus,
        user_by_token: tokens.iter().cloned().zip(users.iter().copied()).collect(),
        topic: kind.topic(),
        frame: json!({ "id": "1", "type": "next", "payload": { "data": data } }).to_string(),
    });
    let router = Router::new().route("/graphql", get(upgrade)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(port)
}

async fn upgrade(State(state): State<Arc<Bare>>, upgrade: WebSocketUpgrade) -> Response {
    // The app's buffer sizes.
    with_small_buffers(upgrade)
        .protocols(["graphql-transport-ws"])
        .on_upgrade(move |socket| connection(socket, state))
}

async fn next_text(socket: &mut WebSocket) -> Option<Value> {
    loop {
        match socket.recv().await? {
            Ok(WsMessage::Text(text)) => return serde_json::from_str(text.as_str()).ok(),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn connection(mut socket: WebSocket, state: Arc<Bare>) {
    let Some(init) = next_text(&mut socket).await else {
        return;
    };
    let token = init["payload"]["authorization"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches("Bearer ");
    let Some(user_id) = state.user_by_token.get(token).copied() else {
        return;
    };
    let ack = json!({ "type": "connection_ack" }).to_string();
    if socket.send(WsMessage::Text(ack.into())).await.is_err() {
        return;
    }
    let Some(_subscribe) = next_text(&mut socket).await else {
        return;
    };
    let mut events = Box::pin(state.bus.subscribe(user_id, state.topic));
    loop {
        tokio::select! {
            event = events.next() => {
                if event.is_none() {
                    return;
                }
                if socket.send(WsMessage::Text(state.frame.clone().into())).await.is_err() {
                    return;
                }
            }
            message = socket.recv() => match message {
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

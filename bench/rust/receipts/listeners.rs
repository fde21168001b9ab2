//! The senders, each on a `graphql-transport-ws` connection of its own to
//! the server, subscribed to `shareActivity`: every PLAYED event is handed
//! on with the moved clock's time when it arrived.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::{SinkExt as _, StreamExt as _, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _, http::HeaderValue};

use crate::common::app::{Clock as _, ManualClock};

const QUERY: &str = "subscription { shareActivity { kind share { id } } }";

/// A PLAYED event: which sender, and when (the moved clock) it arrived.
pub type Arrival = (usize, DateTime<Utc>);

/// Access tokens last 15 minutes and their sockets close then, so the
/// senders subscribe again this often on the moved clock (the old sockets
/// overlap the new ones until they close: no event falls in a gap).
pub const RESUBSCRIBE_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Connects one subscriber per token (64 at a time); their PLAYED events
/// arrive on `arrivals` (token `n` is sender `n`).
pub async fn subscribe(
    port: u16,
    tokens: Vec<String>,
    clock: Arc<ManualClock>,
    arrivals: &mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<()> {
    let opened: Vec<anyhow::Result<()>> = stream::iter(tokens.into_iter().enumerate())
        .map(|(index, token)| {
            let (arrivals, clock) = (arrivals.clone(), clock.clone());
            async move { open(port, index, &token, arrivals, clock).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    opened.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

/// Connects, signs in, subscribes, and leaves a task reading the socket.
async fn open(
    port: u16,
    index: usize,
    token: &str,
    arrivals: mpsc::UnboundedSender<Arrival>,
    clock: Arc<ManualClock>,
) -> anyhow::Result<()> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await?;
    loop {
        let Some(message) = socket.next().await else {
            anyhow::bail!("closed before connection_ack");
        };
        if let Message::Text(text) = message? {
            let value: Value = serde_json::from_str(&text)?;
            match value["type"].as_str() {
                Some("connection_ack") => break,
                Some("connection_error") => anyhow::bail!("connection_error: {}", value["payload"]),
                _ => {}
            }
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": QUERY } });
    socket.send(Message::text(subscribe.to_string())).await?;
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else { continue };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if value["type"] == "next" && value["payload"]["data"]["shareActivity"]["kind"] == "PLAYED" {
                let _ = arrivals.send((index, clock.now()));
            }
        }
    });
    Ok(())
}

//! The subscribers' process: this same executable, started again by the
//! server with `FANOUT_CLIENT=1`. It opens one `graphql-transport-ws`
//! connection per token, signs in and subscribes on each, then, one round at
//! a time as the server asks on stdin, notes when each `next` arrives and
//! answers on stdout.
use std::{io::Write as _, sync::Arc, time::Duration};

use futures_util::{SinkExt as _, StreamExt as _, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    Message, client::IntoClientRequest as _, http::HeaderValue, protocol::WebSocketConfig,
};

use crate::{
    ROUND_TIMEOUT,
    common::{cpu::own_cpu_ticks, env_or},
    lines_of, now_ns, status_kib,
};

/// What a connection reports: its index, when a message arrived, and
/// whether it carried the expected data.
type Arrival = (usize, u64, bool);

pub async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("FANOUT_PORT")?.parse()?;
    let query = std::env::var("FANOUT_QUERY")?;
    let field = std::env::var("FANOUT_FIELD")?;
    let tokens: Vec<String> = std::fs::read_to_string(std::env::var("FANOUT_TOKENS")?)?
        .lines()
        .map(str::to_owned)
        .collect();
    let count = tokens.len();
    let mut commands = lines_of(std::io::stdin());
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    say(format!("started {}", status_kib("VmRSS")));

    let (arrivals, mut arrived) = mpsc::unbounded_channel::<Arrival>();
    let parallel: usize = env_or("CONNECT_PARALLEL", 64);
    let half = count / 2;
    let tokens = Arc::new(tokens);
    for (range, last) in [(0..half, false), (half..count, true)] {
        let results: Vec<anyhow::Result<()>> = stream::iter(range)
            .map(|index| {
                let (tokens, query, field, arrivals) = (tokens.clone(), query.clone(), field.clone(), arrivals.clone());
                async move { open(port, index, &tokens[index], &query, field, arrivals).await }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
            say(format!("fail {err:#}"));
            anyhow::bail!("a connection failed");
        }
        if last {
            say(format!("ready {count} {}", status_kib("VmRSS")));
        } else {
            say(format!("half {half} {}", status_kib("VmRSS")));
            while commands.recv().await.as_deref() != Some("go") {}
        }
    }

    // One round at a time: a message belongs to the round armed when it arrives.
    loop {
        let Some(command) = commands.recv().await else {
            return Ok(());
        };
        let mut words = command.split_whitespace();
        match (words.next(), words.next()) {
            (Some("round"), Some(round)) => {
                let mut received = vec![0u64; count];
                let (mut got, mut bad) = (0, 0);
                let cpu_before = own_cpu_ticks();
                say(format!("armed {round}"));
                let deadline = tokio::time::Instant::now() + ROUND_TIMEOUT;
                while got < count {
                    match tokio::time::timeout_at(deadline, arrived.recv()).await {
                        Ok(Some((index, at, ok))) => {
                            if received[index] == 0 {
                                received[index] = at;
                                got += 1;
                            }
                            if !ok {
                                bad += 1;
                            }
                        }
                        _ => break,
                    }
                }
                let mut line = format!("done {round} {got} {bad} {}", own_cpu_ticks() - cpu_before);
                for at in received {
                    line.push(' ');
                    line.push_str(&at.to_string());
                }
                say(line);
            }
            (Some("quit"), _) => std::process::exit(0),
            _ => {}
        }
    }
}

/// Connects, signs in, subscribes, and hands every `next` to `arrivals`.
async fn open(
    port: u16,
    index: usize,
    token: &str,
    query: &str,
    field: String,
    arrivals: mpsc::UnboundedSender<Arrival>,
) -> anyhow::Result<()> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql").into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // Small buffers, as the server uses: the client side is not what is measured.
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }).to_string(),
        ))
        .await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(&text)?;
                match value["type"].as_str() {
                    Some("connection_ack") => break,
                    Some("connection_error") => anyhow::bail!("connection_error: {}", value["payload"]),
                    _ => {}
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => anyhow::bail!("closed at connection_init: {frame:?}"),
            Ok(Some(Ok(_))) => {}
            Ok(other) => anyhow::bail!("connection_init: {other:?}"),
            Err(_) => anyhow::bail!("no connection_ack within 30 s"),
        }
    }
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }).to_string(),
        ))
        .await?;
    tokio::spawn(async move {
        while let Some(message) = socket.next().await {
            let at = now_ns();
            match message {
                Ok(Message::Text(text)) => {
                    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    match value["type"].as_str() {
                        Some("next") => {
                            let ok = value["payload"]["errors"].is_null()
                                && value["payload"]["data"][field.as_str()].is_object();
                            let _ = arrivals.send((index, at, ok));
                        }
                        Some("error") | Some("complete") => {
                            eprintln!("subscriber {index}: {text}");
                            let _ = arrivals.send((index, at, false));
                        }
                        _ => {}
                    }
                }
                Ok(Message::Close(frame)) => {
                    eprintln!("subscriber {index}: closed {frame:?}");
                    break;
                }
                Ok(_) => {}
                Err(err) => {
                    eprintln!("subscriber {index}: {err}");
                    break;
                }
            }
        }
    });
    Ok(())
}

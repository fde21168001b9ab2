//! Meta batches up to 1,000 events in one webhook POST: the webhook reads
//! a POST of 1,000 events of the largest documented size, stores every
//! one, and refuses anything larger before buffering it.
use reqwest::StatusCode;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{messenger::bot, webhook_events::fixture};
use entity::messenger_inbox;

/// Stands for the text in [`largest_event`] until the body is written.
const TEXT: &str = "\"the text\"";

/// The largest event Meta's documentation allows: a 2,000-character text
/// written the longest way (each character an escaped surrogate pair, put
/// in by [`written`]), replying to a message, with an ad's referral and a
/// shared link.
fn largest_event(n: usize) -> Value {
    let reply: Value = serde_json::from_str(&fixture("webhook/message_reply_to.json")).unwrap();
    let ad: Value = serde_json::from_str(&fixture("webhook/referral_ads.json")).unwrap();
    let share: Value = serde_json::from_str(&fixture("webhook/message_spotify_share_fallback_with_text.json")).unwrap();
    let at = |body: &Value| body["entry"][0]["messaging"][0].clone();
    json!({
        "sender": { "id": format!("{}", 25_190_387_465_210_000u64 + n as u64) },
        "recipient": { "id": "104872931258841" },
        "timestamp": 1_789_466_400_000i64 + n as i64,
        "message": {
            "mid": format!("m_{n:0>86}"),
            "text": "the text",
            "reply_to": at(&reply)["message"]["reply_to"],
            "referral": at(&ad)["referral"],
            "attachments": at(&share)["message"]["attachments"],
        }
    })
}

/// The body as Meta writes it: compact, the text's emoji as `\uXXXX`
/// surrogate pairs.
fn written(body: &Value) -> String {
    body.to_string()
        .replace(TEXT, &format!("\"{}\"", "\\ud83c\\udfa7".repeat(2000)))
}

#[tokio::test]
async fn a_post_of_1000_events_of_the_largest_documented_size_is_stored_whole() {
    let bot = bot().await;
    let entries: Vec<Value> = (0..1000)
        .map(|n| json!({ "id": "104872931258841", "time": 1_789_466_400_412i64, "messaging": [largest_event(n)] }))
        .collect();
    let body = written(&json!({ "object": "page", "entry": entries }));
    assert!(body.len() > 24_000_000, "{} bytes", body.len());
    assert!(body.len() <= api::webhook::BODY_LIMIT, "{} bytes", body.len());

    assert_eq!(bot.post_signed(&body).await, StatusCode::OK);
    let db = bot.app.db().await;
    assert_eq!(messenger_inbox::Entity::find().count(&db).await.unwrap(), 1000);
    let one = messenger_inbox::Entity::find().one(&db).await.unwrap().unwrap();
    assert_eq!(one.text.as_deref(), Some("🎧".repeat(2000).as_str()));
    assert_eq!(one.kind, messenger_inbox::Kind::Reply);
    // One job per sender.
    let jobs = entity::jobs::Entity::find().count(&db).await.unwrap();
    assert!(jobs >= 1000, "{jobs} jobs");
}

#[tokio::test]
async fn a_larger_body_is_refused_before_it_is_read() {
    let bot = bot().await;
    let limit = api::webhook::BODY_LIMIT;
    // Declared too large: refused on its Content-Length.
    let over = "x".repeat(limit + 1);
    let response = bot.post(&over, Some(&crate::messenger::sign(&over))).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Sent without a length, in chunks, without end: refused once the
    // limit is passed, long before the sender stops.
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", bot.app.port))
        .await
        .unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let read = tokio::spawn({
        let answered = answered.clone();
        async move {
            let mut answer = vec![0u8; 64];
            let n = reader.read(&mut answer).await.unwrap_or(0);
            answered.store(true, std::sync::atomic::Ordering::SeqCst);
            String::from_utf8_lossy(&answer[..n]).into_owned()
        }
    });
    let head = "POST /webhooks/messenger HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                X-Hub-Signature-256: sha256=00\r\nTransfer-Encoding: chunked\r\n\r\n";
    writer.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 1 << 20];
    let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
    let mut sent = 0;
    while sent < 4 * limit && !answered.load(std::sync::atomic::Ordering::SeqCst) {
        if writer.write_all(&frame).await.is_err() {
            break; // the server stopped reading
        }
        sent += chunk.len();
    }
    let status_line = read.await.unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    assert!(sent < 2 * limit, "refused after {sent} bytes");

    // Other routes keep their own, small, limit.
    let graphql = bot
        .app
        .client
        .post(format!("{}/graphql", bot.app.address))
        .header("content-type", "application/json")
        .body(format!("{{\"query\": \"{}\"}}", " ".repeat(100 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

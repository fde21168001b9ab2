//! Health, readiness, metrics and graceful shutdown.
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, routing::post};
use reqwest::StatusCode;
use sea_orm::EntityTrait as _;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{
    helpers::{serve, spawn_app, spawn_app_with},
    messenger,
};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test]
async fn metrics_count_requests_and_graphql_operations_by_name_and_outcome() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.graphql("query MeForMetrics { me { handle } }", json!({}), Some(&sam.access))
        .await;
    app.graphql(
        "mutation FailForMetrics { addFriend(handle: \"nobody\") { status } }",
        json!({}),
        Some(&sam.access),
    )
    .await;

    let text = app.get("/metrics").await.text().await.unwrap();

    assert!(
        text.contains(r#"graphql_operations_total{operation="MeForMetrics",outcome="ok"}"#),
        "{text}"
    );
    assert!(text.contains(r#"graphql_operations_total{operation="FailForMetrics",outcome="NOT_FOUND"}"#));
    assert!(text.contains(r#"http_requests_total{method="POST",route="/graphql",status="200"}"#));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn on_sqlite_the_log_is_checkpointed_in_the_background_and_measured() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("sqlite") {
        return; // PostgreSQL has no SQLite log to copy back.
    }
    app.sign_up("sam").await; // a write: the log has frames to copy

    // The checkpoint runs every second; wait for one that found the write.
    let mut frames = 0.0;
    for _ in 0..100 {
        frames = app.metric("sqlite_wal_frames").await;
        if frames > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(frames > 0.0, "a checkpoint saw the sign-up's frames");
    let text = app.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains(r#"sqlite_checkpoint_seconds_count{mode="passive"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_finishes_cleanly_and_closes_subscriptions_with_1001() {
    let mut app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut subscription = app
        .subscribe(Some(&sam.access), "subscription { friendshipChanged { status } }")
        .await;

    app.stop().await.expect("the server stops without error");

    assert_eq!(
        subscription.close_code(Duration::from_secs(5)).await,
        Some(1001),
        "shutdown closes the WebSocket as going away"
    );
}

#[tokio::test]
async fn shutdown_lets_a_running_job_finish_and_record_how_it_ended() {
    // A Send API that takes a second to answer, so that the bot's reply is
    // still in flight when the server is told to stop.
    let reached = Arc::new(Notify::new());
    let answered = Arc::new(AtomicUsize::new(0));
    let send_api = Router::new().route(
        "/graph/me/messages",
        post({
            let (reached, answered) = (reached.clone(), answered.clone());
            move |Json(body): Json<Value>| async move {
                reached.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
                answered.fetch_add(1, Ordering::SeqCst);
                Json(json!({ "recipient_id": body["recipient"]["id"], "message_id": "m_slow_1" }))
            }
        }),
    );
    let graph = format!("{}/graph", serve(send_api).await);
    let mut app = spawn_app_with(&[
        ("MESSENGER_APP_SECRET", messenger::SECRET),
        ("MESSENGER_PAGE_TOKEN", "page-token"),
        ("MESSENGER_GRAPH_URL", &graph),
        ("JOB_WORKERS", "1"),
        ("JOB_POLL_INTERVAL", "50ms"),
    ])
    .await;
    let now = api::clock::Clock::now(app.clock.as_ref()).timestamp_millis();
    let body = messenger::page_body(vec![vec![messenger::text_event("7001", "m_stop_1", "help", now)]]);
    let response = app
        .client
        .post(format!("{}/webhooks/messenger", app.address))
        .header("Content-Type", "application/json")
        .header("X-Hub-Signature-256", messenger::sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    tokio::time::timeout(Duration::from_secs(20), reached.notified())
        .await
        .expect("a worker sends the bot's answer");
    app.stop().await.expect("the server stops without error");

    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let replies = entity::bot_replies::Entity::find().all(&db).await.unwrap();
    db.close().await.ok();
    // The welcome and the help text: each send finished and was recorded.
    assert!(!replies.is_empty());
    assert_eq!(answered.load(Ordering::SeqCst), replies.len(), "no send was cut short");
    for reply in &replies {
        assert_eq!(reply.psid, "7001");
        assert_eq!(
            reply.status,
            entity::bot_replies::Status::Sent,
            "the job recorded how it ended: {replies:?}"
        );
        assert_eq!(reply.provider_message_id.as_deref(), Some("m_slow_1"));
    }
}

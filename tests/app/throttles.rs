//! Throttles under bursts: attempts are counted in the database before the
//! work they guard, so a burst (on PostgreSQL: split between two replicas)
//! gets exactly the allowed number of password checks or code lookups.
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    concurrency::Servers,
    helpers::{PASSWORD, error_code, spawn_app, spawn_replica},
    messenger::{self, page_body, sign, text_event},
};

const LOG_IN: &str = "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }";

fn codes(bodies: &[serde_json::Value]) -> (usize, usize) {
    let checked = bodies
        .iter()
        .filter(|b| error_code(b) == Some("UNAUTHENTICATED"))
        .count();
    let refused = bodies.iter().filter(|b| error_code(b) == Some("RATE_LIMITED")).count();
    assert_eq!(checked + refused, bodies.len(), "only those two answers: {bodies:?}");
    (checked, refused)
}

#[tokio::test]
async fn forty_wrong_log_ins_at_once_check_the_password_five_times() {
    let servers = Servers::start(spawn_app().await).await;
    let sam = servers.first().sign_up("sam").await;

    let bodies = servers
        .burst_of(40, LOG_IN, json!({ "e": sam.email, "p": "wrong password" }), None)
        .await;

    assert_eq!(codes(&bodies), (5, 35), "five checks, the rest refused unchecked");
    let right = servers
        .first()
        .graphql(LOG_IN, json!({ "e": sam.email, "p": PASSWORD }), None)
        .await;
    assert_eq!(error_code(&right), Some("RATE_LIMITED"), "not checked either: {right}");
}

#[tokio::test]
async fn a_right_password_gives_the_email_its_attempts_back() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let wrong = json!({ "e": sam.email, "p": "wrong password" });
    for _ in 0..4 {
        assert_eq!(
            error_code(&app.graphql(LOG_IN, wrong.clone(), None).await),
            Some("UNAUTHENTICATED")
        );
    }
    let right = app
        .graphql(LOG_IN, json!({ "e": sam.email, "p": PASSWORD }), None)
        .await;
    assert!(right["data"]["logIn"].is_object(), "{right}");

    let bodies = join_all((0..8).map(|_| app.graphql(LOG_IN, wrong.clone(), None))).await;
    assert_eq!(codes(&bodies), (5, 3), "the email started over");
}

#[tokio::test]
async fn forty_wrong_link_codes_at_once_are_looked_up_five_times() {
    let bot = messenger::bot().await;
    let replica = if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        Some(
            spawn_replica(
                &bot.app,
                &[
                    ("MESSENGER_APP_SECRET", messenger::SECRET),
                    ("MESSENGER_PAGE_TOKEN", "page-token"),
                    ("MESSENGER_GRAPH_URL", &bot.graph),
                ],
            )
            .await,
        )
    } else {
        None
    };
    let sam = bot.app.sign_up("sam").await;

    let posts = (0..40).map(|n| {
        let body = page_body(vec![vec![text_event(
            "guesser",
            &format!("m_guess_{n}"),
            &format!("{:016}", 1_000 + n),
            1_000 + n,
        )]]);
        let target = match (&replica, n % 2) {
            (Some(replica), 1) => replica.address.clone(),
            _ => bot.app.address.clone(),
        };
        let client = bot.app.client.clone();
        async move {
            client
                .post(format!("{target}/webhooks/messenger"))
                .header("content-type", "application/json")
                .header("X-Hub-Signature-256", sign(&body))
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    for status in join_all(posts).await {
        assert_eq!(status, StatusCode::OK);
    }
    match &replica {
        Some(replica) => {
            join_all([bot.app.run_due_jobs(), replica.run_due_jobs()]).await;
        }
        None => {
            bot.app.run_due_jobs().await;
        }
    }

    let texts: Vec<String> = bot
        .sent_to("guesser")
        .iter()
        .map(|m| m["message"]["text"].as_str().unwrap_or("").to_owned())
        .collect();
    let looked_up = texts.iter().filter(|t| t.starts_with("That code doesn't work")).count();
    let refused = texts.iter().filter(|t| t.contains("too many wrong codes")).count();
    assert_eq!((looked_up, refused), (5, 35), "{texts:?}");

    let code = bot
        .app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await["data"]["createLinkCode"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let replies = bot.say("guesser", &code).await;
    assert!(
        replies[0].contains("too many wrong codes"),
        "a right code is not looked up either: {replies:?}"
    );
}

//! GraphQL over HTTP as its specification describes: methods, media types,
//! status codes; GraphiQL; limits.
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[tokio::test]
async fn get_runs_queries() {
    let app = spawn_app().await;
    app.sign_up("sam").await;
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[
            ("query", "query($h: String!) { user(handle: $h) { handle } }"),
            ("variables", r#"{"h":"sam"}"#),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["user"]["handle"], "sam");
}

#[tokio::test]
async fn get_refuses_mutations() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "mutation { logOut(refreshToken: \"x\") }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST");
}

#[tokio::test]
async fn the_accept_header_chooses_media_type_and_status_codes() {
    let app = spawn_app().await;
    let invalid = json!({ "query": "{ me { noSuchField } }" });
    let post = |accept: &'static str| {
        app.client
            .post(format!("{}/graphql", app.address))
            .header(header::ACCEPT, accept)
            .json(&invalid)
            .send()
    };

    let modern = post(GRAPHQL_RESPONSE).await.unwrap();
    assert_eq!(modern.status(), StatusCode::BAD_REQUEST);
    assert!(
        modern.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(GRAPHQL_RESPONSE)
    );
    let body: Value = modern.json().await.unwrap();
    assert!(body.get("data").is_none(), "a request error has no data entry: {body}");
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    let legacy = post("application/json").await.unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert!(
        legacy.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    let neither = post("text/csv").await.unwrap();
    assert_eq!(neither.status(), StatusCode::NOT_ACCEPTABLE);

    // A field error during execution is still a 200.
    let executed = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(header::ACCEPT, GRAPHQL_RESPONSE)
        .json(&json!({ "query": "mutation { addFriend(handle: \"x\") { status } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(executed.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_requests_get_clear_errors() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.address);
    let not_json = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{ this is not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));

    let wrong_type = app
        .client
        .post(&url)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("{ me { handle } }")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let huge = json!({ "query": format!("{{ me {{ handle }} }} #{}", "x".repeat(100 * 1024)) });
    let too_big = app.client.post(&url).json(&huge).send().await.unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn queries_that_nest_too_deep_are_refused() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let depth = 14;
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {} name {} }} }} }} }}",
        "{ ofType ".repeat(depth),
        "}".repeat(depth)
    );
    let body = app.graphql(&deep, json!({}), Some(&sam.access)).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("too deep"),
        "{body}"
    );
}

#[tokio::test]
async fn browsers_get_graphiql() {
    let app = spawn_app().await;
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("graphiql"), "GraphiQL is served");
    assert!(
        html.contains("subscriptionUrl: createUrl('/graphql', true)"),
        "subscriptions go to /graphql"
    );
    assert!(
        html.contains("graphiql:headers"),
        "the WebSocket signs in with the Headers tab"
    );
}

#[tokio::test]
async fn variables_of_the_wrong_type_are_bad_user_input() {
    let app = spawn_app().await;
    let body = app
        .graphql(
            "query($h: String!) { user(handle: $h) { id } }",
            json!({ "h": 42 }),
            None,
        )
        .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
}

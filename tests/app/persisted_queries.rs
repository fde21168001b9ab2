//! Automatic persisted queries, with requests shaped exactly as Apollo
//! Client's `createPersistedQueryLink` and `HttpLink` send them: first the
//! hash alone (POST, or GET with `useGETForHashedQueries`), then — told
//! `PersistedQueryNotFound` — the query with its hash by POST; after that
//! the hash alone runs the stored query, on every replica.
use std::time::Duration;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{Session, TestApp, error_code, on_postgres, spawn_app, spawn_app_with, spawn_replica};

/// As Apollo's `print` writes a document.
const ME: &str = "query Me {\n  me {\n    handle\n    displayName\n  }\n}";
const ADD: &str = "mutation Add($handle: String!) {\n  addFriend(handle: $handle) {\n    status\n  }\n}";
/// What Apollo Client (3.8 and later) accepts.
const ACCEPT: &str = "application/graphql-response+json,application/json;q=0.9";
/// The exact answer Apollo's link looks for.
const NOT_FOUND: &str =
    r#"{"errors":[{"message":"PersistedQueryNotFound","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}"#;

fn sha256(query: &str) -> String {
    Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn extensions(query: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256(query) } })
}

/// The body of the link's first request: no `query`.
fn hash_only(operation: &str, query: &str, variables: Value) -> Value {
    json!({ "operationName": operation, "variables": variables, "extensions": extensions(query) })
}

/// The body of its retry: the query too.
fn with_query(operation: &str, query: &str, variables: Value) -> Value {
    json!({ "operationName": operation, "variables": variables, "extensions": extensions(query), "query": query })
}

async fn post(app: &TestApp, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A GET as `rewriteURIForGET` writes it: each parameter URL-encoded, the
/// variables and extensions as JSON.
async fn get(app: &TestApp, operation: &str, query: &str, variables: Value, token: Option<&str>) -> reqwest::Response {
    let mut parameters = vec![("operationName", operation.to_owned())];
    parameters.push(("variables", variables.to_string()));
    parameters.push(("extensions", extensions(query).to_string()));
    let mut request = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&parameters)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The answer is exactly what Apollo's link treats as "send the query".
async fn assert_not_found(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, no-cache, must-revalidate",
        "a CDN must not keep it"
    );
    assert_eq!(response.text().await.unwrap(), NOT_FOUND);
}

async fn me(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["data"]["me"].clone()
}

#[tokio::test]
async fn a_hash_the_server_does_not_know_is_sent_again_with_its_query_then_runs_by_hash() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    assert_not_found(post(&app, &hash_only("Me", ME, json!({})), Some(&sam.access)).await).await;
    let retried = me(post(&app, &with_query("Me", ME, json!({})), Some(&sam.access)).await).await;
    assert_eq!(retried, json!({ "handle": "sam", "displayName": "sam" }));

    let by_hash = post(&app, &hash_only("Me", ME, json!({})), Some(&sam.access)).await;
    let text = by_hash.text().await.unwrap();
    // The stored query ran, its fields in the selection's order.
    assert_eq!(text, r#"{"data":{"me":{"handle":"sam","displayName":"sam"}}}"#);
}

/// A stored query's field that failed is null in its place, by POST and
/// by GET, as for any other query (`graphql_http.rs`).
#[tokio::test]
async fn a_stored_querys_failed_field_is_null_in_its_place() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.sign_up("kim").await;
    // Kim is not Sam's friend: `nowPlaying` is FORBIDDEN.
    let query = "query Kim {\n  nowPlaying(handle: \"kim\") {\n    text\n  }\n  me {\n    handle\n  }\n}";
    let expected = |body: &Value| {
        assert_eq!(
            body["data"].to_string(),
            r#"{"nowPlaying":null,"me":{"handle":"sam"}}"#,
            "{body}"
        );
        assert_eq!(error_code(body), Some("FORBIDDEN"), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["nowPlaying"]), "{body}");
    };

    assert_not_found(post(&app, &hash_only("Kim", query, json!({})), Some(&sam.access)).await).await;
    let retried = post(&app, &with_query("Kim", query, json!({})), Some(&sam.access)).await;
    assert_eq!(retried.status(), StatusCode::OK);
    expected(&retried.json().await.unwrap());

    let by_hash = post(&app, &hash_only("Kim", query, json!({})), Some(&sam.access)).await;
    expected(&by_hash.json().await.unwrap());
    let by_get = get(&app, "Kim", query, json!({}), Some(&sam.access)).await;
    assert_eq!(by_get.status(), StatusCode::OK);
    expected(&by_get.json().await.unwrap());
}

#[tokio::test]
async fn hashed_queries_go_by_get_as_apollo_sends_them() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let query = "query Handle($handle: String!) {\n  user(handle: $handle) {\n    handle\n  }\n}\n\nquery Me {\n  me {\n    handle\n  }\n}";

    assert_not_found(get(&app, "Me", query, json!({}), Some(&sam.access)).await).await;
    post(&app, &with_query("Me", query, json!({})), Some(&sam.access)).await;

    // The operation is chosen by `operationName`, with its variables.
    let answer = get(&app, "Handle", query, json!({ "handle": "alex" }), None).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["user"]["handle"], "alex", "{body}");
    let answer = get(&app, "Me", query, json!({}), Some(&alex.access)).await;
    assert_eq!(me(answer).await["handle"], "alex");
}

#[tokio::test]
async fn a_hash_that_is_not_the_querys_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let other = "query Other {\n  me {\n    email\n  }\n}";
    let mut body = with_query("Me", ME, json!({}));
    body["extensions"] = extensions(other);

    let answer = post(&app, &body, Some(&sam.access)).await;

    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let refused: Value = answer.json().await.unwrap();
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not match")
    );
    assert_not_found(post(&app, &hash_only("Other", other, json!({})), Some(&sam.access)).await).await;
}

#[tokio::test]
async fn malformed_extensions_and_other_versions_are_refused() {
    let app = spawn_app().await;
    for extension in [
        json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256(ME) } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "not-a-hash" } }),
        json!({ "persistedQuery": { "version": 1 } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let body = json!({ "operationName": "Me", "variables": {}, "extensions": extension });
        let answer = post(&app, &body, None).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{extension}");
        let refused: Value = answer.json().await.unwrap();
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{extension}: {refused}");
    }
}

#[tokio::test]
async fn a_stored_mutation_is_still_refused_over_get() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.sign_up("alex").await;
    let variables = json!({ "handle": "alex" });
    let first = post(&app, &with_query("Add", ADD, variables.clone()), Some(&sam.access)).await;
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["data"]["addFriend"]["status"], "REQUESTED", "{body}");
    let withdraw = app
        .graphql(
            "mutation { removeFriend(handle: \"alex\") }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(withdraw["data"]["removeFriend"], true);

    let answer = get(&app, "Add", ADD, variables, Some(&sam.access)).await;

    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers()[header::ALLOW], "POST");
    let friends = app
        .graphql("{ me { friends { status } } }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(
        friends["data"]["me"]["friends"],
        json!([]),
        "nothing changed: {friends}"
    );
}

#[tokio::test]
async fn the_least_recently_used_queries_go_past_the_cap() {
    let app = spawn_app_with(&[("PERSISTED_QUERIES_MAX", "2")]).await;
    let queries = [
        "query A {\n  me {\n    id\n  }\n}",
        "query B {\n  me {\n    handle\n  }\n}",
        "query C {\n  me {\n    email\n  }\n}",
    ];
    // Each query's name is its letter.
    let name = |query: &str| query[6..7].to_owned();
    let register = async |query: &str| post(&app, &with_query(&name(query), query, json!({})), None).await;
    let by_hash = async |query: &str| post(&app, &hash_only(&name(query), query, json!({})), None).await;

    register(queries[0]).await;
    app.advance(Duration::from_secs(60));
    register(queries[1]).await;
    // A is used again, well after it was stored: B is now the least recent.
    app.advance(Duration::from_secs(2 * 3600));
    assert_eq!(
        by_hash(queries[0]).await.text().await.unwrap(),
        r#"{"data":{"me":null}}"#
    );
    app.advance(Duration::from_secs(60));
    register(queries[2]).await;

    assert_not_found(by_hash(queries[1]).await).await;
    for kept in [queries[0], queries[2]] {
        assert_eq!(
            by_hash(kept).await.text().await.unwrap(),
            r#"{"data":{"me":null}}"#,
            "{kept}"
        );
    }
}

#[tokio::test]
async fn every_replica_runs_a_query_stored_through_another() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let sam: Session = first.sign_up("sam").await;

    post(&first, &with_query("Me", ME, json!({})), Some(&sam.access)).await;

    let there = me(post(&second, &hash_only("Me", ME, json!({})), Some(&sam.access)).await).await;
    assert_eq!(there["handle"], "sam");
    let by_get = me(get(&second, "Me", ME, json!({}), Some(&sam.access)).await).await;
    assert_eq!(by_get["handle"], "sam");
}

//! GraphQL over HTTP as its specification describes: methods, media types,
//! status codes; GraphiQL; limits.
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app, spawn_app_with};

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
    // share → playEvent → share → …: 1 + 2 × 7 + 1 = 16 levels.
    let deep = format!(
        "{{ share(id: \"x\") {{ {} id {} }} }}",
        "playEvent { share { ".repeat(7),
        "} } ".repeat(7)
    );
    let body = app.graphql(&deep, json!({}), Some(&sam.access)).await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("too deep"),
        "{body}"
    );
}

/// The introspection query of graphql-js (GraphiQL's, and most tools')
/// nests nine `ofType` levels: 15 fields deep, past the data's limit.
#[tokio::test]
async fn the_introspection_query_of_graphql_tools_is_answered() {
    let app = spawn_app().await;
    let type_ref = format!("{}kind name{}", "kind name ofType { ".repeat(9), " }".repeat(9));
    let query = format!(
        "{{ __schema {{ types {{ name description fields {{ name description args {{ name type {{ {type_ref} }} }} \
         type {{ {type_ref} }} }} }} }} }}"
    );
    let body = app.graphql(&query, json!({}), None).await;
    assert!(body.get("errors").is_none(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    let payload = types.iter().find(|t| t["name"] == "AuthPayload").expect("AuthPayload");
    let access = payload["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "accessToken")
        .unwrap();
    assert!(
        access["description"].as_str().is_some_and(|d| !d.is_empty()),
        "descriptions come with it: {access}"
    );
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let on = spawn_app().await;
    let off = spawn_app_with(&[("GRAPHQL_INTROSPECTION", "false")]).await;
    let schema = "{ __schema { queryType { name } } }";
    let type_query = "{ __type(name: \"User\") { name } }";

    let answered = on.graphql(schema, json!({}), None).await;
    assert_eq!(answered["data"]["__schema"]["queryType"]["name"], "Query");
    for query in [schema, type_query] {
        let refused = off.graphql(query, json!({}), None).await;
        let data = refused["data"].as_object().expect("data");
        assert!(data.values().all(Value::is_null), "{query}: {refused}");
    }
    // Everything else still runs.
    let typename = off.graphql("{ __typename }", json!({}), None).await;
    assert_eq!(typename["data"]["__typename"], "Query");
    let sam = off.sign_up("sam").await;
    let me = off.graphql("{ me { handle } }", json!({}), Some(&sam.access)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam");
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

/// Fields come back in the order the selection set names them, whatever
/// the transport and however often the data was read before (the friends
/// list is cached the second time); errors keep their code.
#[tokio::test]
async fn fields_come_back_in_selection_order_over_post_get_and_websocket() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    app.link_spotify(&sam, "sam-spotify").await;
    // `nowPlaying` asks Spotify, `__typename` is ready at once: async-graphql
    // resolves them concurrently and would put `zeta` first.
    let query = "{ nowPlaying(handle: \"sam\") { text isPlaying } me { handle id email displayName \
                 friends { status user { id handle } since } } zeta: __typename }";
    let expected = |body: &Value| {
        assert_eq!(keys(&body["data"]), ["nowPlaying", "me", "zeta"], "{body}");
        assert_eq!(keys(&body["data"]["nowPlaying"]), ["text", "isPlaying"], "{body}");
        let me = &body["data"]["me"];
        assert_eq!(keys(me), ["handle", "id", "email", "displayName", "friends"], "{body}");
        assert_eq!(keys(&me["friends"][0]), ["status", "user", "since"], "{body}");
        assert_eq!(keys(&me["friends"][0]["user"]), ["id", "handle"], "{body}");
    };
    let refused = "{ zeta: __typename share(id: \"00000000-0000-0000-0000-000000000000\") { id } alpha: __typename }";
    let keeps_its_code = |body: &Value| {
        // A field that failed is null in its place.
        assert_eq!(keys(&body["data"]), ["zeta", "share", "alpha"], "{body}");
        assert_eq!(body["data"]["share"], Value::Null, "{body}");
        assert_eq!(error_code(body), Some("UNAUTHENTICATED"), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["share"]), "{body}");
    };

    for _ in 0..2 {
        expected(&app.graphql(query, json!({}), Some(&sam.access)).await);
    }
    keeps_its_code(&app.graphql(refused, json!({}), None).await);

    let get = |query: &'static str, token: Option<String>| {
        let mut request = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&[("query", query)]);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    expected(&get(query, Some(sam.access.clone())).await);
    keeps_its_code(&get(refused, None).await);

    let mut socket = app.subscribe(Some(&sam.access), query).await;
    expected(&socket.next().await.expect("the query's result"));
}

/// A field that failed answers `null` in its place, its error saying where
/// (`path`) and why (`extensions.code`); one whose type is non-null takes
/// its parent with it, here `data` itself (GraphQL, Handling Field
/// Errors). The same over POST, GET and WebSocket (persisted queries:
/// `persisted_queries.rs`).
#[tokio::test]
async fn failed_fields_are_null_and_non_null_ones_null_their_parent_over_post_get_and_websocket() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.sign_up("kim").await;
    // Kim is not Sam's friend: `nowPlaying` (nullable) is FORBIDDEN.
    let nullable = "{ zeta: __typename nowPlaying(handle: \"kim\") { text } alpha: __typename }";
    let is_null_in_place = |body: &Value| {
        assert_eq!(
            body["data"],
            json!({ "zeta": "Query", "nowPlaying": null, "alpha": "Query" }),
            "{body}"
        );
        assert_eq!(keys(&body["data"]), ["zeta", "nowPlaying", "alpha"], "{body}");
        assert_eq!(error_code(body), Some("FORBIDDEN"), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["nowPlaying"]), "{body}");
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    };
    // `track` is `Track!`: its failure makes `data` null, `zeta` and all.
    let non_null = "{ zeta: __typename track(link: \"not a track\") { name } }";
    let nulls_data = |body: &Value| {
        assert!(body.as_object().unwrap().contains_key("data"), "{body}");
        assert_eq!(body["data"], Value::Null, "{body}");
        assert_eq!(error_code(body), Some("BAD_USER_INPUT"), "{body}");
        assert_eq!(body["errors"][0]["path"], json!(["track"]), "{body}");
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{body}");
    };

    is_null_in_place(&app.graphql(nullable, json!({}), Some(&sam.access)).await);
    nulls_data(&app.graphql(non_null, json!({}), Some(&sam.access)).await);

    let get = |query: &'static str| {
        let request = app
            .client
            .get(format!("{}/graphql", app.address))
            .header(header::ACCEPT, GRAPHQL_RESPONSE)
            .query(&[("query", query)])
            .bearer_auth(&sam.access);
        async move {
            let response = request.send().await.unwrap();
            // A response with data (even null) is not a request error.
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    is_null_in_place(&get(nullable).await);
    nulls_data(&get(non_null).await);

    let mut socket = app.subscribe(Some(&sam.access), nullable).await;
    is_null_in_place(&socket.next().await.expect("the query's result"));
    let mut socket = app.subscribe(Some(&sam.access), non_null).await;
    nulls_data(&socket.next().await.expect("the query's result"));

    // A mutation's non-null field likewise.
    let add = app
        .graphql(
            "mutation { addFriend(handle: \"nobody\") { status } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(add["data"], Value::Null, "{add}");
    assert_eq!(add["errors"][0]["path"], json!(["addFriend"]), "{add}");
}

fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .unwrap_or_else(|| panic!("an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect()
}

//! Web apps on other origins: CORS on `/graphql` for the origins in
//! `CORS_ALLOWED_ORIGINS`, and nothing for the rest; the public JSON
//! routes for any page. (`browser.rs` calls `/graphql` from a page on
//! another origin in Chromium.)
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const APP: &str = "https://app.example.com";

/// What a web app's GraphQL client asks for: Apollo Client names itself,
/// and a tracer (Sentry, OpenTelemetry) adds its own headers.
const ASKED: [&str; 7] = [
    "authorization",
    "content-type",
    "apollographql-client-name",
    "apollographql-client-version",
    "sentry-trace",
    "baggage",
    "traceparent",
];

async fn preflight(app: &TestApp, origin: &str, method: &str) -> reqwest::Response {
    preflight_asking(app, origin, method, &ASKED).await
}

async fn preflight_asking(app: &TestApp, origin: &str, method: &str, headers: &[&str]) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers.join(","))
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.address))
        .header(header::ORIGIN, origin)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap()
}

fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

fn header_list(response: &reqwest::Response, name: header::HeaderName) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn listed_origins_pass_the_preflight_and_read_the_answers() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", &format!("{APP}, http://127.0.0.1:3000"))]).await;

    for method in ["POST", "GET"] {
        let answer = preflight(&app, APP, method).await;
        assert!(answer.status().is_success(), "{method}: {}", answer.status());
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let methods = header_list(&answer, header::ACCESS_CONTROL_ALLOW_METHODS);
        assert!(methods.contains(&method.to_ascii_lowercase()), "{methods:?}");
        let allowed = header_list(&answer, header::ACCESS_CONTROL_ALLOW_HEADERS);
        for needed in ASKED {
            assert!(allowed.iter().any(|h| h == needed), "{needed} in {allowed:?}");
        }
        assert!(answer.headers().contains_key(header::ACCESS_CONTROL_MAX_AGE));
    }
    // A header of the page's own is allowed too, and the answer says it
    // depends on what was asked (a shared cache keeps one per request).
    let own = preflight_asking(&app, APP, "POST", &["content-type", "x-checkout-step"]).await;
    assert!(own.status().is_success());
    let allowed = header_list(&own, header::ACCESS_CONTROL_ALLOW_HEADERS);
    assert!(allowed.contains(&"x-checkout-step".to_owned()), "{allowed:?}");
    assert!(
        !allowed.contains(&"sentry-trace".to_owned()),
        "only what was asked: {allowed:?}"
    );
    assert!(
        header_list(&own, header::VARY).contains(&"access-control-request-headers".to_owned()),
        "{:?}",
        own.headers()
    );

    let answer = post(&app, APP).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], APP);
    assert!(header_list(&answer, header::ACCESS_CONTROL_EXPOSE_HEADERS).contains(&"x-request-id".to_owned()));
    assert!(header_list(&answer, header::VARY).contains(&"origin".to_owned()));
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query");

    let get = app
        .client
        .get(format!("{}/graphql?query={{__typename}}", app.address))
        .header(header::ORIGIN, "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        get.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://127.0.0.1:3000"
    );
}

#[tokio::test]
async fn other_origins_get_no_cors_headers() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", APP)]).await;

    for origin in [
        "https://evil.example",
        "https://app.example.com.evil.example",
        "http://app.example.com",
    ] {
        let answer = preflight(&app, origin, "POST").await;
        assert_eq!(cors_headers(&answer), Vec::<String>::new(), "{origin}");
        assert!(!answer.status().is_success(), "{origin}: {}", answer.status());
        let answer = post(&app, origin).await;
        assert_eq!(cors_headers(&answer), Vec::<String>::new(), "{origin}");
        // A shared cache must not give this answer to the listed origin.
        assert!(header_list(&answer, header::VARY).contains(&"origin".to_owned()));
    }
    // Other routes are not opened by the setting.
    let health = app
        .client
        .get(format!("{}/healthz", app.address))
        .header(header::ORIGIN, APP)
        .send()
        .await
        .unwrap();
    assert_eq!(cors_headers(&health), Vec::<String>::new());
}

#[tokio::test]
async fn without_the_setting_no_origin_is_allowed() {
    let app = spawn_app().await;
    let answer = preflight(&app, APP, "POST").await;
    assert_eq!(cors_headers(&answer), Vec::<String>::new());
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(cors_headers(&post(&app, APP).await), Vec::<String>::new());
}

#[tokio::test]
async fn a_star_allows_any_origin_without_credentials() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", "*")]).await;

    let answer = preflight(&app, "https://anywhere.example", "POST").await;
    assert!(answer.status().is_success());
    assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(!answer.headers().contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    let allowed = header_list(&answer, header::ACCESS_CONTROL_ALLOW_HEADERS);
    assert!(ASKED.iter().all(|h| allowed.contains(&(*h).to_owned())), "{allowed:?}");
    let answer = post(&app, "https://anywhere.example").await;
    assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

#[tokio::test]
async fn public_routes_pass_the_preflight_with_the_headers_pages_send() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.make_now_playing_public(&sam).await;
    let url = format!("{}/v1/users/sam/now-playing", app.address);
    let asked = [
        "content-type",
        "accept",
        "cache-control",
        "if-none-match",
        "x-page-trace",
    ];

    // A page on any site, and one opened from a file (`Origin: null`).
    for origin in ["https://sam.example", "null"] {
        let preflight = app
            .client
            .request(Method::OPTIONS, &url)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, asked.join(","))
            .send()
            .await
            .unwrap();

        assert!(preflight.status().is_success(), "{origin}: {}", preflight.status());
        assert_eq!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(header_list(&preflight, header::ACCESS_CONTROL_ALLOW_METHODS).contains(&"get".to_owned()));
        let allowed = header_list(&preflight, header::ACCESS_CONTROL_ALLOW_HEADERS);
        for header in asked {
            assert!(allowed.iter().any(|h| h == header), "{header} in {allowed:?}");
        }
        assert!(
            !preflight
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        );

        let answer = app
            .client
            .get(&url)
            .header(header::ORIGIN, origin)
            .header(header::ACCEPT, "application/json")
            .header(header::CACHE_CONTROL, "no-cache")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["isPlaying"], false, "{body}");
    }
}

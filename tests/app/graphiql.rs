//! GraphiQL as the server delivers it: one page and its files, all from
//! this server, cached by content hash, under a Content-Security-Policy
//! that allows nothing else. (`browser.rs` runs it in Chromium.)
use reqwest::{StatusCode, header};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn page(app: &TestApp) -> reqwest::Response {
    app.client
        .get(format!("{}/graphql", app.address))
        .header(header::ACCEPT, "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap()
}

/// The `src` and `href` addresses in `html`.
fn addresses(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            found.push(&rest[..rest.find('"').unwrap()]);
        }
    }
    found
}

#[tokio::test]
async fn graphiql_comes_whole_from_this_server() {
    let app = spawn_app().await;
    let response = page(&app).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "font-src 'self' data:",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    let html = response.text().await.unwrap();
    assert!(!html.contains("://"), "no address elsewhere: {html}");

    let files = addresses(&html);
    let scripts: Vec<&str> = files.iter().copied().filter(|a| a.ends_with(".js")).collect();
    assert_eq!(scripts.len(), 4, "React, ReactDOM, GraphiQL, ours: {files:?}");
    for address in files.iter().filter(|a| **a != "data:,") {
        assert!(address.starts_with("/graphiql/"), "{address}");
        let file = app.get(address).await;
        assert_eq!(file.status(), StatusCode::OK, "{address}");
        assert_eq!(
            file.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{address}"
        );
        let kind = file.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        let body = file.text().await.unwrap();
        if address.ends_with(".js") {
            assert!(kind.starts_with("text/javascript"), "{address}: {kind}");
            assert!(!body.contains("development"), "production builds only: {address}");
        } else if address.ends_with(".css") {
            assert!(kind.starts_with("text/css"), "{address}: {kind}");
            assert!(
                !body.contains("http://") && !body.contains("https://"),
                "{address} loads nothing else"
            );
        }
    }
    assert!(
        files.iter().filter(|a| a.contains("/LICENSE-")).count() == 0,
        "licences are named in a comment, not loaded"
    );
    assert!(html.contains("/LICENSE-graphiql") && html.contains("/LICENSE-react"));
}

/// The licences the page names in its comment are there to read.
#[tokio::test]
async fn the_licences_the_page_names_answer() {
    let app = spawn_app().await;
    let html = page(&app).await.text().await.unwrap();
    let licences: Vec<&str> = html
        .match_indices("/graphiql/")
        .map(|(at, _)| {
            let rest = &html[at..];
            &rest[..rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | ':'))
                .unwrap()]
        })
        .filter(|address| address.contains("/LICENSE-"))
        .collect();
    let names: Vec<&str> = licences.iter().map(|a| a.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        names,
        ["LICENSE-graphiql", "LICENSE-react", "LICENSE-react-dom"],
        "{html}"
    );

    for address in licences {
        let licence = app.get(address).await;
        assert_eq!(licence.status(), StatusCode::OK, "{address}");
        let kind = licence.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/plain"), "{address}: {kind}");
        let text = licence.text().await.unwrap();
        assert!(
            text.contains("MIT License") && text.contains("Permission is hereby granted"),
            "{address}: {text}"
        );
    }
}

#[tokio::test]
async fn graphiql_files_are_addressed_by_content() {
    let app = spawn_app().await;
    let html = page(&app).await.text().await.unwrap();
    let script = addresses(&html)
        .into_iter()
        .find(|a| a.ends_with("/graphiql.min.js"))
        .unwrap()
        .to_owned();

    let stale = script.replacen("/graphiql/", "/graphiql/0", 1);
    assert_eq!(app.get(&stale).await.status(), StatusCode::NOT_FOUND);
    let unknown = script.replace("graphiql.min.js", "other.js");
    assert_eq!(app.get(&unknown).await.status(), StatusCode::NOT_FOUND);
    let licence = script.replace("graphiql.min.js", "LICENSE-graphiql");
    assert_eq!(
        app.get(&licence).await.status(),
        StatusCode::NOT_FOUND,
        "another file's hash"
    );
}

#[tokio::test]
async fn each_page_has_its_own_style_nonce() {
    let app = spawn_app().await;
    let nonce = async || {
        let response = page(&app).await;
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let html = response.text().await.unwrap();
        let in_policy = policy
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap()
            .to_owned();
        assert!(html.contains(&format!("data-style-nonce=\"{in_policy}\"")), "{html}");
        in_policy
    };
    assert_ne!(nonce().await, nonce().await);
}

#[tokio::test]
async fn graphiql_says_when_introspection_is_off() {
    let on = spawn_app().await;
    let off = spawn_app_with(&[("GRAPHQL_INTROSPECTION", "false")]).await;

    let with = page(&on).await.text().await.unwrap();
    let without = page(&off).await.text().await.unwrap();

    assert!(with.contains("data-introspection=\"on\"") && !with.contains("Introspection is turned off"));
    assert!(without.contains("data-introspection=\"off\""), "{without}");
    assert!(
        without.contains("Introspection is turned off on this server"),
        "{without}"
    );
}

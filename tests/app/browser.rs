//! In a real browser (headless Chromium), with nothing reachable beyond
//! loopback: GraphiQL as a developer uses it, and a web app on another
//! origin calling `/graphql` with `fetch` and `WebSocket`.
use std::time::Duration;

use fantoccini::key::Key;
use serde_json::{Value, json};

use crate::{
    browser_harness::{Browser, RECORD_WEBSOCKET_MESSAGES, launch, sent_messages},
    helpers::{Session, TestApp, serve, spawn_app, spawn_app_with},
};

const ADD: &str = "mutation($h: String!) { addFriend(handle: $h) { status } }";

/// One browser at a time: two Chromiums on two cores make both crawl.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Replaces the text of the CodeMirror editor inside `css` by typing.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    browser.find(&format!("{css} .CodeMirror")).await.click().await.unwrap();
    let editor = browser.client.active_element().await.unwrap();
    editor.send_keys(&(Key::Control + "a")).await.unwrap();
    editor.send_keys(&Key::Backspace.to_string()).await.unwrap();
    editor.send_keys(text).await.unwrap();
}

/// New people ask `to` to be friends, one every 2 s, until the result pane
/// shows one of them (the subscription may still be connecting); answers
/// the handle it shows.
async fn ask_until_shown(app: &TestApp, browser: &Browser, to: &str, prefix: &str) -> String {
    for n in 0..10 {
        let handle = format!("{prefix}{n}");
        let asker = app.sign_up(&handle).await;
        let body = app.graphql(ADD, json!({ "h": to }), Some(&asker.access)).await;
        assert_eq!(body["data"]["addFriend"]["status"], "REQUESTED", "{body}");
        let shown = browser
            .text_until(".graphiql-response", Duration::from_secs(2), |text| {
                text.contains(&format!("\"{handle}\""))
            })
            .await;
        if let Some(text) = shown {
            assert!(text.contains("INCOMING"), "{text}");
            return handle;
        }
    }
    panic!("no event reached GraphiQL's result pane for {to}");
}

/// The `connection_init` messages the page sent, with the token each carried.
async fn init_tokens(browser: &Browser) -> Vec<String> {
    sent_messages(browser)
        .await
        .into_iter()
        .filter(|m| m["type"] == "connection_init")
        .map(|m| m["payload"]["authorization"].as_str().unwrap_or("(none)").to_owned())
        .collect()
}

/// The page asked for nothing beyond loopback (blocked attempts count),
/// and its connections went through the recording proxy, which let nothing
/// else out.
async fn assert_stayed_on_loopback(browser: &Browser, app: &TestApp) {
    let requests = browser.page_requests().await;
    let graphql_socket = format!("ws://127.0.0.1:{}/graphql", app.port);
    assert!(
        requests.contains(&graphql_socket),
        "the page's requests are seen: {requests:?}"
    );
    for request in &requests {
        let url = url::Url::parse(request).unwrap_or_else(|_| panic!("{request}"));
        // chrome://, data: and blob: addresses never touch the network.
        if matches!(url.scheme(), "http" | "https" | "ws" | "wss") {
            assert_eq!(url.host_str(), Some("127.0.0.1"), "the page asked for {request}");
        }
    }
    let reached_app = format!("127.0.0.1:{}", app.port);
    assert!(
        browser.network.destinations().contains(&reached_app),
        "the browser's connections went through the recording proxy: {:?}",
        browser.network.destinations()
    );
}

#[tokio::test]
async fn graphiql_runs_queries_mutations_and_subscriptions_with_the_token_typed_in_its_headers_tab() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(browser) = launch().await else { return };
    let app = spawn_app().await;
    let alex = app.sign_up("alex").await;
    let sam = app.sign_up("sam").await;

    browser.client.goto(&format!("{}/graphql", app.address)).await.unwrap();
    browser.find(".graphiql-query-editor .CodeMirror").await;
    browser.client.execute(RECORD_WEBSOCKET_MESSAGES, vec![]).await.unwrap();

    // A query and a mutation run as the person whose token is typed in.
    type_into(&browser, ".graphiql-query-editor", "{ me { handle } }").await;
    run_as(&browser, &alex).await;
    let shown = browser
        .text_until(".graphiql-response", Duration::from_secs(10), |t| {
            t.contains("\"alex\"")
        })
        .await;
    assert!(
        shown.as_deref().is_some_and(|t| t.contains("\"handle\"")),
        "the result pane shows who I am: {shown:?}"
    );
    type_into(
        &browser,
        ".graphiql-query-editor",
        "mutation { addFriend(handle: \"sam\") { status user { handle } } }",
    )
    .await;
    browser.find(".graphiql-execute-button").await.click().await.unwrap();
    let shown = browser
        .text_until(".graphiql-response", Duration::from_secs(10), |t| {
            t.contains("REQUESTED")
        })
        .await;
    assert!(
        shown.as_deref().is_some_and(|t| t.contains("\"sam\"")),
        "the result pane shows the mutation's answer: {shown:?}"
    );
    let friends = app
        .graphql(
            "{ me { friends { status user { handle } } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(
        friends["data"]["me"]["friends"],
        json!([{ "status": "INCOMING", "user": { "handle": "alex" } }]),
        "it ran as Alex: {friends}"
    );

    type_into(
        &browser,
        ".graphiql-query-editor",
        "subscription { friendshipChanged { status user { handle } } }",
    )
    .await;
    run_as(&browser, &alex).await;

    ask_until_shown(&app, &browser, "alex", "kim").await;
    assert_eq!(init_tokens(&browser).await, [format!("Bearer {}", alex.access)]);

    // Another token: the next run opens a new socket signed in with it.
    browser.find(".graphiql-execute-button").await.click().await.unwrap();
    run_as(&browser, &sam).await;
    ask_until_shown(&app, &browser, "sam", "lee").await;
    assert_eq!(
        init_tokens(&browser).await,
        [format!("Bearer {}", alex.access), format!("Bearer {}", sam.access)]
    );

    // The documentation explorer shows the schema's descriptions.
    let described = app
        .graphql(
            "{ __type(name: \"Query\") { fields { name description } } }",
            json!({}),
            None,
        )
        .await;
    let me = described["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "me")
        .unwrap()["description"]
        .as_str()
        .expect("Query.me has a description")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    browser
        .find("button[aria-label='Show Documentation Explorer']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find(".graphiql-doc-explorer a.graphiql-doc-explorer-type-name")
        .await
        .click()
        .await
        .unwrap();
    let docs = browser
        .text_until(".graphiql-doc-explorer", Duration::from_secs(10), |t| t.contains(&me))
        .await;
    assert!(docs.is_some(), "the docs explorer shows “{me}”");

    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "the console is clean: {problems:?}");
    assert_stayed_on_loopback(&browser, &app).await;

    // With introspection off, GraphiQL says so and does not ask.
    let closed = spawn_app_with(&[("GRAPHQL_INTROSPECTION", "false")]).await;
    browser
        .client
        .goto(&format!("{}/graphql", closed.address))
        .await
        .unwrap();
    browser.find(".graphiql-query-editor .CodeMirror").await;
    let notice = browser.find(".notice").await.text().await.unwrap();
    assert!(notice.contains("Introspection is turned off"), "{notice}");
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "the console is clean: {problems:?}");
    browser.close().await;
}

/// Types `{"Authorization": "Bearer …"}` into the Headers tab and runs.
async fn run_as(browser: &Browser, session: &Session) {
    browser.find("button[data-name='headers']").await.click().await.unwrap();
    let headers = json!({ "Authorization": format!("Bearer {}", session.access) }).to_string();
    type_into(browser, ".graphiql-editor-tool .graphiql-editor:not(.hidden)", &headers).await;
    browser.find(".graphiql-execute-button").await.click().await.unwrap();
}

/// A web app's page: signs up, asks who it is, subscribes, and logs each
/// step as a JSON line in `#log`. `?api=` is the API's origin, `?handle=`
/// the person to sign up.
const WEB_APP: &str = r#"<!DOCTYPE html>
<meta charset="utf-8">
<title>web app</title>
<pre id="log"></pre>
<script>
  var params = new URLSearchParams(location.search);
  var api = params.get('api');
  var handle = params.get('handle');
  function log(line) { document.getElementById('log').textContent += JSON.stringify(line) + '\n'; }
  async function graphql(query, variables, token) {
    var headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    var response = await fetch(api + '/graphql', { method: 'POST', headers: headers, body: JSON.stringify({ query: query, variables: variables }) });
    return response.json();
  }
  (async function () {
    try {
      var signUp = await graphql('mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { handle } } }',
        { i: { email: handle + '@example.com', password: 'correct horse battery', handle: handle, displayName: handle } });
      var token = signUp.data.signUp.accessToken;
      log({ step: 'signUp', handle: signUp.data.signUp.user.handle });
      var me = await graphql('{ me { handle } }', {}, token);
      log({ step: 'me', handle: me.data.me.handle });
      var socket = new WebSocket(api.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
      socket.onopen = function () {
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer ' + token } }));
      };
      socket.onmessage = function (event) {
        var message = JSON.parse(event.data);
        if (message.type === 'connection_ack') {
          socket.send(JSON.stringify({ id: '1', type: 'subscribe',
            payload: { query: 'subscription { friendshipChanged { status user { handle } } }' } }));
          log({ step: 'subscribed' });
        } else if (message.type === 'next') {
          log({ step: 'event', data: message.payload.data });
        } else if (message.type === 'ping') {
          socket.send(JSON.stringify({ type: 'pong' }));
        }
      };
    } catch (error) {
      log({ step: 'failed', error: String(error) });
    }
  })();
</script>
"#;

async fn serve_web_app() -> String {
    serve(axum::Router::new().route("/", axum::routing::get(|| async { axum::response::Html(WEB_APP) }))).await
}

fn steps(log: &str) -> Vec<Value> {
    log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[tokio::test]
async fn a_web_app_on_a_listed_origin_signs_up_queries_and_subscribes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(browser) = launch().await else { return };
    let listed = serve_web_app().await;
    let unlisted = serve_web_app().await;
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", &listed)]).await;

    browser
        .client
        .goto(&format!("{listed}/?api={}&handle=web", app.address))
        .await
        .unwrap();
    let subscribed = browser
        .text_until("#log", Duration::from_secs(20), |t| {
            t.contains("\"subscribed\"") || t.contains("\"failed\"")
        })
        .await
        .expect("the page got through its steps");
    let log = steps(&subscribed);
    assert_eq!(log[0], json!({ "step": "signUp", "handle": "web" }), "{subscribed}");
    assert_eq!(log[1], json!({ "step": "me", "handle": "web" }), "{subscribed}");

    let mut event = None;
    for n in 0..10 {
        let asker = app.sign_up(&format!("kim{n}")).await;
        app.graphql(ADD, json!({ "h": "web" }), Some(&asker.access)).await;
        event = browser
            .text_until("#log", Duration::from_secs(2), |t| t.contains("\"event\""))
            .await;
        if event.is_some() {
            break;
        }
    }
    let event = steps(&event.expect("the subscription's event reached the page"));
    let status = &event.last().unwrap()["data"]["friendshipChanged"]["status"];
    assert_eq!(status, "INCOMING");
    assert_stayed_on_loopback(&browser, &app).await;

    // The same page on an origin not listed cannot call the API.
    browser
        .client
        .goto(&format!("{unlisted}/?api={}&handle=other", app.address))
        .await
        .unwrap();
    let refused = browser
        .text_until("#log", Duration::from_secs(20), |t| !t.is_empty())
        .await
        .unwrap();
    assert_eq!(steps(&refused)[0]["step"], "failed", "{refused}");
    // The preflight stopped the sign-up: the handle is still free.
    app.sign_up("other").await;
    browser.close().await;
}

/// README.md's "Now playing on a web page": its HTML snippet, copied as it
/// stands (the server's address put in), saved to a file and opened from
/// the disk, shows what Alex is playing.
#[tokio::test]
async fn the_readme_now_playing_snippet_works_from_a_file_on_disk() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(browser) = launch().await else { return };
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let alex = app.sign_up("alex").await;
    app.link_spotify(&alex, "alex-sandbox").await;
    let public = app
        .graphql(
            "mutation { updateSettings(input: { nowPlayingPublic: true }) { settings { nowPlayingPublic } } }",
            json!({}),
            Some(&alex.access),
        )
        .await;
    assert_eq!(
        public["data"]["updateSettings"]["settings"]["nowPlayingPublic"], true,
        "{public}"
    );
    let played = app
        .client
        .post(format!("{}/sandbox/spotify/play", app.address))
        .json(&json!({ "account": "alex-sandbox", "track": crate::shares::TRACK }))
        .send()
        .await
        .unwrap();
    assert!(played.status().is_success());
    let now: Value = app.get("/v1/users/alex/now-playing").await.json().await.unwrap();
    let expected = now["text"].as_str().unwrap_or_else(|| panic!("{now}")).to_owned();

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Now playing on a web page")
        .nth(1)
        .expect("README.md has the section");
    let snippet = section
        .split("```html\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the section has an html block");
    assert!(
        snippet.contains("http://127.0.0.1:8080/v1/users/alex/now-playing"),
        "{snippet}"
    );
    let page = snippet.replace("http://127.0.0.1:8080", &app.address);
    let file = std::env::temp_dir().join(format!("now-playing-{}.html", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, page).unwrap();

    browser
        .client
        .goto(&format!("file://{}", file.display()))
        .await
        .unwrap();
    let shown = browser
        .text_until("#now-playing", Duration::from_secs(20), |t| t != "…")
        .await;
    std::fs::remove_file(&file).ok();
    assert_eq!(
        shown.as_deref(),
        Some(expected.as_str()),
        "the page shows the route's text"
    );
    browser.close().await;
}

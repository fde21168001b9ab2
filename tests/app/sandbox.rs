//! Sandbox mode: with no Spotify credentials the binary serves its own
//! Spotify stand-in and the whole link flow runs with no outside account.
use serde_json::json;

use crate::helpers::{TestApp, spawn_app_with};

/// `POST /sandbox/{path}` with a JSON body.
async fn sandbox_post(app: &TestApp, path: &str, body: &serde_json::Value) -> reqwest::Response {
    app.client
        .post(format!("{}/sandbox/{path}", app.address))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `POST /sandbox/{path}`, which must create what it asks for (a play, a
/// fault).
async fn created(app: &TestApp, path: &str, body: serde_json::Value) {
    let response = sandbox_post(app, path, &body).await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED, "{path} {body}");
}

#[tokio::test]
async fn sandbox_mode_links_spotify_and_records_plays_end_to_end() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let sam = app.sign_up("sam").await;

    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&sam.access))
        .await;
    let url = body["data"]["connectSpotify"]["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/sandbox/spotify/accounts/authorize?", app.address)),
        "{url}"
    );
    let (status, page) = app.browse(url).await;
    assert!(status.is_success(), "{page}");
    assert!(page.contains("You're connected as <b>@sam</b>"), "{page}");

    let me = app
        .graphql("{ me { spotify { accountId userId } } }", json!({}), Some(&sam.access))
        .await;
    let account = me["data"]["me"]["spotify"]["accountId"].as_str().unwrap().to_owned();
    let user_id = me["data"]["me"]["spotify"]["userId"].as_str().unwrap();
    assert!(user_id.starts_with("sandbox-"), "{me}");
    let played = app
        .client
        .post(format!("{}/sandbox/spotify/play", app.address))
        .json(&json!({ "account": account, "track": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC" }))
        .send()
        .await
        .unwrap();
    assert_eq!(played.status(), reqwest::StatusCode::CREATED);

    let now = app
        .graphql(
            "{ nowPlaying(handle: \"sam\") { isPlaying track { id } text } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(now["data"]["nowPlaying"]["isPlaying"], true, "{now}");
    assert_eq!(now["data"]["nowPlaying"]["track"]["id"], "4uLU6hMCjMI75M1A2tKUQC");
}

#[tokio::test]
async fn without_sandbox_there_are_no_sandbox_routes() {
    let app = spawn_app_with(&[]).await;
    let response = app
        .client
        .post(format!("{}/sandbox/spotify/play", app.address))
        .json(&json!({ "account": "x", "track": "4uLU6hMCjMI75M1A2tKUQC" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn in_sandbox_mode_a_play_completes_the_story() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&alex.access))
        .await;
    app.browse(&format!(
        "{}&sandbox_account=alex-sandbox",
        body["data"]["connectSpotify"]["url"].as_str().unwrap()
    ))
    .await;
    let id = crate::shares::share(&app, &sam, "alex", crate::shares::TRACK).await["id"].clone();

    app.advance(std::time::Duration::from_secs(1));
    let played = app
        .client
        .post(format!("{}/sandbox/spotify/play", app.address))
        .json(&json!({ "account": "alex-sandbox", "track": crate::shares::TRACK }))
        .send()
        .await
        .unwrap();
    assert_eq!(played.status(), reqwest::StatusCode::CREATED);
    app.advance(std::time::Duration::from_secs(600));
    app.run_due_jobs().await;

    let access = crate::helpers::relog(&app, &sam).await;
    let share = app
        .graphql(
            "query($id: ID!) { share(id: $id) { status } }",
            json!({ "id": id }),
            Some(&access),
        )
        .await;
    assert_eq!(share["data"]["share"]["status"], "PLAYED", "{share}");
}

#[tokio::test]
async fn in_sandbox_mode_the_receipt_lands_in_the_outbox() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    app.graphql(
        "mutation { registerDevice(input: { token: \"sams-phone\", platform: ANDROID }) { id } }",
        json!({}),
        Some(&sam.access),
    )
    .await;
    app.link_spotify(&alex, "alex-sandbox").await;
    crate::shares::share(&app, &sam, "alex", crate::shares::TRACK).await;
    app.advance(std::time::Duration::from_secs(1));
    app.client
        .post(format!("{}/sandbox/spotify/play", app.address))
        .json(&json!({ "account": "alex-sandbox", "track": crate::shares::TRACK }))
        .send()
        .await
        .unwrap();
    app.advance(std::time::Duration::from_secs(600));
    app.run_due_jobs().await;

    let outbox: serde_json::Value = app.get("/sandbox/outbox").await.json().await.unwrap();
    let newest = &outbox[0];
    assert_eq!(newest["channel"], "push", "{outbox}");
    assert_eq!(newest["to"], "sams-phone");
    assert!(
        newest["text"].as_str().unwrap().starts_with("alex played your song"),
        "{newest}"
    );
    assert_eq!(newest["payload"]["message"]["data"]["type"], "share_played");
}

#[tokio::test]
async fn in_sandbox_mode_one_can_talk_to_the_bot() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    say(&app, json!({ "psid": "demo-user", "text": "hello" })).await;

    let texts = outbox_texts(&app, "demo-user").await;
    assert!(texts[0].starts_with("Hi! I'm Send Songs"), "{texts:?}");
}

/// The README's tour: Sam shares, Alex opens the link in his push and plays
/// the song in the sandbox Spotify with a progress; Sam sees every step.
#[tokio::test]
async fn in_sandbox_mode_the_whole_ladder_shows_opened_listening_played() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    app.link_spotify(&alex, "alex-sandbox").await;
    app.graphql(
        "mutation { registerDevice(input: { token: \"alexs-phone\", platform: ANDROID }) { id } }",
        json!({}),
        Some(&alex.access),
    )
    .await;
    let mut sams = app.subscribe(Some(&sam.access), crate::receipts::STEPS).await;
    crate::shares::share(&app, &sam, "alex", crate::shares::TRACK).await;
    app.run_due_jobs().await;

    let outbox: serde_json::Value = app.get("/sandbox/outbox").await.json().await.unwrap();
    let push = outbox
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "alexs-phone")
        .expect("Alex's push");
    let link = push["payload"]["message"]["data"]["url"].as_str().unwrap();
    assert_eq!(
        app.location(link).await,
        "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"
    );
    assert_eq!(crate::receipts::step(&mut sams).await["kind"], "OPENED");

    let play = |body: serde_json::Value| {
        app.client
            .post(format!("{}/sandbox/spotify/play", app.address))
            .json(&body)
            .send()
    };
    let both = play(json!({ "account": "alex-sandbox", "track": crate::shares::TRACK,
                            "progressMs": 1, "played_at": "2026-11-30T10:00:00Z" }))
    .await
    .unwrap();
    assert_eq!(both.status(), reqwest::StatusCode::BAD_REQUEST);
    let backwards = play(json!({ "account": "alex-sandbox", "track": crate::shares::TRACK, "progressMs": -5 }))
        .await
        .unwrap();
    assert_eq!(backwards.status(), reqwest::StatusCode::BAD_REQUEST);
    app.advance(std::time::Duration::from_secs(10));
    let played = play(json!({ "account": "alex-sandbox", "track": crate::shares::TRACK, "progressMs": 4000 }))
        .await
        .unwrap();
    assert_eq!(played.status(), reqwest::StatusCode::CREATED);
    app.advance(std::time::Duration::from_secs(5));
    app.run_due_jobs().await;
    let listening = crate::receipts::step(&mut sams).await;
    assert_eq!(listening["kind"], "LISTENING", "{listening}");
    for _ in 0..30 {
        app.advance(std::time::Duration::from_secs(1));
        app.run_due_jobs().await;
    }
    let played = crate::receipts::step(&mut sams).await;
    assert_eq!(played["kind"], "PLAYED", "{played}");
    assert_eq!(played["share"]["status"], "PLAYED");
}

#[tokio::test]
async fn the_sandbox_spotify_can_be_asked_for_local_files_ads_and_failures() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let sam = app.sign_up("sam").await;
    let url = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&sam.access))
        .await["data"]["connectSpotify"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    app.browse(&url).await;
    let me = app
        .graphql("{ me { spotify { accountId userId } } }", json!({}), Some(&sam.access))
        .await;
    let account = me["data"]["me"]["spotify"]["accountId"].as_str().unwrap().to_owned();
    assert_ne!(account, me["data"]["me"]["spotify"]["userId"].as_str().unwrap(), "{me}");
    let post = async |path: &str, body: serde_json::Value| created(&app, path, body).await;
    let now_playing = async || {
        app.advance(std::time::Duration::from_secs(16));
        let access = crate::helpers::relog(&app, &sam).await;
        app.graphql("{ nowPlaying(handle: \"sam\") { text } }", json!({}), Some(&access))
            .await
    };

    let local = "spotify:local:Halsey:Manic+%28Deluxe%29:929:174";
    post("spotify/play", json!({ "account": account, "track": local })).await;
    let body = now_playing().await;
    assert_eq!(
        body["data"]["nowPlaying"]["text"], "sam is listening to a local file: “929” by Halsey",
        "{body}"
    );
    post("spotify/play", json!({ "account": account, "kind": "ad" })).await;
    let body = now_playing().await;
    assert_eq!(
        body["data"]["nowPlaying"]["text"], "sam last listened to a local file: “929” by Halsey",
        "an ad is nothing playing: {body}"
    );

    post("spotify/faults", json!({ "fault": "quota_exceeded" })).await;
    let body = now_playing().await;
    assert_eq!(crate::helpers::error_code(&body), Some("RATE_LIMITED"), "{body}");
    let access = crate::helpers::relog(&app, &sam).await;
    let me = app
        .graphql("{ me { spotify { receiptsResumeAt } } }", json!({}), Some(&access))
        .await;
    assert!(me["data"]["me"]["spotify"]["receiptsResumeAt"].is_string(), "{me}");

    app.advance(std::time::Duration::from_secs(14 * 3600));
    post("spotify/faults", json!({ "fault": "invalid_client" })).await;
    let access = crate::helpers::relog(&app, &sam).await;
    let track = app
        .graphql(
            "{ track(link: \"spotify:track:4uLU6hMCjMI75M1A2tKUQC\") { name } }",
            json!({}),
            Some(&access),
        )
        .await;
    assert_eq!(
        crate::helpers::error_code(&track),
        Some("UPSTREAM_UNAVAILABLE"),
        "{track}"
    );

    let kim = app.sign_up("kim").await;
    post("spotify/faults", json!({ "fault": "not_on_allowlist" })).await;
    let url = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&kim.access))
        .await["data"]["connectSpotify"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, page) = app.browse(&url).await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("Users and Access"), "{page}");
}

#[tokio::test]
async fn the_sandbox_fcm_refuses_tokens_as_fcm_does() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    for token in ["invalid-token-1", "thirdparty-1", "ok-1"] {
        let body = app
            .graphql(
                "mutation($t: String!) { registerDevice(input: { token: $t, platform: IOS }) { id } }",
                json!({ "t": token }),
                Some(&sam.access),
            )
            .await;
        assert!(body["data"]["registerDevice"].is_object(), "{body}");
    }
    crate::shares::share(&app, &alex, "sam", crate::shares::TRACK).await;
    app.run_due_jobs().await;

    let devices = app
        .graphql("{ me { devices { id } } }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(
        devices["data"]["me"]["devices"].as_array().unwrap().len(),
        2,
        "the invalid token is forgotten, the third-party auth error keeps the device: {devices}"
    );
}

/// What the sandbox's Send API accepted for `psid`, oldest first.
async fn outbox_texts(app: &TestApp, psid: &str) -> Vec<String> {
    let outbox: serde_json::Value = app.get("/sandbox/outbox").await.json().await.unwrap();
    let mut texts: Vec<String> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["channel"] == "messenger" && e["to"] == psid)
        .map(|e| e["text"].as_str().unwrap().to_owned())
        .collect();
    texts.reverse();
    texts
}

/// Posts to `/sandbox/messenger/send` ([`send`](crate::sandbox_messenger::send),
/// which runs the jobs it started) and expects it accepted.
async fn say(app: &TestApp, what: serde_json::Value) {
    let (status, body) = crate::sandbox_messenger::send(app, what.clone()).await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{what}: {body}");
}

#[tokio::test]
async fn the_sandbox_send_api_answers_documented_errors_on_demand() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    // flaky-…: the first message meets the error (1200, with HTTP 400), is
    // retried, and goes through.
    say(&app, json!({ "psid": "flaky-1200-2018024-ana", "text": "hello" })).await;
    assert!(outbox_texts(&app, "flaky-1200-2018024-ana").await.is_empty());
    app.advance(std::time::Duration::from_secs(600));
    app.run_due_jobs().await;
    let texts = outbox_texts(&app, "flaky-1200-2018024-ana").await;
    assert_eq!(
        texts.len(),
        2,
        "the greeting, then the first steps, each once: {texts:?}"
    );
    assert!(texts[0].starts_with("Hi! I'm Send Songs"), "{texts:?}");
    assert!(
        texts[1].starts_with("This chat isn't linked to Send Songs yet"),
        "{texts:?}"
    );

    // error-…: every message meets it; 551 is never retried.
    say(&app, json!({ "psid": "error-551-ben", "text": "hello" })).await;
    app.advance(std::time::Duration::from_secs(3 * 3600));
    app.run_due_jobs().await;
    assert!(outbox_texts(&app, "error-551-ben").await.is_empty());
    let refused = app
        .client
        .post(format!("{}/sandbox/graph/me/messages", app.address))
        .bearer_auth(api::sandbox::providers::PAGE_TOKEN)
        .json(&json!({ "recipient": { "id": "error-10-1893063-x" }, "message": { "text": "hi" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], 10);
    assert_eq!(body["error"]["error_subcode"], 1_893_063);
    assert_eq!(
        body["error"]["message"],
        "You are temporarily restricted from sending messages."
    );
}

#[tokio::test]
async fn the_sandbox_shares_links_and_opens_m_me_links_as_messenger_does() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let sam = app.sign_up("sam").await;
    let body = app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await;
    let code = body["data"]["createLinkCode"]["code"].as_str().unwrap();
    say(&app, json!({ "psid": "demo", "ref": code })).await;
    let linked = outbox_texts(&app, "demo").await;
    assert!(linked[0].starts_with("Hi! I'm Send Songs"), "{linked:?}");
    assert!(linked[1].starts_with("You're linked as @sam"), "{linked:?}");

    say(&app, json!({ "psid": "demo", "link": crate::shares::TRACK })).await;
    let texts = outbox_texts(&app, "demo").await;
    assert_eq!(
        texts.last().unwrap(),
        "You haven't added any friends yet: send `add <handle>` first, then the link again."
    );
}

/// Sam's deliveries, newest first: `(status, attempts, lastError)`.
async fn sams_deliveries(app: &TestApp, sam: &crate::helpers::Session) -> Vec<(String, i64, String)> {
    let access = crate::helpers::relog(app, sam).await;
    let body = app
        .graphql(
            "{ deliveries(first: 50) { nodes { channel status attempts lastError } } }",
            json!({}),
            Some(&access),
        )
        .await;
    body["data"]["deliveries"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter(|d| d["channel"] == "PUSH")
        .map(|d| {
            (
                d["status"].as_str().unwrap().to_owned(),
                d["attempts"].as_i64().unwrap(),
                d["lastError"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn register(app: &TestApp, who: &crate::helpers::Session, token: &str) {
    let body = app
        .graphql(
            "mutation($t: String!) { registerDevice(input: { token: $t, platform: ANDROID }) { id } }",
            json!({ "t": token }),
            Some(&who.access),
        )
        .await;
    assert!(body["data"]["registerDevice"].is_object(), "{body}");
}

async fn device_count(app: &TestApp, who: &crate::helpers::Session) -> usize {
    let access = crate::helpers::relog(app, who).await;
    let body = app.graphql("{ me { devices { id } } }", json!({}), Some(&access)).await;
    body["data"]["me"]["devices"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .len()
}

/// The one delivery whose last error mentions `code`.
fn with_error<'a>(deliveries: &'a [(String, i64, String)], code: &str) -> &'a (String, i64, String) {
    let found: Vec<_> = deliveries.iter().filter(|d| d.2.contains(code)).collect();
    assert_eq!(found.len(), 1, "{code}: {deliveries:?}");
    found[0]
}

#[tokio::test]
async fn the_sandbox_fcm_answers_every_documented_refusal_on_demand() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    for token in [
        "ok-1",
        "mismatch-1",
        "thirdparty-1",
        "denied-1",
        "unavailable-1",
        "internal-1",
        "quota-1",
    ] {
        register(&app, &sam, token).await;
    }
    crate::shares::share(&app, &alex, "sam", crate::shares::TRACK).await;
    app.run_due_jobs().await;

    let deliveries = sams_deliveries(&app, &sam).await;
    assert_eq!(deliveries.len(), 7, "{deliveries:?}");
    assert_eq!(deliveries.iter().filter(|d| d.0 == "SENT").count(), 1, "{deliveries:?}");
    // The token belongs to another sender: the device is forgotten.
    assert_eq!(with_error(&deliveries, "SENDER_ID_MISMATCH").0, "FAILED");
    // The operator's faults (APNs credentials; the IAM permission): failed, devices kept.
    assert_eq!(with_error(&deliveries, "THIRD_PARTY_AUTH_ERROR").0, "FAILED");
    assert_eq!(with_error(&deliveries, "PERMISSION_DENIED").0, "FAILED");
    // FCM's outages and the device's quota: waiting for a retry.
    for code in ["UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED"] {
        assert_eq!(with_error(&deliveries, code).0, "PENDING", "{code}: {deliveries:?}");
    }
    assert_eq!(
        device_count(&app, &sam).await,
        6,
        "only the mismatched token is forgotten"
    );

    // The quota's 429 backs off a minute at least, although it asked for 10 s.
    app.advance(std::time::Duration::from_secs(30));
    app.run_due_jobs().await;
    let quota = with_error(&sams_deliveries(&app, &sam).await, "QUOTA_EXCEEDED").clone();
    assert_eq!((quota.0.as_str(), quota.1), ("PENDING", 1), "{quota:?}");
    app.advance(std::time::Duration::from_secs(40));
    app.run_due_jobs().await;
    let quota = with_error(&sams_deliveries(&app, &sam).await, "QUOTA_EXCEEDED").clone();
    assert_eq!(quota.1, 2, "retried after the minute: {quota:?}");
}

#[tokio::test]
async fn the_sandbox_google_token_endpoint_refuses_as_google_does() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    register(&app, &sam, "sams-phone").await;
    for fault in ["invalid_client", "unauthorized_client", "deleted_client", "bad_gateway"] {
        created(&app, "google/faults", json!({ "fault": fault })).await;
    }
    // One push per share; each asks the token endpoint, which refuses it.
    let tracks = [
        "spotify:track:4uLU6hMCjMI75M1A2tKUQA",
        "spotify:track:4uLU6hMCjMI75M1A2tKUQB",
        "spotify:track:4uLU6hMCjMI75M1A2tKUQD",
        "spotify:track:4uLU6hMCjMI75M1A2tKUQE",
    ];
    let mut newest = Vec::new();
    for track in tracks {
        let shared = crate::shares::share(&app, &alex, "sam", track).await;
        assert!(shared["id"].is_string(), "{shared}");
        app.run_due_jobs().await;
        newest.push(sams_deliveries(&app, &sam).await[0].clone());
    }
    // The service account refused: the operator's fault, never retried.
    for ((status, _, error), code) in newest
        .iter()
        .zip(["invalid_client", "unauthorized_client", "deleted_client"])
    {
        assert_eq!(status, "FAILED", "{code}: {newest:?}");
        assert!(error.contains(code), "{code}: {newest:?}");
    }
    // Google's front end failing (an HTML 502) is an outage: retried, then sent.
    let (status, _, error) = &newest[3];
    assert_eq!(status, "PENDING", "{newest:?}");
    assert!(error.contains("502"), "{newest:?}");
    app.advance(std::time::Duration::from_secs(600));
    app.run_due_jobs().await;
    assert_eq!(sams_deliveries(&app, &sam).await[0].0, "SENT");
    assert_eq!(device_count(&app, &sam).await, 1, "the device is kept");

    let unknown = sandbox_post(&app, "google/faults", &json!({ "fault": "meteor" })).await;
    assert_eq!(unknown.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("bad_gateway"), "{body}");
}

#[tokio::test]
async fn the_sandbox_spotify_plays_items_it_cannot_describe_and_answers_rate_limits() {
    let app = spawn_app_with(&[("SANDBOX", "on")]).await;
    let (sam, alex) = crate::shares::pair(&app).await;
    app.link_spotify(&alex, "alex-sandbox").await;
    let shared = crate::shares::share(&app, &sam, "alex", crate::shares::TRACK).await;
    let play = async |body: serde_json::Value| created(&app, "spotify/play", body).await;
    let now_playing = async || {
        app.advance(std::time::Duration::from_secs(16));
        let access = crate::helpers::relog(&app, &sam).await;
        let body = app
            .graphql("{ nowPlaying(handle: \"alex\") { text } }", json!({}), Some(&access))
            .await;
        body["data"]["nowPlaying"]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    };

    app.advance(std::time::Duration::from_secs(1));
    play(json!({ "account": "alex-sandbox", "track": crate::shares::TRACK })).await;
    let listening = now_playing().await;
    assert!(listening.starts_with("alex is listening to “"), "{listening}");
    let track = listening.trim_start_matches("alex is listening to ").to_owned();
    // A type Spotify does not name: nothing playing, the last track stands.
    play(json!({ "account": "alex-sandbox", "kind": "unknown" })).await;
    assert_eq!(now_playing().await, format!("alex last listened to {track}"));
    // A track Spotify leaves out (item null, and track null in recently-played).
    play(json!({ "account": "alex-sandbox", "kind": "missing" })).await;
    assert_eq!(now_playing().await, "alex hasn't played anything lately");
    // Detection skips the missing track and finds the shared one.
    app.advance(std::time::Duration::from_secs(600));
    app.run_due_jobs().await;
    let access = crate::helpers::relog(&app, &sam).await;
    let state = app
        .graphql(
            "query($id: ID!) { share(id: $id) { status } }",
            json!({ "id": shared["id"] }),
            Some(&access),
        )
        .await;
    assert_eq!(state["data"]["share"]["status"], "PLAYED", "{state}");

    // A rate limit with the Retry-After asked for pauses every call that long.
    created(
        &app,
        "spotify/faults",
        json!({ "fault": "rate_limit", "retryAfter": "120" }),
    )
    .await;
    app.advance(std::time::Duration::from_secs(16));
    let access = crate::helpers::relog(&app, &sam).await;
    let limited = app
        .graphql("{ nowPlaying(handle: \"alex\") { text } }", json!({}), Some(&access))
        .await;
    assert_eq!(crate::helpers::error_code(&limited), Some("RATE_LIMITED"), "{limited}");
    let alex_access = crate::helpers::relog(&app, &alex).await;
    let me = app
        .graphql("{ me { spotify { receiptsResumeAt } } }", json!({}), Some(&alex_access))
        .await;
    let resume =
        chrono::DateTime::parse_from_rfc3339(me["data"]["me"]["spotify"]["receiptsResumeAt"].as_str().unwrap())
            .unwrap()
            .to_utc();
    assert_eq!(
        resume,
        api::clock::Clock::now(app.clock.as_ref()) + chrono::TimeDelta::seconds(120)
    );
}

//! Spotify's rate limits and upstream errors, with the bodies and headers
//! of `tests/fixtures/spotify/`: every `Retry-After` form waited out with a
//! floor and a ceiling and counted as an attempt; one pause for every
//! caller and every replica; the daily quota paused until it resets, shown
//! to people, no share lost; refusals of the app's own credentials are
//! `UPSTREAM_UNAVAILABLE`, never the person's input; at the callback only a
//! refused code asks the person to start again.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use api::clock::Clock as _;

use crate::{
    fixtures::{canned, variant},
    helpers::{Session, TestApp, error_code, error_message, relog, spawn_replica},
    messenger::Bot,
    shares::share,
    spotify_fake::Shared,
    spotify_tokens::{app_with_scripted_spotify_and, connect, scripted_spotify},
};

const RECENT: &str = "/v1/me/player/recently-played";
const CURRENT: &str = "/v1/me/player/currently-playing";
const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { text } }";
const TRACK: &str = "spotify:track:4uLU6hMCjMI75M1A2tKUQC";

pub fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .to_utc()
}

/// Alex, Sam's friend, shares a track with Sam (whose Spotify is scripted).
async fn shared_with_sam(app: &TestApp, sam: &Session) -> (Session, Value) {
    let alex = app.sign_up("alex").await;
    app.befriend(&alex, sam).await;
    let shared = share(app, &alex, "sam", TRACK).await;
    assert!(shared["id"].is_string(), "{shared}");
    (alex, shared)
}

async fn share_state(app: &TestApp, who: &Session, shared: &Value) -> Value {
    let body = app
        .graphql(
            "query($id: ID!) { share(id: $id) { status nextCheckAt playedAt } }",
            json!({ "id": shared["id"] }),
            Some(&relog(app, who).await),
        )
        .await;
    body["data"]["share"].clone()
}

fn calls(script: &Shared, path: &str) -> usize {
    script.lock().unwrap().count(path)
}

#[tokio::test]
async fn every_retry_after_is_waited_out_with_a_floor_and_a_ceiling_and_counts_as_an_attempt() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[("SPOTIFY_MAX_PAUSE", "2m")]).await;
    let (alex, shared) = shared_with_sam(&app, &sam).await;
    let floor = TimeDelta::seconds(1);
    let ceiling = TimeDelta::minutes(2);
    // (Retry-After, Spotify calls one check makes, shortest and longest pause)
    let variants: [(Option<&str>, usize, TimeDelta, TimeDelta); 5] = [
        (None, 3, floor, TimeDelta::seconds(2)),
        (Some("0"), 3, floor, TimeDelta::seconds(2)),
        (Some("2.5"), 3, TimeDelta::milliseconds(2500), TimeDelta::seconds(4)),
        (Some("Wed, 16 Sep 2026 10:00:00 GMT"), 3, floor, TimeDelta::seconds(2)),
        (Some("86400"), 1, ceiling, ceiling + TimeDelta::seconds(31)),
    ];
    for (retry_after, expected_calls, shortest, longest) in variants {
        let limited = variant("spotify", "error_429_rate_limited.json", |entry| {
            entry.endpoint == "GET /v1/me/player/recently-played" && entry.header("Retry-After") == retry_after
        });
        script.lock().unwrap().always(RECENT, limited);
        app.advance(Duration::from_secs(240)); // past the track and the previous pause: the check is due
        let before = calls(&script, RECENT);

        app.run_due_jobs().await;

        assert_eq!(
            calls(&script, RECENT) - before,
            expected_calls,
            "Retry-After {retry_after:?}"
        );
        app.run_due_jobs().await;
        assert_eq!(
            calls(&script, RECENT) - before,
            expected_calls,
            "Retry-After {retry_after:?}: nothing more until the pause is over"
        );
        let state = share_state(&app, &alex, &shared).await;
        assert_eq!(state["status"], "PENDING", "{state}");
        let wait = time(&state["nextCheckAt"]) - app.clock.now();
        assert!(
            wait >= shortest && wait <= longest,
            "Retry-After {retry_after:?}: checked again after {wait:?}"
        );
    }
}

/// The app talking to a scripted Spotify and to a fake Send API, with
/// Sam linked on both (`psam` in Messenger).
async fn bot_with_scripted_spotify() -> (Bot, Shared, Session) {
    let (fakes, graph) = crate::messenger::send_api().await;
    let (app, script) = scripted_spotify(&crate::messenger::messenger_settings(&graph)).await;
    let sam = app.sign_up("sam").await;
    crate::spotify_tokens::link_scripted(&app, &sam).await;
    let bot = Bot::around(app, fakes, graph);
    bot.link("psam", &sam).await;
    (bot, script, sam)
}

#[tokio::test]
async fn every_caller_on_every_replica_waits_out_the_same_pause() {
    let (bot, script, sam) = bot_with_scripted_spotify().await;
    let first = &bot.app;
    let (alex, shared) = shared_with_sam(first, &sam).await;
    first.make_now_playing_public(&sam).await;
    let limited = canned("spotify", "error_429_rate_limited.json").with_header("Retry-After", "60");
    script.lock().unwrap().answer(CURRENT, limited, 1);

    let refused = first
        .graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&sam.access))
        .await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    // It says when: the pause and a caller's jitter (at most a tenth of it
    // and a quarter second).
    let after = refused["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap();
    assert!((60..=67).contains(&after), "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!("Spotify is busy: try again in about {after} seconds"),
        "{refused}"
    );
    assert_eq!(calls(&script, CURRENT), 1);
    let resume = first.clock.now() + TimeDelta::seconds(60);

    // Every other caller of this process waits out the same pause: the
    // public route, the bot's `now`, and detection.
    let public = first.get("/v1/users/sam/now-playing").await;
    assert_eq!(public.status(), StatusCode::TOO_MANY_REQUESTS);
    let now = bot.say("psam", "now sam").await;
    let seconds: u64 = now
        .last()
        .unwrap()
        .strip_prefix("Spotify is busy: try again in about ")
        .and_then(|rest| rest.strip_suffix(" seconds"))
        .unwrap_or_else(|| panic!("{now:?}"))
        .parse()
        .unwrap();
    assert!((60..=67).contains(&seconds), "{now:?}");
    first.advance(Duration::from_secs(30)); // the check of the share is due
    first.run_due_jobs().await;
    let state = share_state(first, &alex, &shared).await;
    assert_eq!(state["status"], "PENDING", "{state}");
    assert!(
        time(&state["nextCheckAt"]) >= resume,
        "checked after the pause: {state}"
    );
    assert_eq!(
        calls(&script, CURRENT),
        1,
        "nobody called Spotify: {:?}",
        calls(&script, RECENT)
    );
    assert_eq!(calls(&script, RECENT), 0, "detection did not call Spotify");

    if on_postgres() {
        // Another replica on the same database waits it out too (one SQLite
        // file serves one process).
        let urls = [
            (
                "SPOTIFY_ACCOUNTS_URL",
                first.state.settings.spotify.accounts_url.clone(),
            ),
            ("SPOTIFY_API_URL", first.state.settings.spotify.api_url.clone()),
        ];
        let extra: Vec<(&str, &str)> = urls.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let second = spawn_replica(first, &extra).await;
        let access = relog(&second, &sam).await;
        let elsewhere = second.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
        assert_eq!(error_code(&elsewhere), Some("RATE_LIMITED"), "{elsewhere}");
        assert_eq!(calls(&script, CURRENT), 1, "the other replica did not call Spotify");
        let me = second
            .graphql("{ me { spotify { receiptsResumeAt } } }", json!({}), Some(&access))
            .await;
        assert_eq!(time(&me["data"]["me"]["spotify"]["receiptsResumeAt"]), resume);
    }

    first.advance(Duration::from_secs(31));
    let access = relog(first, &sam).await;
    let answered = first.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert!(answered["data"]["nowPlaying"].is_object(), "{answered}");
    assert_eq!(calls(&script, CURRENT), 2);
    let me = first
        .graphql("{ me { spotify { receiptsResumeAt } } }", json!({}), Some(&access))
        .await;
    assert!(me["data"]["me"]["spotify"]["receiptsResumeAt"].is_null(), "{me}");
}

#[tokio::test]
async fn the_daily_quota_pauses_every_call_until_it_resets_and_no_share_is_lost() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[("SHARE_TTL", "2h")]).await;
    let (alex, shared) = shared_with_sam(&app, &sam).await;
    let shared_at = time(&shared["createdAt"]);
    let quota = canned("spotify", "error_429_quota_exceeded.json");
    assert_eq!(
        quota.headers.iter().find(|(k, _)| k == "Retry-After").unwrap().1,
        "48925"
    );
    script.lock().unwrap().answer(RECENT, quota, 1);

    app.advance(Duration::from_secs(5 * 60));
    app.run_due_jobs().await;

    assert_eq!(calls(&script, RECENT), 1, "the quota is not retried");
    let resume_expected = app.clock.now() + TimeDelta::seconds(48_925);
    let access = relog(&app, &sam).await;
    let me = app
        .graphql(
            "{ me { spotify { status receiptsResumeAt } } }",
            json!({}),
            Some(&access),
        )
        .await;
    assert_eq!(
        time(&me["data"]["me"]["spotify"]["receiptsResumeAt"]),
        resume_expected,
        "{me}"
    );
    assert!(app.metric("spotify_quota_exceeded_total").await >= 1.0);
    let state = share_state(&app, &alex, &shared).await;
    let next = time(&state["nextCheckAt"]);
    assert!(
        next >= resume_expected && next <= resume_expected + TimeDelta::seconds(31),
        "{state}"
    );

    // Nobody calls Spotify meanwhile, and people are told why.
    let busy = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert_eq!(error_code(&busy), Some("RATE_LIMITED"), "{busy}");
    assert!(error_message(&busy).contains("paused"), "{busy}");
    app.advance(Duration::from_secs(3 * 3600)); // past the share's expiry, past the hourly sweep
    app.run_due_jobs().await;
    assert_eq!(calls(&script, RECENT), 1);
    assert_eq!(
        share_state(&app, &alex, &shared).await["status"],
        "PENDING",
        "not expired by the pause"
    );

    // Sam played it during the pause, before it expired.
    let played_at = shared_at + TimeDelta::minutes(30);
    let mut page = crate::fixtures::json("spotify", "recently_played_page.json");
    page["items"] = json!([{ "track": crate::fixtures::json("spotify", "track_development_mode_2026.json"),
        "played_at": played_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "context": null }]);
    page["items"][0]["track"]["id"] = json!("4uLU6hMCjMI75M1A2tKUQC");
    script
        .lock()
        .unwrap()
        .always(RECENT, canned("spotify", "recently_played_page.json").with_json(&page));
    app.advance(Duration::from_secs(11 * 3600));
    app.run_due_jobs().await;

    let state = share_state(&app, &alex, &shared).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
    assert_eq!(time(&state["playedAt"]), played_at);
    let me = app
        .graphql(
            "{ me { spotify { receiptsResumeAt } } }",
            json!({}),
            Some(&relog(&app, &sam).await),
        )
        .await;
    assert!(me["data"]["me"]["spotify"]["receiptsResumeAt"].is_null(), "{me}");
}

#[tokio::test]
async fn a_refused_app_credential_is_upstream_unavailable_never_the_persons_input() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let alex = app.sign_up("alex").await;
    app.befriend(&alex, &sam).await;
    for (n, fixture) in [
        "token_error_invalid_client.json",
        "token_error_invalid_client_secret.json",
        "token_error_invalid_client_bare.json",
        "token_error_unsupported_grant_type.json",
        "token_error_invalid_request_code_verifier_required.json",
        "token_error_503_html.html",
    ]
    .into_iter()
    .enumerate()
    {
        script
            .lock()
            .unwrap()
            .always("/api/token:client_credentials", canned("spotify", fixture));
        let link = format!("spotify:track:{n:0>22}");
        let preview = app
            .graphql(
                "query($l: String!) { track(link: $l) { name } }",
                json!({ "l": link }),
                Some(&sam.access),
            )
            .await;
        assert_eq!(
            error_code(&preview),
            Some("UPSTREAM_UNAVAILABLE"),
            "{fixture}: {preview}"
        );
        assert!(!error_message(&preview).contains("no track"), "{fixture}: {preview}");
        let body = app
            .graphql(
                crate::shares::SHARE,
                json!({ "to": "sam", "t": link, "n": null }),
                Some(&alex.access),
            )
            .await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{fixture}: {body}");
    }
    assert_eq!(calls(&script, "/v1/tracks"), 0, "no Web API call without a token");

    script.lock().unwrap().normal("/api/token:client_credentials");
    let found = app
        .graphql(
            "query($l: String!) { track(link: $l) { name } }",
            json!({ "l": TRACK }),
            Some(&sam.access),
        )
        .await;
    assert_eq!(found["data"]["track"]["name"], "Scripted Song", "{found}");
}

#[tokio::test]
async fn the_operator_is_told_of_each_token_endpoint_trouble_once_until_it_answers_again() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let log = crate::helpers::capture_log();
    let refused = "spotify's token endpoint refused this server";
    let failing = "spotify's token endpoint is failing";
    let preview = async |n: usize, access: &str| {
        let link = format!("spotify:track:{n:0>22}");
        let body = app
            .graphql(
                "query($l: String!) { track(link: $l) { name } }",
                json!({ "l": link }),
                Some(access),
            )
            .await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    };
    let answer = |fixture: &str| {
        script
            .lock()
            .unwrap()
            .always("/api/token:client_credentials", canned("spotify", fixture));
    };

    answer("token_error_invalid_client.json");
    for n in 0..3 {
        preview(n, &sam.access).await;
    }
    assert_eq!(log.count(refused), 1, "{}", log.text());
    // Another cause is news: an outage, then the refusal again.
    answer("token_error_503_html.html");
    for n in 3..5 {
        preview(n, &sam.access).await;
    }
    assert_eq!(log.count(failing), 1, "{}", log.text());
    answer("token_error_invalid_client.json");
    preview(5, &sam.access).await;
    preview(6, &sam.access).await;
    assert_eq!(log.count(refused), 2, "{}", log.text());

    // The endpoint answers (Sam's token is refreshed): the next refusal is
    // told again.
    app.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;
    let playing = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;
    assert!(playing["data"]["nowPlaying"].is_object(), "{playing}");
    preview(7, &access).await;
    preview(8, &access).await;
    assert_eq!(log.count(refused), 3, "{}", log.text());
    assert_eq!(log.count(failing), 1, "{}", log.text());
}

#[tokio::test]
async fn a_refused_client_on_a_persons_refresh_keeps_their_link() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    script.lock().unwrap().always(
        "/api/token:refresh_token",
        canned("spotify", "token_error_invalid_client_secret.json"),
    );
    app.advance(Duration::from_secs(3600));
    let access = relog(&app, &sam).await;

    let body = app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&access)).await;

    assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{body}");
    let me = app
        .graphql("{ me { spotify { status } } }", json!({}), Some(&access))
        .await;
    assert_eq!(me["data"]["me"]["spotify"]["status"], "ACTIVE");
}

#[tokio::test]
async fn at_the_callback_only_a_refused_code_is_the_persons_the_rest_is_not_answering() {
    let (app, script) = scripted_spotify(&[]).await;
    let sam = app.sign_up("sam").await;
    for (fixture, persons) in [
        ("token_error_invalid_grant_invalid_authorization_code.json", true),
        ("token_error_invalid_grant_code_verifier_incorrect.json", true),
        ("token_error_invalid_grant_invalid_redirect_uri.json", false),
        ("token_error_invalid_client.json", false),
        ("token_error_invalid_client_secret.json", false),
        ("token_error_503_html.html", false),
    ] {
        script
            .lock()
            .unwrap()
            .always("/api/token:authorization_code", canned("spotify", fixture));

        let (status, page) = connect(&app, &sam).await;

        assert_eq!(status, StatusCode::BAD_GATEWAY, "{fixture}: {page}");
        let expected = if persons {
            "Spotify did not accept this authorization: please start again"
        } else {
            "Spotify is not answering right now: please try again"
        };
        assert!(page.contains(expected), "{fixture}: {page}");
        let me = app
            .graphql("{ me { spotify { status } } }", json!({}), Some(&sam.access))
            .await;
        assert!(me["data"]["me"]["spotify"].is_null(), "{fixture}: nothing saved: {me}");
    }

    script.lock().unwrap().normal("/api/token:authorization_code");
    let (status, page) = connect(&app, &sam).await;
    assert_eq!(status, StatusCode::OK, "{page}");
}

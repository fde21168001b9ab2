//! Every answer the providers' manifests list
//! (`tests/fixtures/{spotify,google,fcm}/manifest.json`), driven through
//! the app with the fakes sending the fixture's bytes, status and headers.
//! Answers are picked by kind — every Spotify 429, 5xx, 401 and 404, every
//! token grant, every FCM answer that is retried — so a new fixture of a
//! known kind is driven without being named here; the other answers are
//! named by the test that drives them. The last test fails when a manifest
//! entry is driven by no test.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use api::clock::Clock as _;

use crate::{
    fixtures::{Canned, Entry, canned, entries, json as fixture_json},
    helpers::{Session, TestApp, error_code, error_message, relog},
    notifications::{deliveries, of_kind, receipt, world},
    shares::{SHARE, TRACK, share},
    spotify_fake::Shared,
    spotify_tokens::{app_with_scripted_spotify_and, connect, scripted_spotify},
};

const CURRENT: &str = "/v1/me/player/currently-playing";
const RECENT: &str = "/v1/me/player/recently-played";
const TRACKS: &str = "/v1/tracks";
const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { isPlaying text track { id name } } }";
const LOOKUP: &str = "query($l: String!) { track(link: $l) { id name } }";
const LINK: &str = "{ me { spotify { accountId userId displayName status receiptsResumeAt } } }";
const SHARE_STATE: &str = "query($id: ID!) { share(id: $id) { status nextCheckAt playedAt } }";
/// Tries of one Spotify call (`api::spotify::client::ATTEMPTS`).
const ATTEMPTS: usize = 3;

/// A kind of answer driven here for each of its entries: provider, what
/// the app makes of it, which entries.
type Kind = (&'static str, &'static str, fn(&Entry) -> bool);

const KINDS: &[Kind] = &[
    ("spotify", "429: paused by its Retry-After", is_429),
    ("spotify", "5xx: retried, then 'not answering', nothing lost", is_5xx),
    ("spotify", "401: the token refreshed once, the call retried", is_401),
    ("spotify", "404: no such track, or nothing playing", is_404),
    ("spotify", "token grants: read and used", is_token_grant),
    ("fcm", "429 and 5xx: retried when due, the device kept", is_fcm_retried),
];

fn is_429(entry: &Entry) -> bool {
    entry.status == 429
}

fn is_5xx(entry: &Entry) -> bool {
    entry.status >= 500
}

fn is_401(entry: &Entry) -> bool {
    entry.status == 401
}

fn is_404(entry: &Entry) -> bool {
    entry.status == 404
}

fn is_token_grant(entry: &Entry) -> bool {
    entry.file.starts_with("token_success_")
}

fn is_fcm_retried(entry: &Entry) -> bool {
    entry.status == 429 || entry.status >= 500
}

/// The entries of `provider` of one kind (never none).
fn of(provider: &'static str, kind: fn(&Entry) -> bool) -> Vec<Entry> {
    let picked: Vec<Entry> = entries(provider).into_iter().filter(kind).collect();
    assert!(!picked.is_empty(), "no {provider} entry of this kind");
    picked
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .to_utc()
}

/// The bearer tokens that reached `path`, in order.
fn bearers(script: &Shared, path: &str) -> Vec<String> {
    let s = script.lock().unwrap();
    s.requests
        .iter()
        .filter(|(p, _, _)| p == path)
        .map(|(_, bearer, _)| bearer.clone())
        .collect()
}

/// The forms posted to the token endpoint for `grant`, in order.
fn grants(script: &Shared, grant: &str) -> Vec<String> {
    bearers(script, "/api/token")
        .into_iter()
        .filter(|form| form.contains(&format!("\"{grant}\"")))
        .collect()
}

/// A track link no earlier lookup asked for.
fn track_link(n: usize) -> String {
    format!("spotify:track:{n:0>22}")
}

/// `recently-played` with one play of `track_id` at `at`.
fn played(track_id: &str, at: DateTime<Utc>) -> Canned {
    let mut page = fixture_json("spotify", "recently_played_page.json");
    let mut track = fixture_json("spotify", "track_development_mode_2026.json");
    track["id"] = json!(track_id);
    page["items"] = json!([{ "track": track, "context": null,
        "played_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) }]);
    canned("spotify", "recently_played_page.json").with_json(&page)
}

/// Alex shares `link` with Sam while Spotify answers its lookup with
/// `entry` (and goes on answering it); answers the mutation's body.
async fn share_answered(app: &TestApp, script: &Shared, alex: &Session, link: &str, entry: &Entry) -> Value {
    script.lock().unwrap().always(TRACKS, entry.canned());
    app.graphql(
        SHARE,
        json!({ "to": "sam", "t": link, "n": null }),
        Some(&relog(app, alex).await),
    )
    .await
}

async fn now_playing(app: &TestApp, sam: &Session) -> Value {
    app.advance(Duration::from_secs(16)); // past the 15-second cache
    app.graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&relog(app, sam).await))
        .await
}

async fn share_state(app: &TestApp, who: &Session, shared: &Value) -> Value {
    let body = app
        .graphql(SHARE_STATE, json!({ "id": shared["id"] }), Some(&relog(app, who).await))
        .await;
    body["data"]["share"].clone()
}

async fn link(app: &TestApp, who: &Session) -> Value {
    app.graphql(LINK, json!({}), Some(&relog(app, who).await)).await["data"]["me"]["spotify"].clone()
}

/// Alex, Sam's friend (Sam linked the scripted Spotify).
async fn alex(app: &TestApp, sam: &Session) -> Session {
    let alex = app.sign_up("alex").await;
    app.befriend(&alex, sam).await;
    alex
}

/// What a 429 should pause, as the Rate Limits page and the July 2026
/// quota change describe it: whether it is the quota (the body's reason
/// `QUOTA_EXCEEDED`, nothing else), and for how long — `Retry-After` in
/// seconds or as a date, at least a second; a rate limit at most
/// `ceiling`, the quota whole (up to 48 hours; an hour when not said).
fn expected_pause(entry: &Entry, now: DateTime<Utc>, ceiling: TimeDelta) -> (bool, TimeDelta) {
    let body: Value = serde_json::from_slice(&entry.canned().body).unwrap_or_default();
    let quota = body["error"]["reason"] == "QUOTA_EXCEEDED";
    let asked = entry
        .header("Retry-After")
        .and_then(|value| match value.parse::<f64>() {
            Ok(seconds) => Some(TimeDelta::milliseconds((seconds * 1000.0) as i64)),
            Err(_) => DateTime::parse_from_rfc2822(value)
                .ok()
                .map(|at| (at.to_utc() - now).max(TimeDelta::zero())),
        });
    let floor = TimeDelta::seconds(1);
    if quota {
        (
            true,
            asked.unwrap_or(TimeDelta::hours(1)).clamp(floor, TimeDelta::hours(48)),
        )
    } else {
        (false, asked.unwrap_or(floor).clamp(floor, ceiling))
    }
}

#[tokio::test]
async fn every_429_pauses_by_its_retry_after_whatever_its_body_and_only_the_quota_reason_is_the_quota() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[("SPOTIFY_MAX_PAUSE", "2m"), ("SHARE_TTL", "30d")]).await;
    let alex = alex(&app, &sam).await;
    let shared = share(&app, &alex, "sam", TRACK).await;
    assert!(shared["id"].is_string(), "{shared}");
    let ceiling = TimeDelta::minutes(2);
    let mut previous = TimeDelta::zero();
    for entry in of("spotify", is_429) {
        // Past the previous pause, and the check is due.
        app.advance((previous + TimeDelta::minutes(4)).to_std().unwrap());
        let now = app.clock.now();
        let (quota, pause) = expected_pause(&entry, now, ceiling);
        script.lock().unwrap().always(RECENT, entry.canned());
        let before = bearers(&script, RECENT).len();

        app.run_due_jobs().await;
        app.run_due_jobs().await;

        let label = entry.label();
        let short = !quota && pause <= TimeDelta::seconds(10);
        let calls = bearers(&script, RECENT).len() - before;
        assert_eq!(
            calls,
            if short { ATTEMPTS } else { 1 },
            "{label}: a short pause is waited out in the call, a long one ends it; nothing more meanwhile"
        );
        let resume = time(&link(&app, &sam).await["receiptsResumeAt"]);
        assert_eq!(
            resume - now,
            pause,
            "{label}: paused {}",
            if quota { "for the quota" } else { "as a rate limit" }
        );
        let state = share_state(&app, &alex, &shared).await;
        assert_eq!(state["status"], "PENDING", "{label}: {state}");
        let wait = time(&state["nextCheckAt"]) - now;
        let jitter = (pause / 10 + TimeDelta::milliseconds(250)).min(TimeDelta::seconds(30));
        assert!(
            wait >= pause && wait <= pause + jitter + TimeDelta::seconds(1),
            "{label}: checked again after {wait:?}, not {pause:?}"
        );
        if quota {
            let busy = app
                .graphql(NOW_PLAYING, json!({ "h": "sam" }), Some(&relog(&app, &sam).await))
                .await;
            assert_eq!(error_code(&busy), Some("RATE_LIMITED"), "{label}: {busy}");
            assert!(error_message(&busy).contains("paused"), "{label}: {busy}");
        }
        previous = pause + TimeDelta::seconds(31);
    }
    script.lock().unwrap().normal(RECENT);
}

#[tokio::test]
async fn every_5xx_is_retried_then_not_answering_and_nothing_is_lost() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let alex = alex(&app, &sam).await;
    for (n, entry) in of("spotify", is_5xx).into_iter().enumerate() {
        let label = entry.label();
        if entry.endpoint.contains("/api/token") {
            // The accounts service failing at a person's refresh.
            script
                .lock()
                .unwrap()
                .always("/api/token:refresh_token", entry.canned());
            app.advance(Duration::from_secs(3600));
            let before = grants(&script, "refresh_token").len();
            let body = now_playing(&app, &sam).await;
            assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{label}: {body}");
            assert!(error_message(&body).contains("not answering"), "{label}: {body}");
            assert_eq!(grants(&script, "refresh_token").len() - before, ATTEMPTS, "{label}");
            assert_eq!(link(&app, &sam).await["status"], "ACTIVE", "{label}: the link is kept");
            script.lock().unwrap().normal("/api/token:refresh_token");
            let body = now_playing(&app, &sam).await;
            assert!(
                body["errors"].is_null(),
                "{label}: answered once Spotify is back: {body}"
            );
            continue;
        }

        // Now playing.
        script.lock().unwrap().always(CURRENT, entry.canned());
        let before = bearers(&script, CURRENT).len();
        let body = now_playing(&app, &sam).await;
        assert_eq!(error_code(&body), Some("UPSTREAM_UNAVAILABLE"), "{label}: {body}");
        assert!(
            error_message(&body).contains("Spotify is not answering"),
            "{label}: {body}"
        );
        assert_eq!(bearers(&script, CURRENT).len() - before, ATTEMPTS, "{label}: retried");
        script.lock().unwrap().normal(CURRENT);

        // A share, whose track is looked up first: refused, nothing saved.
        let link_n = track_link(n);
        let refused = share_answered(&app, &script, &alex, &link_n, &entry).await;
        assert_eq!(error_code(&refused), Some("UPSTREAM_UNAVAILABLE"), "{label}: {refused}");
        assert!(!error_message(&refused).contains("no track"), "{label}: {refused}");
        script.lock().unwrap().normal(TRACKS);
        let mut alex = alex.clone();
        alex.access = relog(&app, &alex).await;
        let shared = share(&app, &alex, "sam", &link_n).await;
        assert!(
            shared["id"].is_string(),
            "{label}: shared once Spotify is back: {shared}"
        );

        // The check meets the outage, and finds the play once it is over.
        let shared_at = time(&shared["createdAt"]);
        script.lock().unwrap().answer(RECENT, entry.canned(), ATTEMPTS);
        app.advance(Duration::from_secs(6 * 60));
        let before = bearers(&script, RECENT).len();
        app.run_due_jobs().await;
        assert_eq!(bearers(&script, RECENT).len() - before, ATTEMPTS, "{label}");
        assert_eq!(share_state(&app, &alex, &shared).await["status"], "PENDING", "{label}");
        let id = link_n.trim_start_matches("spotify:track:");
        let played_at = shared_at + TimeDelta::minutes(2);
        script.lock().unwrap().always(RECENT, played(id, played_at));
        app.advance(Duration::from_secs(6)); // the job's first backoff
        app.run_due_jobs().await;
        let state = share_state(&app, &alex, &shared).await;
        assert_eq!(state["status"], "PLAYED", "{label}: {state}");
        assert_eq!(time(&state["playedAt"]), played_at, "{label}");
        script.lock().unwrap().normal(RECENT);
    }
}

#[tokio::test]
async fn every_401_refreshes_the_token_once_and_the_call_goes_through() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let alex = alex(&app, &sam).await;
    let warm = app.graphql(LOOKUP, json!({ "l": TRACK }), Some(&sam.access)).await;
    assert!(warm["data"]["track"].is_object(), "the app's own token fetched: {warm}");
    for (n, entry) in of("spotify", is_401).into_iter().enumerate() {
        let label = entry.label();
        // Now playing: the rejected token, then a fresh one.
        script.lock().unwrap().answer(CURRENT, entry.canned(), 1);
        let (calls, refreshes) = (bearers(&script, CURRENT).len(), grants(&script, "refresh_token").len());
        let body = now_playing(&app, &sam).await;
        assert_eq!(
            body["data"]["nowPlaying"]["text"], "sam hasn't played anything lately",
            "{label}: {body}"
        );
        let used = bearers(&script, CURRENT);
        assert_eq!(used.len() - calls, 2, "{label}");
        assert_ne!(
            used[used.len() - 1],
            used[used.len() - 2],
            "{label}: retried with a fresh token"
        );
        assert_eq!(grants(&script, "refresh_token").len() - refreshes, 1, "{label}");

        // A track lookup with the app's own token: a new one, once.
        script.lock().unwrap().answer(TRACKS, entry.canned(), 1);
        let before = grants(&script, "client_credentials").len();
        let link_n = track_link(n + 10);
        let found = app
            .graphql(LOOKUP, json!({ "l": link_n }), Some(&relog(&app, &sam).await))
            .await;
        assert_eq!(found["data"]["track"]["name"], "Scripted Song", "{label}: {found}");
        assert_eq!(grants(&script, "client_credentials").len() - before, 1, "{label}");

        // The check: refreshed, retried, the play found in the same run.
        let mut alex = alex.clone();
        alex.access = relog(&app, &alex).await;
        let shared = share(&app, &alex, "sam", &link_n).await;
        let played_at = time(&shared["createdAt"]) + TimeDelta::minutes(1);
        let id = link_n.trim_start_matches("spotify:track:");
        {
            let mut s = script.lock().unwrap();
            s.answer(RECENT, entry.canned(), 1);
            s.answer(RECENT, played(id, played_at), 1);
        }
        let refreshes = grants(&script, "refresh_token").len();
        app.advance(Duration::from_secs(6 * 60));
        app.run_due_jobs().await;
        let state = share_state(&app, &alex, &shared).await;
        assert_eq!(state["status"], "PLAYED", "{label}: {state}");
        assert_eq!(grants(&script, "refresh_token").len() - refreshes, 1, "{label}");
    }
    // Never a call without a token ("No token provided" is a fault of ours).
    let s = script.lock().unwrap();
    let bare: Vec<_> = s
        .requests
        .iter()
        .filter(|(path, bearer, _)| path.starts_with("/v1/") && bearer.is_empty())
        .collect();
    assert!(bare.is_empty(), "{bare:?}");
}

#[tokio::test]
async fn a_404_of_a_track_is_no_such_track_and_of_the_player_nothing_playing() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let alex = alex(&app, &sam).await;
    for (n, entry) in of("spotify", is_404).into_iter().enumerate() {
        let label = entry.label();
        if entry.endpoint.contains("currently-playing") {
            script.lock().unwrap().always(CURRENT, entry.canned());
            let body = now_playing(&app, &sam).await;
            assert_eq!(
                body["data"]["nowPlaying"]["text"], "sam hasn't played anything lately",
                "{label}: {body}"
            );
            script.lock().unwrap().normal(CURRENT);
            continue;
        }
        let link_n = track_link(n + 20);
        let refused = share_answered(&app, &script, &alex, &link_n, &entry).await;
        assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{label}: {refused}");
        assert_eq!(
            error_message(&refused),
            "Spotify has no track with this link",
            "{label}: {refused}"
        );
        let preview = app
            .graphql(LOOKUP, json!({ "l": link_n }), Some(&relog(&app, &sam).await))
            .await;
        assert_eq!(
            error_message(&preview),
            "Spotify has no track with this link",
            "{label}: {preview}"
        );
        let sent = app
            .graphql(
                "{ shares(box: SENT) { edges { node { id } } } }",
                json!({}),
                Some(&relog(&app, &alex).await),
            )
            .await;
        assert_eq!(
            sent["data"]["shares"]["edges"],
            json!([]),
            "{label}: nothing saved: {sent}"
        );
        script.lock().unwrap().normal(TRACKS);
    }
}

#[tokio::test]
async fn every_token_grant_is_read_its_access_token_used_and_a_missing_refresh_token_keeps_the_old() {
    for entry in of("spotify", is_token_grant) {
        let label = entry.label();
        let grant = fixture_json("spotify", &entry.file);
        let access = grant["access_token"].as_str().unwrap();
        if entry.file.contains("authorization_code") {
            let (app, script) = scripted_spotify(&[]).await;
            let sam = app.sign_up("sam").await;
            script
                .lock()
                .unwrap()
                .always("/api/token:authorization_code", entry.canned());
            let (status, page) = connect(&app, &sam).await;
            assert_eq!(status, StatusCode::OK, "{label}: {page}");
            assert!(page.contains("You're connected as <b>@sam</b>"), "{label}: {page}");
            script
                .lock()
                .unwrap()
                .always(CURRENT, canned("spotify", "currently_playing_204_no_content.txt"));
            now_playing(&app, &sam).await;
            assert_eq!(bearers(&script, CURRENT).last().unwrap(), access, "{label}");
            app.advance(Duration::from_secs(3600));
            now_playing(&app, &sam).await;
            let refreshed = grants(&script, "refresh_token");
            let expected = grant["refresh_token"].as_str().unwrap();
            assert!(refreshed[0].contains(expected), "{label}: {refreshed:?}");
        } else if entry.file.contains("refresh") {
            let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
            {
                let mut s = script.lock().unwrap();
                s.answer("/api/token:refresh_token", entry.canned(), 1);
                s.always(CURRENT, canned("spotify", "currently_playing_204_no_content.txt"));
            }
            app.advance(Duration::from_secs(3600));
            let body = now_playing(&app, &sam).await;
            assert!(body["errors"].is_null(), "{label}: {body}");
            assert_eq!(bearers(&script, CURRENT).last().unwrap(), access, "{label}");
            app.advance(Duration::from_secs(3600));
            now_playing(&app, &sam).await;
            let refreshed = grants(&script, "refresh_token");
            assert!(refreshed.len() >= 2, "{label}: {refreshed:?}");
            let expected = grant["refresh_token"].as_str().unwrap_or("R1");
            assert!(
                refreshed[1].contains(&format!("\"{expected}\"")),
                "{label}: the next refresh uses {expected}: {refreshed:?}"
            );
        } else if entry.file.contains("client_credentials") {
            let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
            script
                .lock()
                .unwrap()
                .always("/api/token:client_credentials", entry.canned());
            for n in 0..2 {
                let found = app
                    .graphql(LOOKUP, json!({ "l": track_link(n + 30) }), Some(&sam.access))
                    .await;
                assert_eq!(found["data"]["track"]["name"], "Scripted Song", "{label}: {found}");
            }
            assert_eq!(bearers(&script, TRACKS), vec![access, access], "{label}");
            assert_eq!(
                grants(&script, "client_credentials").len(),
                1,
                "{label}: kept for its expires_in"
            );
        } else {
            panic!("{label}: which grant answers this? name it in the file");
        }
    }
}

#[tokio::test]
async fn the_documented_successes_are_read_as_spotify_means_them() {
    let (app, script) = scripted_spotify(&[]).await;
    let sam = app.sign_up("sam").await;
    script
        .lock()
        .unwrap()
        .always("/v1/me", canned("spotify", "me_extended_quota_2026.json"));
    let (_, page) = connect(&app, &sam).await;
    assert!(page.contains("You're connected as <b>@sam</b>"), "{page}");
    let linked = link(&app, &sam).await;
    assert_eq!(linked["accountId"], "Qx7kP2mZ9w", "keyed by account_id: {linked}");
    assert_eq!(linked["userId"], "31l77y2al5lnn7mxfrmd4bpfhqke");
    assert_eq!(linked["displayName"], "Ana Lima");

    // Playing a track.
    script
        .lock()
        .unwrap()
        .always(CURRENT, canned("spotify", "currently_playing_track.json"));
    let body = now_playing(&app, &sam).await;
    let playing = &body["data"]["nowPlaying"];
    assert_eq!(
        playing["text"], "sam is listening to “Cut To The Feeling” by Carly Rae Jepsen",
        "{body}"
    );
    assert_eq!(playing["isPlaying"], true);
    assert_eq!(playing["track"]["id"], "11dFghVXANMlKmJXsNCbNl");

    // Nothing playing, nothing played.
    {
        let mut s = script.lock().unwrap();
        s.always(CURRENT, canned("spotify", "currently_playing_204_no_content.txt"));
        s.always(RECENT, canned("spotify", "recently_played_empty.json"));
    }
    let body = now_playing(&app, &sam).await;
    assert_eq!(
        body["data"]["nowPlaying"]["text"], "sam hasn't played anything lately",
        "{body}"
    );

    // A full page of 50: a play deep in it is found.
    let alex = alex(&app, &sam).await;
    let page = fixture_json("spotify", "recently_played_full_page_50.json");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    let deep = &items[40];
    let id = deep["track"]["id"].as_str().unwrap();
    let shared = share(&app, &alex, "sam", &format!("spotify:track:{id}")).await;
    assert!(shared["id"].is_string(), "{shared}");
    // The page moved so that its oldest play comes just after the share,
    // and read once its newest play is past.
    let at = |item: &Value| time(&item["played_at"]);
    let shift = time(&shared["createdAt"]) + TimeDelta::minutes(1) - at(&items[49]);
    let mut moved = page.clone();
    for item in moved["items"].as_array_mut().unwrap() {
        item["played_at"] = json!((at(item) + shift).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    script.lock().unwrap().always(
        RECENT,
        canned("spotify", "recently_played_full_page_50.json").with_json(&moved),
    );
    app.advance(
        (at(&items[0]) + shift - app.clock.now() + TimeDelta::minutes(5))
            .to_std()
            .unwrap(),
    );
    app.run_due_jobs().await;
    let state = share_state(&app, &alex, &shared).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
    assert_eq!(time(&state["playedAt"]), at(deep) + shift);
}

#[tokio::test]
async fn premium_required_on_the_player_falls_back_to_the_last_play() {
    let (app, script, sam) = app_with_scripted_spotify_and(&[]).await;
    let last = app.clock.now() - TimeDelta::minutes(5);
    {
        let mut s = script.lock().unwrap();
        s.always(CURRENT, canned("spotify", "error_403_premium_required.json"));
        s.always(RECENT, played("4uLU6hMCjMI75M1A2tKUQC", last));
    }

    let body = now_playing(&app, &sam).await;

    assert!(body["errors"].is_null(), "{body}");
    let text = body["data"]["nowPlaying"]["text"].as_str().unwrap();
    assert!(text.starts_with("sam last listened to “"), "{body}");
    assert_eq!(bearers(&script, CURRENT).len(), 1, "a refusal is not retried");
}

#[tokio::test]
async fn googles_documented_token_is_used_until_shortly_before_it_expires() {
    let world = world(&["ok-phone"], None).await;
    let app = &world.app;
    let file = "token_success_service_account.json";
    world.fakes.lock().unwrap().token_fixture = Some(file.to_owned());
    let access = fixture_json("google", file)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    receipt(&world).await;
    let mut alex = world.alex.clone();
    alex.access = relog(app, &alex).await;
    share(app, &alex, "sam", "spotify:track:0000000000000000000077").await;
    app.run_due_jobs().await;

    let sent: Vec<Value> = deliveries(app, &world.sam)
        .await
        .into_iter()
        .filter(|d| d["channel"] == "PUSH")
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.iter().all(|d| d["status"] == "SENT"), "{sent:?}");
    {
        let fakes = world.fakes.lock().unwrap();
        assert_eq!(fakes.token_requests, 1, "one token for both pushes");
        assert!(fakes.bearers.iter().all(|b| *b == access), "{:?}", fakes.bearers);
    }

    app.advance(Duration::from_secs(3600)); // expires_in 3599
    alex.access = relog(app, &alex).await;
    share(app, &alex, "sam", "spotify:track:0000000000000000000078").await;
    app.run_due_jobs().await;
    assert_eq!(world.fakes.lock().unwrap().token_requests, 2, "renewed after its hour");
}

#[tokio::test]
async fn every_fcm_answer_that_is_retried_waits_until_due_keeps_the_device_and_is_sent_after() {
    let retried = of("fcm", is_fcm_retried);
    let tokens: Vec<String> = retried.iter().map(|e| format!("entry-{}", e.index)).collect();
    let world = world(&tokens.iter().map(String::as_str).collect::<Vec<_>>(), None).await;
    let app = &world.app;
    let sends = |token: &str| {
        let fakes = world.fakes.lock().unwrap();
        fakes.pushes.iter().filter(|(t, _)| t == token).count()
    };
    // When each may be tried again: a 429 after its Retry-After but at
    // least a minute (FCM error codes); a 5xx after its Retry-After, else
    // the first backoff (at most 5 s).
    let due: Vec<Duration> = retried
        .iter()
        .map(|e| {
            let asked = e.header("Retry-After").map(|v| Duration::from_secs(v.parse().unwrap()));
            match e.status {
                429 => asked.unwrap_or_default().max(Duration::from_secs(60)),
                _ => asked.unwrap_or_default(),
            }
        })
        .collect();

    receipt(&world).await;
    let first = deliveries(app, &world.sam).await;
    let pending = of_kind(&first, "share_played");
    assert_eq!(pending.len(), retried.len());
    assert!(
        pending
            .iter()
            .all(|d| d["status"] == "PENDING" && d["attempts"] == 1 && !d["lastError"].as_str().unwrap().is_empty()),
        "{pending:?}"
    );
    for e in retried
        .iter()
        .filter(|e| serde_json::from_slice::<Value>(&e.canned().body).is_err())
    {
        let named = format!("HTTP {}", e.status);
        assert!(
            pending
                .iter()
                .any(|d| d["lastError"].as_str().unwrap().contains(&named)),
            "{}: the operator sees what FCM answered: {pending:?}",
            e.label()
        );
    }

    let mut checkpoints: Vec<Duration> = due
        .iter()
        .flat_map(|d| [d.saturating_sub(Duration::from_secs(1)), *d + Duration::from_secs(6)])
        .collect();
    checkpoints.sort();
    checkpoints.dedup();
    let mut elapsed = Duration::ZERO;
    for at in checkpoints {
        app.advance(at - elapsed);
        elapsed = at;
        app.run_due_jobs().await;
        for ((entry, token), due) in retried.iter().zip(&tokens).zip(&due) {
            if elapsed < *due {
                assert_eq!(sends(token), 1, "{}: not before {due:?} ({elapsed:?})", entry.label());
            } else if elapsed >= *due + Duration::from_secs(5) {
                assert_eq!(sends(token), 2, "{}: tried again by {elapsed:?}", entry.label());
            }
        }
    }
    let last = deliveries(app, &world.sam).await;
    let receipts = of_kind(&last, "share_played");
    assert!(
        receipts.iter().all(|d| d["status"] == "SENT" && d["attempts"] == 2),
        "nothing lost: {receipts:?}"
    );
    let devices = app
        .graphql(
            "{ me { devices { id } } }",
            json!({}),
            Some(&relog(app, &world.sam).await),
        )
        .await;
    assert_eq!(
        devices["data"]["me"]["devices"].as_array().unwrap().len(),
        retried.len(),
        "every device kept: {devices}"
    );
}

/// Whether a test names `entry`'s file the way the fakes take it: the
/// file name in quotes, or (FCM device tokens) its stem.
fn named(entry: &Entry, sources: &str) -> bool {
    let stem = entry
        .file
        .rsplit_once('.')
        .map_or(entry.file.as_str(), |(stem, _)| stem);
    [
        format!("\"{}\"", entry.file),
        format!("\"{stem}\""),
        format!("\"{stem}--"),
    ]
    .iter()
    .any(|quoted| sources.contains(quoted))
}

#[test]
fn every_manifest_entry_is_driven_by_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app");
    let sources: String = std::fs::read_dir(&dir)
        .unwrap()
        .map(|file| file.unwrap().path())
        .filter(|path| path.file_name().is_some_and(|name| name != "fixtures.rs"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    let mut undriven = Vec::new();
    for provider in ["spotify", "google", "fcm"] {
        let all = entries(provider);
        for entry in &all {
            let by_kind = KINDS.iter().any(|(p, _, is)| *p == provider && is(entry));
            // A file listed more than once differs by its headers: only a
            // test that takes the entry itself drives each variant.
            let listed_once = all.iter().filter(|other| other.file == entry.file).count() == 1;
            let driven = by_kind || (listed_once && named(entry, &sources));
            if !driven {
                undriven.push(entry.label());
            }
        }
    }
    assert!(undriven.is_empty(), "no test drives: {undriven:#?}");
}

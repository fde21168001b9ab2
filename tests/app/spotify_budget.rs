//! The Spotify budget, through the running app against the scripted
//! Spotify on the moved clock (which drains no budget unless a test moves
//! it): receipts come first, live checks stop, now playing is served from
//! its cache (marked stale), lookups are refused with `RATE_LIMITED`, and a
//! receipt the budget holds back is recorded later; the 30-second budget,
//! spent exactly once for a burst of calls from two replicas.
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::{
    helpers::{Session, TestApp, error_code, error_message, relog, spawn_replica},
    receipts::{Listening, at, listening},
    shares::{SHARE, share},
    spotify_fake::{Shared, track},
    spotify_limits::on_postgres,
};

const LIVE: &str = "/v1/me/player/currently-playing";
const RECENT: &str = "/v1/me/player/recently-played";
const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { isPlaying text stale fetchedAt } }";
const SHARE_STATE: &str = "query($id: ID!) { share(id: $id) { status playedAt nextCheckAt } }";
/// A daily budget where one call is half an hour's worth: from empty,
/// room for 4 receipts calls, 3 live looks, or 2 now-playing calls and
/// lookups (the bucket holds two hours).
const DAILY_52: (&str, &str) = ("SPOTIFY_DAILY_BUDGET", "52");
/// "Budget Song", 200 s long, made up for these tests.
const SONG: &str = "5BudgetSong00000000000";

fn calls(script: &Shared, path: &str) -> usize {
    script.lock().unwrap().count(path)
}

async fn now_playing(app: &TestApp, who: &Session, handle: &str) -> Value {
    app.graphql(NOW_PLAYING, json!({ "h": handle }), Some(&relog(app, who).await))
        .await
}

async fn share_state(app: &TestApp, who: &Session, id: &Value) -> Value {
    let body = app
        .graphql(SHARE_STATE, json!({ "id": id }), Some(&relog(app, who).await))
        .await;
    body["data"]["share"].clone()
}

/// Moves the clock to `to` in steps of `step`, running due jobs at each.
async fn run_until(app: &TestApp, to: DateTime<Utc>, step: Duration) {
    use api::clock::Clock as _;
    while app.clock.now() < to {
        let left = (to - app.clock.now()).to_std().unwrap_or_default();
        app.advance(step.min(left));
        app.run_due_jobs().await;
    }
}

#[tokio::test]
async fn receipts_come_first_while_now_playing_is_served_from_its_cache_and_lookups_wait() {
    use api::clock::Clock as _;
    // Linking Alex read his profile: half an hour of the budget.
    let Listening { app, script, sam, alex } = listening(&[DAILY_52]).await;
    let song = track(SONG, 200_000, Some("GBBUD2600001"));
    script
        .lock()
        .unwrap()
        .play(song.clone(), app.clock.now() - TimeDelta::seconds(60));

    // Now playing may fill the budget to one hour: one call.
    let fresh = now_playing(&app, &alex, "alex").await;
    let fresh = &fresh["data"]["nowPlaying"];
    assert_eq!(fresh["isPlaying"], true, "{fresh}");
    assert_eq!(fresh["stale"], false);
    let asked_at = at(&fresh["fetchedAt"]);
    assert_eq!(asked_at, app.clock.now());

    // A lookup of a new track has no room left: refused, clearly, and nothing is stored.
    let refused = app
        .graphql(
            SHARE,
            json!({ "to": "alex", "t": "spotify:track:11dFghVXANMlKmJXsNCbNl", "n": null }),
            Some(&sam.access),
        )
        .await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    assert!(
        error_message(&refused).contains("used its Spotify calls for now"),
        "{refused}"
    );
    assert!(script.lock().unwrap().tracks_asked.is_empty(), "no lookup was made");
    let sent = app
        .graphql(
            "{ shares(box: SENT) { edges { node { id } } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(sent["data"]["shares"]["edges"], json!([]), "{sent}");

    // A track now playing put in the catalogue needs no lookup.
    let shared = share(&app, &sam, "alex", &format!("spotify:track:{SONG}")).await;
    assert_eq!(shared["status"], "PENDING", "{shared}");
    let made = at(&shared["createdAt"]);

    // Asked again after its 15 seconds: served from the cache, marked stale.
    app.advance(Duration::from_secs(16));
    let looks = calls(&script, LIVE);
    let cached = now_playing(&app, &alex, "alex").await;
    let cached = &cached["data"]["nowPlaying"];
    assert_eq!(cached["stale"], true, "{cached}");
    assert_eq!(cached["text"], fresh["text"]);
    assert_eq!(at(&cached["fetchedAt"]), asked_at);
    assert_eq!(calls(&script, LIVE), looks, "no call was made");

    // Alex plays it again, after the first history check would have seen it.
    let started = made + TimeDelta::seconds(210);
    script.lock().unwrap().play(song, started);

    // Live looks may fill the budget to an hour and a half: one look, then
    // they stop for the rest of the share's first two minutes.
    run_until(&app, made + TimeDelta::seconds(150), Duration::from_secs(5)).await;
    assert_eq!(calls(&script, LIVE) - looks, 1, "one live look of the eight");

    // The first history check (when the song could have been heard) goes:
    // receipts may fill the budget whole.
    run_until(&app, made + TimeDelta::seconds(205), Duration::from_secs(5)).await;
    assert_eq!(calls(&script, RECENT), 1);
    let pending = share_state(&app, &sam, &shared["id"]).await;
    assert_eq!(pending["status"], "PENDING", "{pending}");

    // The next one, five minutes later, waits for the budget to drain.
    run_until(&app, made + TimeDelta::seconds(510), Duration::from_secs(5)).await;
    assert_eq!(calls(&script, RECENT), 1, "held back");
    let held = share_state(&app, &sam, &shared["id"]).await;
    assert_eq!(held["status"], "PENDING", "{held}");
    let next = at(&held["nextCheckAt"]);
    assert!(
        next > made + TimeDelta::seconds(510) + TimeDelta::minutes(10),
        "later than the five-minute schedule: {next}"
    );

    // Never dropped: once there is room, the play is recorded.
    run_until(&app, next + TimeDelta::seconds(1), Duration::from_secs(60)).await;
    let played = share_state(&app, &sam, &shared["id"]).await;
    assert_eq!(played["status"], "PLAYED", "{played}");
    assert_eq!(at(&played["playedAt"]), started);
    assert_eq!(calls(&script, RECENT), 2);
}

#[tokio::test]
async fn a_burst_spends_the_thirty_second_budget_exactly_once_across_replicas() {
    // 30 calls per 30 s: 1.5 s of the bucket each; lookups may fill 7.5 s
    // of it. Linking Sam took 1.5 s: four lookups are left.
    let (app, script, sam) =
        crate::spotify_tokens::app_with_scripted_spotify_and(&[("SPOTIFY_WINDOW_BUDGET", "30")]).await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    // On PostgreSQL a second replica shares the budget; on SQLite there is
    // one process.
    let replica = if on_postgres() {
        let settings = &app.state.settings.spotify;
        Some(
            spawn_replica(
                &app,
                &[
                    ("SPOTIFY_ACCOUNTS_URL", settings.accounts_url.as_str()),
                    ("SPOTIFY_API_URL", settings.api_url.as_str()),
                    ("SPOTIFY_WINDOW_BUDGET", "30"),
                ],
            )
            .await,
        )
    } else {
        None
    };
    let servers: Vec<&TestApp> = std::iter::once(&app).chain(replica.as_ref()).collect();

    let attempts = (0..12).map(|n| {
        let server = servers[n % servers.len()];
        let access = sam.access.clone();
        async move {
            server
                .graphql(
                    SHARE,
                    json!({ "to": "alex", "t": format!("spotify:track:5BurstSong{n:012}"), "n": null }),
                    Some(&access),
                )
                .await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let made = answers
        .iter()
        .filter(|a| a["data"]["shareSong"]["status"] == "PENDING")
        .count();
    let refused = answers.iter().filter(|a| error_code(a) == Some("RATE_LIMITED")).count();
    assert_eq!((made, refused), (4, 8), "{answers:#?}");
    assert_eq!(
        script.lock().unwrap().tracks_asked.len(),
        4,
        "only the calls spent were made"
    );

    // The bucket drains: 30 s later there is room again.
    app.advance(Duration::from_secs(30));
    let again = share(&app, &sam, "alex", "spotify:track:5BurstSongAgain0000000").await;
    assert_eq!(again["status"], "PENDING", "{again}");
}

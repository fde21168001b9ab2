//! Which plays count, through the running app against the scripted
//! listener and the fixtures' tracks: the shared id, a relinked id with
//! `linked_from`, a relinked id without it (Development Mode since
//! February 2026) through the ISRC, not another recording; an old
//! catalogue row without its ISRC read once; and a heavy listener whose
//! plays would fall off Spotify's 50-play history between hourly checks.
use std::time::Duration;

use api::clock::Clock as _;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

use crate::{
    fixtures,
    helpers::{Session, TestApp, relog},
    receipts::{CUT, Listening, at, listening},
    shares::{TRACK, share},
    spotify_fake::{Shared, track},
};

/// "Heaven and Hell" as shared (Spotify's own relinking example).
const SHARED: &str = "6kLCHFM39wkFjOuyPGLGeQ";
const STATE: &str = "query($id: ID!) { share(id: $id) { status playedAt nextCheckAt } }";

/// The relinked instance Spotify plays for the shared id: with
/// `linked_from` (Extended Quota), or without (Development Mode); with its
/// ISRC, or another recording's.
fn relinked(linked_from: bool, isrc: &str) -> Value {
    let mut track = fixtures::json("spotify", "track_extended_quota_relinked_with_isrc.json");
    if !linked_from {
        track.as_object_mut().unwrap().remove("linked_from");
    }
    track["external_ids"]["isrc"] = json!(isrc);
    track
}

async fn status(app: &TestApp, who: &Session, id: &Value) -> Value {
    let body = app
        .graphql(STATE, json!({ "id": id }), Some(&relog(app, who).await))
        .await;
    body["data"]["share"].clone()
}

/// Alex plays `played` a minute after the share; the checks run for ten
/// minutes (live looks and recently-played both, as the settings allow).
async fn played_after_sharing(w: &Listening, played: Value) -> Value {
    let id = share(&w.app, &w.sam, "alex", &format!("spotify:track:{SHARED}")).await["id"].clone();
    w.script
        .lock()
        .unwrap()
        .play(played, w.app.clock.now() + TimeDelta::minutes(1));
    for _ in 0..40 {
        w.app.advance(Duration::from_secs(15));
        w.app.run_due_jobs().await;
    }
    status(&w.app, &w.sam, &id).await
}

#[tokio::test]
async fn a_relinked_play_counts_through_linked_from() {
    let w = listening(&[("LIVE_WINDOW", "0s")]).await;
    let state = played_after_sharing(&w, relinked(true, "ZZZZZ9999999")).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
}

#[tokio::test]
async fn a_relinked_play_without_linked_from_counts_through_its_isrc_in_the_history() {
    let w = listening(&[("LIVE_WINDOW", "0s")]).await;
    let state = played_after_sharing(&w, relinked(false, "USLUK1300012")).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
}

#[tokio::test]
async fn a_relinked_play_without_linked_from_counts_through_its_isrc_live() {
    let w = listening(&[]).await;
    let state = played_after_sharing(&w, relinked(false, "USLUK1300012")).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
    let requests = w.script.lock().unwrap().requests.clone();
    assert!(
        requests
            .iter()
            .all(|(path, _, _)| path != "/v1/me/player/recently-played"),
        "the live look found it"
    );
}

#[tokio::test]
async fn another_recording_under_another_id_does_not_count() {
    let w = listening(&[]).await;
    let state = played_after_sharing(&w, relinked(false, "USLUK1300013")).await;
    assert_eq!(state["status"], "PENDING", "{state}");
}

#[tokio::test]
async fn a_track_stored_before_isrcs_were_kept_gets_its_isrc_read_once() {
    let w = listening(&[("LIVE_WINDOW", "0s")]).await;
    // The catalogue row as an older release stored it: no ISRC.
    let db = w.app.db().await;
    let now = w.app.clock.now();
    let insert = "INSERT INTO tracks (id, name, artists, album, duration_ms, image_url, fetched_at) \
                  VALUES ('6kLCHFM39wkFjOuyPGLGeQ', 'Heaven and Hell', '[\"William Onyeabor\"]', NULL, 380533, NULL, ";
    let sql = if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        format!("{insert}$1)")
    } else {
        format!("{insert}?)")
    };
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [now.into()],
    ))
    .await
    .unwrap();
    let kim = w.app.sign_up("kim").await;
    w.app.befriend(&kim, &w.alex).await;

    let state = played_after_sharing(&w, relinked(false, "USLUK1300012")).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
    // Kim shares it too, and Alex plays it again: the ISRC is known now.
    let kims = share(&w.app, &kim, "alex", &format!("spotify:track:{SHARED}")).await["id"].clone();
    w.script.lock().unwrap().play(
        relinked(false, "USLUK1300012"),
        w.app.clock.now() + TimeDelta::minutes(1),
    );
    for _ in 0..40 {
        w.app.advance(Duration::from_secs(15));
        w.app.run_due_jobs().await;
    }
    assert_eq!(status(&w.app, &kim, &kims).await["status"], "PLAYED");
    let lookups = w
        .script
        .lock()
        .unwrap()
        .tracks_asked
        .iter()
        .filter(|id| *id == SHARED)
        .count();
    assert_eq!(lookups, 1, "read from Spotify once, then kept");
}

/// A 40-second song after another for six hours: 540 plays, the shared one
/// among them at 4 h 10 min. Hourly checks would see only the last 33
/// minutes of them; the full answers make the checks come sooner.
#[tokio::test]
async fn a_heavy_listeners_checks_come_sooner_so_no_play_falls_off() {
    let w = listening(&[("LIVE_WINDOW", "0s")]).await;
    let Listening { app, script, sam, .. } = &w;
    let cut = share(app, sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();
    let other = share(app, sam, "alex", TRACK).await["id"].clone();
    let start = app.clock.now() + TimeDelta::seconds(10);
    let shared_at = start + TimeDelta::seconds(40 * 375);
    heavy_listener(script, start, 540, shared_at);

    let mut gaps: Vec<(i64, i64)> = Vec::new();
    let mut next = at(&status(app, sam, &other).await["nextCheckAt"]);
    for _ in 0..(9 * 60) {
        app.advance(Duration::from_secs(60));
        app.run_due_jobs().await;
        if app.clock.now() < next {
            continue;
        }
        let following = at(&status(app, sam, &other).await["nextCheckAt"]);
        gaps.push(((next - start).num_minutes(), (following - next).num_minutes()));
        next = following;
    }

    let played = status(app, sam, &cut).await;
    assert_eq!(played["status"], "PLAYED", "{played} after checks {gaps:?}");
    assert_eq!(at(&played["playedAt"]), shared_at);
    let heavy: Vec<i64> = gaps
        .iter()
        .filter(|(m, _)| (70..360).contains(m))
        .map(|g| g.1)
        .collect();
    assert!(
        !heavy.is_empty() && heavy.iter().all(|gap| (20..=30).contains(gap)),
        "every ~26 min while the answers are full: {gaps:?}"
    );
    let after: Vec<i64> = gaps.iter().filter(|(m, _)| *m >= 450).map(|g| g.1).collect();
    assert!(
        !after.is_empty() && after.iter().all(|gap| *gap == 60),
        "hourly again once they stopped: {gaps:?}"
    );
}

/// `count` 40-second plays one after another from `start`, one of them
/// (at `shared_at`) the shared track.
fn heavy_listener(script: &Shared, start: DateTime<Utc>, count: i64, shared_at: DateTime<Utc>) {
    let mut s = script.lock().unwrap();
    for n in 0..count {
        let at = start + TimeDelta::seconds(40 * n);
        let song = if at == shared_at {
            fixtures::json("spotify", "track_development_mode_2026.json")
        } else {
            track(&format!("heavy{n:017}"), 40_000, Some(&format!("QZHVY26{n:05}")))
        };
        s.play(song, at);
    }
}

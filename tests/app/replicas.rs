//! Several replicas on one PostgreSQL database: jobs run once across them
//! and subscription events (plays, every step of a share) reach
//! subscribers on any replica. Also: the background workers of a single
//! server do the same work unattended.
use std::time::Duration;

use api::{clock::Clock as _, spotify::links::TrackId};
use chrono::TimeDelta;
use serde_json::json;

use crate::{
    helpers::{TestApp, on_postgres, relog, spawn_app, spawn_app_with, spawn_replica},
    receipts::{CUT, OPEN, STEPS, step},
    shares::{TRACK, TRACK_ID, pair, share},
};

fn later(app: &TestApp, minutes: i64) {
    app.advance((TimeDelta::minutes(minutes)).to_std().unwrap());
}

#[tokio::test]
async fn a_subscriber_on_one_replica_hears_a_play_detected_by_another() {
    if !on_postgres() {
        return; // one SQLite file serves one process
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let (sam, alex) = pair(&first).await;
    first.link_spotify(&alex, "alexspot").await;
    let mut sams = first
        .subscribe(
            Some(&sam.access),
            "subscription { sharePlayed { share { track { id } } } }",
        )
        .await;
    share(&first, &sam, "alex", TRACK).await;
    first.spotify.record_play(
        "alexspot",
        &TrackId::parse(TRACK_ID).unwrap(),
        first.clock.now() + TimeDelta::seconds(1),
    );
    later(&first, 6);

    assert_eq!(second.run_due_jobs().await, 1, "the second replica runs the check");

    let event = sams.next().await.expect("the event crossed replicas");
    assert_eq!(event["data"]["sharePlayed"]["share"]["track"]["id"], TRACK_ID);
}

#[tokio::test]
async fn every_check_runs_once_across_replicas() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let sam = first.sign_up("sam").await;
    for n in 0..12 {
        let friend = first.sign_up(&format!("friend{n}")).await;
        first.befriend(&sam, &friend).await;
        first.link_spotify(&friend, &format!("spot{n}")).await;
        share(&first, &sam, &friend.handle, TRACK).await;
    }
    // Linking queued a check for each friend at once; let those settle.
    first.run_due_jobs().await;
    later(&first, 6);

    let (a, b) = tokio::join!(first.run_due_jobs(), second.run_due_jobs());

    assert_eq!(a + b, 12, "each recipient's check ran once: {a} + {b}");
    assert_eq!(first.spotify.calls("/v1/me/player/recently-played"), 12);
}

#[tokio::test]
async fn background_workers_detect_plays_unattended() {
    let app = spawn_app_with(&[("JOB_WORKERS", "2"), ("JOB_POLL_INTERVAL", "50ms")]).await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    app.spotify.record_play(
        "alexspot",
        &TrackId::parse(TRACK_ID).unwrap(),
        app.clock.now() + TimeDelta::seconds(1),
    );
    later(&app, 6);

    let query = "query($id: ID!) { share(id: $id) { status } }";
    let access = relog(&app, &sam).await;
    let mut status = String::new();
    for _ in 0..100 {
        let body = app.graphql(query, json!({ "id": id }), Some(&access)).await;
        status = body["data"]["share"]["status"].as_str().unwrap_or_default().to_owned();
        if status == "PLAYED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "PLAYED");
}

#[tokio::test]
async fn every_step_of_a_share_reaches_both_people_whichever_replica_records_it() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let (sam, alex) = pair(&first).await;
    first.link_spotify(&alex, "alexspot").await;
    first.run_due_jobs().await;
    let mut sams = first.subscribe(Some(&sam.access), STEPS).await;
    let mut alexs = second.subscribe(Some(&alex.access), STEPS).await;
    let id = share(&first, &sam, "alex", TRACK).await["id"].clone();
    let other = share(&first, &sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();

    second.graphql(OPEN, json!({ "id": id }), Some(&alex.access)).await;
    let started = first.clock.now() + TimeDelta::seconds(2);
    first
        .spotify
        .record_play("alexspot", &TrackId::parse(TRACK_ID).unwrap(), started);
    first.advance(Duration::from_secs(15));
    assert_eq!(second.run_due_jobs().await, 1, "the live look, on the second replica");
    first.advance(Duration::from_secs(18));
    second.run_due_jobs().await;
    first
        .graphql(
            "mutation($id: ID!) { cancelShare(id: $id) { status } }",
            json!({ "id": other }),
            Some(&relog(&first, &sam).await),
        )
        .await;

    for subscription in [&mut sams, &mut alexs] {
        let mut kinds = Vec::new();
        for _ in 0..4 {
            kinds.push(step(subscription).await["kind"].as_str().unwrap().to_owned());
        }
        assert_eq!(kinds, ["OPENED", "LISTENING", "PLAYED", "CANCELLED"]);
    }
}

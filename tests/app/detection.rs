//! Play detection driven through a week of schedule with a moved clock,
//! against the Spotify stand-in: listen receipts, the fast and slow phases,
//! expiry, coalesced checks, pauses, leases.
use std::time::Duration;

use api::{clock::Clock as _, spotify::links::TrackId};
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, relog, spawn_app},
    shares::{TRACK, TRACK_ID, pair, share},
};

const SHARE: &str = "query($id: ID!) { share(id: $id) { status playedAt nextCheckAt expiresAt createdAt playEvent { playedAt detectedAt } } }";
const CALLS: &str = "/v1/me/player/recently-played";
const LIVE: &str = "/v1/me/player/currently-playing";

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .unwrap()
        .to_utc()
}

/// Rotates the session (cheaper than logging in a hundred times).
async fn renew(app: &TestApp, refresh: &str) -> (String, String) {
    let body = app
        .graphql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }",
            json!({ "t": refresh }),
            None,
        )
        .await;
    let pair = &body["data"]["refreshSession"];
    (
        pair["accessToken"].as_str().unwrap().to_owned(),
        pair["refreshToken"].as_str().unwrap().to_owned(),
    )
}

fn now(app: &TestApp) -> DateTime<Utc> {
    app.clock.now()
}

fn track() -> TrackId {
    TrackId::parse(TRACK_ID).unwrap()
}

/// Moves the clock to `when` (never backwards).
fn advance_to(app: &TestApp, when: DateTime<Utc>) {
    let gap = when - now(app);
    if gap > TimeDelta::zero() {
        app.advance(gap.to_std().unwrap());
    }
}

async fn share_state(app: &TestApp, access: &str, id: &Value) -> Value {
    app.graphql(SHARE, json!({ "id": id }), Some(access)).await["data"]["share"].clone()
}

#[tokio::test]
async fn a_play_after_sharing_gives_a_receipt_to_both_live() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    let played = "subscription { sharePlayed { playedAt share { status recipient { handle } track { id } } } }";
    let mut sams = app.subscribe(Some(&sam.access), played).await;
    let mut alexs = app.subscribe(Some(&alex.access), played).await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let created = now(&app);

    app.spotify
        .record_play("alexspot", &track(), created + TimeDelta::seconds(90));
    let first_check = at(&share_state(&app, &sam.access, &id).await["nextCheckAt"]);
    advance_to(&app, first_check);
    let ran = app.run_due_jobs().await;

    assert!(ran >= 1);
    let access = relog(&app, &sam).await;
    let state = share_state(&app, &access, &id).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
    assert_eq!(at(&state["playedAt"]), created + TimeDelta::seconds(90));
    assert!(state["nextCheckAt"].is_null());
    assert_eq!(at(&state["playEvent"]["detectedAt"]), first_check);
    for subscription in [&mut sams, &mut alexs] {
        let event = subscription.next().await.expect("a sharePlayed event");
        assert_eq!(event["data"]["sharePlayed"]["share"]["status"], "PLAYED", "{event}");
        assert_eq!(event["data"]["sharePlayed"]["share"]["recipient"]["handle"], "alex");
    }
    // A share nobody opened is watched live for its first two minutes
    // only: the first check, later, read recently-played, and no
    // currently-playing call was spent.
    assert_eq!((app.spotify.calls(LIVE), app.spotify.calls(CALLS)), (0, 1));
}

#[tokio::test]
async fn a_play_before_the_share_does_not_count() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    app.spotify
        .record_play("alexspot", &track(), now(&app) - TimeDelta::minutes(1));
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();

    let first_check = at(&share_state(&app, &sam.access, &id).await["nextCheckAt"]);
    advance_to(&app, first_check);
    app.run_due_jobs().await;

    let state = share_state(&app, &sam.access, &id).await;
    assert_eq!(state["status"], "PENDING");
    assert_eq!(
        at(&state["nextCheckAt"]),
        first_check + TimeDelta::minutes(5),
        "fast phase: 5 minutes"
    );
    assert_eq!(app.spotify.calls(CALLS), 1);
}

/// A week in milliseconds: every 5 minutes in the first hour, then hourly,
/// then expired; no check ever runs early or twice.
#[tokio::test]
async fn a_week_of_schedule_fast_then_slow_then_expired() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let mut access = sam.access.clone();
    let state = share_state(&app, &access, &id).await;
    let created = at(&state["createdAt"]);
    let expires = at(&state["expiresAt"]);

    let mut checks = 0;
    let mut gaps = Vec::new();
    let mut next = at(&state["nextCheckAt"]);
    let mut refresh = sam.refresh.clone();
    loop {
        // Just before it is due, nothing happens.
        advance_to(&app, next - TimeDelta::seconds(1));
        app.run_due_jobs().await;
        assert_eq!(app.spotify.calls(CALLS), checks, "no check before {next}");
        advance_to(&app, next);
        app.run_due_jobs().await;
        checks += 1;
        assert_eq!(app.spotify.calls(CALLS), checks);
        (access, refresh) = renew(&app, &refresh).await;
        let state = share_state(&app, &access, &id).await;
        if state["status"] != "PENDING" {
            assert_eq!(state["status"], "EXPIRED", "{state}");
            assert!(state["nextCheckAt"].is_null());
            break;
        }
        let following = at(&state["nextCheckAt"]);
        gaps.push(((next - created).num_minutes(), (following - next).num_minutes()));
        next = following;
    }

    assert_eq!(next, expires, "the last check is at expiry");
    let (last, steady) = gaps.split_last().unwrap();
    for (since_created, gap) in steady {
        let expected = if *since_created < 60 { 5 } else { 60 };
        assert_eq!(
            *gap, expected,
            "at {since_created} min the next check came {gap} min later"
        );
    }
    assert!(last.1 <= 60, "the last gap is cut short by expiry");
    let fast = gaps.iter().filter(|(_, gap)| *gap == 5).count();
    assert_eq!(fast, 12, "every 5 minutes during the first hour");
    // First check, 12 fast ones, hourly ones for the rest of the week, one at expiry.
    assert!((178..=183).contains(&checks), "{checks} checks in a week");
}

#[tokio::test]
async fn a_play_in_the_slow_phase_is_detected() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let created = now(&app);
    for hour in 1..=3 {
        advance_to(&app, created + TimeDelta::hours(hour));
        app.run_due_jobs().await;
    }
    app.spotify.record_play("alexspot", &track(), now(&app));
    advance_to(&app, created + TimeDelta::hours(4) + TimeDelta::minutes(1));
    app.run_due_jobs().await;

    let state = share_state(&app, &relog(&app, &sam).await, &id).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
}

#[tokio::test]
async fn many_pending_shares_of_one_recipient_cost_one_call() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    let kim = app.sign_up("kim").await;
    app.befriend(&kim, &alex).await;
    app.link_spotify(&alex, "alexspot").await;
    let mut ids = Vec::new();
    for n in 0..6 {
        let from = if n % 2 == 0 { &sam } else { &kim };
        ids.push(share(&app, from, "alex", &format!("{n:0>22}")).await["id"].clone());
    }
    app.spotify.record_play(
        "alexspot",
        &TrackId::parse(&format!("{:0>22}", 3)).unwrap(),
        now(&app) + TimeDelta::seconds(1),
    );

    advance_to(&app, now(&app) + TimeDelta::minutes(6));
    app.run_due_jobs().await;

    assert_eq!(app.spotify.calls(CALLS), 1, "one call served six shares");
    let alex_access = relog(&app, &alex).await;
    let mut played = 0;
    for id in &ids {
        let state = share_state(&app, &alex_access, id).await;
        match state["status"].as_str().unwrap() {
            "PLAYED" => played += 1,
            "PENDING" => assert!(at(&state["nextCheckAt"]) > now(&app)),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(played, 1);
}

#[tokio::test]
async fn a_recipient_without_spotify_still_gets_the_share_and_checks_start_when_they_link() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    advance_to(&app, now(&app) + TimeDelta::minutes(5));
    app.run_due_jobs().await;
    let paused = share_state(&app, &relog(&app, &sam).await, &id).await;
    assert_eq!(paused["status"], "PENDING");
    assert!(paused["nextCheckAt"].is_null(), "paused until Alex links: {paused}");
    assert_eq!(app.spotify.calls(CALLS), 0);

    let alex_access = relog(&app, &alex).await;
    app.spotify.record_play("alexspot", &track(), now(&app));
    let alex_now = crate::helpers::Session {
        access: alex_access,
        ..alex
    };
    app.link_spotify(&alex_now, "alexspot").await;
    app.run_due_jobs().await;

    assert_eq!(app.spotify.calls(CALLS), 1);
    let state = share_state(&app, &alex_now.access, &id).await;
    assert_eq!(state["status"], "PLAYED", "{state}");
}

#[tokio::test]
async fn a_share_to_someone_who_never_links_expires_on_time() {
    let app = spawn_app().await;
    let (sam, _alex) = pair(&app).await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let expires = at(&share_state(&app, &sam.access, &id).await["expiresAt"]);
    advance_to(&app, now(&app) + TimeDelta::minutes(5));
    app.run_due_jobs().await;
    advance_to(&app, expires - TimeDelta::seconds(1));
    app.run_due_jobs().await;
    assert_eq!(
        share_state(&app, &relog(&app, &sam).await, &id).await["status"],
        "PENDING"
    );

    advance_to(&app, expires);
    app.run_due_jobs().await;

    assert_eq!(
        share_state(&app, &relog(&app, &sam).await, &id).await["status"],
        "EXPIRED"
    );
}

#[tokio::test]
async fn a_job_claimed_by_a_worker_that_died_runs_once_its_lease_expires() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    app.spotify
        .record_play("alexspot", &track(), now(&app) + TimeDelta::seconds(1));
    advance_to(&app, now(&app) + TimeDelta::minutes(5));

    // A worker claims the due job and dies before doing anything.
    let db = app.db().await;
    let claimed = api::jobs::queue::claim(&db, "worker-that-died", now(&app), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(app.run_due_jobs().await, 0, "the lease holds");
    assert_eq!(
        share_state(&app, &relog(&app, &sam).await, &id).await["status"],
        "PENDING"
    );

    app.advance(Duration::from_secs(61));
    assert_eq!(app.run_due_jobs().await, 1, "taken over after the lease");
    assert_eq!(
        share_state(&app, &relog(&app, &sam).await, &id).await["status"],
        "PLAYED"
    );
    assert_eq!(app.spotify.calls(CALLS), 1);
}

#[tokio::test]
async fn stats_count_shares_plays_and_the_median_time_to_play() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    app.link_spotify(&alex, "alexspot").await;
    let start = now(&app);
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(share(&app, &sam, "alex", &format!("{n:0>22}")).await["id"].clone());
    }
    app.graphql(
        "mutation($id: ID!) { cancelShare(id: $id) { id } }",
        json!({ "id": ids[2] }),
        Some(&sam.access),
    )
    .await;
    for (n, minutes) in [(0, 2), (1, 6)] {
        let id = TrackId::parse(&format!("{n:0>22}")).unwrap();
        app.spotify
            .record_play("alexspot", &id, start + TimeDelta::minutes(minutes));
    }
    advance_to(&app, start + TimeDelta::minutes(30));
    for _ in 0..8 {
        app.run_due_jobs().await;
        app.advance(Duration::from_secs(300));
    }

    let stats = app
        .graphql(
            "{ me { stats { sharesSent sharesReceived sentPlayed playRate medianSecondsToPlay } } }",
            json!({}),
            Some(&relog(&app, &sam).await),
        )
        .await;
    assert_eq!(
        stats["data"]["me"]["stats"],
        json!({ "sharesSent": 3, "sharesReceived": 0, "sentPlayed": 2, "playRate": 1.0, "medianSecondsToPlay": 240 })
    );
}

/// A Spotify outage that outlives every retry: the check job's error is
/// kept, and the share still ends (EXPIRED) instead of waiting forever.
#[tokio::test]
async fn an_outage_that_outlives_the_retries_still_ends_every_share() {
    let (app, script, sam) = crate::spotify_tokens::app_with_scripted_spotify_and(&[("SHARE_TTL", "6h")]).await;
    // The check outlives its retries (how many depends on the backoff's
    // jitter), so it may be left dead: that is what this test is about.
    app.expect_dead_jobs();
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    let id = share(&app, &alex, "sam", TRACK).await["id"].clone();
    script.lock().unwrap().api_down = true;

    let db = app.db().await;
    let mut errors = Vec::new();
    let mut status = String::new();
    for _ in 0..12 {
        app.advance(Duration::from_secs(3600));
        app.run_due_jobs().await;
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT last_error FROM jobs WHERE kind = 'check_recipient' AND last_error IS NOT NULL",
            ))
            .await
            .unwrap();
        errors.extend(rows.iter().filter_map(|r| r.try_get::<String>("", "last_error").ok()));
        let access = relog(&app, &alex).await;
        status = share_state(&app, &access, &id).await["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status != "PENDING" {
            break;
        }
    }

    assert_eq!(status, "EXPIRED");
    assert!(
        errors.iter().any(|e| e.contains("503")),
        "the error was kept: {errors:?}"
    );
}

//! The steps of a listen receipt through the running app, against the
//! scripted Spotify listener on the moved clock: opened → listening →
//! played live within seconds of the 30-second mark, `recently-played`
//! (with its lag) for plays the live looks missed and never twice, steps
//! that never go back, expiry and cancelling, `markShareOpened`'s rules,
//! and which steps push the sender.
use std::time::Duration;

use api::clock::Clock as _;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

use crate::{
    fixtures,
    helpers::{Session, Subscription, TestApp, error_code, relog, spawn_app_with},
    notifications::{deliveries, of_kind, world},
    shares::{TRACK, pair, share},
    spotify_fake::Shared,
    spotify_tokens::{link_scripted, scripted_spotify},
};

pub const STEPS: &str = "subscription { shareActivity { kind at share { id status openedAt listeningAt playedAt } } }";
pub const OPEN: &str = "mutation($id: ID!) { markShareOpened(id: $id) { id status openedAt listeningAt playedAt } }";
const STATE: &str = "query($id: ID!) { share(id: $id) { status openedAt listeningAt playedAt expiresAt playEvent { playedAt detectedAt } } }";
/// "Cut To The Feeling", the fixtures' Development Mode track (3:28, ISRC USUM71703861).
pub const CUT: &str = "11dFghVXANMlKmJXsNCbNl";
const LIVE: &str = "/v1/me/player/currently-playing";
const RECENT: &str = "/v1/me/player/recently-played";

/// Sam and Alex, friends; Alex's Spotify is the scripted listener; the
/// catalogue answers with the fixtures' tracks.
pub struct Listening {
    pub app: TestApp,
    pub script: Shared,
    pub sam: Session,
    pub alex: Session,
}

pub async fn listening(extra: &[(&str, &str)]) -> Listening {
    let (app, script) = scripted_spotify(extra).await;
    let (sam, alex) = pair(&app).await;
    link_scripted(&app, &alex).await;
    app.run_due_jobs().await; // linking's first check: nothing pending yet
    {
        let mut s = script.lock().unwrap();
        for name in [
            "track_development_mode_2026.json",
            "track_extended_quota_relinked_with_isrc.json",
        ] {
            let track = fixtures::json("spotify", name);
            // Catalogue reads carry no market: Spotify answers for the id asked.
            let asked = track["linked_from"]["id"]
                .as_str()
                .unwrap_or_else(|| track["id"].as_str().unwrap())
                .to_owned();
            s.catalog.insert(asked, track);
        }
    }
    Listening { app, script, sam, alex }
}

pub fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .to_utc()
}

/// The next `shareActivity` event's payload.
pub async fn step(subscription: &mut Subscription) -> Value {
    let event = subscription.next().await.expect("a shareActivity event");
    assert!(event["errors"].is_null(), "{event}");
    event["data"]["shareActivity"].clone()
}

/// Steps one second at a time, running due jobs, until `done` or a minute.
async fn until(app: &TestApp, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..120 {
        app.advance(Duration::from_secs(1));
        app.run_due_jobs().await;
        if done().await {
            return;
        }
    }
    panic!("not reached in two minutes");
}

async fn state(app: &TestApp, who: &Session, id: &Value) -> Value {
    let body = app
        .graphql(STATE, json!({ "id": id }), Some(&relog(app, who).await))
        .await;
    body["data"]["share"].clone()
}

#[tokio::test]
async fn opened_listening_played_reach_both_within_seconds_of_the_thirty_second_mark() {
    let Listening { app, script, sam, alex } = listening(&[]).await;
    let mut sams = app.subscribe(Some(&sam.access), STEPS).await;
    let mut alexs = app.subscribe(Some(&alex.access), STEPS).await;
    let id = share(&app, &sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();

    let opened = app.graphql(OPEN, json!({ "id": id }), Some(&alex.access)).await;
    let opened_at = at(&opened["data"]["markShareOpened"]["openedAt"]);
    assert_eq!(opened_at, app.clock.now(), "{opened}");
    for subscription in [&mut sams, &mut alexs] {
        let event = step(subscription).await;
        assert_eq!((event["kind"].as_str(), at(&event["at"])), (Some("OPENED"), opened_at));
    }

    let started = app.clock.now() + TimeDelta::seconds(5);
    script
        .lock()
        .unwrap()
        .play(fixtures::json("spotify", "track_development_mode_2026.json"), started);
    app.advance(Duration::from_secs(15));
    app.run_due_jobs().await; // the first live look: 10 s in
    for subscription in [&mut sams, &mut alexs] {
        let event = step(subscription).await;
        assert_eq!(event["kind"], "LISTENING", "{event}");
        assert_eq!(at(&event["at"]), started, "listening since the play began");
        assert_eq!(at(&event["share"]["listeningAt"]), started);
        assert_eq!(event["share"]["status"], "PENDING");
    }

    let mut played = Value::Null;
    until(&app, async || {
        played = state(&app, &sam, &id).await;
        played["status"] == "PLAYED"
    })
    .await;
    let mark = started + TimeDelta::seconds(30);
    let detected = at(&played["playEvent"]["detectedAt"]);
    assert!(
        detected >= mark && detected - mark <= TimeDelta::seconds(2),
        "recorded {} s after the 30-second mark",
        (detected - mark).num_seconds()
    );
    assert_eq!(at(&played["playedAt"]), started, "playedAt is when the play began");
    for subscription in [&mut sams, &mut alexs] {
        let event = step(subscription).await;
        assert_eq!(event["kind"], "PLAYED", "{event}");
        assert_eq!(at(&event["at"]), started);
        assert_eq!(event["share"]["status"], "PLAYED");
    }
    let (looks, histories) = (calls(&script, LIVE), calls(&script, RECENT));
    assert!((2..=4).contains(&looks), "{looks} currently-playing calls");
    assert_eq!(histories, 0, "recently-played was not needed");

    // The song plays on: nothing more happens, to anyone.
    app.advance(Duration::from_secs(60));
    app.run_due_jobs().await;
    assert!(sams.next_within(Duration::from_millis(300)).await.is_none());
}

fn calls(script: &Shared, path: &str) -> usize {
    script
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(p, _, _)| p == path)
        .count()
}

#[tokio::test]
async fn a_step_is_never_undone_nor_told_twice() {
    let Listening { app, script, sam, alex } = listening(&[]).await;
    let mut sams = app.subscribe(Some(&sam.access), STEPS).await;
    let id = share(&app, &sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();
    // Alex plays it straight from Spotify, never opening it here.
    let started = app.clock.now() + TimeDelta::seconds(2);
    script
        .lock()
        .unwrap()
        .play(fixtures::json("spotify", "track_development_mode_2026.json"), started);
    app.advance(Duration::from_secs(15));
    app.run_due_jobs().await;
    assert_eq!(step(&mut sams).await["kind"], "LISTENING");

    // Opening it now would be a step back: nothing changes.
    let late = app.graphql(OPEN, json!({ "id": id }), Some(&alex.access)).await;
    assert!(late["data"]["markShareOpened"]["openedAt"].is_null(), "{late}");
    assert!(late["data"]["markShareOpened"]["listeningAt"].is_string(), "{late}");
    until(&app, async || state(&app, &sam, &id).await["status"] == "PLAYED").await;
    assert_eq!(step(&mut sams).await["kind"], "PLAYED");
    for _ in 0..2 {
        let again = app.graphql(OPEN, json!({ "id": id }), Some(&alex.access)).await;
        assert_eq!(again["data"]["markShareOpened"]["status"], "PLAYED", "{again}");
    }
    assert!(sams.next_within(Duration::from_millis(300)).await.is_none());
    let steps = app
        .db()
        .await
        .query_all_raw(Statement::from_string(
            app.db().await.get_database_backend(),
            "SELECT kind FROM share_activities ORDER BY created_at",
        ))
        .await
        .unwrap();
    let kinds: Vec<String> = steps.iter().map(|r| r.try_get("", "kind").unwrap()).collect();
    assert_eq!(kinds, ["LISTENING", "PLAYED"]);
}

#[tokio::test]
async fn recently_played_finds_what_the_live_looks_missed_despite_its_lag() {
    let Listening { app, script, sam, .. } = listening(&[]).await;
    let id = share(&app, &sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();
    // The live window passes without a play; then Alex plays it, and
    // Spotify's history lists the play three minutes after it counted.
    for _ in 0..12 {
        app.advance(Duration::from_secs(60));
        app.run_due_jobs().await;
    }
    let mut sams = app.subscribe(Some(&relog(&app, &sam).await), STEPS).await;
    let looks = calls(&script, LIVE);
    let started = app.clock.now();
    {
        let mut s = script.lock().unwrap();
        s.lag = TimeDelta::minutes(3);
        s.play(fixtures::json("spotify", "track_development_mode_2026.json"), started);
    }
    let listed = started + TimeDelta::seconds(30) + TimeDelta::minutes(3);
    let mut found = Value::Null;
    for _ in 0..15 {
        app.advance(Duration::from_secs(60));
        app.run_due_jobs().await;
        found = state(&app, &sam, &id).await;
        if found["status"] == "PLAYED" {
            break;
        }
    }

    assert_eq!(found["status"], "PLAYED", "{found}");
    assert_eq!(at(&found["playedAt"]), started);
    let detected = at(&found["playEvent"]["detectedAt"]);
    assert!(detected >= listed, "not before Spotify listed it");
    assert!(
        detected - listed <= TimeDelta::minutes(5),
        "at the next check after it was listed"
    );
    assert_eq!(calls(&script, LIVE), looks, "no live looks after the window");
    let event = step(&mut sams).await;
    assert_eq!(event["kind"], "PLAYED", "only PLAYED: no live look saw it: {event}");
}

#[tokio::test]
async fn a_play_recorded_live_is_not_recorded_again_from_recently_played() {
    let Listening { app, script, sam, alex } = listening(&[]).await;
    let mut sams = app.subscribe(Some(&sam.access), STEPS).await;
    let cut = share(&app, &sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();
    // Another share keeps Alex's history checked every few minutes.
    share(&app, &sam, "alex", TRACK).await;
    app.graphql(OPEN, json!({ "id": cut }), Some(&alex.access)).await;
    assert_eq!(step(&mut sams).await["kind"], "OPENED");
    script.lock().unwrap().play(
        fixtures::json("spotify", "track_development_mode_2026.json"),
        app.clock.now() + TimeDelta::seconds(1),
    );
    until(&app, async || state(&app, &sam, &cut).await["status"] == "PLAYED").await;
    let kinds = [step(&mut sams).await, step(&mut sams).await].map(|e| e["kind"].clone());
    assert_eq!(kinds, ["LISTENING", "PLAYED"]);

    // Spotify lists the play (no lag here) while the other share is
    // checked. (A step is told only when its row is written: the rows
    // show nothing was told twice.)
    for _ in 0..20 {
        app.advance(Duration::from_secs(60));
        app.run_due_jobs().await;
    }
    assert!(calls(&script, RECENT) >= 2, "recently-played read the play since");
    let db = app.db().await;
    let count = async |sql: &str| {
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap()
            .len()
    };
    assert_eq!(count("SELECT id FROM play_events").await, 1, "one play event");
    assert_eq!(
        count("SELECT id FROM share_activities WHERE kind = 'PLAYED'").await,
        1,
        "one PLAYED step"
    );
}

#[tokio::test]
async fn expired_and_cancelled_reach_the_sender_and_the_recipient() {
    let app = spawn_app_with(&[("SHARE_TTL", "1h")]).await;
    let (sam, alex) = pair(&app).await;
    let mut sams = app.subscribe(Some(&sam.access), STEPS).await;
    let mut alexs = app.subscribe(Some(&alex.access), STEPS).await;
    let first = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let second = share(&app, &sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();

    let cancelled = app
        .graphql(
            "mutation($id: ID!) { cancelShare(id: $id) { status } }",
            json!({ "id": second }),
            Some(&sam.access),
        )
        .await;
    assert_eq!(cancelled["data"]["cancelShare"]["status"], "CANCELLED", "{cancelled}");
    for subscription in [&mut sams, &mut alexs] {
        let event = step(subscription).await;
        assert_eq!((&event["kind"], &event["share"]["id"]), (&json!("CANCELLED"), &second));
    }
    let expires = at(&state(&app, &sam, &first).await["expiresAt"]);
    // Access tokens last 15 minutes, and their sockets close then: both
    // subscribe again with fresh ones a minute before the expiry.
    app.advance((expires - TimeDelta::minutes(1) - app.clock.now()).to_std().unwrap());
    let mut sams = app.subscribe(Some(&relog(&app, &sam).await), STEPS).await;
    let mut alexs = app.subscribe(Some(&relog(&app, &alex).await), STEPS).await;
    app.advance(Duration::from_secs(60));
    app.run_due_jobs().await;
    for subscription in [&mut sams, &mut alexs] {
        let event = step(subscription).await;
        assert_eq!(
            (&event["kind"], &event["share"]["status"]),
            (&json!("EXPIRED"), &json!("EXPIRED"))
        );
        assert_eq!(at(&event["at"]), expires);
    }
}

#[tokio::test]
async fn only_the_recipient_marks_a_share_opened() {
    let app = spawn_app_with(&[]).await;
    let (sam, alex) = pair(&app).await;
    let kim = app.sign_up("kim").await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();

    let by_sender = app.graphql(OPEN, json!({ "id": id }), Some(&sam.access)).await;
    assert_eq!(error_code(&by_sender), Some("FORBIDDEN"), "{by_sender}");
    let by_stranger = app.graphql(OPEN, json!({ "id": id }), Some(&kim.access)).await;
    assert_eq!(error_code(&by_stranger), Some("NOT_FOUND"), "{by_stranger}");
    let nonsense = app.graphql(OPEN, json!({ "id": "nonsense" }), Some(&alex.access)).await;
    assert_eq!(error_code(&nonsense), Some("BAD_USER_INPUT"), "{nonsense}");
    let anonymous = app.graphql(OPEN, json!({ "id": id }), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
    assert!(state(&app, &sam, &id).await["openedAt"].is_null(), "nothing changed");

    let opened = app.graphql(OPEN, json!({ "id": id }), Some(&alex.access)).await;
    assert!(opened["data"]["markShareOpened"]["openedAt"].is_string(), "{opened}");
}

#[tokio::test]
async fn the_sender_chooses_which_steps_push_and_message_them() {
    let world = world(&["ok-sam"], Some("sam-psid")).await;
    let (app, sam, alex) = (&world.app, &world.sam, &world.alex);
    let settings = "mutation($s: [ShareActivityKind!]) { updateSettings(input: { notifySteps: $s }) { settings { notifySteps } } }";
    let shown = app
        .graphql("{ me { settings { notifySteps } } }", json!({}), Some(&sam.access))
        .await;
    assert_eq!(
        shown["data"]["me"]["settings"]["notifySteps"],
        json!(["PLAYED", "REACTED", "REPLIED"]),
        "the default"
    );

    // By default an opened share tells Sam nothing but his subscription.
    let first = share(app, sam, "alex", TRACK).await["id"].clone();
    app.graphql(OPEN, json!({ "id": first }), Some(&alex.access)).await;
    app.run_due_jobs().await;
    assert!(of_kind(&deliveries(app, sam).await, "share_opened").is_empty());

    let refused = app
        .graphql(settings, json!({ "s": ["OPENED", "CANCELLED"] }), Some(&sam.access))
        .await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "notifySteps");
    let chosen = app
        .graphql(
            settings,
            json!({ "s": ["PLAYED", "OPENED", "OPENED", "EXPIRED"] }),
            Some(&sam.access),
        )
        .await;
    assert_eq!(
        chosen["data"]["updateSettings"]["settings"]["notifySteps"],
        json!(["OPENED", "PLAYED", "EXPIRED"]),
        "{chosen}"
    );
    let second = share(app, sam, "alex", &format!("spotify:track:{CUT}")).await["id"].clone();
    app.graphql(OPEN, json!({ "id": second }), Some(&relog(app, alex).await))
        .await;
    app.run_due_jobs().await;

    let opened = of_kind(&deliveries(app, sam).await, "share_opened")
        .into_iter()
        .map(|d| d["channel"].as_str().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        opened,
        ["MESSENGER".to_owned(), "PUSH".to_owned()].into(),
        "both channels"
    );
    let rec = world.fakes.lock().unwrap();
    let push = rec
        .pushes
        .iter()
        .find(|(_, body)| body["message"]["data"]["type"] == "share_opened")
        .expect("a push");
    assert_eq!(push.1["message"]["notification"]["title"], "alex opened your song");
    assert_eq!(push.1["message"]["data"]["shareId"], second);
    let (_, message) = rec
        .messages
        .iter()
        .find(|(_, body)| body["message"]["text"].as_str().is_some_and(|t| t.contains("opened")))
        .expect("a Messenger message");
    assert!(
        message["message"]["text"]
            .as_str()
            .unwrap()
            .starts_with("alex opened “"),
        "{message}"
    );
}

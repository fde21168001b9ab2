//! Sharing: create, duplicates, limits, cancel, lists and visibility.
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, error_message, spawn_app};

pub const SHARE: &str = "mutation($to: String!, $t: String!, $n: String) { shareSong(input: { to: $to, track: $t, note: $n }) { id status note createdAt expiresAt nextCheckAt playedAt sender { handle } recipient { handle } track { id name artists durationMs } } }";
pub const TRACK: &str = "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC?si=abc";
pub const TRACK_ID: &str = "4uLU6hMCjMI75M1A2tKUQC";

pub async fn share(app: &TestApp, from: &Session, to: &str, track: &str) -> Value {
    let body = app
        .graphql(SHARE, json!({ "to": to, "t": track, "n": null }), Some(&from.access))
        .await;
    body["data"]["shareSong"].clone()
}

/// Sam and Alex, friends.
pub async fn pair(app: &TestApp) -> (Session, Session) {
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    (sam, alex)
}

fn seconds_between(a: &Value, b: &Value) -> i64 {
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    (parse(b) - parse(a)).num_seconds()
}

#[tokio::test]
async fn a_share_is_pending_with_its_track_schedule_and_expiry() {
    let app = spawn_app().await;
    let (sam, _alex) = pair(&app).await;

    let body = app
        .graphql(
            SHARE,
            json!({ "to": "alex", "t": TRACK, "n": "  this one!  " }),
            Some(&sam.access),
        )
        .await;

    let share = &body["data"]["shareSong"];
    assert_eq!(share["status"], "PENDING", "{body}");
    assert_eq!(share["note"], "this one!");
    assert_eq!(share["sender"]["handle"], "sam");
    assert_eq!(share["recipient"]["handle"], "alex");
    assert_eq!(share["track"]["id"], TRACK_ID);
    assert!(share["playedAt"].is_null());
    assert_eq!(seconds_between(&share["createdAt"], &share["expiresAt"]), 7 * 86_400);
    let duration = share["track"]["durationMs"].as_i64().unwrap() / 1000;
    let first_check = seconds_between(&share["createdAt"], &share["nextCheckAt"]);
    assert!(
        (duration - 1..=duration).contains(&first_check),
        "first check after the track: {first_check} vs {duration}"
    );
}

#[tokio::test]
async fn the_same_pending_share_twice_answers_the_existing_one() {
    let app = spawn_app().await;
    let (sam, _alex) = pair(&app).await;
    let first = share(&app, &sam, "alex", TRACK).await;
    let again = share(&app, &sam, "alex", &format!("spotify:track:{TRACK_ID}")).await;
    assert_eq!(first["id"], again["id"]);
    let sent = app
        .graphql(
            "{ shares(box: SENT) { edges { node { id } } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(sent["data"]["shares"]["edges"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn sharing_needs_an_accepted_friend_and_a_track() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.sign_up("kim").await;
    let ask = |to: &'static str, track: &'static str, note: Value| {
        app.graphql(SHARE, json!({ "to": to, "t": track, "n": note }), Some(&sam.access))
    };

    let stranger = ask("kim", TRACK, Value::Null).await;
    assert_eq!(error_code(&stranger), Some("FORBIDDEN"), "{stranger}");
    assert!(error_message(&stranger).contains("add kim"), "{stranger}");
    assert_eq!(error_code(&ask("ghost", TRACK, Value::Null).await), Some("NOT_FOUND"));
    assert_eq!(
        error_code(&ask("sam", TRACK, Value::Null).await),
        Some("BAD_USER_INPUT")
    );

    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    let album = ask(
        "alex",
        "https://open.spotify.com/album/1DFixLWuPkv3KT3TnV35m3",
        Value::Null,
    )
    .await;
    assert!(error_message(&album).contains("only tracks"), "{album}");
    let long_note = app
        .graphql(
            SHARE,
            json!({ "to": "alex", "t": TRACK, "n": "x".repeat(281) }),
            Some(&sam.access),
        )
        .await;
    assert_eq!(error_code(&long_note), Some("BAD_USER_INPUT"));
    assert_eq!(long_note["errors"][0]["extensions"]["field"], "note");
    let received = app
        .graphql(
            "{ shares(box: RECEIVED) { edges { node { id } } } }",
            json!({}),
            Some(&alex.access),
        )
        .await;
    assert_eq!(received["data"]["shares"]["edges"], json!([]), "nothing was shared");
}

#[tokio::test]
async fn at_most_fifty_shares_an_hour() {
    let app = spawn_app().await;
    let (sam, _alex) = pair(&app).await;
    for n in 0..50 {
        let id = format!("{n:0>22}");
        assert_eq!(share(&app, &sam, "alex", &id).await["status"], "PENDING", "share {n}");
    }
    let refused = app
        .graphql(
            SHARE,
            json!({ "to": "alex", "t": format!("{:0>22}", 99), "n": null }),
            Some(&sam.access),
        )
        .await;
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    app.advance(std::time::Duration::from_secs(3601));
    let access = crate::helpers::relog(&app, &sam).await;
    let later = app
        .graphql(
            SHARE,
            json!({ "to": "alex", "t": format!("{:0>22}", 99), "n": null }),
            Some(&access),
        )
        .await;
    assert_eq!(later["data"]["shareSong"]["status"], "PENDING", "{later}");
}

#[tokio::test]
async fn only_the_sender_cancels_and_only_while_pending() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let cancel = "mutation($id: ID!) { cancelShare(id: $id) { status nextCheckAt } }";

    let by_recipient = app.graphql(cancel, json!({ "id": id }), Some(&alex.access)).await;
    assert_eq!(error_code(&by_recipient), Some("FORBIDDEN"));
    let by_sender = app.graphql(cancel, json!({ "id": id }), Some(&sam.access)).await;
    assert_eq!(by_sender["data"]["cancelShare"]["status"], "CANCELLED");
    assert!(by_sender["data"]["cancelShare"]["nextCheckAt"].is_null());
    let twice = app.graphql(cancel, json!({ "id": id }), Some(&sam.access)).await;
    assert_eq!(error_code(&twice), Some("CONFLICT"));
    let bad = app
        .graphql(cancel, json!({ "id": "not-an-id" }), Some(&sam.access))
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn lists_page_newest_first_and_filter_by_status() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(share(&app, &sam, "alex", &format!("{n:0>22}")).await["id"].clone());
    }
    let page = "query($a: String) { shares(box: RECEIVED, first: 2, after: $a) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";

    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app.graphql(page, json!({ "a": after }), Some(&alex.access)).await;
        let conn = &body["data"]["shares"];
        for edge in conn["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].clone());
        }
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    ids.reverse();
    assert_eq!(seen, ids, "all five, newest first, across pages");

    let cancel = "mutation($id: ID!) { cancelShare(id: $id) { status } }";
    app.graphql(cancel, json!({ "id": ids[0] }), Some(&sam.access)).await;
    let pending = app
        .graphql(
            "{ shares(box: SENT, status: PENDING) { edges { node { id } } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(pending["data"]["shares"]["edges"].as_array().unwrap().len(), 4);
    let bad = app
        .graphql(
            "{ shares(box: SENT, first: 500) { edges { cursor } } }",
            json!({}),
            Some(&sam.access),
        )
        .await;
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn a_share_is_visible_only_to_its_sender_and_recipient() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    let kim = app.sign_up("kim").await;
    let id = share(&app, &sam, "alex", TRACK).await["id"].clone();
    let query = "query($id: ID!) { share(id: $id) { id } }";
    for who in [&sam, &alex] {
        let body = app.graphql(query, json!({ "id": id }), Some(&who.access)).await;
        assert_eq!(body["data"]["share"]["id"], id);
    }
    let body = app.graphql(query, json!({ "id": id }), Some(&kim.access)).await;
    assert!(body["data"]["share"].is_null(), "{body}");
    let cancel = app
        .graphql(
            "mutation($id: ID!) { cancelShare(id: $id) { id } }",
            json!({ "id": id }),
            Some(&kim.access),
        )
        .await;
    assert_eq!(error_code(&cancel), Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_new_share_reaches_its_recipient_live_and_no_one_else() {
    let app = spawn_app().await;
    let (sam, alex) = pair(&app).await;
    let kim = app.sign_up("kim").await;
    let query = "subscription { shareReceived { note sender { handle } track { id } } }";
    let mut alexs = app.subscribe(Some(&alex.access), query).await;
    let mut kims = app.subscribe(Some(&kim.access), query).await;
    let mut sams = app.subscribe(Some(&sam.access), query).await;

    app.graphql(
        SHARE,
        json!({ "to": "alex", "t": TRACK, "n": "listen!" }),
        Some(&sam.access),
    )
    .await;

    let event = alexs.next().await.expect("Alex hears of it");
    assert_eq!(
        event["data"]["shareReceived"],
        json!({ "note": "listen!", "sender": { "handle": "sam" }, "track": { "id": TRACK_ID } })
    );
    assert!(kims.next_within(std::time::Duration::from_millis(300)).await.is_none());
    assert!(sams.next_within(std::time::Duration::from_millis(300)).await.is_none());
}

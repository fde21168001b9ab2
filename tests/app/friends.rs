//! Friend requests, acceptance, removal, the live `friendshipChanged`, and
//! that friend lists load their users without one query per friend.
use std::time::Duration;

use serde_json::json;

use crate::helpers::{Subscription, error_code, spawn_app};

const ADD: &str = "mutation($h: String!) { addFriend(handle: $h) { status since user { handle displayName } } }";
const REMOVE: &str = "mutation($h: String!) { removeFriend(handle: $h) }";
const FRIENDS: &str = "{ me { friends { status user { handle } } } }";
const CHANGED: &str = "subscription { friendshipChanged { status user { handle } } }";

#[tokio::test]
async fn a_request_then_its_acceptance() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;

    let request = app.graphql(ADD, json!({ "h": "alex" }), Some(&sam.access)).await;
    assert_eq!(request["data"]["addFriend"]["status"], "REQUESTED", "{request}");
    assert_eq!(request["data"]["addFriend"]["user"]["handle"], "alex");
    let alexs = app.graphql(FRIENDS, json!({}), Some(&alex.access)).await;
    assert_eq!(
        alexs["data"]["me"]["friends"],
        json!([{ "status": "INCOMING", "user": { "handle": "sam" } }])
    );

    let accept = app.graphql(ADD, json!({ "h": "SAM" }), Some(&alex.access)).await;
    assert_eq!(accept["data"]["addFriend"]["status"], "ACCEPTED", "{accept}");
    let sams = app.graphql(FRIENDS, json!({}), Some(&sam.access)).await;
    assert_eq!(
        sams["data"]["me"]["friends"],
        json!([{ "status": "ACCEPTED", "user": { "handle": "alex" } }])
    );
}

#[tokio::test]
async fn repeating_a_request_or_an_acceptance_changes_nothing() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    for _ in 0..2 {
        let again = app.graphql(ADD, json!({ "h": "alex" }), Some(&sam.access)).await;
        assert_eq!(again["data"]["addFriend"]["status"], "REQUESTED");
    }
    app.graphql(ADD, json!({ "h": "sam" }), Some(&alex.access)).await;
    let after = app.graphql(ADD, json!({ "h": "alex" }), Some(&sam.access)).await;
    assert_eq!(after["data"]["addFriend"]["status"], "ACCEPTED");
    let sams = app.graphql(FRIENDS, json!({}), Some(&sam.access)).await;
    assert_eq!(sams["data"]["me"]["friends"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn nobody_befriends_themselves_or_a_stranger_that_does_not_exist() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let me = app.graphql(ADD, json!({ "h": "sam" }), Some(&sam.access)).await;
    assert_eq!(error_code(&me), Some("BAD_USER_INPUT"), "{me}");
    let ghost = app.graphql(ADD, json!({ "h": "ghost" }), Some(&sam.access)).await;
    assert_eq!(error_code(&ghost), Some("NOT_FOUND"), "{ghost}");
    let anonymous = app.graphql(ADD, json!({ "h": "sam" }), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
    let friends = app.graphql(FRIENDS, json!({}), Some(&sam.access)).await;
    assert_eq!(friends["data"]["me"]["friends"], json!([]));
}

#[tokio::test]
async fn removing_a_friend_removes_it_for_both() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;

    let removed = app.graphql(REMOVE, json!({ "h": "sam" }), Some(&alex.access)).await;

    assert_eq!(removed["data"]["removeFriend"], true, "{removed}");
    for who in [&sam, &alex] {
        let list = app.graphql(FRIENDS, json!({}), Some(&who.access)).await;
        assert_eq!(list["data"]["me"]["friends"], json!([]));
    }
    let again = app.graphql(REMOVE, json!({ "h": "sam" }), Some(&alex.access)).await;
    assert_eq!(again["data"]["removeFriend"], false);
}

#[tokio::test]
async fn friendship_changes_reach_only_the_person_they_concern() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let kim = app.sign_up("kim").await;
    let mut alexs = app.subscribe(Some(&alex.access), CHANGED).await;
    let mut sams = app.subscribe(Some(&sam.access), CHANGED).await;
    let mut kims = app.subscribe(Some(&kim.access), CHANGED).await;

    app.graphql(ADD, json!({ "h": "alex" }), Some(&sam.access)).await;
    let incoming = alexs.next().await.expect("Alex hears of Sam's request");
    assert_eq!(
        incoming["data"]["friendshipChanged"],
        json!({ "status": "INCOMING", "user": { "handle": "sam" } })
    );

    app.graphql(ADD, json!({ "h": "sam" }), Some(&alex.access)).await;
    let accepted = sams.next().await.expect("Sam hears of the acceptance");
    assert_eq!(
        accepted["data"]["friendshipChanged"],
        json!({ "status": "ACCEPTED", "user": { "handle": "alex" } })
    );

    assert!(
        kims.next_within(Duration::from_millis(500)).await.is_none(),
        "Kim hears nothing"
    );
    assert!(
        alexs.next_within(Duration::from_millis(300)).await.is_none(),
        "Alex's own acceptance is not echoed"
    );
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_works_too() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let mut alexs = Subscription::open(app.port, "graphql-ws", Some(&alex.access), CHANGED).await;

    app.graphql(ADD, json!({ "h": "alex" }), Some(&sam.access)).await;

    let event = alexs.next().await.expect("an event over graphql-ws");
    assert_eq!(event["data"]["friendshipChanged"]["status"], "INCOMING");
}

#[tokio::test]
async fn subscriptions_need_a_valid_token() {
    let app = spawn_app().await;
    for token in [Some("not-a-token"), None] {
        let refused = Subscription::connect(app.port, "graphql-transport-ws", token).await;
        let reason = refused.expect_err("no token, no connection");
        assert!(reason.starts_with("4403 "), "{token:?}: {reason}");
    }
}

/// DataLoader: the friends list loads its users in one query, so the number
/// of statements does not grow with the number of friends.
#[tokio::test]
async fn friend_lists_cost_the_same_number_of_queries_for_one_friend_or_ten() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let statements_for_list = async |access: &str| {
        // Cold: past the few seconds sessions and lists are cached.
        app.advance(std::time::Duration::from_secs(6));
        let before = app.metric("sendsongs_db_statements_total").await;
        let body = app.graphql(FRIENDS, json!({}), Some(access)).await;
        let after = app.metric("sendsongs_db_statements_total").await;
        (body["data"]["me"]["friends"].as_array().unwrap().len(), after - before)
    };

    let first = app.sign_up("friend0").await;
    app.befriend(&sam, &first).await;
    let (one, cost_one) = statements_for_list(&sam.access).await;
    for n in 1..10 {
        let friend = app.sign_up(&format!("friend{n}")).await;
        app.befriend(&sam, &friend).await;
    }
    let (ten, cost_ten) = statements_for_list(&sam.access).await;

    assert_eq!((one, ten), (1, 10));
    assert!(cost_one > 0.0);
    assert_eq!(cost_one, cost_ten, "statements must not grow with friends");
}

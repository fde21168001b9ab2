//! A session ends everywhere: log-out, a revoked session (its refresh token
//! used twice), log-out everywhere, a deleted account and an expired access
//! token each end the WebSockets signed in with it — each running operation
//! gets an `UNAUTHENTICATED` error and the socket closes with 4403, so the
//! client reconnects with a fresh token — on this replica and on the others.
use std::time::Duration;

use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

use crate::helpers::{
    Closed, PASSWORD, Session, Subscription, TestApp, error_code, on_postgres, relog, spawn_app, spawn_replica,
};

const CHANGED: &str = "subscription { friendshipChanged { status user { handle } } }";
const LOG_OUT: &str = "mutation($t: String!) { logOut(refreshToken: $t) }";
const EVERYWHERE: &str = "mutation { logOutEverywhere }";
const DELETE: &str = "mutation($p: String!) { deleteAccount(password: $p) }";
const REFRESH: &str = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }";
const LOG_IN: &str =
    "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken refreshToken } }";
const ME: &str = "{ me { handle } }";
/// Generous: the close comes as soon as the event is heard.
const WAIT: Duration = Duration::from_secs(5);

/// Another session of `person`'s (their phone, say).
async fn second_session(app: &TestApp, person: &Session) -> Session {
    let body = app
        .graphql(LOG_IN, json!({ "e": person.email, "p": PASSWORD }), None)
        .await;
    let tokens = &body["data"]["logIn"];
    Session {
        access: tokens["accessToken"].as_str().expect("logged in").to_owned(),
        refresh: tokens["refreshToken"].as_str().unwrap().to_owned(),
        ..person.clone()
    }
}

/// The socket was told its operation ended (`UNAUTHENTICATED`, saying
/// `why`) and closed with 4403.
fn assert_ended(closed: Option<Closed>, why: &str) {
    let closed = closed.expect("the server closed the socket");
    assert_eq!(closed.code, 4403, "{closed:?}");
    assert!(
        closed.reason.starts_with("Forbidden: ") && closed.reason.contains(why),
        "{closed:?}"
    );
    let error = closed
        .before
        .iter()
        .find(|m| m["type"] == "error")
        .unwrap_or_else(|| panic!("an error for the subscription first: {closed:?}"));
    assert_eq!(error["id"], "1", "{error}");
    let errors = error["payload"].as_array().expect("graphql-transport-ws sends a list");
    assert_eq!(errors[0]["extensions"]["code"], "UNAUTHENTICATED", "{error}");
    assert!(
        closed.before.iter().all(|m| m["type"] != "next"),
        "nothing ran after the end: {closed:?}"
    );
}

/// The socket is still open and hears `sender`'s friend request.
async fn assert_still_hears(app: &TestApp, socket: &mut Subscription, sender: &Session, to: &str) {
    let body = app
        .graphql(
            "mutation($h: String!) { addFriend(handle: $h) { status } }",
            json!({ "h": to }),
            Some(&sender.access),
        )
        .await;
    assert!(body["data"]["addFriend"].is_object(), "{body}");
    let event = socket.next().await.expect("the socket still hears events");
    assert_eq!(
        event["data"]["friendshipChanged"]["user"]["handle"],
        sender.handle.as_str(),
        "{event}"
    );
}

#[tokio::test]
async fn log_out_closes_that_sessions_sockets_and_no_other() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let phone = second_session(&app, &sam).await;
    let alex = app.sign_up("alex").await;
    let mut laptop_socket = app.subscribe(Some(&sam.access), CHANGED).await;
    let mut phone_socket = app.subscribe(Some(&phone.access), CHANGED).await;

    let body = app
        .graphql(LOG_OUT, json!({ "t": sam.refresh }), Some(&sam.access))
        .await;

    assert_eq!(body["data"]["logOut"], true, "{body}");
    assert_ended(laptop_socket.closing(WAIT).await, "ended");
    assert_still_hears(&app, &mut phone_socket, &alex, "sam").await;
    // The client reconnects with a fresh token and is refused: log in again.
    let refused = Subscription::connect(app.port, "graphql-transport-ws", Some(&sam.access)).await;
    assert!(refused.is_err_and(|why| why.starts_with("4403")));
}

#[tokio::test]
async fn legacy_sockets_hear_the_end_too() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut socket = Subscription::open(app.port, "graphql-ws", Some(&sam.access), CHANGED).await;

    app.graphql(LOG_OUT, json!({ "t": sam.refresh }), None).await;

    let closed = socket.closing(WAIT).await.expect("closed");
    assert_eq!(closed.code, 4403, "{closed:?}");
    let kinds: Vec<&str> = closed.before.iter().filter_map(|m| m["type"].as_str()).collect();
    assert_eq!(kinds, ["error", "connection_error"], "{closed:?}");
    assert_eq!(closed.before[0]["id"], "1");
    assert_eq!(closed.before[0]["payload"]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_log_out_sent_over_the_socket_is_answered_then_the_socket_closes() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let mut socket = app.subscribe(Some(&sam.access), CHANGED).await;

    socket
        .send(json!({ "id": "out", "type": "subscribe", "payload": { "query": LOG_OUT, "variables": { "t": sam.refresh } } }))
        .await;

    let closed = socket.closing(WAIT).await.expect("closed");
    assert_eq!(closed.code, 4403, "{closed:?}");
    let answer = &closed.before[0];
    assert_eq!(answer["id"], "out", "{closed:?}");
    assert_eq!(answer["payload"]["data"]["logOut"], true, "{closed:?}");
    assert!(
        closed.before.iter().any(|m| m["type"] == "error" && m["id"] == "1"),
        "{closed:?}"
    );
}

#[tokio::test]
async fn a_reused_refresh_token_closes_the_revoked_sessions_sockets() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let first = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;
    let rotated = first["data"]["refreshSession"]["accessToken"].as_str().unwrap();
    let mut socket = app.subscribe(Some(rotated), CHANGED).await;

    // A thief replays the spent token: the whole session is revoked.
    let replay = app.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;

    assert_eq!(error_code(&replay), Some("UNAUTHENTICATED"), "{replay}");
    assert_ended(socket.closing(WAIT).await, "ended");
}

#[tokio::test]
async fn log_out_everywhere_ends_every_session_and_socket_of_the_person_only() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let phone = second_session(&app, &sam).await;
    let alex = app.sign_up("alex").await;
    let mut sockets = [
        app.subscribe(Some(&sam.access), CHANGED).await,
        app.subscribe(Some(&phone.access), CHANGED).await,
    ];
    let mut alexs = app.subscribe(Some(&alex.access), CHANGED).await;

    let body = app.graphql(EVERYWHERE, json!({}), Some(&phone.access)).await;

    assert_eq!(body["data"]["logOutEverywhere"], true, "{body}");
    for socket in &mut sockets {
        assert_ended(socket.closing(WAIT).await, "ended");
    }
    for session in [&sam, &phone] {
        let me = app.graphql(ME, json!({}), Some(&session.access)).await;
        assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
        let refresh = app.graphql(REFRESH, json!({ "t": session.refresh }), None).await;
        assert_eq!(error_code(&refresh), Some("UNAUTHENTICATED"), "{refresh}");
    }
    assert_still_hears(&app, &mut alexs, &sam_again(&app, &sam).await, "alex").await;
    // Signed out, it asks for a session.
    let anonymous = app.graphql(EVERYWHERE, json!({}), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"), "{anonymous}");
}

/// Sam logs in again (a new session is not touched by the old ends).
async fn sam_again(app: &TestApp, sam: &Session) -> Session {
    Session {
        access: relog(app, sam).await,
        ..sam.clone()
    }
}

#[tokio::test]
async fn an_expired_access_token_closes_its_socket_when_it_expires() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let mut socket = app.subscribe(Some(&sam.access), CHANGED).await;

    // Fifteen minutes, and the tolerated half-minute of skew.
    app.advance(Duration::from_secs(15 * 60));
    assert_still_hears(&app, &mut socket, &alex, "sam").await;
    app.advance(Duration::from_secs(30));

    assert_ended(socket.closing(WAIT).await, "expired");
    // The client reconnects with a fresh token.
    let fresh = relog(&app, &sam).await;
    let mut again = app.subscribe(Some(&fresh), CHANGED).await;
    let kim = app.sign_up("kim").await;
    assert_still_hears(&app, &mut again, &kim, "sam").await;
}

#[tokio::test]
async fn deleting_the_account_takes_its_data_and_ends_its_sessions() {
    let app = spawn_app().await;
    let (sam, alex) = crate::shares::pair(&app).await;
    app.link_spotify(&sam, "samspot").await;
    app.link_spotify(&alex, "alexspot").await;
    let sent = crate::shares::share(&app, &sam, "alex", crate::shares::TRACK).await;
    crate::shares::share(&app, &alex, "sam", crate::shares::TRACK).await;
    let mut socket = app.subscribe(Some(&sam.access), CHANGED).await;

    let wrong = app
        .graphql(DELETE, json!({ "p": "not my password" }), Some(&sam.access))
        .await;
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "password", "{wrong}");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(
        me["data"]["me"]["handle"], "sam",
        "a wrong password changes nothing: {me}"
    );

    let body = app.graphql(DELETE, json!({ "p": PASSWORD }), Some(&sam.access)).await;

    assert_eq!(body["data"]["deleteAccount"], true, "{body}");
    assert_ended(socket.closing(WAIT).await, "ended");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
    let log_in = app
        .graphql(LOG_IN, json!({ "e": sam.email, "p": PASSWORD }), None)
        .await;
    assert_eq!(error_code(&log_in), Some("UNAUTHENTICATED"), "{log_in}");
    // Friends no longer see them, nor the songs between them.
    let seen = app
        .graphql(
            "{ user(handle: \"sam\") { handle } me { friends { user { handle } } } \
               received: shares(box: RECEIVED) { edges { node { id } } } \
               sent: shares(box: SENT) { edges { node { id } } } }",
            json!({}),
            Some(&alex.access),
        )
        .await;
    assert_eq!(seen["data"]["user"], Value::Null, "{seen}");
    assert_eq!(seen["data"]["me"]["friends"], json!([]), "{seen}");
    assert_eq!(seen["data"]["received"]["edges"], json!([]), "{seen}");
    assert_eq!(seen["data"]["sent"]["edges"], json!([]), "{seen}");
    let share = app
        .graphql(
            "query($id: ID!) { share(id: $id) { id } }",
            json!({ "id": sent["id"] }),
            Some(&alex.access),
        )
        .await;
    assert_eq!(share["data"]["share"], Value::Null, "{share}");
    // Work queued about them finds nothing and finishes (no job is left dead).
    app.advance(Duration::from_secs(3600));
    app.run_due_jobs().await;
    // The handle and email are free again.
    app.sign_up("sam").await;
}

#[tokio::test]
async fn a_wrong_password_cannot_be_guessed_through_account_deletion() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    for _ in 0..5 {
        let wrong = app.graphql(DELETE, json!({ "p": "guess" }), Some(&sam.access)).await;
        assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    }

    let refused = app.graphql(DELETE, json!({ "p": PASSWORD }), Some(&sam.access)).await;

    assert_eq!(error_code(&refused), Some("RATE_LIMITED"), "{refused}");
    let me = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam", "{me}");
}

#[tokio::test]
async fn a_log_out_on_one_replica_closes_the_socket_on_another_and_its_cache_forgets() {
    if !on_postgres() {
        return; // one SQLite file serves one process
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let sam = first.sign_up("sam").await;
    let mut there = second.subscribe(Some(&sam.access), CHANGED).await;
    let mut here = first.subscribe(Some(&sam.access), CHANGED).await;
    // The second replica has Sam's session in its cache.
    let me = second.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam");

    first.graphql(LOG_OUT, json!({ "t": sam.refresh }), None).await;

    assert_ended(here.closing(WAIT).await, "ended");
    assert_ended(there.closing(WAIT).await, "ended");
    // The event made the second replica forget the session, before its
    // cache entry would have expired (the clock has not moved).
    let me = second.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
}

#[tokio::test]
async fn a_reused_refresh_token_on_one_replica_closes_the_revoked_sessions_sockets_on_another() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let sam = first.sign_up("sam").await;
    let phone = second_session(&first, &sam).await;
    let rotated = first.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;
    let rotated = rotated["data"]["refreshSession"]["accessToken"].as_str().unwrap();
    let mut there = second.subscribe(Some(rotated), CHANGED).await;
    let mut phones = second.subscribe(Some(&phone.access), CHANGED).await;
    // The second replica has the session in its cache.
    let me = second.graphql(ME, json!({}), Some(rotated)).await;
    assert_eq!(me["data"]["me"]["handle"], "sam", "{me}");

    // A thief replays the spent token on the first replica.
    let replay = first.graphql(REFRESH, json!({ "t": sam.refresh }), None).await;

    assert_eq!(error_code(&replay), Some("UNAUTHENTICATED"), "{replay}");
    assert_ended(there.closing(WAIT).await, "ended");
    let me = second.graphql(ME, json!({}), Some(rotated)).await;
    assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
    // Sam's other session (the phone) is not the revoked one.
    let kim = first.sign_up("kim").await;
    assert_still_hears(&second, &mut phones, &kim, "sam").await;
}

#[tokio::test]
async fn log_out_everywhere_and_deletion_reach_sockets_on_every_replica() {
    if !on_postgres() {
        return;
    }
    let first = spawn_app().await;
    let second = spawn_replica(&first, &[]).await;
    let sam = first.sign_up("sam").await;
    let kim = first.sign_up("kim").await;
    let phone = second_session(&first, &sam).await;
    let mut sockets = [
        first.subscribe(Some(&sam.access), CHANGED).await,
        second.subscribe(Some(&phone.access), CHANGED).await,
    ];
    let mut kims = second.subscribe(Some(&kim.access), CHANGED).await;

    second.graphql(EVERYWHERE, json!({}), Some(&sam.access)).await;

    for socket in &mut sockets {
        assert_ended(socket.closing(WAIT).await, "ended");
    }

    first.graphql(DELETE, json!({ "p": PASSWORD }), Some(&kim.access)).await;

    assert_ended(kims.closing(WAIT).await, "ended");
}

#[tokio::test]
async fn a_replica_that_may_have_missed_an_end_checks_its_sockets_once_listening_again() {
    if !on_postgres() {
        return;
    }
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let mut sams = app.subscribe(Some(&sam.access), CHANGED).await;
    let mut alexs = app.subscribe(Some(&alex.access), CHANGED).await;
    let db = app.db().await;
    // Sam's session ends with no event at all, as when the notification
    // went out while this replica's listener was cut off…
    db.execute_unprepared("UPDATE sessions SET revoked_at = now() WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE handle = 'sam')")
        .await
        .unwrap();
    // …and then the listener's connection is cut.
    db.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .await
    .unwrap();

    assert_ended(sams.closing(WAIT).await, "ended");
    assert_still_hears(&app, &mut alexs, &sam_again(&app, &sam).await, "alex").await;
}

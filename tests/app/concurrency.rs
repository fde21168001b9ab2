//! The same request many times at once: every mutation of the schema and
//! every public route that writes, 20 copies in parallel (on PostgreSQL
//! split between two replicas), end the way a person would expect: one
//! winner where only one can win, the same answer where the request is
//! idempotent, and never `INTERNAL` or a 5xx ("database is locked").
//!
//! The mutations come from `schema.graphql`: one without a case here fails
//! the sweep until it gets one.
use std::collections::{BTreeSet, HashMap};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, Session, TestApp, error_code, spawn_app, spawn_replica},
    messenger::{self, page_body, sign, text_event},
    sdl::Sdl,
    shares::{TRACK, pair},
};

/// Copies of each request sent at once.
const N: usize = 20;

fn on_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// The servers a burst is spread over: two replicas on PostgreSQL, one
/// server on an SQLite file (which one process serves).
pub struct Servers {
    pub apps: Vec<TestApp>,
}

impl Servers {
    pub async fn start(first: TestApp) -> Self {
        let mut apps = vec![];
        if on_postgres() {
            let second = spawn_replica(&first, &[]).await;
            apps.push(first);
            apps.push(second);
        } else {
            apps.push(first);
        }
        Self { apps }
    }

    pub fn first(&self) -> &TestApp {
        &self.apps[0]
    }

    /// The same operation `N` times at once; the JSON bodies.
    pub async fn burst(&self, query: &str, variables: Value, token: Option<&str>) -> Vec<Value> {
        self.burst_of(N, query, variables, token).await
    }

    pub async fn burst_of(&self, n: usize, query: &str, variables: Value, token: Option<&str>) -> Vec<Value> {
        join_all((0..n).map(|i| {
            let app = &self.apps[i % self.apps.len()];
            app.graphql(query, variables.clone(), token)
        }))
        .await
    }

    /// The same GET `N` times at once; statuses and bodies.
    async fn get_burst(&self, url_of: impl Fn(&TestApp) -> String) -> Vec<(StatusCode, String)> {
        join_all((0..N).map(|i| {
            let app = &self.apps[i % self.apps.len()];
            let url = url_of(app);
            async move { app.browse(&url).await }
        }))
        .await
    }
}

/// What one answer came to: the field's data, or the error's code.
#[derive(Debug)]
enum Answer {
    Data(Value),
    Error(String),
}

fn answers(field: &str, bodies: &[Value]) -> Vec<Answer> {
    bodies
        .iter()
        .map(|body| match error_code(body) {
            Some(code) => {
                assert_ne!(code, "INTERNAL", "{body}");
                Answer::Error(code.to_owned())
            }
            None => {
                assert!(!body["data"][field].is_null(), "neither data nor an error: {body}");
                Answer::Data(body["data"][field].clone())
            }
        })
        .collect()
}

/// How many answers carried data, and the error codes of the others.
fn tally(answers: &[Answer]) -> (usize, HashMap<String, usize>) {
    let mut codes = HashMap::new();
    let mut data = 0;
    for answer in answers {
        match answer {
            Answer::Data(_) => data += 1,
            Answer::Error(code) => *codes.entry(code.clone()).or_default() += 1,
        }
    }
    (data, codes)
}

fn data(answers: &[Answer]) -> Vec<&Value> {
    answers
        .iter()
        .filter_map(|a| match a {
            Answer::Data(value) => Some(value),
            Answer::Error(_) => None,
        })
        .collect()
}

/// Exactly one answer has data; every other is an error with `code`.
fn one_wins(field: &str, bodies: &[Value], code: &str) -> Value {
    let answers = answers(field, bodies);
    let (won, codes) = tally(&answers);
    assert_eq!(won, 1, "{field}: one winner expected, got {won}: {answers:?}");
    assert_eq!(codes.get(code).copied(), Some(N - 1), "{field}: {answers:?}");
    data(&answers)[0].clone()
}

/// Every answer has data; answers them.
fn all_succeed(field: &str, bodies: &[Value]) -> Vec<Value> {
    let answers = answers(field, bodies);
    let (won, _) = tally(&answers);
    assert_eq!(won, N, "{field}: every copy should succeed: {answers:?}");
    data(&answers).into_iter().cloned().collect()
}

/// A Boolean mutation: exactly one copy answers `true`, the rest `false`.
fn one_true(field: &str, bodies: &[Value]) {
    let values = all_succeed(field, bodies);
    let trues = values.iter().filter(|v| **v == json!(true)).count();
    assert_eq!(
        trues, 1,
        "{field}: one copy did it, the others found it done: {values:?}"
    );
}

/// Signs `handle` up on the first server.
async fn person(servers: &Servers, handle: &str) -> Session {
    servers.first().sign_up(handle).await
}

/// Runs the sweep's case for one mutation of the schema.
async fn case(servers: &Servers, mutation: &str) {
    let app = servers.first();
    match mutation {
        "signUp" => {
            let input =
                json!({ "email": "twin@example.com", "password": PASSWORD, "handle": "twin", "displayName": "Twin" });
            let bodies = servers
                .burst(
                    "mutation($i: SignUpInput!) { signUp(input: $i) { user { handle } } }",
                    json!({ "i": input }),
                    None,
                )
                .await;
            let won = one_wins("signUp", &bodies, "CONFLICT");
            assert_eq!(won["user"]["handle"], "twin");
        }
        "logIn" => {
            let who = person(servers, "loginburst").await;
            let bodies = servers
                .burst(
                    "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }",
                    json!({ "e": who.email, "p": PASSWORD }),
                    None,
                )
                .await;
            // Log-ins are throttled before the password is checked: some may
            // be told to wait, none fails otherwise.
            let answers = answers("logIn", &bodies);
            let (won, codes) = tally(&answers);
            assert!(won >= 1, "{answers:?}");
            assert!(codes.keys().all(|c| c == "RATE_LIMITED"), "{answers:?}");
        }
        "refreshSession" => {
            let who = person(servers, "refreshburst").await;
            let bodies = servers
                .burst(
                    "mutation($t: String!) { refreshSession(refreshToken: $t) { refreshToken } }",
                    json!({ "t": who.refresh }),
                    None,
                )
                .await;
            one_wins("refreshSession", &bodies, "UNAUTHENTICATED");
        }
        "logOut" => {
            let who = person(servers, "logoutburst").await;
            let bodies = servers
                .burst(
                    "mutation($t: String!) { logOut(refreshToken: $t) }",
                    json!({ "t": who.refresh }),
                    None,
                )
                .await;
            one_true("logOut", &bodies);
        }
        "logOutEverywhere" => {
            let who = person(servers, "everywhereburst").await;
            let bodies = servers
                .burst("mutation { logOutEverywhere }", json!({}), Some(&who.access))
                .await;
            // One copy ended the session; the others found nothing open, or
            // came after it ended and were refused.
            let answers = answers("logOutEverywhere", &bodies);
            let values = data(&answers);
            assert_eq!(values.iter().filter(|v| ***v == json!(true)).count(), 1, "{answers:?}");
            assert!(
                values.iter().all(|v| **v == json!(true) || **v == json!(false)),
                "{answers:?}"
            );
            let (_, codes) = tally(&answers);
            assert!(codes.keys().all(|c| c == "UNAUTHENTICATED"), "{answers:?}");
            let me = app.graphql("{ me { handle } }", json!({}), Some(&who.access)).await;
            assert_eq!(error_code(&me), Some("UNAUTHENTICATED"), "{me}");
        }
        "deleteAccount" => {
            let who = person(servers, "deleteburst").await;
            let bodies = servers
                .burst(
                    "mutation($p: String!) { deleteAccount(password: $p) }",
                    json!({ "p": PASSWORD }),
                    Some(&who.access),
                )
                .await;
            // One copy deleted it; the others found it gone, or were told to
            // wait by the password throttle.
            let answers = answers("deleteAccount", &bodies);
            let (won, codes) = tally(&answers);
            assert_eq!(won, 1, "{answers:?}");
            assert!(
                codes.keys().all(|c| c == "UNAUTHENTICATED" || c == "RATE_LIMITED"),
                "{answers:?}"
            );
            let found = app
                .graphql(
                    "query($h: String!) { user(handle: $h) { handle } }",
                    json!({ "h": who.handle }),
                    None,
                )
                .await;
            assert_eq!(found["data"]["user"], Value::Null, "{found}");
        }
        "updateSettings" => {
            let who = person(servers, "settingsburst").await;
            let bodies = servers
                .burst(
                    "mutation { updateSettings(input: { displayName: \"Same\", timezone: \"Europe/Paris\", quietHoursStart: 22, quietHoursEnd: 7 }) { displayName settings { timezone quietHoursStart } } }",
                    json!({}),
                    Some(&who.access),
                )
                .await;
            for value in all_succeed("updateSettings", &bodies) {
                assert_eq!(
                    value,
                    json!({ "displayName": "Same", "settings": { "timezone": "Europe/Paris", "quietHoursStart": 22 } })
                );
            }
        }
        "addFriend" => {
            let (asker, asked) = (person(servers, "askerburst").await, person(servers, "askedburst").await);
            let add = "mutation($h: String!) { addFriend(handle: $h) { status } }";
            let bodies = servers
                .burst(add, json!({ "h": asked.handle }), Some(&asker.access))
                .await;
            for value in all_succeed("addFriend", &bodies) {
                assert_eq!(value["status"], "REQUESTED");
            }
            let bodies = servers
                .burst(add, json!({ "h": asker.handle }), Some(&asked.access))
                .await;
            for value in all_succeed("addFriend", &bodies) {
                assert_eq!(value["status"], "ACCEPTED");
            }
            let friends = app
                .graphql(
                    "{ me { friends { status user { handle } } } }",
                    json!({}),
                    Some(&asker.access),
                )
                .await;
            assert_eq!(
                friends["data"]["me"]["friends"],
                json!([{ "status": "ACCEPTED", "user": { "handle": "askedburst" } }])
            );
        }
        "removeFriend" => {
            let (one, other) = (
                person(servers, "removerburst").await,
                person(servers, "removedburst").await,
            );
            app.befriend(&one, &other).await;
            let bodies = servers
                .burst(
                    "mutation($h: String!) { removeFriend(handle: $h) }",
                    json!({ "h": other.handle }),
                    Some(&one.access),
                )
                .await;
            one_true("removeFriend", &bodies);
        }
        "registerDevice" => {
            let who = person(servers, "deviceburst").await;
            let bodies = servers
                .burst(
                    "mutation { registerDevice(input: { token: \"same-install-token\", platform: ANDROID }) { id } }",
                    json!({}),
                    Some(&who.access),
                )
                .await;
            let ids: BTreeSet<String> = all_succeed("registerDevice", &bodies)
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids.len(), 1, "one device: {ids:?}");
            let devices = app
                .graphql("{ me { devices { id } } }", json!({}), Some(&who.access))
                .await;
            assert_eq!(devices["data"]["me"]["devices"].as_array().unwrap().len(), 1);
        }
        "unregisterDevice" => {
            let who = person(servers, "unregisterburst").await;
            app.graphql(
                "mutation { registerDevice(input: { token: \"gone-install-token\", platform: IOS }) { id } }",
                json!({}),
                Some(&who.access),
            )
            .await;
            let bodies = servers
                .burst(
                    "mutation { unregisterDevice(token: \"gone-install-token\") }",
                    json!({}),
                    Some(&who.access),
                )
                .await;
            one_true("unregisterDevice", &bodies);
        }
        "connectSpotify" => {
            let who = person(servers, "connectburst").await;
            let bodies = servers
                .burst("mutation { connectSpotify { url } }", json!({}), Some(&who.access))
                .await;
            let urls: BTreeSet<String> = all_succeed("connectSpotify", &bodies)
                .iter()
                .map(|v| v["url"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(urls.len(), N, "each asked for its own authorization");
        }
        "disconnectSpotify" => {
            let who = person(servers, "disconnectburst").await;
            app.link_spotify(&who, "disconnectspot").await;
            let bodies = servers
                .burst("mutation { disconnectSpotify }", json!({}), Some(&who.access))
                .await;
            one_true("disconnectSpotify", &bodies);
        }
        "createLinkCode" => {
            let who = person(servers, "codeburst").await;
            let bodies = servers
                .burst("mutation { createLinkCode { code } }", json!({}), Some(&who.access))
                .await;
            let codes: BTreeSet<String> = all_succeed("createLinkCode", &bodies)
                .iter()
                .map(|v| v["code"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(codes.len(), N);
        }
        "shareSong" => {
            let (from, to) = (
                person(servers, "sharerburst").await,
                person(servers, "shareeburst").await,
            );
            app.befriend(&from, &to).await;
            let bodies = servers
                .burst(
                    "mutation($to: String!, $t: String!) { shareSong(input: { to: $to, track: $t }) { id } }",
                    json!({ "to": to.handle, "t": TRACK }),
                    Some(&from.access),
                )
                .await;
            let ids: BTreeSet<String> = all_succeed("shareSong", &bodies)
                .iter()
                .map(|v| v["id"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(ids.len(), 1, "the same pending share answers the existing one: {ids:?}");
            let sent = app
                .graphql(
                    "{ shares(box: SENT) { edges { node { id } } } }",
                    json!({}),
                    Some(&from.access),
                )
                .await;
            assert_eq!(sent["data"]["shares"]["edges"].as_array().unwrap().len(), 1, "{sent}");
        }
        "cancelShare" => {
            let (from, to) = (
                person(servers, "cancelerburst").await,
                person(servers, "canceledburst").await,
            );
            app.befriend(&from, &to).await;
            let shared = crate::shares::share(app, &from, &to.handle, TRACK).await;
            let bodies = servers
                .burst(
                    "mutation($id: ID!) { cancelShare(id: $id) { status } }",
                    json!({ "id": shared["id"] }),
                    Some(&from.access),
                )
                .await;
            let won = one_wins("cancelShare", &bodies, "CONFLICT");
            assert_eq!(won["status"], "CANCELLED");
        }
        "markShareOpened" => {
            let (from, to) = (
                person(servers, "openerburst").await,
                person(servers, "openedburst").await,
            );
            app.befriend(&from, &to).await;
            let shared = crate::shares::share(app, &from, &to.handle, TRACK).await;
            let bodies = servers
                .burst(
                    "mutation($id: ID!) { markShareOpened(id: $id) { openedAt } }",
                    json!({ "id": shared["id"] }),
                    Some(&to.access),
                )
                .await;
            let opened = all_succeed("markShareOpened", &bodies);
            assert!(
                !opened[0]["openedAt"].is_null() && opened.iter().all(|o| o["openedAt"] == opened[0]["openedAt"]),
                "markShareOpened: opened once, every copy answers that moment: {opened:?}"
            );
            let steps = app
                .graphql(
                    "query($id: ID!) { share(id: $id) { openedAt } }",
                    json!({ "id": shared["id"] }),
                    Some(&from.access),
                )
                .await;
            assert_eq!(steps["data"]["share"]["openedAt"], opened[0]["openedAt"], "{steps}");
        }
        "reactToShare" | "replyToShare" => {
            let (from, to) = if mutation == "reactToShare" {
                ("reactedburst", "reactorburst")
            } else {
                ("repliedburst", "replierburst")
            };
            let (from, to) = (person(servers, from).await, person(servers, to).await);
            app.befriend(&from, &to).await;
            let shared = crate::shares::share(app, &from, &to.handle, TRACK).await;
            let (query, variables) = if mutation == "reactToShare" {
                (
                    "mutation($id: ID!) { reactToShare(id: $id, emoji: \"🔥\") { id } }",
                    json!({ "id": shared["id"] }),
                )
            } else {
                (
                    "mutation($id: ID!) { replyToShare(id: $id, text: \"yes!\") { id } }",
                    json!({ "id": shared["id"] }),
                )
            };
            let bodies = servers.burst(query, variables, Some(&to.access)).await;
            all_succeed(mutation, &bodies);
            let seen = app
                .graphql(
                    "query($id: ID!) { share(id: $id) { reactions { emoji } replies { text } } }",
                    json!({ "id": shared["id"] }),
                    Some(&from.access),
                )
                .await;
            let (reactions, replies) = (
                seen["data"]["share"]["reactions"].as_array().unwrap().len(),
                seen["data"]["share"]["replies"].as_array().unwrap().len(),
            );
            // One reaction however many taps; every reply sent is a reply.
            let expected = if mutation == "reactToShare" { (1, 0) } else { (0, N) };
            assert_eq!((reactions, replies), expected, "{mutation}: {seen}");
        }
        other => panic!(
            "the mutation `{other}` has no case in the concurrency sweep (tests/app/concurrency.rs): \
             say what {N} identical copies at once must come to"
        ),
    }
}

#[tokio::test]
async fn every_mutation_sent_twenty_times_at_once_ends_as_a_person_expects() {
    let servers = Servers::start(spawn_app().await).await;
    let sdl = Sdl::committed();
    for mutation in sdl.operations("Mutation") {
        case(&servers, &mutation.name).await;
    }
}

#[tokio::test]
async fn twenty_people_opening_the_public_sign_up_link_at_once_each_get_a_code() {
    let servers = Servers::start(spawn_app().await).await;
    let pages = servers
        .get_burst(|app| format!("{}/auth/spotify/start", app.address))
        .await;
    let mut codes = BTreeSet::new();
    for (status, page) in &pages {
        assert_eq!(*status, StatusCode::OK, "{page}");
        assert!(page.contains("Welcome to Send Songs"), "{page}");
        codes.insert(
            page.split("class=\"code\">")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(codes.len(), N, "everyone got a code of their own");
}

#[tokio::test]
async fn one_spotify_account_consenting_twenty_times_at_once_makes_one_account() {
    let servers = Servers::start(spawn_app().await).await;
    let app = servers.first();
    // Each person's way to Spotify's consent, where the same account says yes.
    let mut consents = Vec::new();
    for _ in 0..N {
        let authorize = app.location(&format!("{}/auth/spotify/start", app.address)).await;
        consents.push(format!("{authorize}&sandbox_account=sameperson"));
    }
    let pages = join_all(consents.iter().map(|url| app.browse(url))).await;
    let mut welcomed = 0;
    for (status, page) in &pages {
        assert_eq!(*status, StatusCode::OK, "{page}");
        if page.contains("Welcome to Send Songs") {
            welcomed += 1;
        } else {
            assert!(page.contains("Welcome back"), "{page}");
        }
    }
    assert_eq!(welcomed, 1, "one account was made; the others found it");
}

#[tokio::test]
async fn one_callback_sent_twenty_times_at_once_links_once() {
    let servers = Servers::start(spawn_app().await).await;
    let app = servers.first();
    let sam = app.sign_up("sam").await;
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&sam.access))
        .await;
    let authorize = body["data"]["connectSpotify"]["url"].as_str().unwrap().to_owned();
    let callback = app.location(&format!("{authorize}&sandbox_account=samspot")).await;
    let pages = servers.get_burst(|_| callback.clone()).await;
    let linked = pages.iter().filter(|(status, _)| *status == StatusCode::OK).count();
    assert_eq!(linked, 1, "{pages:?}");
    for (status, page) in &pages {
        if *status != StatusCode::OK {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "{page}");
            assert!(page.contains("already used"), "{page}");
        }
    }
}

#[tokio::test]
async fn one_webhook_event_posted_twenty_times_at_once_is_answered_once() {
    let bot = messenger::bot().await;
    let body = page_body(vec![vec![text_event("twice", "m_same", "help", 1_000)]]);
    let signature = sign(&body);
    let statuses = join_all((0..N).map(|_| bot.post(&body, Some(&signature)))).await;
    for response in statuses {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let replies = bot.handled("twice").await;
    let helps = replies
        .iter()
        .filter(|r| r.starts_with("This chat isn't linked to Send Songs yet"))
        .count();
    assert_eq!(helps, 1, "stored and answered once: {replies:?}");
}

#[tokio::test]
async fn one_link_code_sent_by_twenty_people_at_once_links_one_of_them() {
    let bot = messenger::bot().await;
    let (sam, _) = pair(&bot.app).await;
    let code = bot
        .app
        .graphql("mutation { createLinkCode { code } }", json!({}), Some(&sam.access))
        .await["data"]["createLinkCode"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let posts = (0..N).map(|n| {
        let body = page_body(vec![vec![text_event(
            &format!("claimant{n}"),
            &format!("m_claim_{n}"),
            &code,
            1_000,
        )]]);
        let signature = sign(&body);
        let bot = &bot;
        async move { bot.post(&body, Some(&signature)).await.status() }
    });
    for status in join_all(posts).await {
        assert_eq!(status, StatusCode::OK);
    }
    bot.app.run_due_jobs().await;
    let firsts: Vec<String> = (0..N)
        .map(|n| {
            // After the greeting.
            bot.sent_to(&format!("claimant{n}"))[1]["message"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let linked = firsts.iter().filter(|t| t.starts_with("You're linked as @sam")).count();
    assert_eq!(linked, 1, "{firsts:?}");
    let refused = firsts
        .iter()
        .filter(|t| t.starts_with("That code doesn't work"))
        .count();
    assert_eq!(refused, N - 1, "{firsts:?}");
}

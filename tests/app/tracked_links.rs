//! Tracked links: the link to a shared track in the recipient's push, in
//! their Messenger message and in the bot's answers goes through `/s/…`,
//! records OPENED once and redirects to Spotify (web, or the app); a link
//! that is not ours, changed, or past its share's expiry gets a page and
//! changes nothing.
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, relog, spawn_replica},
    messenger::bot,
    notifications::{World, world},
    receipts::{STEPS, at, step},
    shares::{TRACK, TRACK_ID, pair, share},
};

const STATE: &str = "query($id: ID!) { share(id: $id) { status openedAt expiresAt } }";

/// The link in the push Alex got for the share Sam just sent.
async fn pushed_link(world: &World) -> (Value, String) {
    let app = &world.app;
    app.graphql(
        "mutation { registerDevice(input: { token: \"ok-alex\", platform: ANDROID }) { id } }",
        json!({}),
        Some(&world.alex.access),
    )
    .await;
    let id = share(app, &world.sam, "alex", TRACK).await["id"].clone();
    app.run_due_jobs().await;
    let rec = world.fakes.lock().unwrap();
    let (_, push) = rec
        .pushes
        .iter()
        .find(|(token, body)| token == "ok-alex" && body["message"]["data"]["type"] == "share_received")
        .expect("the new-song push");
    let url = push["message"]["data"]["url"].as_str().unwrap().to_owned();
    (id, url)
}

/// Status and `Location` of a GET that does not follow redirects.
async fn visit(url: &str) -> (u16, Option<String>, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

async fn opened_at(app: &TestApp, world: &World, id: &Value) -> Value {
    let body = app
        .graphql(STATE, json!({ "id": id }), Some(&relog(app, &world.sam).await))
        .await;
    body["data"]["share"]["openedAt"].clone()
}

#[tokio::test]
async fn the_pushed_link_records_opened_once_and_leads_to_spotify() {
    let world = world(&[], None).await;
    let app = &world.app;
    let mut sams = app.subscribe(Some(&world.sam.access), STEPS).await;
    let (id, url) = pushed_link(&world).await;
    let token = url.rsplit('/').next().unwrap();
    assert!(url.starts_with(&format!("{}/s/", app.address)), "{url}");
    assert!(token.len() <= 43, "short enough for a push: {url}");

    let (status, location, _) = visit(&url).await;
    assert_eq!(status, 303);
    assert_eq!(location.unwrap(), format!("https://open.spotify.com/track/{TRACK_ID}"));
    let event = step(&mut sams).await;
    assert_eq!(event["kind"], "OPENED");
    assert_eq!(at(&event["at"]), at(&opened_at(app, &world, &id).await));

    app.advance(Duration::from_secs(30));
    let (status, location, _) = visit(&format!("{url}?open=app")).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(&*format!("spotify:track:{TRACK_ID}")))
    );
    assert!(
        sams.next_within(Duration::from_millis(300)).await.is_none(),
        "opened once"
    );
    assert_eq!(at(&opened_at(app, &world, &id).await), at(&event["at"]), "unchanged");
}

#[tokio::test]
async fn a_changed_foreign_or_expired_link_gets_a_page_and_changes_nothing() {
    let world = world(&[], None).await;
    let app = &world.app;
    let (id, url) = pushed_link(&world).await;
    let token = url.rsplit('/').next().unwrap().to_owned();
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&token).unwrap();

    // Another share's id with this signature; a later expiry; a cut link; nonsense.
    bytes[0] ^= 1;
    let other_share = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    bytes[0] ^= 1;
    bytes[19] ^= 1;
    let later = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
    for bad in [other_share, later, token[..30].to_owned(), "not-a-link".to_owned()] {
        let (status, location, page) = visit(&format!("{}/s/{bad}", app.address)).await;
        assert_eq!((status, location), (404, None), "{bad}");
        assert!(page.contains("This link doesn't work"), "{page}");
    }
    assert!(opened_at(app, &world, &id).await.is_null());

    // A week on, the share has expired and so has its link.
    app.advance(Duration::from_secs(7 * 86_400 + 60));
    app.run_due_jobs().await;
    let (status, location, page) = visit(&url).await;
    assert_eq!((status, location), (410, None));
    assert!(page.contains("This share has expired"), "{page}");
    assert!(
        page.contains(&format!("https://open.spotify.com/track/{TRACK_ID}")),
        "the song is still a tap away: {page}"
    );
    assert!(opened_at(app, &world, &id).await.is_null());
}

#[tokio::test]
async fn messenger_and_the_bot_send_the_recipient_their_tracked_link() {
    let bot = bot().await;
    let (sam, alex) = pair(&bot.app).await;
    bot.link("psam", &sam).await;
    let id = share(&bot.app, &alex, "sam", TRACK).await["id"].clone();
    let notices = bot.handled("psam").await;
    let notice = notices
        .iter()
        .find(|t| t.starts_with("alex sent you “"))
        .expect("the new-song message");
    let link = notice
        .split_whitespace()
        .find(|word| word.contains("/s/"))
        .unwrap_or_else(|| panic!("a tracked link in {notice}"));
    assert!(!notice.contains("open.spotify.com"), "{notice}");

    let inbox = bot.say("psam", "inbox").await;
    assert!(
        inbox.iter().any(|answer| answer.contains(link)),
        "the bot's inbox lists the same link: {inbox:?}"
    );
    let (status, location, _) = visit(link).await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some(&*format!("https://open.spotify.com/track/{TRACK_ID}")))
    );
    let state = bot.app.graphql(STATE, json!({ "id": id }), Some(&sam.access)).await;
    assert!(state["data"]["share"]["openedAt"].is_string(), "{state}");
}

/// Opened on one replica, heard on the other (PostgreSQL only).
#[tokio::test]
async fn a_link_opened_on_one_replica_reaches_the_sender_on_another() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return; // one SQLite file serves one process
    }
    let world = world(&[], None).await;
    let second = spawn_replica(&world.app, &[]).await;
    let mut sams = world.app.subscribe(Some(&world.sam.access), STEPS).await;
    let (_, url) = pushed_link(&world).await;
    let path = url.split_once("/s/").unwrap().1;

    let (status, _, _) = visit(&format!("{}/s/{path}", second.address)).await;

    assert_eq!(status, 303);
    assert_eq!(step(&mut sams).await["kind"], "OPENED");
}

//! A person's own Spotify app, through the running app against the
//! scripted Spotify (which, like Spotify, honours a public client only with
//! its `client_id` in the token form, no secret, and PKCE; and a code or
//! refresh token only for the client it was issued to): connecting with a
//! Client ID from `connectSpotify` and from the public sign-up page, the
//! refresh after the hour, its calls on its own budget, and a bad Client ID
//! refused with nothing stored.
use std::time::Duration;

use api::clock::Clock as _;

use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};

use crate::{
    helpers::{Session, TestApp, error_code, relog},
    receipts::at,
    shares::SHARE,
    spotify_fake::{HOST_CLIENT, Shared, track},
    spotify_limits::on_postgres,
    spotify_tokens::{calls as requests, scripted_spotify},
};

/// A person's own app, registered at the scripted Spotify.
const OWN: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const CONNECT: &str = "mutation($c: String) { connectSpotify(clientId: $c) { url } }";
const NOW_PLAYING: &str = "query($h: String!) { nowPlaying(handle: $h) { isPlaying text stale fetchedAt } }";
const LIVE: &str = "/v1/me/player/currently-playing";

/// The app talking to a scripted Spotify where `OWN` is registered.
async fn with_own_app(extra: &[(&str, &str)]) -> (TestApp, Shared) {
    let (app, script) = scripted_spotify(extra).await;
    script.lock().unwrap().public_apps.push(OWN.to_owned());
    (app, script)
}

/// `session` connects through the app `client_id`; answers the final page.
async fn connect_with(app: &TestApp, session: &Session, client_id: &str) -> String {
    let body = app
        .graphql(CONNECT, json!({ "c": client_id }), Some(&session.access))
        .await;
    let url = body["data"]["connectSpotify"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("an authorize URL: {body}"))
        .to_owned();
    assert!(url.contains(&format!("client_id={client_id}")), "{url}");
    app.browse(&url).await.1
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let db = app.db().await;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn now_playing(app: &TestApp, who: &Session, handle: &str) -> Value {
    let body = app
        .graphql(NOW_PLAYING, json!({ "h": handle }), Some(&relog(app, who).await))
        .await;
    body["data"]["nowPlaying"].clone()
}

#[tokio::test]
async fn an_own_app_links_and_refreshes_with_its_client_id_and_no_secret() {
    let (app, script) = with_own_app(&[]).await;
    let alex = app.sign_up("alex").await;

    let page = connect_with(&app, &alex, OWN).await;
    assert!(page.contains("You're connected as <b>@alex</b>"), "{page}");
    assert_eq!(requests(&script, "/authorize"), vec![OWN.to_owned()]);
    let exchange = requests(&script, "/api/token");
    assert_eq!(exchange.len(), 1, "{exchange:?}");
    assert!(exchange[0].contains("\"authorization_code\""), "{exchange:?}");
    assert!(
        exchange[0].contains(&format!("\"client_id\": \"{OWN}\"")),
        "{exchange:?}"
    );
    assert!(exchange[0].contains("\"code_verifier\""), "{exchange:?}");
    assert!(
        !exchange[0].contains("basic=") && !exchange[0].contains("client_secret"),
        "no secret: {exchange:?}"
    );
    let stored = count(
        &app,
        &format!("SELECT COUNT(*) FROM spotify_links WHERE client_id = '{OWN}'"),
    )
    .await;
    assert_eq!(stored, 1, "the link remembers its app");

    // After the hour the token is refreshed through the same app.
    script.lock().unwrap().play(
        track("5OwnAppSong00000000000", 200_000, None),
        app.clock.now() + chrono::TimeDelta::seconds(3590),
    );
    app.advance(Duration::from_secs(3600));
    let playing = now_playing(&app, &alex, "alex").await;
    assert_eq!(playing["isPlaying"], true, "{playing}");
    let refreshes: Vec<String> = requests(&script, "/api/token")
        .into_iter()
        .filter(|form| form.contains("\"refresh_token\""))
        .collect();
    assert_eq!(refreshes.len(), 1, "{refreshes:?}");
    assert!(
        refreshes[0].contains(&format!("\"client_id\": \"{OWN}\"")),
        "{refreshes:?}"
    );
    assert!(refreshes[0].contains("\"R1\""), "{refreshes:?}");
    assert!(
        !refreshes[0].contains("basic=") && !refreshes[0].contains("client_secret"),
        "{refreshes:?}"
    );
    assert_eq!(requests(&script, LIVE), vec!["A2".to_owned()], "the refreshed token");
}

#[tokio::test]
async fn the_sign_up_page_takes_a_client_id() {
    let (app, script) = with_own_app(&[]).await;

    let authorize = app
        .location(&format!("{}/auth/spotify/start?client_id={OWN}", app.address))
        .await;
    assert!(authorize.contains(&format!("client_id={OWN}")), "{authorize}");
    assert!(authorize.contains("code_challenge_method=S256"), "{authorize}");
    let (status, page) = app.browse(&authorize).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("@scripted"), "a new account with a link code: {page}");
    let exchange = requests(&script, "/api/token");
    assert!(
        exchange[0].contains(&format!("\"client_id\": \"{OWN}\"")),
        "{exchange:?}"
    );
    assert!(!exchange[0].contains("basic="), "{exchange:?}");
    let stored = count(
        &app,
        &format!("SELECT COUNT(*) FROM spotify_links WHERE client_id = '{OWN}'"),
    )
    .await;
    assert_eq!(stored, 1);

    // Without one, the host's app, as before.
    let host = app.location(&format!("{}/auth/spotify/start", app.address)).await;
    assert!(host.contains(&format!("client_id={HOST_CLIENT}")), "{host}");
}

#[tokio::test]
async fn a_bad_client_id_is_refused_and_nothing_is_stored() {
    let (app, script) = with_own_app(&[]).await;
    let alex = app.sign_up("alex").await;

    for bad in [
        "",
        "not-a-client-id",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9a",
        "0a1b2c3d4e5f60718293a4b5c6d7e8fz",
    ] {
        let body = app.graphql(CONNECT, json!({ "c": bad }), Some(&alex.access)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{bad}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], "clientId", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("32 lower-case hexadecimal characters (0-9, a-f), nothing before or after them"),
            "{body}"
        );
        let page = app
            .get(&format!("/auth/spotify/start?client_id={}", urlencoding(bad)))
            .await;
        assert_eq!(page.status(), 400, "{bad}");
        assert!(page.text().await.unwrap().contains("Client ID"));
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM oauth_states").await,
        0,
        "nothing stored"
    );
    assert!(requests(&script, "/authorize").is_empty());

    // The existing call keeps working, through the host's app.
    let body = app
        .graphql("mutation { connectSpotify { url } }", json!({}), Some(&alex.access))
        .await;
    let url = body["data"]["connectSpotify"]["url"].as_str().unwrap();
    assert!(url.contains(&format!("client_id={HOST_CLIENT}")), "{url}");
}

fn urlencoding(raw: &str) -> String {
    raw.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn an_own_apps_calls_count_on_its_own_budget() {
    // 30 calls per 30 s: 1.5 s of the bucket each; lookups and now playing
    // may fill 7.5 s of it: five calls from empty.
    let (app, script) = with_own_app(&[("SPOTIFY_WINDOW_BUDGET", "30")]).await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.befriend(&sam, &alex).await;
    let page = connect_with(&app, &alex, OWN).await;
    assert!(page.contains("You're connected"), "{page}");
    assert_eq!(requests(&script, "/v1/me").len(), 1, "linking read the profile");
    let song = track("5OwnBudgetSong00000000", 200_000, None);
    script
        .lock()
        .unwrap()
        .play(song, app.clock.now() - chrono::TimeDelta::seconds(20));

    // Alex's profile read did not touch the host's budget: all five
    // lookups are left to it.
    let attempts = (0..8).map(|n| {
        let access = sam.access.clone();
        let app = &app;
        async move {
            app.graphql(
                SHARE,
                json!({ "to": "alex", "t": format!("spotify:track:5OwnLookup{n:012}"), "n": null }),
                Some(&access),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let refused = answers.iter().filter(|a| error_code(a) == Some("RATE_LIMITED")).count();
    assert_eq!((8 - refused, refused), (5, 3), "{answers:#?}");

    // The host's budget is spent; Alex's calls go on his app's.
    let playing = now_playing(&app, &alex, "alex").await;
    assert_eq!(playing["isPlaying"], true, "{playing}");
    assert_eq!(playing["stale"], false, "{playing}");
    assert_eq!(at(&playing["fetchedAt"]), app.clock.now());
    assert_eq!(requests(&script, LIVE).len(), 1);

    if on_postgres() {
        // Shared by the replicas: each app's own row.
        let own = count(
            &app,
            &format!("SELECT window_full_until FROM spotify_clients WHERE client_id = '{OWN}'"),
        )
        .await;
        let host = count(
            &app,
            &format!("SELECT window_full_until FROM spotify_clients WHERE client_id = '{HOST_CLIENT}'"),
        )
        .await;
        assert!(own > 0 && host > own, "own {own}, host {host}");
    }
}

/// What a person who gave a Client ID not as Spotify shows it is told, on
/// both interfaces.
const RULE: &str = "32 lower-case hexadecimal characters (0-9, a-f), nothing before or after them";

#[tokio::test]
async fn a_client_id_not_exactly_as_spotify_shows_it_is_refused_alike_on_both_interfaces() {
    let (app, script) = with_own_app(&[]).await;
    let alex = app.sign_up("alex").await;

    for bad in [
        OWN.to_uppercase(),
        format!("0A{}", &OWN[2..]),
        format!(" {OWN}"),
        format!("{OWN} "),
        format!("\t{OWN}"),
        format!("{OWN}\n"),
    ] {
        let body = app.graphql(CONNECT, json!({ "c": bad }), Some(&alex.access)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{bad:?}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(RULE), "{bad:?}: {message}");

        let page = app
            .get(&format!("/auth/spotify/start?client_id={}", urlencoding(&bad)))
            .await;
        assert_eq!(page.status(), 400, "{bad:?}");
        let page = page.text().await.unwrap();
        assert!(page.contains("This Client ID is not right"), "{page}");
        assert!(page.contains(RULE), "the same words: {page}");
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM oauth_states").await,
        0,
        "nothing stored"
    );
    assert!(requests(&script, "/authorize").is_empty());
}

#[tokio::test]
async fn a_start_link_that_cannot_be_read_gets_the_html_page() {
    let (app, script) = with_own_app(&[]).await;

    for query in [
        format!("client_id={OWN}&client_id={OWN}"),
        format!("client_id={OWN}&client_id=0a1b"),
        "m=a.1.b&m=c.2.d".to_owned(),
    ] {
        let page = app.get(&format!("/auth/spotify/start?{query}")).await;

        assert_eq!(page.status(), 400, "{query}");
        let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{query}: {content_type}");
        let page = page.text().await.unwrap();
        assert!(page.contains("This link is not right"), "{query}: {page}");
    }
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM oauth_states").await,
        0,
        "nothing stored"
    );
    assert!(requests(&script, "/authorize").is_empty());
}

#[tokio::test]
async fn the_spotify_link_tells_which_app_it_runs_on() {
    const APP: &str = "{ me { spotify { app clientId } } }";
    let (app, _script) = with_own_app(&[]).await;
    let alex = app.sign_up("alex").await;
    let page = connect_with(&app, &alex, OWN).await;
    assert!(page.contains("You're connected"), "{page}");
    let own = app.graphql(APP, json!({}), Some(&relog(&app, &alex).await)).await;
    assert_eq!(
        own["data"]["me"]["spotify"],
        json!({ "app": "OWN", "clientId": OWN }),
        "{own}"
    );

    let app = crate::helpers::spawn_app().await;
    let sam = app.sign_up("sam").await;
    app.link_spotify(&sam, "samspot").await;
    let host = app.graphql(APP, json!({}), Some(&relog(&app, &sam).await)).await;
    assert_eq!(
        host["data"]["me"]["spotify"],
        json!({ "app": "HOST", "clientId": null }),
        "{host}"
    );
}

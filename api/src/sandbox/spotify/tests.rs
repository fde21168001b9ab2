//! Drives the whole router, as the production client would over HTTP.
use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{HeaderMap, Request, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{TimeDelta, Utc};
use serde_json::Value;
use tower::ServiceExt;

use super::{SpotifySandbox, accounts::pkce_challenge, router};
use crate::{clock::ManualClock, spotify::links::TrackId};

const REDIRECT: &str = "http://127.0.0.1:8080/callback";
const VERIFIER: &str = "a-long-random-verifier-of-at-least-43-characters-xyz";
const TRACK: &str = "4uLU6hMCjMI75M1A2tKUQC";

struct Fixture {
    clock: Arc<ManualClock>,
    sandbox: Arc<SpotifySandbox>,
    router: Router,
}

fn fixture() -> Fixture {
    let clock = ManualClock::new();
    let sandbox = SpotifySandbox::new(clock.clone());
    let router = router(sandbox.clone());
    Fixture { clock, sandbox, router }
}

/// A response, its body read: JSON when it parses, else Null with the text kept.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
    text: String,
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            text,
        }
    }

    async fn get(&self, uri: &str, token: &str) -> Answer {
        let request = Request::get(uri).header(header::AUTHORIZATION, format!("Bearer {token}"));
        self.send(request.body(Body::empty()).unwrap()).await
    }

    /// `GET /accounts/authorize` with a PKCE challenge; returns the redirect's `Location`.
    async fn authorize(&self, extra: &str) -> Answer {
        let uri = format!(
            "/accounts/authorize?client_id=app&response_type=code&redirect_uri={}&state=st%20ate\
             &scope=user-read-recently-played&code_challenge_method=S256&code_challenge={}{extra}",
            encode(REDIRECT),
            pkce_challenge(VERIFIER),
        );
        self.send(Request::get(uri).body(Body::empty()).unwrap()).await
    }

    /// Approves as `account` and returns the code from the redirect.
    async fn code_for(&self, account: &str) -> String {
        let answer = self.authorize(&format!("&sandbox_account={account}")).await;
        assert_eq!(answer.status, StatusCode::FOUND);
        let location = reqwest::Url::parse(answer.headers[header::LOCATION].to_str().unwrap()).unwrap();
        let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
        code.into_owned()
    }

    /// `POST /accounts/api/token` as a public (PKCE) client.
    async fn token(&self, form: &str) -> Answer {
        let request = Request::post("/accounts/api/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("client_id=app&{form}")))
            .unwrap();
        self.send(request).await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> Answer {
        let form = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
            encode(REDIRECT)
        );
        self.token(&form).await
    }

    /// A full sign-in as `account`: the user's access token.
    async fn sign_in(&self, account: &str) -> String {
        let code = self.code_for(account).await;
        let answer = self.redeem(&code, VERIFIER).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json["access_token"].as_str().unwrap().to_owned()
    }
}

fn encode(text: &str) -> String {
    reqwest::Url::parse_with_params("http://x", [("v", text)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_owned()
}

fn track(n: usize) -> TrackId {
    TrackId::parse(&format!("{n:0>22}")).unwrap()
}

#[tokio::test]
async fn pkce_code_flow_checks_verifier_redirect_and_reuse() {
    let f = fixture();
    let code = f.code_for("alice").await;
    let wrong = f.redeem(&code, "not-the-verifier").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.json["error"], "invalid_grant");
    assert_eq!(wrong.json["error_description"], "code_verifier was incorrect");

    let code = f.code_for("alice").await;
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Felse.where&code_verifier={VERIFIER}"
    );
    assert_eq!(f.token(&form).await.json["error_description"], "Invalid redirect URI");

    let code = f.code_for("alice").await;
    let ok = f.redeem(&code, VERIFIER).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["token_type"], "Bearer");
    assert_eq!(ok.json["expires_in"], 3600);
    assert_eq!(ok.json["scope"], "user-read-recently-played");
    assert!(ok.json["refresh_token"].is_string());

    let reused = f.redeem(&code, VERIFIER).await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.json["error_description"], "Invalid authorization code");

    let me = f.get("/api/v1/me", ok.json["access_token"].as_str().unwrap()).await;
    assert_eq!(me.json["id"], "alice");
    assert_eq!(me.json["display_name"], "Alice");
    assert_eq!(me.json["uri"], "spotify:user:alice");
    assert_eq!(me.json["href"], "http://localhost/api/v1/users/alice");
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let f = fixture();
    let code = f.code_for("alice").await;
    f.clock.advance(Duration::from_secs(601));
    assert_eq!(
        f.redeem(&code, VERIFIER).await.json["error_description"],
        "Invalid authorization code"
    );
}

#[tokio::test]
async fn authorize_redirects_only_where_spotify_would() {
    let f = fixture();
    let denied = f.authorize("&sandbox_deny=1").await;
    assert_eq!(denied.status, StatusCode::FOUND);
    assert_eq!(
        denied.headers[header::LOCATION],
        "http://127.0.0.1:8080/callback?error=access_denied&state=st+ate"
    );

    let fresh = f.authorize("").await;
    let location = fresh.headers[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:8080/callback?code="),
        "{location}"
    );

    for bad in [
        "/accounts/authorize?client_id=app&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%2Fcb",
        "/accounts/authorize?client_id=app&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1.evil.example%2F",
        "/accounts/authorize?client_id=app&response_type=token&redirect_uri=https%3A%2F%2Fa.example%2F",
        "/accounts/authorize?response_type=code&redirect_uri=https%3A%2F%2Fa.example%2F",
        "/accounts/authorize?client_id=app&response_type=code&redirect_uri=https%3A%2F%2Fa.example%2F\
         &code_challenge=abc&code_challenge_method=plain",
    ] {
        let answer = f.send(Request::get(bad).body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            answer.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}

#[tokio::test]
async fn fresh_accounts_get_sandbox_names() {
    let f = fixture();
    let answer = f.authorize("").await;
    let location = reqwest::Url::parse(answer.headers[header::LOCATION].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let token = f.redeem(&code, VERIFIER).await.json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = f.get("/api/v1/me", &token).await.json;
    assert!(me["id"].as_str().unwrap().starts_with("sandbox-"));
    assert!(me["display_name"].as_str().unwrap().starts_with("Sandbox Listener "));
}

#[tokio::test]
async fn refresh_issues_new_tokens_and_the_old_refresh_token_still_works() {
    let f = fixture();
    let code = f.code_for("bob").await;
    let first = f.redeem(&code, VERIFIER).await.json;
    let old_refresh = first["refresh_token"].as_str().unwrap();

    let refreshed = f
        .token(&format!("grant_type=refresh_token&refresh_token={old_refresh}"))
        .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    assert_ne!(refreshed.json["access_token"], first["access_token"]);
    assert_ne!(refreshed.json["refresh_token"], first["refresh_token"]);
    assert_eq!(refreshed.json["scope"], "user-read-recently-played");
    let me = f
        .get("/api/v1/me", refreshed.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.json["id"], "bob");

    let again = f
        .token(&format!("grant_type=refresh_token&refresh_token={old_refresh}"))
        .await;
    assert_eq!(again.status, StatusCode::OK);

    let unknown = f.token("grant_type=refresh_token&refresh_token=nope").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json["error"], "invalid_grant");
    assert_eq!(unknown.json["error_description"], "Invalid refresh token");
}

#[tokio::test]
async fn token_endpoint_errors() {
    let f = fixture();
    let missing = f.token("code=x").await;
    assert_eq!(missing.json["error"], "unsupported_grant_type");
    assert_eq!(missing.json["error_description"], "grant_type parameter is missing");

    let no_client = Request::post("/accounts/api/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let answer = f.send(no_client).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_client");
}

#[tokio::test]
async fn app_tokens_read_the_catalogue_but_are_no_user() {
    let f = fixture();
    let request = Request::post("/accounts/api/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode("app:secret")),
        )
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let answer = f.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.json.get("refresh_token").is_none());
    let token = answer.json["access_token"].as_str().unwrap();

    let track = f.get(&format!("/api/v1/tracks/{TRACK}"), token).await;
    assert_eq!(track.status, StatusCode::OK);
    assert_eq!(track.json["id"], TRACK);
    assert_eq!(track.json["uri"], format!("spotify:track:{TRACK}"));
    assert_eq!(track.json["href"], format!("http://localhost/api/v1/tracks/{TRACK}"));

    let invalid = f.get("/api/v1/tracks/not-an-id", token).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.json["error"]["message"], "Invalid base62 id");

    let me = f.get("/api/v1/me", token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.sandbox.calls("/v1/tracks/{id}"), 2);
    assert_eq!(f.sandbox.calls("/v1/me"), 1);
}

#[tokio::test]
async fn access_tokens_expire_after_an_hour() {
    let f = fixture();
    let token = f.sign_in("carol").await;
    f.clock.advance(Duration::from_secs(3599));
    assert_eq!(f.get("/api/v1/me", &token).await.status, StatusCode::OK);
    f.clock.advance(Duration::from_secs(2));
    let expired = f.get("/api/v1/me", &token).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.json,
        serde_json::json!({"error": {"status": 401, "message": "The access token expired"}})
    );
    assert_eq!(
        expired.headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="spotify", error="invalid_token""#
    );

    let unknown = f.get("/api/v1/me", "made-up").await;
    assert_eq!(unknown.json["error"]["message"], "Invalid access token");
    let none = f.send(Request::get("/api/v1/me").body(Body::empty()).unwrap()).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(f.sandbox.calls("/v1/me"), 4);
}

#[tokio::test]
async fn recently_played_pages_newest_first_within_the_50_play_horizon() {
    let f = fixture();
    let token = f.sign_in("dave").await;
    let start = Utc::now() - TimeDelta::hours(6);
    let at = |n: usize| start + TimeDelta::minutes(i64::try_from(n).unwrap() * 5);
    for n in 0..55 {
        f.sandbox.record_play("dave", &track(n), at(n));
    }
    let ms = |n: usize| at(n).timestamp_millis();

    let default = f.get("/api/v1/me/player/recently-played", &token).await.json;
    let items = default["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!(default["limit"], 20);
    assert_eq!(items[0]["track"]["id"], track(54).as_str());
    assert_eq!(items[0]["context"], Value::Null);
    assert_eq!(default["cursors"]["after"], ms(54).to_string());
    assert_eq!(default["cursors"]["before"], ms(35).to_string());
    assert_eq!(
        default["next"],
        format!(
            "http://localhost/api/v1/me/player/recently-played?before={}&limit=20",
            ms(35)
        )
    );
    assert_eq!(default["href"], "http://localhost/api/v1/me/player/recently-played");

    // Only the 50 most recent plays exist: 0 to 4 fell off.
    let all = f.get("/api/v1/me/player/recently-played?limit=50", &token).await.json;
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 50);
    assert_eq!(items[49]["track"]["id"], track(5).as_str());
    assert_eq!(all["next"], Value::Null);
    let played_at = items[49]["played_at"].as_str().unwrap();
    assert_eq!(played_at, at(5).to_rfc3339_opts(chrono::SecondsFormat::Millis, true));

    // `after` is exclusive and keeps the newest `limit` of what follows.
    let after = f
        .get(
            &format!("/api/v1/me/player/recently-played?after={}&limit=3", ms(50)),
            &token,
        )
        .await
        .json;
    let ids: Vec<&str> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["track"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [track(54).as_str(), track(53).as_str(), track(52).as_str()]);
    let newest = f
        .get(&format!("/api/v1/me/player/recently-played?after={}", ms(54)), &token)
        .await
        .json;
    assert_eq!(newest["items"], serde_json::json!([]));
    assert_eq!(newest["cursors"], Value::Null);

    let before = f
        .get(
            &format!("/api/v1/me/player/recently-played?before={}&limit=2", ms(10)),
            &token,
        )
        .await
        .json;
    let ids: Vec<&str> = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["track"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [track(9).as_str(), track(8).as_str()]);

    for bad in ["limit=0", "limit=51", "limit=x", "after=1&before=2"] {
        let answer = f.get(&format!("/api/v1/me/player/recently-played?{bad}"), &token).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(answer.json["error"]["status"], 400);
    }
    assert_eq!(f.sandbox.calls("/v1/me/player/recently-played"), 9);
}

#[tokio::test]
async fn currently_playing_lasts_as_long_as_the_track() {
    let f = fixture();
    let token = f.sign_in("erin").await;
    let uri = "/api/v1/me/player/currently-playing";
    let nothing = f.get(uri, &token).await;
    assert_eq!(nothing.status, StatusCode::NO_CONTENT);
    assert!(nothing.text.is_empty());

    let play = Request::post("/play")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"account": "erin", "track": "https://open.spotify.com/track/{TRACK}?si=x"}}"#
        )))
        .unwrap();
    let recorded = f.send(play).await;
    assert_eq!(recorded.status, StatusCode::CREATED, "{}", recorded.text);
    assert_eq!(recorded.json["track"], TRACK);

    f.clock.advance(Duration::from_secs(10));
    let playing = f.get(uri, &token).await;
    assert_eq!(playing.status, StatusCode::OK);
    assert_eq!(playing.json["is_playing"], true);
    assert_eq!(playing.json["item"]["id"], TRACK);
    let progress = playing.json["progress_ms"].as_i64().unwrap();
    assert!((10_000..11_000).contains(&progress), "{progress}");

    let duration = playing.json["item"]["duration_ms"].as_u64().unwrap();
    f.clock.advance(Duration::from_millis(duration));
    assert_eq!(f.get(uri, &token).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn play_rejects_what_is_not_a_track() {
    let f = fixture();
    let play = Request::post("/play")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"account": "erin", "track": "https://open.spotify.com/album/1DFixLWuPkv3KT3TnV35m3"}"#,
        ))
        .unwrap();
    let answer = f.send(play).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.json["error"].as_str().unwrap().contains("only tracks"));
}

#[tokio::test]
async fn links_point_back_at_the_mount_point() {
    let f = fixture();
    let token = f.sign_in("frank").await;
    let mounted = Router::new().nest("/sandbox/spotify", f.router.clone());
    let request = Request::get("/sandbox/spotify/api/v1/me")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = mounted.oneshot(request).await.unwrap();
    let me: Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(me["href"], "http://127.0.0.1:8080/sandbox/spotify/api/v1/users/frank");
}

//! Push against FCM and Google's token endpoint answering every shape they
//! document (`tests/fixtures/fcm/`, `tests/fixtures/google/`): which
//! refusals forget the device, which are the operator's, which wait and
//! how long; and stale tokens pruned.
use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::relog,
    notifications::{World, deliveries, of_kind, receipt, world},
    shares::share,
};

/// Refusals that say the token no longer reaches an install.
const GONE: &[&str] = &[
    "error_unregistered_404",
    "error_invalid_argument_registration_token_400",
    "error_invalid_argument_registration_token_field_violation_400",
    "error_sender_id_mismatch_403",
];
/// Refusals of this message, or the operator's to fix: the device stays.
const KEPT: &[&str] = &[
    "error_invalid_argument_data_value_400",
    "error_invalid_argument_other_field_400",
    "error_third_party_auth_error_401",
    "error_third_party_auth_error_oauth_wording_401",
    "error_unspecified_error_400",
    "error_permission_denied_403",
    "error_unauthenticated_own_access_token_401",
];

fn token(fixture: &str) -> String {
    format!("fixture-{fixture}")
}

async fn device_tokens_left(world: &World) -> usize {
    let body = world
        .app
        .graphql(
            "{ me { devices { id lastRegisteredAt } } }",
            json!({}),
            Some(&relog(&world.app, &world.sam).await),
        )
        .await;
    body["data"]["me"]["devices"].as_array().unwrap().len()
}

fn sends_to(world: &World, token: &str) -> usize {
    let recorded = world.fakes.lock().unwrap();
    recorded.pushes.iter().filter(|(t, _)| t == token).count()
}

#[tokio::test]
async fn only_refusals_that_name_the_token_forget_the_device() {
    let tokens: Vec<String> = GONE
        .iter()
        .chain(KEPT)
        .map(|f| token(f))
        .chain([token("send_success")])
        .collect();
    let world = world(&tokens.iter().map(String::as_str).collect::<Vec<_>>(), None).await;

    receipt(&world).await;

    let sams = deliveries(&world.app, &world.sam).await;
    let receipts = of_kind(&sams, "share_played");
    assert_eq!(receipts.len(), tokens.len());
    assert_eq!(
        receipts.iter().filter(|d| d["status"] == "SENT").count(),
        1,
        "{receipts:?}"
    );
    let failed: Vec<&Value> = receipts.iter().copied().filter(|d| d["status"] == "FAILED").collect();
    assert_eq!(failed.len(), GONE.len() + KEPT.len(), "none retried: {receipts:?}");
    assert!(failed.iter().all(|d| d["attempts"] == 1), "{failed:?}");
    for code in [
        "UNREGISTERED",
        "SENDER_ID_MISMATCH",
        "THIRD_PARTY_AUTH_ERROR",
        "PERMISSION_DENIED",
        "UNSPECIFIED_ERROR",
    ] {
        assert!(
            failed.iter().any(|d| d["lastError"].as_str().unwrap().contains(code)),
            "{code} in {failed:?}"
        );
    }
    assert_eq!(
        device_tokens_left(&world).await,
        KEPT.len() + 1,
        "the tokens FCM called invalid are gone, the others stay"
    );
    assert_eq!(
        sends_to(&world, &token("error_unauthenticated_own_access_token_401")),
        2,
        "our own Google token refused: renewed once, then the operator's"
    );
}

#[tokio::test]
async fn fcm_429_waits_at_least_a_minute_and_503_its_retry_after() {
    let quota = token("error_quota_exceeded_429--retry-after-10");
    let project = token("error_rate_limit_project_429");
    let down = token("error_unavailable_503");
    let world = world(&[&quota, &project, &down], None).await;
    receipt(&world).await;
    let app = &world.app;
    for t in [&quota, &project, &down] {
        assert_eq!(sends_to(&world, t), 1, "{t}");
    }

    app.advance(Duration::from_secs(31));
    app.run_due_jobs().await;
    assert_eq!(sends_to(&world, &down), 2, "503 honours its Retry-After of 30 s");
    app.advance(Duration::from_secs(25));
    app.run_due_jobs().await;
    assert_eq!(
        sends_to(&world, &quota),
        1,
        "a 429 waits a minute, not its Retry-After of 10 s"
    );
    assert_eq!(sends_to(&world, &project), 1, "the project-wide 429 too");

    app.advance(Duration::from_secs(5));
    app.run_due_jobs().await;
    assert_eq!(sends_to(&world, &quota), 2);
    assert_eq!(sends_to(&world, &project), 2);
    let pending = of_kind(&deliveries(app, &world.sam).await, "share_played")
        .iter()
        .filter(|d| d["status"] == "PENDING")
        .count();
    assert_eq!(pending, 3, "still retried, devices kept");
    assert_eq!(device_tokens_left(&world).await, 3);
}

#[tokio::test]
async fn googles_token_refusals_are_the_operators_and_its_outages_are_retried() {
    let world = world(&["ok-phone"], None).await;
    let app = &world.app;
    let operators = [
        "token_error_invalid_grant_invalid_jwt_signature.json",
        "token_error_invalid_grant_jwt_not_in_timeframe.json",
        "token_error_invalid_grant_account_not_found.json",
        "token_error_invalid_client_not_found.json",
        "token_error_deleted_client.json",
        "token_error_unauthorized_client.json",
    ];
    let outages = ["token_error_internal_failure.json", "token_error_502_html.html"];
    for (n, fixture) in operators.iter().chain(&outages).enumerate() {
        world.fakes.lock().unwrap().token_fixture = Some((*fixture).to_owned());
        let track = format!("spotify:track:{n:0>22}");
        let shared = share(app, &world.alex, "sam", &track).await;
        assert!(shared["id"].is_string(), "{shared}");
        app.run_due_jobs().await;

        let received = deliveries(app, &world.sam).await;
        let newest = of_kind(&received, "share_received")[0];
        let outage = outages.contains(fixture);
        let expected = if outage { "PENDING" } else { "FAILED" };
        assert_eq!(newest["status"], expected, "{fixture}: {newest}");
        assert_eq!(newest["attempts"], 1, "{fixture}: {newest}");
        assert!(
            newest["lastError"].as_str().unwrap().contains("Google"),
            "{fixture}: {newest}"
        );
    }
    assert!(world.fakes.lock().unwrap().pushes.is_empty(), "no push without a token");
    assert_eq!(device_tokens_left(&world).await, 1, "never the person's device's fault");

    world.fakes.lock().unwrap().token_fixture = None;
    app.advance(Duration::from_secs(3600));
    app.run_due_jobs().await;
    let received = deliveries(app, &world.sam).await;
    let sent = of_kind(&received, "share_received")
        .iter()
        .filter(|d| d["status"] == "SENT")
        .count();
    assert_eq!(sent, outages.len(), "the outages' pushes went out once Google answered");
}

/// Trouble at Google's token endpoint reaches the operator's log once per
/// cause, not once per push, until the endpoint answers again.
#[tokio::test]
async fn the_operator_is_told_of_each_google_token_trouble_once_until_it_answers_again() {
    let world = world(&["ok-phone"], None).await;
    let app = &world.app;
    let log = crate::helpers::capture_log();
    let refused = "check FCM_CREDENTIALS";
    let failing = "(an outage): pushes wait";
    let answer = |fixture: Option<&str>| world.fakes.lock().unwrap().token_fixture = fixture.map(str::to_owned);
    let push = async |n: usize, access: &str| {
        let body = app
            .graphql(
                crate::shares::SHARE,
                json!({ "to": "sam", "t": format!("spotify:track:{n:0>22}"), "n": null }),
                Some(access),
            )
            .await;
        assert!(body["data"]["shareSong"]["id"].is_string(), "{body}");
        app.run_due_jobs().await;
    };

    answer(Some("token_error_invalid_client_not_found.json"));
    for n in 0..3 {
        push(n, &world.alex.access).await;
    }
    assert_eq!(log.count(refused), 1, "{}", log.text());
    // Another cause is news: an outage, then the refusal again.
    answer(Some("token_error_internal_failure.json"));
    for n in 3..5 {
        push(n, &world.alex.access).await;
    }
    assert_eq!(log.count(failing), 1, "{}", log.text());
    answer(Some("token_error_invalid_client_not_found.json"));
    push(5, &world.alex.access).await;
    push(6, &world.alex.access).await;
    assert_eq!(log.count(refused), 2, "{}", log.text());

    // Google answers (the outage's pushes go out); once that token is old,
    // the next refusal is told again.
    answer(None);
    app.advance(Duration::from_secs(3600));
    app.run_due_jobs().await;
    assert!(
        !world.fakes.lock().unwrap().pushes.is_empty(),
        "pushes went out once Google answered"
    );
    answer(Some("token_error_invalid_client_not_found.json"));
    app.advance(Duration::from_secs(3600));
    let access = relog(app, &world.alex).await;
    push(7, &access).await;
    push(8, &access).await;
    assert_eq!(log.count(refused), 3, "{}", log.text());
    assert_eq!(log.count(failing), 1, "{}", log.text());
}

#[tokio::test]
async fn registering_again_renews_a_device_and_tokens_unseen_for_270_days_are_pruned() {
    let world = world(&["ok-old", "ok-renewed"], None).await;
    let app = &world.app;
    let day = Duration::from_secs(86_400);
    app.advance(day * 200);
    let access = relog(app, &world.sam).await;
    let renewed = app
        .graphql(
            "mutation { registerDevice(input: { token: \"ok-renewed\", platform: ANDROID }) { lastRegisteredAt } }",
            json!({}),
            Some(&access),
        )
        .await;
    let at = renewed["data"]["registerDevice"]["lastRegisteredAt"].as_str().unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    assert_eq!(at, {
        use api::clock::Clock as _;
        app.clock.now()
    });

    app.advance(day * 71);
    app.run_due_jobs().await;

    assert_eq!(
        device_tokens_left(&world).await,
        1,
        "only the token seen 71 days ago is left"
    );
    let mut alex = world.alex.clone();
    alex.access = relog(app, &alex).await;
    let pushed = share(app, &alex, "sam", "spotify:track:0000000000000000000042").await;
    assert!(pushed["id"].is_string(), "{pushed}");
    app.run_due_jobs().await;
    assert_eq!(sends_to(&world, "ok-old"), 0);
    assert_eq!(sends_to(&world, "ok-renewed"), 1);
}

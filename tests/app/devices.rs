//! Push devices: register (upsert by token), move between accounts,
//! unregister, the cap of 20, and that nobody touches another's devices.
use serde_json::json;

use crate::helpers::{error_code, spawn_app};

const REGISTER: &str = "mutation($t: String!, $p: Platform!) { registerDevice(input: { token: $t, platform: $p }) { id platform createdAt } }";
const UNREGISTER: &str = "mutation($t: String!) { unregisterDevice(token: $t) }";
const DEVICES: &str = "{ me { devices { id platform } } }";

async fn devices_of(app: &crate::helpers::TestApp, access: &str) -> Vec<serde_json::Value> {
    let body = app.graphql(DEVICES, json!({}), Some(access)).await;
    body["data"]["me"]["devices"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn registering_the_same_token_twice_keeps_one_device() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    let first = app
        .graphql(
            REGISTER,
            json!({ "t": "fcm-token-1", "p": "ANDROID" }),
            Some(&sam.access),
        )
        .await;
    let second = app
        .graphql(REGISTER, json!({ "t": "fcm-token-1", "p": "IOS" }), Some(&sam.access))
        .await;

    assert_eq!(
        first["data"]["registerDevice"]["id"], second["data"]["registerDevice"]["id"],
        "{second}"
    );
    let devices = devices_of(&app, &sam.access).await;
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["platform"], "IOS");
}

#[tokio::test]
async fn a_token_registered_by_another_account_moves_to_it() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.graphql(
        REGISTER,
        json!({ "t": "shared-phone", "p": "ANDROID" }),
        Some(&sam.access),
    )
    .await;

    app.graphql(
        REGISTER,
        json!({ "t": "shared-phone", "p": "ANDROID" }),
        Some(&alex.access),
    )
    .await;

    assert!(devices_of(&app, &sam.access).await.is_empty());
    assert_eq!(devices_of(&app, &alex.access).await.len(), 1);
}

#[tokio::test]
async fn nobody_can_unregister_another_persons_device() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    app.graphql(REGISTER, json!({ "t": "sams-phone", "p": "IOS" }), Some(&sam.access))
        .await;

    let attempt = app
        .graphql(UNREGISTER, json!({ "t": "sams-phone" }), Some(&alex.access))
        .await;

    assert_eq!(attempt["data"]["unregisterDevice"], false, "{attempt}");
    assert_eq!(devices_of(&app, &sam.access).await.len(), 1);
    let own = app
        .graphql(UNREGISTER, json!({ "t": "sams-phone" }), Some(&sam.access))
        .await;
    assert_eq!(own["data"]["unregisterDevice"], true);
    assert!(devices_of(&app, &sam.access).await.is_empty());
}

#[tokio::test]
async fn at_most_twenty_devices_and_the_oldest_go_first() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    for n in 0..22 {
        let body = app
            .graphql(
                REGISTER,
                json!({ "t": format!("token-{n}"), "p": "WEB" }),
                Some(&sam.access),
            )
            .await;
        assert!(body["data"]["registerDevice"].is_object(), "{body}");
        app.clock.advance(std::time::Duration::from_secs(1));
    }
    assert_eq!(devices_of(&app, &sam.access).await.len(), 20);
    // The two oldest were dropped: unregistering them finds nothing.
    for gone in ["token-0", "token-1"] {
        let body = app.graphql(UNREGISTER, json!({ "t": gone }), Some(&sam.access)).await;
        assert_eq!(body["data"]["unregisterDevice"], false, "{gone}");
    }
    let kept = app
        .graphql(UNREGISTER, json!({ "t": "token-2" }), Some(&sam.access))
        .await;
    assert_eq!(kept["data"]["unregisterDevice"], true);
}

#[tokio::test]
async fn malformed_device_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let long = "x".repeat(5000);
    for (token, platform) in [
        ("", "IOS"),
        ("has space", "IOS"),
        (long.as_str(), "IOS"),
        ("ok-token", "BLACKBERRY"),
    ] {
        let body = app
            .graphql(REGISTER, json!({ "t": token, "p": platform }), Some(&sam.access))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{platform}: {body}");
    }
    assert!(devices_of(&app, &sam.access).await.is_empty());
    let anonymous = app.graphql(REGISTER, json!({ "t": "t", "p": "IOS" }), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}

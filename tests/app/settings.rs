//! `updateSettings`: partial updates, validation that changes nothing on
//! failure, and that settings are one's own.
use serde_json::json;

use crate::helpers::{error_code, spawn_app};

const UPDATE: &str = "mutation($i: SettingsInput!) { updateSettings(input: $i) { displayName settings { notifyPush notifyMessenger nowPlayingPublic timezone quietHoursStart quietHoursEnd } } }";
const ME: &str = "{ me { displayName settings { notifyPush notifyMessenger nowPlayingPublic timezone quietHoursStart quietHoursEnd } } }";

#[tokio::test]
async fn only_the_given_fields_change() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;

    let body = app
        .graphql(
            UPDATE,
            json!({ "i": { "notifyPush": false, "timezone": "Europe/Paris", "quietHoursStart": 22, "quietHoursEnd": 7 } }),
            Some(&sam.access),
        )
        .await;

    let settings = &body["data"]["updateSettings"]["settings"];
    assert_eq!(
        *settings,
        json!({ "notifyPush": false, "notifyMessenger": true, "nowPlayingPublic": false,
                "timezone": "Europe/Paris", "quietHoursStart": 22, "quietHoursEnd": 7 }),
        "{body}"
    );
    let cleared = app
        .graphql(
            UPDATE,
            json!({ "i": { "quietHoursStart": null, "quietHoursEnd": null } }),
            Some(&sam.access),
        )
        .await;
    let settings = &cleared["data"]["updateSettings"]["settings"];
    assert!(
        settings["quietHoursStart"].is_null() && settings["quietHoursEnd"].is_null(),
        "{cleared}"
    );
    assert_eq!(settings["timezone"], "Europe/Paris");
}

#[tokio::test]
async fn invalid_settings_are_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let before = app.graphql(ME, json!({}), Some(&sam.access)).await;
    let cases = [
        json!({ "notifyPush": false, "timezone": "Mars/Olympus" }),
        json!({ "notifyPush": false, "quietHoursStart": 24, "quietHoursEnd": 7 }),
        json!({ "notifyPush": false, "quietHoursStart": 22 }),
        json!({ "notifyPush": false, "quietHoursStart": 5, "quietHoursEnd": 5 }),
        json!({ "notifyPush": false, "displayName": "" }),
        json!({ "notifyPush": "no" }),
    ];
    for input in cases {
        let body = app.graphql(UPDATE, json!({ "i": input }), Some(&sam.access)).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{input}: {body}");
    }
    let after = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn settings_need_a_signed_in_owner() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let alex = app.sign_up("alex").await;
    let anonymous = app.graphql(UPDATE, json!({ "i": { "notifyPush": false } }), None).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));

    // Alex's update changes Alex, never Sam: there is no way to name another account.
    app.graphql(UPDATE, json!({ "i": { "nowPlayingPublic": true } }), Some(&alex.access))
        .await;
    let sams = app.graphql(ME, json!({}), Some(&sam.access)).await;
    assert_eq!(sams["data"]["me"]["settings"]["nowPlayingPublic"], false);
}

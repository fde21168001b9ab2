//! Drives the whole router, as the production clients would over HTTP.
use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{HeaderMap, Request, StatusCode, header},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{PAGE_TOKEN, PROJECT_ID, ProviderSandbox, router};
use crate::clock::{Clock, ManualClock};

const TOKEN_URI: &str = "http://127.0.0.1:8080/sandbox/google/token";
const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const SEND: &str = "/fcm/v1/projects/sendsongs-sandbox/messages:send";

struct Fixture {
    clock: Arc<ManualClock>,
    sandbox: Arc<ProviderSandbox>,
    router: Router,
    /// The service account as the production client would load it.
    account: Value,
}

fn fixture() -> Fixture {
    let clock = ManualClock::new();
    let sandbox = ProviderSandbox::new(clock.clone());
    let router = router(sandbox.clone());
    let account = serde_json::from_str(&sandbox.service_account_json(TOKEN_URI)).unwrap();
    Fixture {
        clock,
        sandbox,
        router,
        account,
    }
}

/// A response, its body read: JSON when it parses, else Null.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer { status, headers, json }
    }

    /// Claims as a Google client builds them: valid for an hour from now.
    fn claims(&self) -> Value {
        let now = self.clock.now().timestamp();
        json!({
            "iss": self.account["client_email"],
            "scope": FCM_SCOPE,
            "aud": self.account["token_uri"],
            "iat": now,
            "exp": now + 3600,
        })
    }

    /// Signs claims with the service account's key, `kid` set, as Google's libraries do.
    fn sign(&self, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(self.account["private_key"].as_str().unwrap().as_bytes()).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account["private_key_id"].as_str().map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    async fn exchange(&self, assertion: &str) -> Answer {
        let body = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}");
        self.form("/google/token", body).await
    }

    async fn form(&self, uri: &str, body: String) -> Answer {
        let request = Request::post(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// An FCM access token, obtained the production way.
    async fn access_token(&self) -> String {
        let answer = self.exchange(&self.sign(&self.claims())).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
        answer.json["access_token"].as_str().unwrap().to_owned()
    }

    async fn post_json(&self, uri: &str, bearer: Option<&str>, body: &Value) -> Answer {
        let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).unwrap()).await
    }

    async fn push(&self, bearer: &str, message: Value) -> Answer {
        self.post_json(SEND, Some(bearer), &json!({ "message": message })).await
    }

    async fn messenger(&self, bearer: &str, body: Value) -> Answer {
        self.post_json("/graph/me/messages", Some(bearer), &body).await
    }
}

fn text_message(psid: &str, text: &str) -> Value {
    json!({ "recipient": { "id": psid }, "messaging_type": "UPDATE", "message": { "text": text } })
}

#[tokio::test]
async fn a_signed_assertion_gets_an_access_token() {
    let f = fixture();
    assert_eq!(f.account["type"], "service_account");
    assert_eq!(f.account["project_id"], PROJECT_ID);
    assert!(
        f.account["private_key"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----\n")
    );

    let answer = f.exchange(&f.sign(&f.claims())).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert!(answer.json["access_token"].as_str().unwrap().starts_with("ya29."));
    assert_eq!(answer.json["expires_in"], 3599);
    assert_eq!(answer.json["token_type"], "Bearer");
    assert_eq!(answer.headers[header::CACHE_CONTROL], "no-store");

    // The audience may be the token URI reached through any host.
    let mut claims = f.claims();
    claims["aud"] = json!("https://demo.example/sandbox/google/token");
    assert_eq!(f.exchange(&f.sign(&claims)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forged_and_unsigned_assertions_are_refused() {
    let f = fixture();
    let signed = f.sign(&f.claims());
    // Same signature, other claims: a longer-lived assertion.
    let mut claims = f.claims();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 60);
    let other = f.sign(&claims);
    let [_, other_payload, _]: [&str; 3] = other.split('.').collect::<Vec<_>>().try_into().unwrap();
    let [header, _, signature]: [&str; 3] = signed.split('.').collect::<Vec<_>>().try_into().unwrap();
    let tampered = format!("{header}.{other_payload}.{signature}");
    // Signed with a shared secret instead of the account's key.
    let hmac = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &f.claims(),
        &EncodingKey::from_secret(b"s"),
    )
    .unwrap();
    // No signature at all.
    let unsigned = format!("{header}.{other_payload}.");

    for assertion in [tampered, hmac, unsigned, "not-a-jwt".to_owned()] {
        let answer = f.exchange(&assertion).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{assertion}");
        assert_eq!(
            answer.json,
            json!({ "error": "invalid_grant", "error_description": "Invalid JWT Signature." })
        );
    }
}

#[tokio::test]
async fn expired_or_long_lived_assertions_are_refused() {
    let f = fixture();
    let expired = f.sign(&f.claims());
    f.clock.advance(Duration::from_secs(3601));
    let mut long_lived = f.claims();
    long_lived["exp"] = json!(long_lived["iat"].as_i64().unwrap() + 3601);
    let mut undated = f.claims();
    undated.as_object_mut().unwrap().remove("iat");

    for assertion in [expired, f.sign(&long_lived), f.sign(&undated)] {
        let answer = f.exchange(&assertion).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
        assert_eq!(answer.json["error"], "invalid_grant");
        let description = answer.json["error_description"].as_str().unwrap();
        assert!(description.starts_with("Invalid JWT: Token must be a short-lived token (60 minutes)"));
    }
}

#[tokio::test]
async fn wrong_issuer_audience_scope_or_grant_type_are_refused() {
    let f = fixture();
    let mut issuer = f.claims();
    issuer["iss"] = json!("someone@else.iam.gserviceaccount.com");
    let answer = f.exchange(&f.sign(&issuer)).await;
    assert_eq!(answer.json["error"], "invalid_grant");
    assert_eq!(answer.json["error_description"], "Invalid grant: account not found");

    let mut audience = f.claims();
    audience["aud"] = json!("https://oauth2.googleapis.com/elsewhere");
    let answer = f.exchange(&f.sign(&audience)).await;
    assert_eq!(answer.json["error"], "invalid_grant");

    let mut scope = f.claims();
    scope["scope"] = json!("https://www.googleapis.com/auth/userinfo.email");
    let answer = f.exchange(&f.sign(&scope)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_scope");

    let answer = f.form("/google/token", "grant_type=client_credentials".into()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json,
        json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type: client_credentials" })
    );
}

#[tokio::test]
async fn fcm_sends_only_with_a_live_bearer_token() {
    let f = fixture();
    let message = json!({
        "token": "device-1",
        "notification": { "title": "Ana", "body": "listened to your song" },
        "data": { "share": "42" },
        "android": { "priority": "high" },
    });

    for bearer in [None, Some("ya29.made-up")] {
        let answer = f.post_json(SEND, bearer, &json!({ "message": message })).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.json["error"]["code"], 401);
        assert_eq!(answer.json["error"]["status"], "UNAUTHENTICATED");
        assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    assert!(f.sandbox.outbox().is_empty());

    let token = f.access_token().await;
    let answer = f.push(&token, message.clone()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    let name = answer.json["name"].as_str().unwrap();
    let id = name.strip_prefix("projects/sendsongs-sandbox/messages/").unwrap();
    assert!(!id.is_empty() && id.chars().all(|c| c.is_ascii_digit()), "{name}");

    let outbox = f.sandbox.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].channel, "push");
    assert_eq!(outbox[0].to, "device-1");
    assert_eq!(outbox[0].text, "Ana: listened to your song");
    assert_eq!(outbox[0].payload, json!({ "message": message }));
    assert_eq!(outbox[0].at, f.clock.now());

    // Another project is not the service account's.
    let other = "/fcm/v1/projects/someone-else/messages:send";
    let answer = f.post_json(other, Some(&token), &json!({ "message": message })).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.json,
        json!({ "error": { "code": 403, "message": "Permission denied", "status": "PERMISSION_DENIED" } })
    );

    // Tokens expire with the clock.
    f.clock.advance(Duration::from_secs(3599));
    assert_eq!(f.push(&token, message).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fcm_reports_unregistered_devices() {
    let f = fixture();
    let token = f.access_token().await;
    let answer = f
        .push(
            &token,
            json!({ "token": "unregistered-phone", "notification": { "title": "Hi" } }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.json,
        json!({ "error": {
            "code": 404,
            "message": "Requested entity was not found.",
            "status": "NOT_FOUND",
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "UNREGISTERED",
            }],
        } })
    );
    assert!(f.sandbox.outbox().is_empty());
}

#[tokio::test]
async fn fcm_refuses_malformed_messages() {
    let f = fixture();
    let token = f.access_token().await;
    let too_big = "x".repeat(5000);
    let bad = [
        json!({ "token": "device-1", "data": { "share": 42 } }),
        json!({ "token": "device-1", "data": { "nested": { "a": "b" } } }),
        json!({ "token": "device-1", "notification": { "title": 1 } }),
        json!({ "token": "device-1", "colour": "red" }),
        json!({ "token": "" }),
        json!({ "notification": { "title": "nobody" } }),
        json!({ "token": "device-1", "data": { "big": too_big } }),
    ];
    for message in bad {
        let answer = f.push(&token, message.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{message}");
        let error = &answer.json["error"];
        assert_eq!(error["code"], 400);
        assert_eq!(error["status"], "INVALID_ARGUMENT");
        assert_eq!(error["details"][0]["errorCode"], "INVALID_ARGUMENT", "{message}");
    }
    let answer = f
        .push(&token, json!({ "token": "device-1", "data": { "share": 42 } }))
        .await;
    assert_eq!(
        answer.json["error"]["message"],
        "Invalid value at 'message.data[0].value' (TYPE_STRING), 42"
    );
    assert_eq!(
        answer.json["error"]["details"][1]["fieldViolations"][0]["field"],
        "message.data[0].value"
    );

    let request = Request::post(SEND)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from("{not json"))
        .unwrap();
    let answer = f.send(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid JSON payload received.")
    );
    assert!(f.sandbox.outbox().is_empty());
}

#[tokio::test]
async fn fcm_dry_runs_are_answered_not_delivered() {
    let f = fixture();
    let token = f.access_token().await;
    let body = json!({ "validate_only": true, "message": { "token": "device-1", "data": { "a": "b" } } });
    let answer = f.post_json(SEND, Some(&token), &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json["name"],
        "projects/sendsongs-sandbox/messages/fake_message_id"
    );
    assert!(f.sandbox.outbox().is_empty());
}

#[tokio::test]
async fn send_api_delivers_with_the_page_token() {
    let f = fixture();
    let answer = f
        .messenger(PAGE_TOKEN, text_message("1234567890", "Ana listened to your song"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["recipient_id"], "1234567890");
    assert!(answer.json["message_id"].as_str().unwrap().starts_with("m_"));

    // The token may come as a query parameter; quick replies and attachments are fine.
    let with_replies = json!({
        "recipient": { "id": "1234567890" },
        "messaging_type": "RESPONSE",
        "message": {
            "text": "Share a song?",
            "quick_replies": [{ "content_type": "text", "title": "Yes", "payload": "SHARE" }],
        },
    });
    let uri = format!("/graph/me/messages?access_token={PAGE_TOKEN}");
    assert_eq!(f.post_json(&uri, None, &with_replies).await.status, StatusCode::OK);
    let attachment = json!({
        "recipient": { "id": "1234567890" },
        "messaging_type": "RESPONSE",
        "message": { "attachment": { "type": "template", "payload": {
            "template_type": "button",
            "text": "Listen now",
            "buttons": [{ "type": "web_url", "url": "https://example.com", "title": "Open" }],
        } } },
    });
    assert_eq!(f.messenger(PAGE_TOKEN, attachment).await.status, StatusCode::OK);

    let texts: Vec<_> = f
        .sandbox
        .outbox()
        .into_iter()
        .map(|e| (e.channel, e.to, e.text))
        .collect();
    assert_eq!(
        texts,
        [
            (
                "messenger",
                "1234567890".to_owned(),
                "[button template] Listen now".to_owned()
            ),
            ("messenger", "1234567890".to_owned(), "Share a song?".to_owned()),
            (
                "messenger",
                "1234567890".to_owned(),
                "Ana listened to your song".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn send_api_refuses_other_tokens_tags_and_malformed_requests() {
    let f = fixture();
    let answer = f.messenger("some-other-token", text_message("1", "hi")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let error = &answer.json["error"];
    assert_eq!(error["code"], 190);
    assert_eq!(error["type"], "OAuthException");
    assert_eq!(
        error["message"],
        "Invalid OAuth access token - Cannot parse access token"
    );
    assert!(!error["fbtrace_id"].as_str().unwrap().is_empty());

    let mut tagged = text_message("1", "hi");
    tagged["messaging_type"] = json!("MESSAGE_TAG");
    tagged["tag"] = json!("ACCOUNT_UPDATE");
    let answer = f.messenger(PAGE_TOKEN, tagged).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"]["code"], 100);
    assert_eq!(answer.json["error"]["message"], "(#100) Tag is no longer supported");

    let bad = [
        json!({ "messaging_type": "UPDATE", "message": { "text": "hi" } }),
        json!({ "recipient": { "id": "1" }, "messaging_type": "UPDATE" }),
        text_message("1", &"x".repeat(2001)),
        text_message("1", ""),
    ];
    for body in bad {
        let answer = f.messenger(PAGE_TOKEN, body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer.json["error"]["code"], 100);
        assert!(answer.json["error"]["message"].as_str().unwrap().starts_with("(#100) "));
    }

    let answer = f.messenger(PAGE_TOKEN, text_message("unregistered-user", "hi")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"]["code"], 551);
    assert_eq!(answer.json["error"]["error_subcode"], 1_545_041);
    assert!(f.sandbox.outbox().is_empty());
}

#[tokio::test]
async fn the_outbox_lists_newest_first() {
    let f = fixture();
    let token = f.access_token().await;
    f.messenger(PAGE_TOKEN, text_message("1", "first")).await;
    f.clock.advance(Duration::from_secs(1));
    f.push(
        &token,
        json!({ "token": "device-1", "notification": { "title": "second" } }),
    )
    .await;
    f.clock.advance(Duration::from_secs(1));
    f.messenger(PAGE_TOKEN, text_message("2", "third")).await;

    let answer = f.send(Request::get("/outbox").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let entries = answer.json.as_array().unwrap();
    let texts: Vec<_> = entries.iter().map(|e| e["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["third", "second", "first"]);
    assert_eq!(entries[1]["channel"], "push");
    assert_eq!(entries[1]["to"], "device-1");
    assert_eq!(entries[0]["payload"]["message"]["text"], "third");
    let at = |i: usize| {
        entries[i]["at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    };
    assert!(at(0) > at(1) && at(1) > at(2));
}

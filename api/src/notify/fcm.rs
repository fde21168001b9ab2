//! FCM HTTP v1, on reqwest and jsonwebtoken.
//!
//! The service account's key signs a short-lived RS256 assertion that is
//! exchanged at the account's `token_uri` for an access token; the token is
//! cached until shortly before it expires, and one refresh happens at a
//! time. Each device gets its own `messages:send` request.
//!
//! Every message carries the notification's identity ([`notification_id`])
//! on each platform, so a message sent twice (a retry, or a resend after a
//! crash between FCM's answer and our record of it) replaces the first on
//! the device instead of showing twice.
use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Renew the access token this long before it expires.
const TOKEN_MARGIN: TimeDelta = TimeDelta::minutes(5);
/// FCM refuses messages over 4 KB.
const MAX_PAYLOAD: usize = 4000;

/// The fields of a Google service-account JSON that FCM needs.
#[derive(Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    private_key: String,
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    pub fn parse(json: &str) -> anyhow::Result<Self> {
        let account: Self = serde_json::from_str(json).map_err(|e| {
            anyhow::anyhow!("not a service-account JSON (project_id, client_email, private_key, token_uri): {e}")
        })?;
        EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|_| anyhow::anyhow!("its private_key is not an RSA PEM key"))?;
        Ok(account)
    }
}

/// A push notification: what a person sees, and what the app needs to open
/// the right screen.
#[derive(Debug, Clone, Serialize)]
pub struct Push {
    pub title: String,
    pub body: String,
    /// String values only (FCM's rule): `type`, `shareId`, `url`.
    pub data: std::collections::BTreeMap<String, String>,
}

/// The identity of one notification, from what it is about (`seed`: its
/// kind and event): 32 characters of URL-safe base64 (the SHA-256 of
/// `seed`, first 24 bytes), the same however often it is sent.
///
/// It goes in each platform's "replace the earlier one" field, and fits all
/// three: Android's `notification.tag` (a notification with the same tag
/// replaces the one shown; any string), APNs' `apns-collapse-id` header (at
/// most 64 bytes) and Web Push's `Topic` header (at most 32 characters of
/// the URL-safe base64 alphabet, RFC 8030 §5.4). Not Android's
/// `collapse_key`, of which a device keeps only 4 at a time. Sources: FCM
/// v1 `AndroidNotification.tag`, Apple's "Sending notification requests to
/// APNs", RFC 8030.
pub fn notification_id(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// How a send ended, in the terms the delivery log acts on.
#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    /// The token is no longer valid: the app was uninstalled or the token rotated.
    #[error("UNREGISTERED: the device no longer accepts pushes")]
    Unregistered,
    /// A problem retrying will not fix (`INVALID_ARGUMENT`, `SENDER_ID_MISMATCH`,
    /// `THIRD_PARTY_AUTH_ERROR`, …).
    #[error("{0}")]
    Rejected(String),
    /// 429, 500, 503, timeouts: try again (after `after` when FCM said so).
    #[error("{reason}")]
    Retry { reason: String, after: Option<Duration> },
}

pub struct FcmClient {
    http: reqwest::Client,
    /// Base of `/v1/projects/{project_id}/messages:send`.
    api_url: String,
    account: ServiceAccount,
    key: EncodingKey,
    /// The access token and its expiry; the lock makes concurrent senders
    /// share one token request.
    token: Mutex<Option<(String, DateTime<Utc>)>>,
}

impl FcmClient {
    pub fn new(api_url: String, account: ServiceAccount) -> anyhow::Result<Self> {
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())?;
        Ok(Self {
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            api_url,
            account,
            key,
            token: Mutex::new(None),
        })
    }

    /// Sends one push to one device, as the notification `identity` (see
    /// [`notification_id`]); answers FCM's message name.
    #[tracing::instrument(skip_all)]
    pub async fn send(
        &self,
        device_token: &str,
        push: &Push,
        identity: &str,
        now: DateTime<Utc>,
    ) -> Result<String, FcmError> {
        let body = message(device_token, push, identity);
        for attempt in 0..2 {
            let access = self.access_token(now, attempt > 0).await?;
            let url = format!("{}/v1/projects/{}/messages:send", self.api_url, self.account.project_id);
            let response = self
                .http
                .post(&url)
                .bearer_auth(&access)
                .json(&body)
                .send()
                .await
                .map_err(|e| FcmError::Retry {
                    reason: if e.is_timeout() {
                        "FCM timed out".into()
                    } else {
                        "FCM unreachable".into()
                    },
                    after: None,
                })?;
            let status = response.status();
            metrics::counter!("fcm_requests_total", "status" => status.as_u16().to_string()).increment(1);
            if status.is_success() {
                let answer: Value = response.json().await.unwrap_or_default();
                return Ok(answer["name"].as_str().unwrap_or_default().to_owned());
            }
            if status == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                continue; // the cached token was revoked: get a new one once
            }
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs);
            let error: Value = response.json().await.unwrap_or_default();
            return Err(classify(status.as_u16(), &error, after));
        }
        Err(FcmError::Retry {
            reason: "FCM refused a fresh access token".into(),
            after: None,
        })
    }

    async fn access_token(&self, now: DateTime<Utc>, renew: bool) -> Result<String, FcmError> {
        let mut cached = self.token.lock().await;
        if !renew
            && let Some((token, expires)) = cached.as_ref()
            && *expires - TOKEN_MARGIN > now
        {
            return Ok(token.clone());
        }
        let claims = json!({
            "iss": self.account.client_email,
            "scope": SCOPE,
            "aud": self.account.token_uri,
            "iat": now.timestamp(),
            "exp": (now + TimeDelta::hours(1)).timestamp(),
        });
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| FcmError::Rejected(format!("signing the FCM assertion failed: {e}")))?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ])
            .send()
            .await
            .map_err(|_| FcmError::Retry {
                reason: "Google's token endpoint is unreachable".into(),
                after: None,
            })?;
        metrics::counter!("fcm_token_requests_total", "status" => response.status().as_u16().to_string()).increment(1);
        if !response.status().is_success() {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            let reason = format!(
                "Google refused the service account ({status}): {}",
                body["error_description"]
                    .as_str()
                    .or(body["error"].as_str())
                    .unwrap_or("no reason given")
            );
            return Err(if status.is_server_error() {
                FcmError::Retry { reason, after: None }
            } else {
                FcmError::Rejected(reason)
            });
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            expires_in: i64,
        }
        let granted: Granted = response.json().await.map_err(|_| FcmError::Retry {
            reason: "unreadable answer from Google's token endpoint".into(),
            after: None,
        })?;
        *cached = Some((
            granted.access_token.clone(),
            now + TimeDelta::seconds(granted.expires_in),
        ));
        Ok(granted.access_token)
    }
}

/// The v1 message: notification, data, and the platforms' priority and
/// replace-the-earlier-one settings.
fn message(device_token: &str, push: &Push, identity: &str) -> Value {
    let mut body = push.body.clone();
    loop {
        let message = json!({ "message": {
            "token": device_token,
            "notification": { "title": push.title, "body": body },
            "data": push.data,
            "android": { "priority": "HIGH", "notification": { "channel_id": "receipts", "tag": identity } },
            "apns": { "headers": { "apns-priority": "10", "apns-push-type": "alert", "apns-collapse-id": identity } },
            "webpush": { "headers": { "Urgency": "high", "Topic": identity } },
        }});
        if message.to_string().len() <= MAX_PAYLOAD || body.is_empty() {
            return message;
        }
        // Too long: shorten the body, never the data the app needs.
        let keep = body.chars().count().saturating_sub(64);
        body = body.chars().take(keep).collect::<String>() + "…";
        if keep == 0 {
            body.clear();
        }
    }
}

/// FCM's error body: `error.status` and `details[].errorCode`.
fn classify(status: u16, error: &Value, after: Option<Duration>) -> FcmError {
    let code = error["error"]["details"]
        .as_array()
        .and_then(|details| details.iter().find_map(|d| d["errorCode"].as_str()))
        .or(error["error"]["status"].as_str())
        .unwrap_or("UNKNOWN")
        .to_owned();
    let message = error["error"]["message"].as_str().unwrap_or("").to_owned();
    match (status, code.as_str()) {
        (_, "UNREGISTERED") | (404, _) => FcmError::Unregistered,
        (429 | 500 | 503, _) | (_, "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL") => FcmError::Retry {
            reason: format!("{code}: {message}"),
            after,
        },
        _ => FcmError::Rejected(format!("{code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_as_fcm_documents() {
        let body = |status: &str, code: &str| {
            json!({ "error": { "code": 400, "message": "m", "status": status,
                "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code }] } })
        };
        assert!(matches!(
            classify(404, &body("NOT_FOUND", "UNREGISTERED"), None),
            FcmError::Unregistered
        ));
        for code in ["INVALID_ARGUMENT", "SENDER_ID_MISMATCH", "THIRD_PARTY_AUTH_ERROR"] {
            assert!(
                matches!(
                    classify(400, &body("INVALID_ARGUMENT", code), None),
                    FcmError::Rejected(_)
                ),
                "{code}"
            );
        }
        assert!(matches!(
            classify(429, &body("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), None),
            FcmError::Retry { .. }
        ));
        assert!(matches!(classify(503, &json!({}), None), FcmError::Retry { .. }));
    }

    #[test]
    fn a_notification_id_fits_every_platform() {
        let id = notification_id("share_played:0192a1b2-0000-7000-8000-000000000000");
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(id, notification_id("share_played:0192a1b2-0000-7000-8000-000000000000"));
        assert_ne!(
            id,
            notification_id("share_received:0192a1b2-0000-7000-8000-000000000000")
        );
    }

    #[test]
    fn long_bodies_are_cut_to_fit() {
        let push = Push {
            title: "t".into(),
            body: "x".repeat(10_000),
            data: [("type".to_owned(), "share_played".to_owned())].into(),
        };
        let message = message("token", &push, &notification_id("share_played:x"));
        assert!(message.to_string().len() <= MAX_PAYLOAD);
        assert_eq!(message["message"]["data"]["type"], "share_played");
    }
}

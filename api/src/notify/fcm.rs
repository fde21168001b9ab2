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

use crate::telemetry::OnceTold;

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
    /// The token no longer reaches an install: `UNREGISTERED`,
    /// `SENDER_ID_MISMATCH`, or an `INVALID_ARGUMENT` that names the
    /// registration token. The device is forgotten.
    #[error("{0}")]
    Unregistered(String),
    /// A problem retrying will not fix, with this message only (any other
    /// `INVALID_ARGUMENT`, `UNSPECIFIED_ERROR`): the device is kept.
    #[error("{0}")]
    Rejected(String),
    /// The operator must act (`THIRD_PARTY_AUTH_ERROR`: the APNs or web
    /// push credentials in Firebase; our Google access token or service
    /// account refused; a missing IAM permission). Logged once per send;
    /// the device is kept.
    #[error("{0}")]
    Operator(String),
    /// 429, 5xx, timeouts, Google's token endpoint down: try again (after
    /// `after` when FCM's rules say so).
    #[error("{reason}")]
    Retry { reason: String, after: Option<Duration> },
}

/// FCM's 429 (`QUOTA_EXCEEDED`, or the project's `RATE_LIMIT_EXCEEDED`):
/// "exponential backoff with a minimum initial delay of 1 minute" (FCM
/// error codes); a longer `Retry-After` is honoured.
pub const RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(60);

pub struct FcmClient {
    http: reqwest::Client,
    /// Base of `/v1/projects/{project_id}/messages:send`.
    api_url: String,
    account: ServiceAccount,
    key: EncodingKey,
    /// The access token and its expiry; the lock makes concurrent senders
    /// share one token request.
    token: Mutex<Option<(String, DateTime<Utc>)>>,
    /// What the operator was last told about Google's token endpoint or
    /// FCM's operator faults: each cause is logged once, until the token
    /// endpoint answers again (at most once an hour while a fault lasts;
    /// pushes that succeed in between, to other devices, do not count).
    told: OnceTold,
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
            told: OnceTold::default(),
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
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                .map(|seconds| Duration::from_secs_f64(seconds.min(86_400.0)));
            let error: Value = response.json().await.unwrap_or_default();
            if status == reqwest::StatusCode::UNAUTHORIZED && fcm_code(&error).is_none() && attempt == 0 {
                continue; // our cached Google token was refused: get a new one once
            }
            let failure = classify(status.as_u16(), &error, after);
            if let FcmError::Operator(reason) = &failure
                && self.told.news(reason)
            {
                tracing::error!(
                    reason,
                    "FCM refused a push for a reason the operator must fix; the device is kept"
                );
            }
            return Err(failure);
        }
        unreachable!("the second attempt returns")
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
            .map_err(|e| FcmError::Operator(format!("signing the FCM assertion failed: {e}")))?;
        let response = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ])
            .send()
            .await
            .map_err(|_| {
                if self.told.news("token endpoint unreachable") {
                    tracing::error!("Google's token endpoint is unreachable: no push can be sent until it answers");
                }
                FcmError::Retry {
                    reason: "Google's token endpoint is unreachable".into(),
                    after: None,
                }
            })?;
        metrics::counter!("fcm_token_requests_total", "status" => response.status().as_u16().to_string()).increment(1);
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            return Err(token_refusal(status, &body, &self.told));
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            expires_in: i64,
        }
        let granted: Granted = response.json().await.map_err(|_| {
            if self.told.news("token endpoint unreadable") {
                tracing::error!("Google's token endpoint answered unreadably: no push can be sent until it answers");
            }
            FcmError::Retry {
                reason: "unreadable answer from Google's token endpoint".into(),
                after: None,
            }
        })?;
        self.told.answered();
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

/// What a refusal by Google's token endpoint means: never the person's
/// problem. 5xx, `internal_failure` and bodies that are not JSON (Google's
/// front-end HTML) are an outage, retried; anything else (`invalid_grant`:
/// key deleted or clock skew; `invalid_client`, `deleted_client`,
/// `unauthorized_client`) is the operator's. One log line names each
/// cause, once until the endpoint answers again (`told`).
fn token_refusal(status: u16, body: &str, told: &OnceTold) -> FcmError {
    let json: Value = serde_json::from_str(body).unwrap_or_default();
    let code = json["error"].as_str();
    let cause = match (code, json["error_description"].as_str()) {
        (Some(code), Some(description)) => format!("{status} {code}: {description}"),
        (Some(code), None) => format!("{status} {code}"),
        (None, _) => format!("{status} (no OAuth error in the body)"),
    };
    if status >= 500 || code.is_none() || code == Some("internal_failure") {
        if told.news(&format!("outage: {cause}")) {
            tracing::error!(
                cause,
                "Google's token endpoint is failing (an outage): pushes wait and are retried"
            );
        }
        return FcmError::Retry {
            reason: format!("Google's token endpoint is failing: {cause}"),
            after: None,
        };
    }
    if told.news(&cause) {
        tracing::error!(
            cause,
            "Google refused this server's service account: check FCM_CREDENTIALS (key deleted or rotated, \
             account deleted, or the server's clock); no push is sent, devices are kept"
        );
    }
    FcmError::Operator(format!("Google refused the service account: {cause}"))
}

/// The `FcmError` code in an error's `details`, if it has one: FCM's own
/// code is there, not in the canonical `status`.
fn fcm_code(error: &Value) -> Option<&str> {
    error["error"]["details"].as_array()?.iter().find_map(|detail| {
        let fcm = detail["@type"]
            .as_str()
            .is_none_or(|kind| kind.ends_with("google.firebase.fcm.v1.FcmError"));
        if fcm { detail["errorCode"].as_str() } else { None }
    })
}

/// Whether an `INVALID_ARGUMENT` is about the registration token itself:
/// its message says so (FCM's documented example), or a `BadRequest`
/// field violation names `message.token`.
fn names_the_token(error: &Value) -> bool {
    let message = error["error"]["message"].as_str().unwrap_or_default().to_lowercase();
    if message.contains("registration token") {
        return true;
    }
    error["error"]["details"].as_array().is_some_and(|details| {
        details.iter().any(|detail| {
            detail["fieldViolations"]
                .as_array()
                .is_some_and(|violations| violations.iter().any(|v| v["field"].as_str() == Some("message.token")))
        })
    })
}

/// FCM's error body: the `FcmError` code in `details`, else the canonical
/// `status`; see `tests/fixtures/fcm/README.md` for the table.
fn classify(status: u16, error: &Value, after: Option<Duration>) -> FcmError {
    let code = fcm_code(error)
        .or(error["error"]["status"].as_str())
        .unwrap_or("UNKNOWN")
        .to_owned();
    let message = error["error"]["message"].as_str().unwrap_or("").to_owned();
    let reason = if error["error"].is_object() {
        format!("{code}: {message}")
    } else {
        // Not FCM's JSON (an HTML page from Google's front end): the
        // status is all the operator can be told.
        format!("HTTP {status} without FCM's error body")
    };
    match (status, code.as_str()) {
        (_, "UNREGISTERED") | (404, _) => FcmError::Unregistered(format!("{reason}: device removed")),
        (_, "SENDER_ID_MISMATCH") => FcmError::Unregistered(format!("{reason}: device removed")),
        (_, "INVALID_ARGUMENT") if names_the_token(error) => {
            FcmError::Unregistered(format!("{reason}: device removed"))
        }
        (429, _) | (_, "QUOTA_EXCEEDED" | "RESOURCE_EXHAUSTED") => FcmError::Retry {
            reason,
            after: Some(after.unwrap_or_default().max(RATE_LIMIT_BACKOFF)),
        },
        (500..=599, _) | (_, "UNAVAILABLE" | "INTERNAL") => FcmError::Retry { reason, after },
        (_, "THIRD_PARTY_AUTH_ERROR") | (401 | 403, _) => FcmError::Operator(reason),
        _ => FcmError::Rejected(reason),
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
            FcmError::Unregistered(_)
        ));
        assert!(matches!(
            classify(400, &body("INVALID_ARGUMENT", "INVALID_ARGUMENT"), None),
            FcmError::Rejected(_)
        ));
        assert!(matches!(
            classify(401, &body("UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), None),
            FcmError::Operator(_)
        ));
        assert!(matches!(
            classify(429, &body("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), Some(Duration::from_secs(10))),
            FcmError::Retry { after: Some(after), .. } if after == RATE_LIMIT_BACKOFF
        ));
        assert!(matches!(
            classify(429, &json!({}), Some(Duration::from_secs(600))),
            FcmError::Retry { after: Some(after), .. } if after == Duration::from_secs(600)
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

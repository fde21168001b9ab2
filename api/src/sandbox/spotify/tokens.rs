//! The fake Spotify's access and refresh tokens: signed, self-contained
//! values (whom a token speaks for, until when, for which client) instead
//! of entries in memory, so the tokens a sandbox-mode server stored keep
//! working after it restarts, as long as the key is the same (start-up
//! keeps it in the database, beside the other sandbox secrets).
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::Subject;
use crate::crypto::Signer;

/// What a token says, signed.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Claims {
    Access {
        /// The account, or none for an app token.
        account: Option<String>,
        /// Milliseconds since the epoch.
        expires_at_ms: i64,
        /// Makes every token differ.
        nonce: String,
    },
    Refresh {
        client_id: String,
        account: String,
        scope: String,
        nonce: String,
    },
}

/// What a refresh token can be exchanged for.
pub(super) struct RefreshGrant {
    /// Only the client it was issued to may use it.
    pub client_id: String,
    pub account: String,
    /// The scopes granted at sign-in, kept across refreshes.
    pub scope: String,
}

/// Why an access token is not accepted.
pub(super) enum Refused {
    Invalid,
    Expired,
}

/// Signs and reads tokens with the sandbox's key.
pub(super) struct Tokens(Signer);

impl Tokens {
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Signer::new(key, "sandbox-spotify-tokens"))
    }

    /// An access token for `subject`, valid until `expires_at`.
    pub fn access(&self, subject: &Subject, expires_at: DateTime<Utc>) -> String {
        let account = match subject {
            Subject::User(account) => Some(account.clone()),
            Subject::App => None,
        };
        self.sign(&Claims::Access {
            account,
            expires_at_ms: expires_at.timestamp_millis(),
            nonce: nonce(),
        })
    }

    /// A refresh token for `account`, issued to `client_id`.
    pub fn refresh(&self, client_id: &str, account: &str, scope: &str) -> String {
        self.sign(&Claims::Refresh {
            client_id: client_id.to_owned(),
            account: account.to_owned(),
            scope: scope.to_owned(),
            nonce: nonce(),
        })
    }

    /// Whom an access token speaks for at `now`.
    pub fn subject(&self, token: &str, now: DateTime<Utc>) -> Result<Subject, Refused> {
        match self.read(token) {
            Some(Claims::Access {
                account, expires_at_ms, ..
            }) => {
                let expires_at = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::milliseconds(expires_at_ms);
                if expires_at <= now {
                    return Err(Refused::Expired);
                }
                Ok(account.map_or(Subject::App, Subject::User))
            }
            _ => Err(Refused::Invalid),
        }
    }

    /// What a refresh token grants, if it is one of ours.
    pub fn grant(&self, token: &str) -> Option<RefreshGrant> {
        match self.read(token)? {
            Claims::Refresh {
                client_id,
                account,
                scope,
                ..
            } => Some(RefreshGrant {
                client_id,
                account,
                scope,
            }),
            Claims::Access { .. } => None,
        }
    }

    fn sign(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims are plain data"));
        let signature = self.0.sign(&payload);
        format!("{payload}.{signature}")
    }

    fn read(&self, token: &str) -> Option<Claims> {
        let (payload, signature) = token.split_once('.')?;
        if !self.0.verify(payload, signature) {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

fn nonce() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>())
}

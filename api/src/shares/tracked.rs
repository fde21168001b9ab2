//! Tracked links: every link to a shared track that Send Songs sends its
//! recipient (the push's data, the Messenger message, the bot's answers)
//! goes through `GET /s/{token}`, which records that they opened it and
//! sends them on to Spotify.
//!
//! A token is the share's id and an expiry (the share's), signed together
//! with the recipient's id (HMAC-SHA256 under a key derived from
//! `JWT_SECRET` for this use alone, cut to 96 bits): 32 bytes, 43
//! characters of base64url. Without the key nobody can make one, or change
//! the share or the expiry of one; a token opens only the share and
//! recipient it was made for.
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::crypto::Signer;
use entity::shares;

/// The route's prefix: `{PUBLIC_URL}/s/{token}`.
pub const PATH: &str = "/s/";
/// Bytes of signature in a token.
const SIGNATURE_LEN: usize = 12;
/// Share id (16) and expiry (4: Unix seconds, big-endian, until 2106).
const SIGNED_LEN: usize = 20;

/// Makes and reads tracked links.
pub struct TrackedLinks {
    /// Signs tokens (key derived for tracked links only).
    signer: Signer,
    /// `{PUBLIC_URL}/s/`.
    base: String,
}

/// What a well-formed token says, before its signature is checked against
/// the share's recipient ([`TrackedLinks::verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub share_id: Uuid,
    /// The link works until then (the share's expiry).
    pub expires_at: DateTime<Utc>,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

impl TrackedLinks {
    /// `secret` is `JWT_SECRET`; `public_url` has no trailing slash.
    pub fn new(secret: &[u8], public_url: &str) -> Self {
        Self {
            signer: Signer::new(secret, "tracked-share-link"),
            base: format!("{public_url}{PATH}"),
        }
    }

    /// The link for `share`'s recipient, valid until the share expires.
    pub fn link(&self, share: &shares::Model) -> String {
        let mut signed = share.id.as_bytes().to_vec();
        let expires = u32::try_from(share.expires_at.timestamp()).unwrap_or(u32::MAX);
        signed.extend(expires.to_be_bytes());
        let signature = self
            .signer
            .sign_short(&message(&signed, share.recipient_id), SIGNATURE_LEN);
        signed.extend(signature);
        format!("{}{}", self.base, URL_SAFE_NO_PAD.encode(signed))
    }

    /// Reads a token's share and expiry; `None` unless it has a token's
    /// shape. The signature is not checked yet: that needs the recipient.
    pub fn read(&self, token: &str) -> Option<Token> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        if bytes.len() != SIGNED_LEN + SIGNATURE_LEN {
            return None;
        }
        let (signed, signature) = bytes.split_at(SIGNED_LEN);
        let share_id = Uuid::from_slice(&signed[..16]).ok()?;
        let expires = u32::from_be_bytes(signed[16..].try_into().ok()?);
        Some(Token {
            share_id,
            expires_at: DateTime::from_timestamp(i64::from(expires), 0)?,
            signed: signed.to_vec(),
            signature: signature.to_vec(),
        })
    }

    /// Whether `token` was made by this server for `recipient` (in
    /// constant time). Its expiry is the caller's to compare.
    pub fn verify(&self, token: &Token, recipient: Uuid) -> bool {
        self.signer
            .verify_short(&message(&token.signed, recipient), &token.signature)
    }
}

/// What is signed: the token's bytes and the recipient, who is not in it.
fn message(signed: &[u8], recipient: Uuid) -> Vec<u8> {
    let mut message = signed.to_vec();
    message.extend(recipient.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(recipient: Uuid) -> shares::Model {
        let now = DateTime::from_timestamp(1_789_466_400, 0).unwrap();
        crate::shares::sample("4uLU6hMCjMI75M1A2tKUQC", recipient, now)
    }

    #[test]
    fn a_link_opens_its_share_for_its_recipient_only() {
        let links = TrackedLinks::new(b"secret-secret-secret-secret-secret", "https://songs.example");
        let recipient = Uuid::now_v7();
        let share = share(recipient);
        let link = links.link(&share);
        let token = link.strip_prefix("https://songs.example/s/").unwrap();
        assert_eq!(token.len(), 43, "short enough for a push: {link}");

        let read = links.read(token).unwrap();
        assert_eq!(read.share_id, share.id);
        assert_eq!(read.expires_at, share.expires_at);
        assert!(links.verify(&read, recipient));
        assert!(!links.verify(&read, Uuid::now_v7()), "another recipient");
        let other_key = TrackedLinks::new(b"another-secret-another-secret-xx", "https://songs.example");
        assert!(!other_key.verify(&read, recipient));
    }

    #[test]
    fn a_changed_token_is_refused() {
        let links = TrackedLinks::new(b"secret-secret-secret-secret-secret", "https://songs.example");
        let recipient = Uuid::now_v7();
        let link = links.link(&share(recipient));
        let token = link.rsplit('/').next().unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(token).unwrap();
        bytes[19] ^= 1; // another expiry
        let changed = URL_SAFE_NO_PAD.encode(&bytes);
        assert!(!links.verify(&links.read(&changed).unwrap(), recipient));
        assert!(links.read(&token[..40]).is_none());
        assert!(links.read("not a token").is_none());
    }
}

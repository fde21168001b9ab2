//! Access tokens (JWT, HS256, 15 minutes) and refresh-token secrets.
//!
//! The algorithm is pinned and `exp`, `iat`, `iss`, `aud`, `sub` are all
//! required. Expiry is checked against the app's [`Clock`](crate::clock::Clock),
//! not the wall clock, so tests can age a token.
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

pub const ACCESS_TOKEN_TTL: TimeDelta = TimeDelta::minutes(15);
const ISSUER: &str = "sendsongs";
const AUDIENCE: &str = "sendsongs-api";
/// Tolerated clock skew between replicas.
const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    /// The session this token was issued for: revoking it ends the token too.
    sid: Uuid,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// Who a valid access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// Signs and checks access tokens with the `JWT_SECRET` key.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl AccessTokens {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Time is checked below against the injectable clock.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues a token for `subject`; returns it with its expiry.
    pub fn issue(&self, subject: TokenSubject, now: DateTime<Utc>) -> anyhow::Result<(String, DateTime<Utc>)> {
        let expires_at = now + ACCESS_TOKEN_TTL;
        let claims = Claims {
            sub: subject.user_id,
            sid: subject.session_id,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, expires_at))
    }

    /// Checks signature, algorithm, issuer, audience and times.
    ///
    /// # Errors
    /// `Unauthenticated`, saying whether the token is invalid or expired.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<TokenSubject, Error> {
        let claims = self.claims(token)?;
        let now = now.timestamp();
        if claims.exp + LEEWAY_SECONDS <= now {
            return Err(Error::Unauthenticated(
                "the access token has expired: call refreshSession for a new one".into(),
            ));
        }
        if claims.iat > now + LEEWAY_SECONDS {
            return Err(invalid());
        }
        Ok(TokenSubject {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }

    /// The last moment [`verify`](Self::verify) accepts `token`: its expiry
    /// plus the tolerated skew. A WebSocket signed in with it is closed
    /// then.
    ///
    /// # Errors
    /// `Unauthenticated` for a token that is not one of ours.
    pub fn accepted_until(&self, token: &str) -> Result<DateTime<Utc>, Error> {
        let claims = self.claims(token)?;
        DateTime::from_timestamp(claims.exp + LEEWAY_SECONDS, 0).ok_or_else(invalid)
    }

    /// The claims of a token signed with our key, whatever its times.
    fn claims(&self, token: &str) -> Result<Claims, Error> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| invalid())
    }
}

fn invalid() -> Error {
    Error::Unauthenticated("the access token is not valid: sign in again".into())
}

/// A new refresh token: 32 random bytes, base64url. Only its hash is stored.
pub fn new_refresh_token() -> String {
    crate::crypto::random_token(32)
}

/// The stored form of a refresh token: hex SHA-256. Tokens are 256 random
/// bits, so a fast hash is enough; no salt or stretching is needed.
pub fn hash_refresh_token(token: &str) -> String {
    crate::crypto::sha256_hex(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: Uuid::new_v4(),
            session_id: Uuid::new_v4(),
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let tokens = AccessTokens::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let s = subject();
        let (token, expires_at) = tokens.issue(s, now).unwrap();
        assert_eq!(expires_at, now + ACCESS_TOKEN_TTL);
        assert_eq!(tokens.verify(&token, now).unwrap(), s);
        let err = tokens.verify(&token, now + TimeDelta::minutes(16)).unwrap_err();
        assert!(err.to_string().contains("expired"));
        // Accepted up to the moment `accepted_until` names, not after.
        let until = tokens.accepted_until(&token).unwrap();
        assert!(tokens.verify(&token, until - TimeDelta::seconds(1)).is_ok());
        assert!(tokens.verify(&token, until).is_err());
    }

    #[test]
    fn other_keys_and_algorithms_are_refused() {
        let tokens = AccessTokens::new(b"0123456789abcdef0123456789abcdef");
        let other = AccessTokens::new(b"another-key-another-key-another-key");
        let (token, _) = other.issue(subject(), Utc::now()).unwrap();
        assert!(tokens.verify(&token, Utc::now()).is_err());
        // alg=none with the same claims.
        let claims = token.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert!(tokens.verify(&none, Utc::now()).is_err());
    }
}

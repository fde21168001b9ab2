//! 16-digit link codes: a person proves to the Messenger bot that an
//! account is theirs by sending a code the account made. Single use, 30
//! minutes; only a hash is stored. A sender may try [`TRIES_PER_HOUR`]
//! codes that do not work in an hour: each try is counted before the code
//! is looked up ([`crate::throttle`]), so a burst of guesses is cut off
//! exactly, and a code that works gives its try back.
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, EntityTrait as _, QueryFilter as _, Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    crypto::sha256_hex,
    error::Result,
    throttle::{self, Limit, Verdict},
};
use entity::link_codes;

pub const LIFETIME: TimeDelta = TimeDelta::minutes(30);
/// Codes that do not work one sender may try in an hour.
pub const TRIES_PER_HOUR: i32 = 5;

/// A new code for `user_id`: its 16 digits and expiry.
pub async fn create(db: &impl ConnectionTrait, user_id: Uuid, now: DateTime<Utc>) -> Result<(String, DateTime<Utc>)> {
    let code = format!("{:016}", rand::rng().random_range(0..10_000_000_000_000_000u64));
    let expires_at = now + LIFETIME;
    link_codes::ActiveModel {
        id: Set(Uuid::now_v7()),
        code_hash: Set(sha256_hex(&code)),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((code, expires_at))
}

/// The digits of a code as people type it: spaces and dashes allowed.
/// `None` unless exactly 16 digits remain.
pub fn normalize(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (digits.len() == 16 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// Spends a code: the account it belongs to, once, before it expires.
pub async fn redeem(db: &impl ConnectionTrait, code: &str, now: DateTime<Utc>) -> Result<Option<Uuid>> {
    let Some(digits) = normalize(code) else { return Ok(None) };
    let hash = sha256_hex(&digits);
    let spent = link_codes::Entity::update_many()
        .col_expr(link_codes::Column::UsedAt, Expr::value(now))
        .filter(link_codes::Column::CodeHash.eq(hash.clone()))
        .filter(link_codes::Column::UsedAt.is_null())
        .filter(link_codes::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if spent.rows_affected == 0 {
        return Ok(None);
    }
    let row = link_codes::Entity::find()
        .filter(link_codes::Column::CodeHash.eq(hash))
        .one(db)
        .await?;
    Ok(row.map(|r| r.user_id))
}

/// What a code a sender typed came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tried {
    /// It worked: the account it belongs to (the code is spent).
    Redeemed(Uuid),
    /// Unknown, used, expired or mistyped: counted.
    Wrong,
    /// Too many tries in the last hour: this one was not looked up.
    TooMany,
}

/// Redeems `code` for the Messenger sender `psid`, if they have tries left.
///
/// # Errors
/// The database's.
pub async fn try_from_sender(db: &impl ConnectionTrait, psid: &str, code: &str, now: DateTime<Utc>) -> Result<Tried> {
    let key = format!("link-code:{psid}");
    let limit = Limit {
        max: TRIES_PER_HOUR,
        window: TimeDelta::hours(1),
    };
    if let Verdict::Refused { .. } = throttle::attempt(db, &key, limit, 1, now).await? {
        return Ok(Tried::TooMany);
    }
    Ok(match redeem(db, code, now).await? {
        Some(user_id) => {
            throttle::refund(db, &key, 1).await?;
            Tried::Redeemed(user_id)
        }
        None => Tried::Wrong,
    })
}

/// `1234 5678 9012 3456`, for people to read.
pub fn grouped(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_typed_with_spaces_or_dashes() {
        assert_eq!(
            super::normalize("1234 5678-9012 3456").as_deref(),
            Some("1234567890123456")
        );
        assert_eq!(super::normalize("1234"), None);
        assert_eq!(super::normalize("123456789012345a"), None);
        assert_eq!(super::grouped("1234567890123456"), "1234 5678 9012 3456");
    }
}

//! 16-digit link codes: a person proves to the Messenger bot that an
//! account is theirs by sending a code the account made. Single use, 30
//! minutes; only a hash is stored. Wrong codes are counted per sender
//! (the `link_code_failures` table), to stop guessing.
use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng as _;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait, EntityTrait as _, PaginatorTrait as _, QueryFilter as _,
    Set, sea_query::Expr,
};
use uuid::Uuid;

use crate::{crypto::sha256_hex, error::Result};
use entity::{link_code_failures, link_codes};

pub const LIFETIME: TimeDelta = TimeDelta::minutes(30);

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

/// How many wrong codes `psid` sent in the hour before `now`.
pub async fn recent_failures(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<u64> {
    Ok(link_code_failures::Entity::find()
        .filter(link_code_failures::Column::Psid.eq(psid))
        .filter(link_code_failures::Column::FailedAt.gt(now - TimeDelta::hours(1)))
        .count(db)
        .await?)
}

/// Counts a wrong code from `psid`.
pub async fn record_failure(db: &impl ConnectionTrait, psid: &str, now: DateTime<Utc>) -> Result<()> {
    link_code_failures::ActiveModel {
        id: Set(Uuid::now_v7()),
        psid: Set(psid.to_owned()),
        failed_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
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

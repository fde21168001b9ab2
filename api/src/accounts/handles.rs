//! Handles for accounts created from Spotify or Messenger: derived from a
//! display name, made valid and unique.
use sea_orm::ConnectionTrait;

use super::users;
use crate::error::Result;

/// "Sam K. Smith!" → "sam_k.smith"; something valid (3–30 of `a-z 0-9 _ .`).
pub fn base_from(name: &str) -> String {
    let mut handle = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' | '.' | '_' => handle.push(c),
            ' ' | '-' if !handle.ends_with('_') => handle.push('_'),
            _ => {}
        }
    }
    let handle: String = handle.trim_matches(|c| c == '_' || c == '.').chars().take(24).collect();
    if handle.len() < 3 { "listener".into() } else { handle }
}

/// The first free handle among `base`, `base2`, `base3`, … Inside a
/// transaction, accounts made from the same base take turns until it ends,
/// so two at once do not pick the same handle.
pub async fn unique_from(db: &impl ConnectionTrait, name: &str) -> Result<String> {
    let base = base_from(name);
    crate::db::serialize_on(db, &format!("handle:{base}")).await?;
    for n in 1..1000u32 {
        let candidate = if n == 1 { base.clone() } else { format!("{base}{n}") };
        if users::find_by_handle(db, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Ok(format!(
        "{base}{}",
        uuid::Uuid::new_v4().simple().to_string().get(..6).unwrap_or("x")
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_from_names() {
        assert_eq!(super::base_from("Sam K. Smith!"), "sam_k._smith");
        assert_eq!(super::base_from("Zoë"), "listener");
        assert_eq!(super::base_from("李"), "listener");
        assert_eq!(
            super::base_from("a-very-long-display-name-indeed-yes"),
            "a_very_long_display_name"
        );
    }
}

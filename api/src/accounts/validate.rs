//! Validated account inputs: once parsed, a value is known to be well formed,
//! so bad input cannot travel further than the edge.
use crate::error::{Error, Result};

/// 3–30 characters of `a-z 0-9 _ .`, stored lower-case so uniqueness is
/// case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    /// # Errors
    /// `BadUserInput` (field `handle`) saying which rule it breaks.
    pub fn parse(input: &str) -> Result<Self> {
        let handle = input.trim().trim_start_matches('@').to_lowercase();
        let len = handle.chars().count();
        if !(3..=30).contains(&len) {
            return Err(Error::bad_input("handle", "a handle is 3 to 30 characters long"));
        }
        if !handle
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            return Err(Error::bad_input(
                "handle",
                "a handle may contain only letters a-z, digits, `_` and `.`",
            ));
        }
        Ok(Self(handle))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// An email address as typed (trimmed) plus its lower-cased uniqueness key.
#[derive(Debug, Clone)]
pub struct Email {
    pub address: String,
    pub key: String,
}

impl Email {
    /// # Errors
    /// `BadUserInput` (field `email`) for anything that is not an address.
    pub fn parse(input: &str) -> Result<Self> {
        let address = input.trim();
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        let well_formed =
            address.len() <= 254 && email_address::EmailAddress::parse_with_options(address, options).is_ok();
        if !well_formed {
            return Err(Error::bad_input("email", "this is not a valid email address"));
        }
        Ok(Self {
            address: address.to_owned(),
            key: address.to_lowercase(),
        })
    }
}

/// A new password: 8 to 128 characters (the cap keeps hashing cheap to refuse).
pub struct Password(String);

impl Password {
    /// # Errors
    /// `BadUserInput` (field `password`) when too short or too long.
    pub fn parse(input: &str) -> Result<Self> {
        let len = input.chars().count();
        if len < 8 {
            return Err(Error::bad_input("password", "a password needs at least 8 characters"));
        }
        if len > 128 {
            return Err(Error::bad_input(
                "password",
                "a password can have at most 128 characters",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: 1 to 64 characters, no control characters.
#[derive(Debug, Clone)]
pub struct DisplayName(String);

impl DisplayName {
    /// # Errors
    /// `BadUserInput` (field `displayName`) when empty, too long, or with
    /// control characters.
    pub fn parse(input: &str) -> Result<Self> {
        let name = input.trim();
        let len = name.chars().count();
        if len == 0 || len > 64 {
            return Err(Error::bad_input(
                "displayName",
                "a display name is 1 to 64 characters long",
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(Error::bad_input(
                "displayName",
                "a display name cannot contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(Handle::parse("Sam_1.x").unwrap().as_str(), "sam_1.x");
        assert_eq!(Handle::parse("@alex").unwrap().as_str(), "alex");
        for bad in ["ab", "a b c", "sam!", "ünï", &"x".repeat(31), ""] {
            assert!(Handle::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Sam@Example.COM ").unwrap().key, "sam@example.com");
        for bad in ["sam", "sam@", "@x.com", "sam@localhost", "a b@x.com", "Sam <sam@x.com>"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        assert!(Password::parse("long enough").is_ok());
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert_eq!(DisplayName::parse(" Sam ").unwrap().into_inner(), "Sam");
    }
}

//! Paging through lists, newest first: a validated page request ([`Page`])
//! and the opaque cursors edges hand out (GraphQL's Relay connections).
//!
//! Rows have time-ordered (v7) UUIDs, so "newest first" is "id descending"
//! and a cursor is just the id of the last row seen, made opaque. Domain
//! lists take a [`Page`] and answer the rows plus whether there are more.
use base64::Engine as _;
use uuid::Uuid;

use crate::error::{Error, Result};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// A validated page request: how many rows, and after which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub first: u64,
    pub after: Option<Uuid>,
}

impl Page {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self> {
        let first = first.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(Error::bad_input(
                "first",
                format!("`first` must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = after.map(decode_cursor).transpose()?;
        Ok(Self {
            first: first as u64,
            after,
        })
    }
}

impl Page {
    /// How many rows to read: one more than the page, to tell whether more
    /// follow.
    pub fn limit(&self) -> u64 {
        self.first + 1
    }

    /// The page's rows out of [`limit`](Self::limit) read, and whether more
    /// follow.
    pub fn split<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let more = rows.len() as u64 > self.first;
        rows.truncate(self.first as usize);
        (rows, more)
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<Uuid> {
    let invalid = || Error::bad_input("after", "this cursor is not one this server gave out");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid())?;
    text.strip_prefix("c1:")
        .and_then(|id| id.parse().ok())
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        assert!(decode_cursor("nonsense!").is_err());
        assert!(decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("c1:xyz")).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(Page::parse(None, None).unwrap().first, 20);
        assert!(Page::parse(Some(0), None).is_err());
        assert!(Page::parse(Some(101), None).is_err());
    }
}

//! The upstream budget: one request may make at most
//! [`MAX_UPSTREAM_PER_REQUEST`] lookups on Spotify, counted before
//! anything runs, so a request with hundreds of aliases is refused before
//! its first call instead of spending the app's rate limit (which play
//! detection shares with everyone).
//!
//! The fields that may call Spotify are root fields ([`UPSTREAM`]); each
//! distinct set of arguments counts once (the same link asked for twice is
//! one lookup: the track loader asks once). Each person's lookups of new
//! tracks are limited besides, per hour (`spotify::catalog`).
use std::collections::HashSet;

use async_graphql::{
    ServerError, ServerResult, Variables,
    parser::types::{ExecutableDocument, OperationType},
};

use super::arguments::root_fields;

/// Lookups on Spotify one request may make.
pub const MAX_UPSTREAM_PER_REQUEST: usize = 50;

/// The root fields that may call Spotify: a track by link, what someone
/// is playing, a share (its track).
const UPSTREAM: &[(OperationType, &str)] = &[
    (OperationType::Query, "track"),
    (OperationType::Query, "nowPlaying"),
    (OperationType::Mutation, "shareSong"),
];

/// Refuses a document with an operation that would make more than
/// [`MAX_UPSTREAM_PER_REQUEST`] lookups.
pub fn check(document: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    for (ty, calls) in root_fields(document, variables) {
        let lookups: HashSet<String> = calls
            .iter()
            .filter(|call| UPSTREAM.contains(&(ty, call.field)))
            .map(|call| {
                let arguments: Vec<String> = call.arguments.iter().map(|(n, v)| format!("{n}:{v}")).collect();
                format!("{}({})", call.field, arguments.join(","))
            })
            .collect();
        if lookups.len() > MAX_UPSTREAM_PER_REQUEST {
            return Err(refused(lookups.len()));
        }
    }
    Ok(())
}

fn refused(lookups: usize) -> ServerError {
    let mut error = ServerError::new(
        format!(
            "this request would look up {lookups} tracks or listeners on Spotify; one request may look up at most \
             {MAX_UPSTREAM_PER_REQUEST}: send it in parts"
        ),
        None,
    );
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", "BAD_USER_INPUT");
    error
}

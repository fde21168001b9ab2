//! Play detection: checking recipients' listening history for the tracks
//! shared with them, on a schedule, one Spotify call per recipient.
pub mod check;
pub mod schedule;
pub mod sweep;

//! Play detection: watching recipients' listening for the tracks shared
//! with them — live through currently-playing while a share is fresh or
//! just opened, and through their recently-played history on a schedule —
//! one job and one call of each kind per recipient however many shares.
pub mod check;
pub mod live;
pub mod matching;
pub mod schedule;
pub mod sweep;

//! Accounts: users, sign-up and log-in, sessions with rotating refresh
//! tokens, and personal settings.
pub mod handles;
pub mod link_codes;
pub mod passwords;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod tokens;
pub mod users;
pub mod validate;

pub use sessions::{Authenticated, Viewer};

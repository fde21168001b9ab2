//! Wire-compatible stand-ins for the outside services, served under
//! `/sandbox` in sandbox mode so the whole story runs with no outside
//! account. Tests also serve them on ports of their own.
pub mod providers;
pub mod spotify;

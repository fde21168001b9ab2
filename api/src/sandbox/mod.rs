//! Wire-compatible stand-ins for the outside services, served under
//! `/sandbox` in sandbox mode so the whole story runs with no outside
//! account, the secrets sandbox mode keeps ([`secrets`]), the one
//! shape of its own routes' errors ([`control`]), and every webhook event
//! shape a pretend Messenger user can send ([`messenger_events`]). Tests
//! also serve the stand-ins on ports of their own.
pub mod control;
pub mod messenger_events;
pub mod providers;
pub mod secrets;
pub mod spotify;

use std::sync::Arc;

/// The stand-ins one sandbox-mode server serves (startup builds them, the
/// router serves them).
pub struct Sandboxes {
    pub spotify: Arc<spotify::SpotifySandbox>,
    pub providers: Arc<providers::ProviderSandbox>,
}

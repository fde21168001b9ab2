//! Linking, a use case: the flows that tie a Spotify account ([`spotify`])
//! or a Messenger sender ([`messenger`]) to a Send Songs account, finding
//! or creating the account, in one transaction with what follows from it
//! (the first checks of shares waiting for the link, the bot's
//! confirmation, a link code).
pub mod messenger;
pub mod spotify;

//! The Messenger side of Send Songs: the signed webhook and its durable
//! inbox ([`webhook`]), the job that handles one sender's events in order
//! ([`inbox`]), the bot's commands ([`bot`]) and its replies ([`replies`]).
pub mod bot;
pub mod inbox;
pub mod replies;
pub mod webhook;

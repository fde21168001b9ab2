//! The Messenger service: who writes to the page and whether the page may
//! write back ([`links`], the only door to the `messenger_links` table), the
//! events they sent ([`inbox`], the `messenger_inbox` table), what the bot
//! asked them and waits an answer to ([`questions`], the `bot_questions`
//! table), the page's messages that concern a share ([`sent`], the
//! `share_messages` table), and the Send API client ([`send_api`]).
//!
//! What the bot answers is the bot's (`crate::bot`); how a message is sent,
//! retried and given up is the outbox's (`crate::notify`).
pub mod greetings;
pub mod inbox;
pub mod links;
pub mod questions;
pub mod send_api;
pub mod sent;

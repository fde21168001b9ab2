//! Send Songs: listen receipts for music shared between friends.
//!
//! People share Spotify tracks with friends from the app (GraphQL over HTTP
//! and WebSocket) or from Messenger (the bot); Send Songs watches the
//! recipient's listening and tells the sender once they played it (a
//! GraphQL subscription event, a Messenger message, an FCM push). All state
//! is in one database (SQLite, or PostgreSQL shared by replicas); work that
//! talks to the outside world runs in background jobs. `ARCHITECTURE.md`
//! walks through both flows.
//!
//! # Layout
//!
//! Modules stand in layers, bottom to top. A module imports from its own
//! layer and those below, never from above, and no two modules import each
//! other in a circle. `tests/tidy.rs` checks both, and that this map names
//! every module under its layer.
//!
//! ## Infrastructure
//! Knows no domain.
//! - [`config`]: typed settings, read once from the environment.
//! - [`db`]: connecting and migrating; SQLite's pragmas, busy handler and
//!   background checkpoints; readiness; rows by many keys (for loaders).
//! - [`clock`]: "now", injectable: tests move it.
//! - [`crypto`]: sealing secrets at rest, signing links, hashing.
//! - [`cache`]: short-lived caches, and [`Caches`](cache::Caches), every
//!   cache of people in the process, forgotten together when a person
//!   changes.
//! - [`telemetry`]: logs, the metrics recorder, the statement counter.
//! - [`error`]: the one error type that reaches people, one code and one
//!   HTTP status per variant.
//! - [`paging`]: pages of lists, newest first, and their opaque cursors.
//! - [`jobs`]: the job engine: the durable queue, the [`Job`](jobs::Job)
//!   trait (the payload struct is the job), the registry, the workers, and
//!   the [`Jobs`](jobs::Jobs) handle whose commit wakes them.
//! - [`events`]: live events for subscriptions and ended sessions,
//!   in-process or through PostgreSQL `LISTEN`/`NOTIFY`.
//! - [`persisted_queries`]: GraphQL documents by their hash (automatic
//!   persisted queries), shared by every replica, bounded.
//! - [`throttle`]: limits counted in the database (attempts per key and
//!   window), exact under bursts on any number of replicas.
//!
//! ## Services
//! Each owns its tables (its module is their only door) and talks to at
//! most one provider. A service with process state of its own has one
//! object, built by [`startup`] and held by [`App`]; its jobs run with it.
//! - [`accounts`]: users, sign-up, log-in, sessions, settings, link codes.
//! - [`friends`]: friend requests and lists.
//! - [`devices`]: push tokens of app installs.
//! - [`spotify`]: the Spotify client, the token vault, authorization, track
//!   links, the catalogue, now playing.
//! - [`messenger`]: Messenger senders and their links (the one door to
//!   `messenger_links`), the inbox and its writers, the bot's open
//!   questions, the Send API client.
//! - [`notify`]: the outbox: notifications (fan-out, delivery log, FCM) and
//!   the bot's replies, under one retry policy.
//! - [`shares`]: shares and their listen receipts, and how a pending share
//!   moves on.
//!
//! ## State
//! - [`app`]: [`App`], what every use case, edge and job stands on: the
//!   infrastructure's handles and the services' objects. State only.
//!
//! ## Use cases
//! Compose services; they take `&App`.
//! - [`receipts`]: each step of a share (opened, listening, played,
//!   expired, cancelled) recorded once, in order, pushed to its sender when
//!   they chose it, and told live to both people.
//! - [`reacting`]: the two people in a share answer it — a reaction (one
//!   emoji) or a reply — from the app or from Messenger (a reaction or
//!   reply to a message of the page about the share); the other person
//!   hears of it live, by push and on Messenger.
//! - [`sharing`]: sending a friend a track (the share, its first check and
//!   the notice, in one transaction).
//! - [`detection`]: watching recipients' listening — live through
//!   currently-playing after a share is made or opened, and through
//!   recently-played on a schedule — one Spotify call of each kind per
//!   recipient; matching plays (id, relink, ISRC); opening a share (the
//!   tracked link); expiry; the hourly sweep.
//! - [`linking`]: tying a Spotify account or a Messenger sender to an
//!   account (OAuth callback, personal links, link codes).
//! - [`listening`]: whose "now playing" a person may see, the one rule.
//!
//! ## Edges
//! Translate between the outside and the layers below; they decide
//! nothing, and `graphql`, `http` and `bot` never touch the database.
//! - [`graphql`]: the schema; resolvers are thin callers; the depth limit
//!   (introspection left out) and the error codes (the only place, with the
//!   GraphQL transport in `http/`, that knows async-graphql).
//! - [`http`]: the router, middleware, health, metrics, the OAuth pages,
//!   the public now-playing route, the GraphQL transport (HTTP, persisted
//!   queries, GraphiQL served from the binary, WebSocket with its sessions,
//!   CORS, responses shaped as the specification says: fields in selection
//!   order, a failed field null),
//!   and binding the server's socket.
//! - [`bot`]: the Messenger commands, and every word the bot says.
//! - [`webhook`]: Meta's webhook: the handshake, signatures, and events
//!   handed to the inbox.
//! - [`sandbox`]: stand-ins for Spotify, Google, FCM and the Send API.
//!
//! ## Startup
//! - [`startup`]: the one place that wires everything: the database, the
//!   providers' clients, [`App`], the edges' own state, the job registry,
//!   and serving until stopped ([`Application`]).
//!
//! # Conventions
//! - Services never take [`App`]: they take what they use, the connection
//!   (`db`, or a transaction to join), `now`, the client; or they are
//!   methods of their own object.
//! - A domain function returning [`error::Result`] says under `# Errors`
//!   which variants it returns, unless the only one is `Internal` (the
//!   database, or a bug).
//! - A job is its payload struct ([`jobs::Job`]); every kind is registered
//!   once, in [`startup::registry`]. Work that queues jobs commits through
//!   [`jobs::Jobs::commit`], which wakes a worker after the commit.
//! - Statuses and kinds are enums of the `entity` crate, matched without
//!   fallbacks.

/// mimalloc instead of the system allocator: a subscription event reaching
/// thousands of connections at once spent ~19% of its CPU in glibc's
/// malloc and free (consolidating fragmented free lists); see
/// docs/benchmarks/fanout.md. Its `override` feature also takes C's
/// `malloc` and `free` for the whole process, so SQLite's allocations (a
/// copy of every column value it hands over) no longer go through glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub mod accounts;
pub mod app;
pub mod bot;
pub mod cache;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod detection;
pub mod devices;
pub mod error;
pub mod events;
pub mod friends;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod linking;
pub mod listening;
pub mod messenger;
pub mod notify;
pub mod paging;
pub mod persisted_queries;
pub mod reacting;
pub mod receipts;
pub mod sandbox;
pub mod shares;
pub mod sharing;
pub mod spotify;
pub mod startup;
pub mod telemetry;
pub mod throttle;
pub mod webhook;

pub use app::{App, AppState};
pub use config::Settings;
pub use startup::Application;

//! Send Songs: listen receipts for music shared between friends.
//!
//! # Layout
//! - [`app`]: the shared [`App`](app::App) state, and building and running
//!   the server ([`Application`]).
//! - [`config`]: typed settings read once from the environment.
//! - [`error`]: the one error type that reaches people, with its codes.
//! - [`http`]: the router, middleware, health and metrics routes, and the
//!   GraphQL transport (HTTP, GraphiQL, WebSocket, CORS).
//! - [`graphql`]: the schema; resolvers are thin callers of the domains.
//! - Domains, each a folder with one door: [`accounts`] (users, sessions,
//!   settings), [`friends`], [`devices`]; [`events`] carries live events to
//!   subscriptions.
//! - [`db`], [`clock`], [`telemetry`]: the database connection, injectable
//!   time, logs and metrics.
//!
//! Only `graphql/` and the GraphQL transport in `http/` know async-graphql;
//! only `db.rs` and the domains know SeaORM.

/// mimalloc instead of the system allocator: a subscription event reaching
/// thousands of connections at once spent ~19% of its CPU in glibc's
/// malloc and free (consolidating fragmented free lists); see
/// docs/BENCHMARKS.md, "Shares: subscription fan-out".
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
pub mod accounts;
pub mod app;
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
pub mod messenger;
pub mod notify;
pub mod sandbox;
pub mod shares;
pub mod spotify;
pub mod telemetry;

pub use app::{App, AppState, Application};
pub use config::Settings;

//! The GraphQL API. This folder is the only place that knows async-graphql:
//! resolvers here are thin callers of the domain modules.
//!
//! Per-request data: [`context::Auth`] (who is asking) and
//! [`context::ClientAddress`]. Schema-wide data: the [`AppState`] and the
//! data loaders.
use async_graphql::{MergedObject, MergedSubscription, Schema, dataloader::DataLoader};

use crate::app::AppState;

mod accounts;
mod arguments;
mod budget;
mod checks;
pub mod context;
mod deliveries;
mod depth;
mod devices;
mod errors;
mod friends;
mod inputs;
mod loaders;
mod shares;
mod spotify;

pub use context::{Auth, ClientAddress, CurrentUser};
pub use errors::is_request_error;

/// How deep a query may nest (`me.friends.user` is 3), introspection aside
/// (see [`depth`]).
const MAX_DEPTH: usize = 12;
/// Total field count a query may select, weighted by list sizes.
const MAX_COMPLEXITY: usize = 2_000;

#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountsQuery,
    spotify::SpotifyQuery,
    shares::SharesQuery,
    deliveries::DeliveriesQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountsMutation,
    friends::FriendsMutation,
    devices::DevicesMutation,
    spotify::SpotifyMutation,
    shares::SharesMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(friends::FriendsSubscription, shares::SharesSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

pub fn build_schema(state: AppState) -> AppSchema {
    let mut builder = schema_builder();
    if !state.settings.graphql.introspection {
        builder = builder.disable_introspection();
    }
    builder
        .data(DataLoader::new(loaders::UserLoader(state.clone()), tokio::spawn))
        .data(DataLoader::new(loaders::TrackLoader(state.clone()), tokio::spawn))
        .data(DataLoader::new(loaders::TrackLookups(state.clone()), tokio::spawn))
        .data(std::sync::Arc::new(loaders::Subjects::new(&state)))
        .data(state)
        .finish()
}

fn schema_builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .extension(checks::BeforeRunning { max_depth: MAX_DEPTH })
        .limit_complexity(MAX_COMPLEXITY)
        .extension(errors::ErrorCodes)
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

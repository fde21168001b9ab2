//! The GraphQL API. This folder is the only place that knows async-graphql:
//! resolvers here are thin callers of the domain modules.
//!
//! Per-request data: [`context::Auth`] (who is asking) and
//! [`context::ClientAddress`]. Schema-wide data: the [`AppState`] and the
//! data loaders.
use async_graphql::{MergedObject, MergedSubscription, Schema, connection::Connection, dataloader::DataLoader};

use crate::app::AppState;

mod accounts;
mod answers;
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

/// What can be read. Most fields need a signed-in person (`Authorization:
/// Bearer <accessToken>`); `me` answers null without one.
#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountsQuery,
    spotify::SpotifyQuery,
    shares::SharesQuery,
    deliveries::DeliveriesQuery,
);

/// What can be changed. All but `signUp`, `logIn`, `refreshSession` and
/// `logOut` need a signed-in person.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountsMutation,
    friends::FriendsMutation,
    devices::DevicesMutation,
    spotify::SpotifyMutation,
    shares::SharesMutation,
    answers::AnswersMutation,
);

/// Live events for the signed-in person, over a WebSocket
/// (`graphql-transport-ws`, or the older `graphql-ws`) at `/graphql`. They
/// end when the session does.
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
        // The library's connection type has no description of its own.
        .override_output_type_description::<Connection<String, deliveries::Delivery>>(
            "A page of my notifications, newest first: follow `pageInfo.endCursor` with `after` for the next.",
        )
        .override_output_type_description::<Connection<String, shares::Share>>(
            "A page of my shares, newest first: follow `pageInfo.endCursor` with `after` for the next.",
        )
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

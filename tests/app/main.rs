//! Black-box tests: the real app on a random port, driven over HTTP and
//! WebSocket. One file per capability.
mod accounts;
mod devices;
mod friends;
mod graphql_http;
mod helpers;
mod operations;
mod schema;
mod sessions;
mod settings;

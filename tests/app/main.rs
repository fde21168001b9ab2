//! Black-box tests: the real app on a random port, driven over HTTP and
//! WebSocket. One file per capability.
mod accounts;
mod cors;
mod detection;
mod devices;
mod friends;
mod graphiql;
mod graphql_http;
mod helpers;
mod jobs;
mod messenger;
mod notifications;
mod notify_fakes;
mod now_playing;
mod operations;
mod replicas;
mod sandbox;
mod schema;
mod sessions;
mod settings;
mod shares;
mod spotify_fake;
mod spotify_link;
mod spotify_tokens;
mod tracks;
mod websocket;

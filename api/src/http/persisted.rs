//! Automatic persisted queries, as Apollo's clients send them
//! (`createPersistedQueryLink`, Apollo iOS and Kotlin): a request carries
//! `extensions.persistedQuery: {"version": 1, "sha256Hash": "<hex>"}`, first
//! without its `query`. A hash the server knows runs its stored query; one
//! it does not know is answered
//! `{"errors":[{"message":"PersistedQueryNotFound","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}`
//! with status 200 and `Cache-Control: private, no-cache, must-revalidate`,
//! as Apollo Server answers (a CDN must not keep that answer for a GET), and
//! the client sends the query again with its hash, by POST; the server
//! checks the hash against the query (a mismatch is 400, nothing stored)
//! and stores the query for every replica ([`crate::persisted_queries`]).
//!
//! Over GET (`useGETForHashedQueries`) `extensions` is a URL-encoded JSON
//! parameter; a stored mutation sent by hash over GET is still refused
//! (405), as any mutation over GET.
use async_graphql::Request;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse as _, Response},
};
use serde::Deserialize;

use crate::{crypto, persisted_queries::PersistedQueries};

/// The extension's body: only version 1 exists.
#[derive(Deserialize)]
struct PersistedQuery {
    version: i64,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

/// Why a request cannot run as sent.
pub enum Refusal {
    /// The hash is unknown here: the client should send the query with it.
    NotFound,
    /// The extension is malformed, of another version, or its hash is not
    /// the query's (400, `BAD_USER_INPUT`).
    Bad(&'static str),
}

/// The answer Apollo's link expects for [`Refusal::NotFound`], as
/// `content_type`.
pub fn not_found(content_type: &'static str) -> Response {
    let body = r#"{"errors":[{"message":"PersistedQueryNotFound","extensions":{"code":"PERSISTED_QUERY_NOT_FOUND"}}]}"#;
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache, must-revalidate"),
    );
    response
}

/// Puts the stored query into a request that names one by hash, and stores
/// the query of a request that sends both. A request without the extension
/// passes unchanged.
pub async fn resolve(store: &PersistedQueries, mut request: Request) -> Result<Request, Refusal> {
    let Some(extension) = request.extensions.remove("persistedQuery") else {
        return Ok(request);
    };
    let asked: PersistedQuery = async_graphql::from_value(extension).map_err(|_| {
        Refusal::Bad(
            "extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \"<hex SHA-256 of the query>\"}",
        )
    })?;
    if asked.version != 1 {
        return Err(Refusal::Bad("only version 1 of persisted queries is supported"));
    }
    let hash = asked.sha256_hash.to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::Bad(
            "extensions.persistedQuery.sha256Hash must be 64 hex digits (the SHA-256 of the query)",
        ));
    }
    if request.query.is_empty() {
        let found = store.find(&hash).await.unwrap_or_else(|err| {
            // Not knowing is the same as not having: the client sends the query.
            err.log();
            None
        });
        let Some(query) = found else {
            metrics::counter!("graphql_persisted_queries_total", "outcome" => "not_found").increment(1);
            return Err(Refusal::NotFound);
        };
        metrics::counter!("graphql_persisted_queries_total", "outcome" => "hit").increment(1);
        request.query = query.to_string();
        return Ok(request);
    }
    if crypto::sha256_hex(&request.query) != hash {
        return Err(Refusal::Bad(
            "provided sha does not match query: sha256Hash must be the hex SHA-256 of the query text, exactly as sent",
        ));
    }
    // Only documents that parse are worth keeping; the request runs either way.
    if async_graphql::parser::parse_query(&request.query).is_ok() {
        match store.save(&hash, &request.query).await {
            Ok(()) => metrics::counter!("graphql_persisted_queries_total", "outcome" => "stored").increment(1),
            Err(err) => err.log(),
        }
    }
    Ok(request)
}

//! Gives every GraphQL error an `extensions.code` (one of the codes of
//! [`Error`], which the README lists for clients), and counts operations by
//! name and outcome.
//!
//! Resolvers return domain [`Error`]s; async-graphql keeps them as the
//! error's source, and this extension reads it back to set the code (plus
//! `field` for bad input and `retryAfter` for rate limits) and to log
//! internal errors with their chain. Errors async-graphql raises itself
//! (parse, validation, depth and complexity limits) are the client's:
//! `BAD_USER_INPUT`.
use std::{
    collections::HashSet,
    sync::{Arc, Mutex, OnceLock},
};

use async_graphql::{
    Response, ServerError, Value,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextRequest, NextSubscribe},
};
use futures_util::{StreamExt as _, stream::BoxStream};

use crate::error::Error;

pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        tag(&mut response.errors);
        if is_request_error(&response) {
            // Refused before running: no operation to name.
            count("invalid", &response);
        }
        response
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        tag(&mut response.errors);
        count(&operation_label(operation_name), &response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                tag(&mut response.errors);
                response
            })
            .boxed()
    }
}

/// True for a request error: refused before anything ran (parse,
/// validation, limits), so there is no data and no error has a path.
pub fn is_request_error(response: &Response) -> bool {
    response.data == Value::Null && !response.errors.is_empty() && response.errors.iter().all(|e| e.path.is_empty())
}

/// `graphql_operations_total{operation, outcome}`: outcome is `ok` or the
/// code of the first error.
fn count(operation: &str, response: &Response) {
    let outcome = response
        .errors
        .first()
        .and_then(|e| e.extensions.as_ref())
        .and_then(|ext| ext.get("code"))
        .map_or_else(|| "ok".to_owned(), |code| code.to_string().trim_matches('"').to_owned());
    metrics::counter!("graphql_operations_total", "operation" => operation.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Operation names are chosen by clients: keep the label set bounded.
fn operation_label(name: Option<&str>) -> String {
    const MAX_NAMES: usize = 500;
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) else {
        return if name.is_some() {
            "other".into()
        } else {
            "anonymous".into()
        };
    };
    let mut seen = SEEN.get_or_init(Default::default).lock().expect("operation names lock");
    if seen.contains(name) || seen.len() < MAX_NAMES {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".into()
    }
}

fn tag(errors: &mut [ServerError]) {
    for error in errors {
        if error.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some()) {
            continue; // tagged already (by the execute hook)
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        match error.source.as_ref().and_then(|s| s.downcast_ref::<Error>()) {
            Some(domain) => {
                domain.log();
                extensions.set("code", domain.code());
                if let Error::BadUserInput { field: Some(field), .. } = domain {
                    extensions.set("field", *field);
                }
                if let Some(after) = domain.retry_after_secs() {
                    extensions.set("retryAfter", Value::from(after));
                }
            }
            None => extensions.set("code", "BAD_USER_INPUT"),
        }
    }
}

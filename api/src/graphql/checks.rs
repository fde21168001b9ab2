//! What a request must pass before anything runs, checked on the parsed
//! document with its variables: how deep it nests ([`depth`]), the strings
//! it hands in ([`inputs`]) and the lookups on Spotify it would make
//! ([`budget`]). A refusal is a request error: no field runs.
use std::sync::Arc;

use async_graphql::{
    ServerResult, Variables,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::ExecutableDocument,
};

use super::{budget, depth, inputs};

/// The checks, with the depth limit (levels of fields, introspection
/// aside).
pub struct BeforeRunning {
    pub max_depth: usize,
}

impl ExtensionFactory for BeforeRunning {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(BeforeRunningExtension(self.max_depth))
    }
}

struct BeforeRunningExtension(usize);

#[async_graphql::async_trait::async_trait]
impl Extension for BeforeRunningExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        depth::check(&document, self.0)?;
        inputs::check_document(&document, variables)?;
        budget::check(&document, variables)?;
        Ok(document)
    }
}

//! The depth limit, counted as async-graphql counts it (every field is one
//! level) but leaving out introspection (`__schema`, `__type`).
//!
//! The introspection query of graphql-js, which GraphiQL and most tools
//! send, nests 15 fields deep (nine levels of `ofType`), past the limit
//! that suits the data; with async-graphql's own `limit_depth` GraphiQL
//! had no schema and no documentation. Introspection reads only the
//! schema, and the complexity limit still bounds its size.
use std::collections::HashMap;

use async_graphql::{
    ServerError, ServerResult,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// Refuses a document whose operations nest fields deeper than `max`
/// levels.
pub fn check(document: &ExecutableDocument, max: usize) -> ServerResult<()> {
    let mut walk = Walk {
        document,
        fragments: HashMap::new(),
        path: Vec::new(),
    };
    for (_, operation) in document.operations.iter() {
        if walk.depth(&operation.node.selection_set.node) > max {
            return Err(ServerError::new("Query is nested too deep.", Some(operation.pos)));
        }
    }
    Ok(())
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's depth, measured once (a fragment spread many times
    /// over costs no more).
    fragments: HashMap<&'a str, usize>,
    /// The fragments being measured: a cycle stops here (validation
    /// reports it afterwards).
    path: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn depth(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for selection in &set.items {
            let depth = match &selection.node {
                Selection::Field(field) => match field.node.name.node.as_str() {
                    "__schema" | "__type" => 0,
                    _ => 1 + self.depth(&field.node.selection_set.node),
                },
                Selection::InlineFragment(fragment) => self.depth(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(spread.node.fragment_name.node.as_str()),
            };
            deepest = deepest.max(depth);
        }
        deepest
    }

    fn fragment(&mut self, name: &'a str) -> usize {
        if let Some(depth) = self.fragments.get(name) {
            return *depth;
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return 0;
        };
        if self.path.contains(&name) {
            return 0;
        }
        self.path.push(name);
        let depth = self.depth(&fragment.node.selection_set.node);
        self.path.pop();
        self.fragments.insert(name, depth);
        depth
    }
}

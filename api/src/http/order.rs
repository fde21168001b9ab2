//! Response fields in the order the selection set names them, as the
//! GraphQL specification asks (Response Format: "ordered by the order in
//! which they appear in the query").
//!
//! async-graphql (7.2) resolves a query's fields concurrently and stores
//! each as it finishes, so `{ me { … } zeta: __typename }` comes back with
//! `zeta` first (upstream issue async-graphql#612). Every response, over
//! HTTP and WebSocket alike, passes through [`SelectionOrder::apply`] on its
//! way out, which puts each object's keys back in selection order.
//!
//! Fragments count where they are spread. Their type conditions are not
//! consulted: the schema has no interfaces or unions, so every fragment
//! that reaches an object applies to it.
use std::collections::HashSet;

use async_graphql::{
    Name, Value,
    indexmap::IndexMap,
    parser::types::{DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet},
};

/// The operation a request runs, parsed once, to order its results.
pub struct SelectionOrder {
    document: ExecutableDocument,
    operation: Option<String>,
}

impl SelectionOrder {
    /// `None` when the query does not parse (then there is no data to order).
    pub fn of(request: &async_graphql::Request) -> Option<Self> {
        let document = async_graphql::parser::parse_query(&request.query).ok()?;
        Some(Self {
            document,
            operation: request.operation_name.clone(),
        })
    }

    /// Whether the operation the request runs is a subscription (`false`
    /// for queries, mutations and an operation name the document lacks).
    pub fn is_subscription(&self) -> bool {
        self.operation()
            .is_some_and(|operation| operation.node.ty == OperationType::Subscription)
    }

    fn operation(&self) -> Option<&async_graphql::Positioned<async_graphql::parser::types::OperationDefinition>> {
        match (&self.document.operations, self.operation.as_deref()) {
            (DocumentOperations::Single(operation), _) => Some(operation),
            (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
            (DocumentOperations::Multiple(operations), None) => operations.values().next(),
        }
    }

    /// Reorders `data` (a response's `data`) in place.
    pub fn apply(&self, data: &mut Value) {
        if let Some(operation) = self.operation() {
            self.reorder(&[&operation.node.selection_set.node], data);
        }
    }

    fn reorder(&self, sets: &[&SelectionSet], value: &mut Value) {
        match value {
            Value::List(items) => {
                for item in items {
                    self.reorder(sets, item);
                }
            }
            Value::Object(object) => {
                let mut fields = IndexMap::new();
                let mut spread = HashSet::new();
                for set in sets {
                    self.collect(set, &mut fields, &mut spread);
                }
                let mut rest = std::mem::take(object);
                for (key, subsets) in fields {
                    if let Some((key, mut value)) = rest.shift_remove_entry(&key) {
                        self.reorder(&subsets, &mut value);
                        object.insert(key, value);
                    }
                }
                // Nothing is dropped, should anything be left.
                object.extend(rest);
            }
            _ => {}
        }
    }

    /// The response keys `set` selects, in order, each with the selection
    /// sets of its sub-fields (a key selected twice merges them).
    fn collect<'a>(
        &'a self,
        set: &'a SelectionSet,
        fields: &mut IndexMap<Name, Vec<&'a SelectionSet>>,
        spread: &mut HashSet<&'a str>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => fields
                    .entry(field.node.response_key().node.clone())
                    .or_default()
                    .push(&field.node.selection_set.node),
                Selection::InlineFragment(fragment) => self.collect(&fragment.node.selection_set.node, fields, spread),
                Selection::FragmentSpread(fragment) => {
                    let name = fragment.node.fragment_name.node.as_str();
                    if let Some(definition) = self.document.fragments.get(name)
                        && spread.insert(name)
                    {
                        self.collect(&definition.node.selection_set.node, fields, spread);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let order = SelectionOrder::of(&async_graphql::Request::new(query)).unwrap();
        let mut data = Value::from_json(data).unwrap();
        order.apply(&mut data);
        data.into_json().unwrap().to_string()
    }

    #[test]
    fn keys_follow_the_selection_through_lists_aliases_and_fragments() {
        let query = "{ b: me { ...F c } a { x { z y } } } fragment F on User { e d }";
        let data = serde_json::json!({ "a": [{ "x": { "y": 1, "z": 2 } }], "b": { "c": 3, "d": 4, "e": 5 } });
        assert_eq!(
            ordered(query, data),
            r#"{"b":{"e":5,"d":4,"c":3},"a":[{"x":{"z":2,"y":1}}]}"#
        );
    }

    #[test]
    fn missing_and_unknown_keys_are_left_alone() {
        let data = serde_json::json!({ "other": 1, "b": 2 });
        assert_eq!(ordered("{ a b }", data), r#"{"b":2,"other":1}"#);
    }
}

#[cfg(test)]
mod async_graphql_order {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::SelectionOrder;

    struct Query;

    #[Object]
    impl Query {
        async fn slow(&self) -> i32 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            1
        }
        async fn fast(&self) -> i32 {
            2
        }
    }

    #[tokio::test]
    async fn concurrent_fields_finish_out_of_order_and_are_put_back() {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let request = async_graphql::Request::new("{ slow fast }");
        let order = SelectionOrder::of(&request).unwrap();
        let mut response = schema.execute(request).await;
        // What async-graphql answers: `fast` is ready first. (When this
        // fails, async-graphql keeps the order itself and this module can go.)
        assert_eq!(serde_json::to_string(&response.data).unwrap(), r#"{"fast":2,"slow":1}"#);
        order.apply(&mut response.data);
        assert_eq!(serde_json::to_string(&response.data).unwrap(), r#"{"slow":1,"fast":2}"#);
    }
}

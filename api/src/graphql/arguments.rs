//! A parsed document's fields with their arguments, variables filled in:
//! what the checks that run before anything executes look at (the input
//! guard, [`super::inputs`], and the upstream budget, [`super::budget`]).
use std::collections::{BTreeMap, HashSet};

use async_graphql::{
    Name, Value, Variables,
    parser::types::{ExecutableDocument, Field, OperationType, Selection, SelectionSet},
};

/// A field as asked for: its name and its arguments' values.
pub struct Call<'a> {
    pub field: &'a str,
    pub arguments: Vec<(&'a str, Value)>,
}

/// The values of the variables: those sent, else each definition's default.
struct Filled(BTreeMap<Name, Value>);

impl Filled {
    fn of(document: &ExecutableDocument, variables: &Variables) -> Self {
        let mut values: BTreeMap<Name, Value> = variables.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (_, operation) in document.operations.iter() {
            for definition in &operation.node.variable_definitions {
                let definition = &definition.node;
                if let Some(default) = &definition.default_value {
                    values
                        .entry(definition.name.node.clone())
                        .or_insert_with(|| default.node.clone());
                }
            }
        }
        Self(values)
    }

    fn call<'a>(&self, field: &'a Field) -> Call<'a> {
        Call {
            field: field.name.node.as_str(),
            arguments: field
                .arguments
                .iter()
                .map(|(name, value)| (name.node.as_str(), self.value(&value.node)))
                .collect(),
        }
    }

    fn value(&self, value: &async_graphql_value::Value) -> Value {
        value
            .clone()
            .into_const_with(|name| {
                Ok::<_, std::convert::Infallible>(self.0.get(&name).cloned().unwrap_or(Value::Null))
            })
            .unwrap_or(Value::Null)
    }
}

/// Every field in the document (operations and fragments), with its
/// arguments, and every directive's arguments (named `@directive`).
pub fn every_field<'a>(document: &'a ExecutableDocument, variables: &Variables) -> Vec<Call<'a>> {
    let filled = Filled::of(document, variables);
    let mut calls = Vec::new();
    let mut sets: Vec<&'a SelectionSet> = document
        .operations
        .iter()
        .map(|(_, operation)| &operation.node.selection_set.node)
        .chain(document.fragments.values().map(|f| &f.node.selection_set.node))
        .collect();
    while let Some(set) = sets.pop() {
        for selection in &set.items {
            let (directives, inner) = match &selection.node {
                Selection::Field(field) => {
                    calls.push(filled.call(&field.node));
                    (&field.node.directives, Some(&field.node.selection_set.node))
                }
                Selection::InlineFragment(fragment) => {
                    (&fragment.node.directives, Some(&fragment.node.selection_set.node))
                }
                Selection::FragmentSpread(spread) => (&spread.node.directives, None),
            };
            for directive in directives {
                calls.push(Call {
                    field: "@directive",
                    arguments: directive
                        .node
                        .arguments
                        .iter()
                        .map(|(name, value)| (name.node.as_str(), filled.value(&value.node)))
                        .collect(),
                });
            }
            sets.extend(inner);
        }
    }
    calls
}

/// The root fields of each operation in the document (through fragments
/// spread at the root), with their arguments, and the operation's type.
pub fn root_fields<'a>(document: &'a ExecutableDocument, variables: &Variables) -> Vec<(OperationType, Vec<Call<'a>>)> {
    let filled = Filled::of(document, variables);
    document
        .operations
        .iter()
        .map(|(_, operation)| {
            let mut calls = Vec::new();
            let mut seen = HashSet::new();
            let mut sets = vec![&operation.node.selection_set.node];
            while let Some(set) = sets.pop() {
                for selection in &set.items {
                    match &selection.node {
                        Selection::Field(field) => calls.push(filled.call(&field.node)),
                        Selection::InlineFragment(fragment) => sets.push(&fragment.node.selection_set.node),
                        Selection::FragmentSpread(spread) => {
                            let name = spread.node.fragment_name.node.as_str();
                            // A fragment spread twice at the root selects the same fields.
                            if seen.insert(name)
                                && let Some(fragment) = document.fragments.get(name)
                            {
                                sets.push(&fragment.node.selection_set.node);
                            }
                        }
                    }
                }
            }
            (operation.node.ty, calls)
        })
        .collect()
}

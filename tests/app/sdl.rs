//! `schema.graphql` read as data, for tests that must cover every
//! operation or argument: a new one is covered without a new test.
use std::collections::BTreeMap;

use async_graphql_parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

/// An argument or input field: its name and type.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub ty: Type,
}

/// A field of a root type with its arguments, and whether what it answers
/// needs a selection set (an object) or not (a scalar or an enum).
#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub args: Vec<Input>,
    pub returns_object: bool,
}

/// The committed schema.
pub struct Sdl {
    roots: BTreeMap<String, Vec<Operation>>,
    inputs: BTreeMap<String, Vec<Input>>,
    enums: BTreeMap<String, Vec<String>>,
    objects: Vec<String>,
}

impl Sdl {
    pub fn committed() -> Self {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
            .expect("schema.graphql at the repository root");
        let document = async_graphql_parser::parse_schema(&text).expect("schema.graphql parses");
        let mut sdl = Self {
            roots: BTreeMap::new(),
            inputs: BTreeMap::new(),
            enums: BTreeMap::new(),
            objects: Vec::new(),
        };
        let mut fields = BTreeMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let name = ty.name.node.to_string();
            match ty.kind {
                TypeKind::Object(object) => {
                    sdl.objects.push(name.clone());
                    fields.insert(name, object.fields);
                }
                TypeKind::Interface(_) | TypeKind::Union(_) => sdl.objects.push(name),
                TypeKind::InputObject(input) => {
                    let list = input
                        .fields
                        .into_iter()
                        .map(|f| Input {
                            name: f.node.name.node.to_string(),
                            ty: f.node.ty.node,
                        })
                        .collect();
                    sdl.inputs.insert(name, list);
                }
                TypeKind::Enum(values) => {
                    let list = values
                        .values
                        .into_iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect();
                    sdl.enums.insert(name, list);
                }
                TypeKind::Scalar => {}
            }
        }
        for root in ["Query", "Mutation", "Subscription"] {
            let operations = fields
                .get(root)
                .map(|list| {
                    list.iter()
                        .map(|f| Operation {
                            name: f.node.name.node.to_string(),
                            args: f
                                .node
                                .arguments
                                .iter()
                                .map(|a| Input {
                                    name: a.node.name.node.to_string(),
                                    ty: a.node.ty.node.clone(),
                                })
                                .collect(),
                            returns_object: sdl.objects.contains(&named(&f.node.ty.node).to_owned()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            sdl.roots.insert(root.to_owned(), operations);
        }
        sdl
    }

    /// The fields of `Query`, `Mutation` or `Subscription`.
    pub fn operations(&self, root: &str) -> &[Operation] {
        self.roots.get(root).map_or(&[], Vec::as_slice)
    }

    /// The fields of an input object type, if `name` is one.
    pub fn input(&self, name: &str) -> Option<&[Input]> {
        self.inputs.get(name).map(Vec::as_slice)
    }

    /// The values of an enum type, if `name` is one.
    pub fn enum_values(&self, name: &str) -> Option<&[String]> {
        self.enums.get(name).map(Vec::as_slice)
    }
}

/// The named type under any list or non-null wrapping.
pub fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

//! Responses shaped as the GraphQL specification says, whatever
//! async-graphql (7.2) leaves: fields in selection-set order, and a field
//! that failed as `null` in its place.
//!
//! - Order (Response Format: "ordered by the order in which they appear in
//!   the query"): async-graphql resolves a query's fields concurrently and
//!   stores each as it finishes, so `{ me { … } zeta: __typename }` comes
//!   back with `zeta` first (upstream issue async-graphql#612).
//! - Field errors (§6.4.4 Handling Field Errors: "handled as though the
//!   field returned null"): async-graphql records a failed field's error,
//!   with its `path`, and leaves the field out of `data` whatever its type;
//!   an object whose every field failed becomes `null`. Here a failed field
//!   is `null` in its place; when its type is non-null the `null` goes up to
//!   its parent, and on, up to the nearest field that may be null, or to
//!   `data` itself. The errors stay as they are (one per failure, with
//!   `path` and `extensions.code`); none is added.
//!
//! Every response, over HTTP (POST, GET, persisted queries) and WebSocket
//! alike, passes through [`ResponseShape::apply`] on its way out. The field
//! types come from the schema's own SDL, read once ([`FieldTypes`]).
//!
//! Fragments count where they are spread. Their type conditions are not
//! consulted: the schema has no interfaces or unions, so every fragment
//! that reaches an object applies to it. A field missing with no error at
//! or under its path was left out by `@skip` or `@include`, and stays out.
//! A list is answered whole or not at all by async-graphql: one item that
//! failed makes the list's field fail, so the list is `null` as a whole.
use std::{
    collections::{HashMap, HashSet},
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use async_graphql::{
    Name, PathSegment, Positioned, Response, Value,
    indexmap::IndexMap,
    parser::types::{
        BaseType, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
        SelectionSet, Type, TypeKind, TypeSystemDefinition,
    },
};
use lru::LruCache;

/// The schema's output types as [`ResponseShape`] needs them: each
/// field's type by its object's name and its own, and the roots' names.
pub struct FieldTypes {
    fields: HashMap<String, HashMap<String, Type>>,
    /// The root types by operation: query, mutation, subscription.
    roots: [String; 3],
}

impl FieldTypes {
    /// Reads the types from the schema's SDL (`Schema::sdl`).
    ///
    /// # Panics
    /// When `sdl` does not parse: async-graphql printed it from the schema,
    /// so that is a bug any start-up shows at once.
    pub fn from_sdl(sdl: &str) -> Self {
        let document = async_graphql::parser::parse_schema(sdl).expect("the schema's own SDL parses");
        let mut types = Self {
            fields: HashMap::new(),
            roots: ["Query".into(), "Mutation".into(), "Subscription".into()],
        };
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    for (root, name) in types
                        .roots
                        .iter_mut()
                        .zip([schema.query, schema.mutation, schema.subscription])
                    {
                        if let Some(name) = name {
                            *root = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(definition) => {
                    let definition = definition.node;
                    let fields = match definition.kind {
                        TypeKind::Object(object) => object.fields,
                        TypeKind::Interface(interface) => interface.fields,
                        _ => continue,
                    };
                    let fields = fields
                        .into_iter()
                        .map(|field| (field.node.name.node.to_string(), field.node.ty.node))
                        .collect();
                    types.fields.insert(definition.name.node.to_string(), fields);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        types
    }

    /// The type of `field` on the object type `parent`; `None` for what the
    /// SDL does not list (introspection's `__schema`, `__type`).
    fn of(&self, parent: &str, field: &str) -> Option<&Type> {
        self.fields.get(parent)?.get(field)
    }

    fn root(&self, operation: OperationType) -> &str {
        match operation {
            OperationType::Query => &self.roots[0],
            OperationType::Mutation => &self.roots[1],
            OperationType::Subscription => &self.roots[2],
        }
    }
}

/// The shapes of the operations clients send: the field types, and the
/// documents parsed lately, shared by every request and socket that sends
/// the same text (ten thousand sockets subscribed with one query hold one
/// parsed copy of it, not one each).
pub struct Shapes {
    types: Arc<FieldTypes>,
    documents: Mutex<LruCache<String, Arc<ExecutableDocument>>>,
}

impl Shapes {
    /// How many distinct documents are kept; the least recently used goes.
    const DOCUMENTS: usize = 512;

    pub fn new(types: FieldTypes) -> Self {
        Self {
            types: Arc::new(types),
            documents: Mutex::new(LruCache::new(NonZeroUsize::new(Self::DOCUMENTS).expect("not zero"))),
        }
    }

    /// The shape of the operation `request` runs; `None` when its query does
    /// not parse (then there is no data to shape).
    pub fn of(&self, request: &async_graphql::Request) -> Option<ResponseShape> {
        let known = self
            .documents
            .lock()
            .expect("documents lock")
            .get(request.query.as_str())
            .cloned();
        let document = match known {
            Some(document) => document,
            None => {
                let document = Arc::new(async_graphql::parser::parse_query(&request.query).ok()?);
                self.documents
                    .lock()
                    .expect("documents lock")
                    .put(request.query.clone(), document.clone());
                document
            }
        };
        Some(ResponseShape {
            document,
            operation: request.operation_name.clone(),
            types: self.types.clone(),
        })
    }
}

/// The operation a request runs, parsed, to shape its responses.
pub struct ResponseShape {
    document: Arc<ExecutableDocument>,
    operation: Option<String>,
    types: Arc<FieldTypes>,
}

impl ResponseShape {
    /// Whether the operation the request runs is a subscription (`false`
    /// for queries, mutations and an operation name the document lacks).
    pub fn is_subscription(&self) -> bool {
        self.operation()
            .is_some_and(|operation| operation.node.ty == OperationType::Subscription)
    }

    fn operation(&self) -> Option<&Positioned<OperationDefinition>> {
        match (&self.document.operations, self.operation.as_deref()) {
            (DocumentOperations::Single(operation), _) => Some(operation),
            (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
            (DocumentOperations::Multiple(operations), None) => operations.values().next(),
        }
    }

    /// Shapes `response` in place: its `data` in selection order, each
    /// failed field `null` (and its non-null ancestors, up to a nullable one).
    pub fn apply(&self, response: &mut Response) {
        let Some(operation) = self.operation() else {
            return;
        };
        if response.errors.is_empty() && in_order(&operation.node.selection_set.node, &response.data) {
            // Nothing failed and nothing is out of place: the common case,
            // checked without allocating (every event a subscription sends).
            return;
        }
        let walk = Walk {
            shape: self,
            failed: response
                .errors
                .iter()
                .map(|error| error.path.as_slice())
                .filter(|path| !path.is_empty())
                .collect(),
        };
        // `data` may be null: a non-null root field that failed takes it.
        let root = Type {
            base: BaseType::Named(Name::new(self.types.root(operation.node.ty))),
            nullable: true,
        };
        walk.value(
            &[&operation.node.selection_set.node],
            Some(&root),
            &mut response.data,
            &mut Vec::new(),
        );
    }

    /// The response keys `set` selects, in order, each with its field's
    /// name and the selection sets of its sub-fields (a key selected twice
    /// merges them).
    fn collect<'a>(
        &'a self,
        set: &'a SelectionSet,
        fields: &mut IndexMap<&'a Name, Selected<'a>>,
        spread: &mut HashSet<&'a str>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => fields
                    .entry(&field.node.response_key().node)
                    .or_insert_with(|| (&field.node.name.node, Vec::new()))
                    .1
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

/// A selected field: its name, and the selection sets of its sub-fields.
type Selected<'a> = (&'a Name, Vec<&'a SelectionSet>);

/// One step of a path in `data`, borrowed from the document.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl Step<'_> {
    fn is(self, segment: &PathSegment) -> bool {
        match (self, segment) {
            (Self::Key(key), PathSegment::Field(field)) => key == field,
            (Self::Index(index), PathSegment::Index(at)) => index == *at,
            _ => false,
        }
    }
}

/// The field a selection is, `None` for a fragment.
fn field(selection: &Positioned<Selection>) -> Option<&Field> {
    match &selection.node {
        Selection::Field(field) => Some(&field.node),
        Selection::FragmentSpread(_) | Selection::InlineFragment(_) => None,
    }
}

/// Whether `value`, answering `set`, already has its keys in selection
/// order at every level, as far as a quick look can tell: `false` also
/// when `set` has fragments or selects a key twice (their keys merge), for
/// [`Walk`] to settle.
fn in_order(set: &SelectionSet, value: &Value) -> bool {
    match value {
        Value::List(items) => items.iter().all(|item| in_order(set, item)),
        Value::Object(object) => {
            if !set.items.iter().all(|selection| field(selection).is_some()) {
                return false;
            }
            let mut rest = set.items.iter().filter_map(field);
            object.iter().all(|(key, value)| {
                // Fields passed over were left out by `@skip` or `@include`.
                rest.find(|field| field.response_key().node == *key)
                    .is_some_and(|found| {
                        let selected = set.items.iter().filter_map(field);
                        selected.filter(|field| field.response_key().node == *key).count() == 1
                            && in_order(&found.selection_set.node, value)
                    })
            })
        }
        _ => true,
    }
}

/// One response's walk.
struct Walk<'a> {
    shape: &'a ResponseShape,
    /// The errors' paths (field errors have one).
    failed: Vec<&'a [PathSegment]>,
}

impl<'a> Walk<'a> {
    /// Whether an error's path is `path`, or lies under it (`strictly`: only under).
    fn failed(&self, path: &[Step<'a>], strictly: bool) -> bool {
        self.failed.iter().any(|failed| {
            failed.len() >= path.len() + usize::from(strictly)
                && path.iter().zip(failed.iter()).all(|(step, segment)| step.is(segment))
        })
    }

    /// Shapes `value`, the answer to a field of type `ty` (`None`: one the
    /// SDL does not list) selecting `sets`, at `path`. `false` when it is
    /// null where its type forbids it because something failed: then its
    /// parent is null in turn.
    fn value(&self, sets: &[&'a SelectionSet], ty: Option<&Type>, value: &mut Value, path: &mut Vec<Step<'a>>) -> bool {
        let item_type = match ty.map(|ty| &ty.base) {
            Some(BaseType::List(item)) => Some(&**item),
            _ => None,
        };
        let type_name = match ty.map(|ty| &ty.base) {
            Some(BaseType::Named(name)) => Some(name.as_str()),
            _ => None,
        };
        let null = match value {
            Value::List(items) => {
                let mut whole = true;
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(Step::Index(index));
                    whole = self.value(sets, item_type, item, path);
                    path.pop();
                    if !whole {
                        break;
                    }
                }
                !whole
            }
            Value::Object(object) => !self.object(sets, type_name, object, path),
            // async-graphql answers null for an object whose every field failed.
            Value::Null if type_name.is_some() && self.failed(path, true) => {
                let mut object = IndexMap::new();
                let whole = self.object(sets, type_name, &mut object, path);
                *value = Value::Object(object);
                !whole
            }
            _ => false,
        };
        if null {
            *value = Value::Null;
        }
        !(value == &Value::Null && ty.is_some_and(|ty| !ty.nullable) && self.failed(path, false))
    }

    /// Puts `object`'s keys in selection order, each failed field `null`;
    /// `false` when a field that may not be null failed (the object is null then).
    fn object(
        &self,
        sets: &[&'a SelectionSet],
        type_name: Option<&str>,
        object: &mut IndexMap<Name, Value>,
        path: &mut Vec<Step<'a>>,
    ) -> bool {
        let mut fields = IndexMap::new();
        let mut spread = HashSet::new();
        for set in sets {
            self.shape.collect(set, &mut fields, &mut spread);
        }
        let mut rest = std::mem::take(object);
        for (key, (name, subsets)) in fields {
            let ty = type_name.and_then(|parent| self.shape.types.of(parent, name));
            path.push(Step::Key(key.as_str()));
            let whole = match rest.shift_remove_entry(key) {
                Some((key, mut value)) => {
                    let whole = self.value(&subsets, ty, &mut value, path);
                    object.insert(key, value);
                    whole
                }
                None if self.failed(path, false) => {
                    object.insert(key.clone(), Value::Null);
                    ty.is_none_or(|ty| ty.nullable)
                }
                // Left out by `@skip` or `@include`.
                None => true,
            };
            path.pop();
            if !whole {
                return false;
            }
        }
        // Nothing is dropped, should anything be left.
        object.extend(rest);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let shapes = Shapes::new(FieldTypes::from_sdl("type Query { unrelated: Int }"));
        let shape = shapes.of(&async_graphql::Request::new(query)).unwrap();
        let mut response = Response::new(Value::from_json(data).unwrap());
        shape.apply(&mut response);
        response.data.into_json().unwrap().to_string()
    }

    #[test]
    fn the_quick_look_passes_only_what_needs_no_walk() {
        let looks = |query: &str, data: serde_json::Value| {
            let document = async_graphql::parser::parse_query(query).unwrap();
            let DocumentOperations::Single(operation) = &document.operations else {
                unreachable!()
            };
            in_order(&operation.node.selection_set.node, &Value::from_json(data).unwrap())
        };
        let data = || serde_json::json!({ "a": { "x": 1, "y": [{ "p": 1, "q": 2 }] }, "b": 2 });
        assert!(looks("{ a { x y { p q } } b }", data()));
        assert!(looks("{ a { x y { p q } } skipped b }", data()), "a key left out");
        assert!(!looks("{ b a { x y { p q } } }", data()), "out of order at the top");
        assert!(!looks("{ a { x y { q p } } b }", data()), "out of order inside a list");
        assert!(
            !looks("{ a { x y { p q } } b a { x } }", data()),
            "a key selected twice"
        );
        assert!(!looks("{ a { ... on T { x } y { p q } } b }", data()), "a fragment");
        assert!(!looks("{ a { x } b }", data()), "a key nobody selected");
    }

    #[test]
    fn one_text_is_parsed_once_and_shared() {
        let shapes = Shapes::new(FieldTypes::from_sdl("type Query { unrelated: Int }"));
        let query = "{ a: unrelated b: unrelated }";
        let first = shapes.of(&async_graphql::Request::new(query)).unwrap();
        let second = shapes
            .of(&async_graphql::Request::new(query).operation_name("B"))
            .unwrap();
        assert!(Arc::ptr_eq(&first.document, &second.document));
        assert_eq!(second.operation.as_deref(), Some("B"));
        assert!(shapes.of(&async_graphql::Request::new("{ a: ")).is_none());
        assert_eq!(
            shapes.documents.lock().unwrap().len(),
            1,
            "a text that does not parse is kept"
        );
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

/// What async-graphql answers, and what the shape makes of it.
#[cfg(test)]
mod async_graphql_responses {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::{FieldTypes, Shapes};

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
        async fn maybe(&self) -> async_graphql::Result<Option<i32>> {
            Err("maybe failed".into())
        }
        async fn sure(&self) -> async_graphql::Result<i32> {
            Err("sure failed".into())
        }
        async fn inner(&self) -> Option<Inner> {
            Some(Inner)
        }
        async fn inners(&self) -> Option<Vec<Inner>> {
            Some(vec![Inner, Inner])
        }
    }

    struct Inner;

    #[Object]
    impl Inner {
        async fn ok(&self) -> i32 {
            1
        }
        async fn must(&self) -> async_graphql::Result<i32> {
            Err("must failed".into())
        }
    }

    /// async-graphql's answer to `query` as JSON, then the shaped one, and
    /// the errors' paths (which the shape leaves as they are).
    async fn answers(query: &str) -> (String, String, Vec<String>) {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let shapes = Shapes::new(FieldTypes::from_sdl(&schema.sdl()));
        let request = async_graphql::Request::new(query);
        let shape = shapes.of(&request).unwrap();
        let mut response = schema.execute(request).await;
        let raw = serde_json::to_string(&response.data).unwrap();
        shape.apply(&mut response);
        let paths = response
            .errors
            .iter()
            .map(|e| serde_json::to_string(&e.path).unwrap())
            .collect();
        (raw, serde_json::to_string(&response.data).unwrap(), paths)
    }

    #[tokio::test]
    async fn concurrent_fields_finish_out_of_order_and_are_put_back() {
        let (raw, shaped, _) = answers("{ slow fast }").await;
        // What async-graphql answers: `fast` is ready first. (When this
        // fails, async-graphql keeps the order itself and that part can go.)
        assert_eq!(raw, r#"{"fast":2,"slow":1}"#);
        assert_eq!(shaped, r#"{"slow":1,"fast":2}"#);
    }

    #[tokio::test]
    async fn a_failed_nullable_field_is_null_in_its_place() {
        let (raw, shaped, paths) = answers("{ slow maybe fast }").await;
        // async-graphql leaves it out. (When this fails, it no longer does.)
        assert_eq!(raw, r#"{"fast":2,"slow":1}"#);
        assert_eq!(shaped, r#"{"slow":1,"maybe":null,"fast":2}"#);
        assert_eq!(paths, [r#"["maybe"]"#]);
        // Alone, async-graphql answers `data: null`.
        assert_eq!(answers("{ maybe }").await.1, r#"{"maybe":null}"#);
    }

    #[tokio::test]
    async fn a_failed_non_null_field_makes_its_nearest_nullable_ancestor_null() {
        let (raw, shaped, paths) = answers("{ fast inner { ok must } }").await;
        assert_eq!(raw, r#"{"fast":2,"inner":{"ok":1}}"#);
        assert_eq!(shaped, r#"{"fast":2,"inner":null}"#);
        assert_eq!(paths, [r#"["inner","must"]"#]);
        // Every field of `inner` failed: async-graphql says null already.
        assert_eq!(answers("{ inner { must } }").await.1, r#"{"inner":null}"#);
        // Through a list of non-null items, to the nullable list.
        let (_, shaped, paths) = answers("{ fast inners { ok must } }").await;
        assert_eq!(shaped, r#"{"fast":2,"inners":null}"#);
        assert_eq!(paths.len(), 2, "one error per failure: {paths:?}");
        // A non-null root field: `data` itself.
        assert_eq!(answers("{ fast sure }").await.1, "null");
    }

    #[tokio::test]
    async fn skipped_fields_stay_out() {
        let (_, shaped, paths) = answers("{ fast inner { ok must @skip(if: true) } maybe @include(if: false) }").await;
        assert_eq!(shaped, r#"{"fast":2,"inner":{"ok":1}}"#);
        assert!(paths.is_empty());
    }
}

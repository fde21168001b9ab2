//! Strings at the edge, generated from `schema.graphql`: every string (or
//! ID) argument of every query, mutation and subscription, and every string
//! field of every input object they take, is sent with NUL, with another
//! control character and too long. Each is refused with `BAD_USER_INPUT`
//! naming the field, on SQLite and PostgreSQL alike; text with a line break
//! is never an internal error. A new argument is covered without a new test.
use async_graphql_parser::types::{BaseType, Type};
use serde_json::{Map, Value, json};

use crate::{
    helpers::{TestApp, error_code, spawn_app},
    sdl::{Input, Operation, Sdl, named},
};

/// Where a string goes: the argument, and the input fields down to it.
#[derive(Debug, Clone)]
struct Slot {
    arg: String,
    /// Input object fields from the argument down to the string; empty
    /// when the argument is the string.
    fields: Vec<String>,
}

impl Slot {
    /// The name the error must give: the innermost field.
    fn field(&self) -> &str {
        self.fields.last().unwrap_or(&self.arg)
    }
}

fn is_string(ty: &Type) -> bool {
    matches!(named(ty), "String" | "ID")
}

/// Every string slot of `operation`.
fn slots(sdl: &Sdl, operation: &Operation) -> Vec<Slot> {
    let mut found = Vec::new();
    for arg in &operation.args {
        if is_string(&arg.ty) {
            found.push(Slot {
                arg: arg.name.clone(),
                fields: vec![],
            });
        }
        inside(sdl, named(&arg.ty), &mut vec![], &mut |fields| {
            found.push(Slot {
                arg: arg.name.clone(),
                fields,
            });
        });
    }
    found
}

/// Calls `found` with the path to each string field inside input type `ty`.
fn inside(sdl: &Sdl, ty: &str, path: &mut Vec<String>, found: &mut dyn FnMut(Vec<String>)) {
    let Some(fields) = sdl.input(ty) else { return };
    if path.len() > 4 {
        return; // a recursive input type: deep enough
    }
    for field in fields {
        path.push(field.name.clone());
        if is_string(&field.ty) {
            found(path.clone());
        }
        inside(sdl, named(&field.ty), path, found);
        path.pop();
    }
}

/// A value a request of type `ty` accepts.
fn placeholder(sdl: &Sdl, ty: &Type) -> Value {
    match &ty.base {
        BaseType::List(inner) => json!([placeholder(sdl, inner)]),
        BaseType::Named(name) => match name.as_str() {
            "String" | "ID" => json!("x"),
            "Int" => json!(1),
            "Float" => json!(1.5),
            "Boolean" => json!(true),
            other => {
                if let Some(values) = sdl.enum_values(other) {
                    json!(values[0])
                } else if let Some(fields) = sdl.input(other) {
                    let object: Map<String, Value> = fields
                        .iter()
                        .filter(|f| !f.ty.nullable)
                        .map(|f| (f.name.clone(), placeholder(sdl, &f.ty)))
                        .collect();
                    Value::Object(object)
                } else {
                    json!("2026-11-30T00:00:00Z") // a custom scalar: DateTime
                }
            }
        },
    }
}

/// `placeholder` for `ty` with `bad` put at `fields`.
fn with_bad(sdl: &Sdl, ty: &Type, fields: &[String], bad: &str) -> Value {
    let Some((first, rest)) = fields.split_first() else {
        return match &ty.base {
            BaseType::List(_) => json!([bad]),
            BaseType::Named(_) => json!(bad),
        };
    };
    let mut object = placeholder(sdl, ty);
    if let BaseType::List(_) = ty.base {
        object = object[0].clone();
    }
    let field: &Input = sdl
        .input(named(ty))
        .and_then(|list| list.iter().find(|f| &f.name == first))
        .expect("the path names input fields");
    object[first.as_str()] = with_bad(sdl, &field.ty, rest, bad);
    if let BaseType::List(_) = ty.base {
        json!([object])
    } else {
        object
    }
}

/// The operation text and variables that put `bad` in `slot`.
fn request(sdl: &Sdl, root: &str, operation: &Operation, slot: &Slot, bad: &str) -> (String, Value) {
    let mut definitions = Vec::new();
    let mut arguments = Vec::new();
    let mut variables = Map::new();
    for arg in &operation.args {
        let value = if arg.name == slot.arg {
            with_bad(sdl, &arg.ty, &slot.fields, bad)
        } else if !arg.ty.nullable {
            placeholder(sdl, &arg.ty)
        } else {
            continue;
        };
        definitions.push(format!("${}: {}", arg.name, arg.ty));
        arguments.push(format!("{0}: ${0}", arg.name));
        variables.insert(arg.name.clone(), value);
    }
    let keyword = root.to_lowercase();
    let selection = if operation.returns_object {
        " { __typename }"
    } else {
        ""
    };
    let query = format!(
        "{keyword}({}) {{ {}({}){selection} }}",
        definitions.join(", "),
        operation.name,
        arguments.join(", ")
    );
    (query, Value::Object(variables))
}

/// The errors a request came to, over HTTP or (subscriptions) WebSocket.
async fn send(app: &TestApp, root: &str, query: &str, variables: Value, token: &str) -> Value {
    if root != "Subscription" {
        return app.graphql(query, variables, Some(token)).await;
    }
    let mut socket = crate::helpers::Subscription::open_with(app.port, Some(token), query, variables).await;
    socket.next().await.expect("an answer to the subscription")
}

#[tokio::test]
async fn every_string_argument_refuses_control_characters_and_long_values() {
    let app = spawn_app().await;
    let sam = app.sign_up("sam").await;
    let sdl = Sdl::committed();
    let bad_values = [
        ("NUL", "bad\u{0}value".to_owned()),
        ("a bell", "bad\u{7}value".to_owned()),
        ("too long", "x".repeat(5000)),
    ];
    let mut tried = 0;
    for root in ["Query", "Mutation", "Subscription"] {
        for operation in sdl.operations(root) {
            for slot in slots(&sdl, operation) {
                for (what, bad) in &bad_values {
                    let (query, variables) = request(&sdl, root, operation, &slot, bad);
                    let body = send(&app, root, &query, variables, &sam.access).await;
                    let context = format!("{root}.{} with {what} in {slot:?}: {body}", operation.name);
                    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{context}");
                    assert_eq!(body["errors"][0]["extensions"]["field"], slot.field(), "{context}");
                    tried += 1;
                }
                if root != "Subscription" {
                    let (query, variables) = request(&sdl, root, operation, &slot, "line\nbreak");
                    let body = send(&app, root, &query, variables, &sam.access).await;
                    assert_ne!(
                        error_code(&body),
                        Some("INTERNAL"),
                        "{root}.{} with a line break in {slot:?}: {body}",
                        operation.name
                    );
                }
            }
        }
    }
    assert!(tried > 60, "the schema's string arguments were found ({tried} tries)");
}

#[tokio::test]
async fn a_public_route_treats_a_handle_with_nul_as_unknown() {
    let app = spawn_app().await;
    for path in ["/v1/users/sam%00/now-playing", "/v1/users/%07bell/now-playing"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND, "{path}");
    }
}

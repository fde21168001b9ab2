//! `schema.graphql` is generated from the code; a stale copy fails here, and
//! so does a type, field, argument or enum value without a description.
use async_graphql_parser::{
    Positioned, parse_schema,
    types::{FieldDefinition, InputValueDefinition, TypeKind, TypeSystemDefinition},
};

#[test]
fn committed_schema_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the repository root");
    let generated = api::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn the_binary_prints_the_same_schema() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sendsongs"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stdout).unwrap(), api::graphql::sdl());
}

type Described = Option<Positioned<String>>;

fn blank(description: &Described) -> bool {
    description.as_ref().is_none_or(|text| text.node.trim().is_empty())
}

fn arguments(owner: &str, values: &[Positioned<InputValueDefinition>], missing: &mut Vec<String>) {
    for value in values.iter().filter(|value| blank(&value.node.description)) {
        missing.push(format!("{owner}({})", value.node.name.node));
    }
}

fn fields(owner: &str, fields: &[Positioned<FieldDefinition>], missing: &mut Vec<String>) {
    for field in fields {
        let path = format!("{owner}.{}", field.node.name.node);
        arguments(&path, &field.node.arguments, missing);
        if blank(&field.node.description) {
            missing.push(path);
        }
    }
}

/// The paths (`Type`, `Type.field`, `Type.field(argument)`, `Enum.VALUE`,
/// `Input.field`) of every definition in `sdl` that has no description. The
/// built-in directives are the library's, not ours.
fn undescribed(sdl: &str) -> Vec<String> {
    let document = parse_schema(sdl).expect("the schema parses");
    let mut missing = Vec::new();
    for definition in document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let definition = definition.node;
        let name = definition.name.node.to_string();
        if blank(&definition.description) {
            missing.push(name.clone());
        }
        match definition.kind {
            TypeKind::Object(object) => fields(&name, &object.fields, &mut missing),
            TypeKind::Interface(interface) => fields(&name, &interface.fields, &mut missing),
            TypeKind::InputObject(input) => {
                for field in input.fields.iter().filter(|field| blank(&field.node.description)) {
                    missing.push(format!("{name}.{}", field.node.name.node));
                }
            }
            TypeKind::Enum(values) => {
                for value in values.values.iter().filter(|value| blank(&value.node.description)) {
                    missing.push(format!("{name}.{}", value.node.value.node));
                }
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
    }
    missing
}

#[test]
fn every_type_field_argument_and_enum_value_has_a_description() {
    let missing = undescribed(&api::graphql::sdl());
    assert!(
        missing.is_empty(),
        "describe these in the code (a type's description is the doc comment on its \
         `#[Object]` impl block), then regenerate schema.graphql:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_description_check_finds_what_is_missing() {
    let sdl = r#"
"""A described type."""
type Described {
  """Described."""
  field(
    """Described."""
    first: Int
    second: Int
  ): Int
  bare: Int
}
type Bare {
  """Described."""
  field: Int
}
"""A described enum."""
enum Kind {
  """Described."""
  ONE
  TWO
}
"""A described input."""
input Filter {
  """Described."""
  one: Int
  two: Int
}
"#;
    assert_eq!(
        undescribed(sdl),
        [
            "Described.field(second)",
            "Described.bare",
            "Bare",
            "Kind.TWO",
            "Filter.two"
        ]
    );
}

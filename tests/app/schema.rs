//! `schema.graphql` is generated from the code; a stale copy fails here.
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

//! House rules, checked like tests (in the manner of rust-analyzer's
//! `tidy`): they read the sources as text, so breaking a rule fails
//! `cargo test` with the file and line at fault.
//!
//! - Every source file starts with a `//!` comment saying what it is.
//! - `api`'s modules stand in layers ([`LAYERS`]); a module imports only
//!   from its own layer and those below, and no two modules import each
//!   other, even through others.
//! - Adapters translate: no SeaORM in [`ADAPTERS`].
//! - Each table has one door ([`TABLE_DOORS`]): only its owner names its
//!   `Entity`, `Column` or `ActiveModel`.
//! - `api/src/lib.rs` maps every module under its layer.
//! - Transactions start through `db::begin` (a writer on SQLite), never a
//!   bare `begin()`.
//!
//! Imports are read from `crate::` paths (in `use` and in code); comments
//! are left out. `super::super` is not allowed, so that every way out of a
//! module is a `crate::` path this test sees.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The layers of `api`, bottom to top, and their modules.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "Infrastructure",
        &[
            "cache",
            "clock",
            "config",
            "crypto",
            "db",
            "error",
            "events",
            "jobs",
            "paging",
            "persisted_queries",
            "telemetry",
            "throttle",
        ],
    ),
    (
        "Services",
        &[
            "accounts",
            "devices",
            "friends",
            "messenger",
            "notify",
            "shares",
            "spotify",
        ],
    ),
    ("State", &["app"]),
    (
        "Use cases",
        &["detection", "linking", "listening", "reacting", "receipts", "sharing"],
    ),
    ("Edges", &["bot", "graphql", "http", "sandbox", "webhook"]),
    ("Startup", &["startup"]),
];

/// Folders and files that translate between the outside and the domains:
/// they call domain functions and never touch the database themselves.
const ADAPTERS: &[&str] = &["api/src/graphql", "api/src/http", "api/src/bot"];

/// Each table and the only places that may name its `Entity`, `Column` or
/// `ActiveModel` (a folder, or one file).
const TABLE_DOORS: &[(&str, &[&str])] = &[
    ("bot_questions", &["api/src/messenger/questions.rs"]),
    ("bot_replies", &["api/src/notify/replies.rs"]),
    (
        "deliveries",
        &[
            "api/src/notify/mod.rs",
            "api/src/notify/log.rs",
            "api/src/notify/send.rs",
        ],
    ),
    ("devices", &["api/src/devices/"]),
    ("friendships", &["api/src/friends/"]),
    ("jobs", &["api/src/jobs/"]),
    ("link_codes", &["api/src/accounts/link_codes.rs"]),
    ("messenger_greetings", &["api/src/messenger/greetings.rs"]),
    ("messenger_inbox", &["api/src/messenger/inbox/"]),
    ("messenger_links", &["api/src/messenger/links.rs"]),
    ("oauth_states", &["api/src/spotify/authorize.rs"]),
    ("persisted_queries", &["api/src/persisted_queries.rs"]),
    ("play_events", &["api/src/shares/"]),
    ("refresh_tokens", &["api/src/accounts/sessions.rs"]),
    ("sandbox_secrets", &["api/src/sandbox/secrets.rs"]),
    ("sessions", &["api/src/accounts/sessions.rs"]),
    ("share_activities", &["api/src/shares/"]),
    ("share_messages", &["api/src/messenger/sent.rs"]),
    ("share_reactions", &["api/src/shares/"]),
    ("shares", &["api/src/shares/"]),
    (
        "spotify_clients",
        &["api/src/spotify/pause.rs", "api/src/spotify/budget.rs"],
    ),
    ("spotify_links", &["api/src/spotify/vault.rs"]),
    ("throttles", &["api/src/throttle.rs"]),
    ("tracks", &["api/src/spotify/catalog.rs"]),
    ("users", &["api/src/accounts/"]),
];

/// Reads of other tables joined into one statement on a hot path, allowed
/// beside the doors: (file, tables, why).
const JOINED_READS: &[(&str, &[&str], &str)] = &[(
    "api/src/notify/send.rs",
    &["shares", "tracks", "users", "share_activities"],
    "a delivery's person, share, track, other person and answer in one statement instead of six",
)];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir`, as a path relative to the workspace root.
fn rust_files(dir: &str) -> Vec<String> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(path) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join(dir), &mut files);
    let mut files: Vec<String> = files
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/"))
        .collect();
    files.sort();
    files
}

fn read(file: &str) -> String {
    fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("reading {file}: {e}"))
}

/// The code of a file, line by line, without comments (string contents
/// are kept: no path this test looks for is written in a string).
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut in_block = false;
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let mut code = String::new();
            let mut rest = line;
            loop {
                if in_block {
                    match rest.find("*/") {
                        Some(end) => {
                            in_block = false;
                            rest = &rest[end + 2..];
                        }
                        None => break,
                    }
                } else {
                    let line_comment = rest.find("//");
                    let block = rest.find("/*");
                    match (line_comment, block) {
                        (Some(l), None) => {
                            code.push_str(&rest[..l]);
                            break;
                        }
                        (Some(l), Some(b)) if l < b => {
                            code.push_str(&rest[..l]);
                            break;
                        }
                        (_, Some(b)) => {
                            code.push_str(&rest[..b]);
                            in_block = true;
                            rest = &rest[b + 2..];
                        }
                        (None, None) => {
                            code.push_str(rest);
                            break;
                        }
                    }
                }
            }
            (n + 1, code)
        })
        .collect()
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(n, (name, _))| (n, *name))
}

/// The top-level module a file of `api/src` belongs to (`None`: lib.rs).
fn module_of(file: &str) -> Option<String> {
    let path = file.strip_prefix("api/src/")?;
    let first = path.split('/').next()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_owned())
}

/// The top-level modules named after `crate::` on a line: `crate::a::b`
/// gives `a`, `crate::{a::b, c}` gives `a` and `c`.
fn crate_imports(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            found.push(identifier(after));
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

/// The first identifier of each item of a `{…}` group (its text after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = vec![identifier(group.trim_start())];
    let mut depth = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(identifier(group[i + 1..].trim_start())),
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// `use` statements can span lines: the code of each file joined into
/// statements, each with the line it starts on.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, code) in code_lines(text) {
        match &mut current {
            Some((_, statement)) => statement.push_str(&code),
            None => current = Some((n, code.clone())),
        }
        let statement = &current.as_ref().unwrap().1;
        let open = statement.matches('{').count() > statement.matches('}').count();
        let in_use = statement.trim_start().starts_with("use ") || statement.trim_start().starts_with("pub use ");
        if !(in_use && open && !statement.contains(';')) {
            out.push(current.take().unwrap());
        }
    }
    out.extend(current);
    out
}

#[test]
fn every_source_file_starts_with_a_module_comment() {
    let mut missing = Vec::new();
    for dir in ["api/src", "entity/src", "migration/src", "src", "tests", "bench"] {
        for file in rust_files(dir) {
            if !read(&file).trim_start().starts_with("//!") {
                missing.push(file);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not start with a `//!` comment saying what they are:\n  {}",
        missing.join("\n  ")
    );
}

/// Every import between top-level modules of `api`: (from, to, file, line).
fn imports() -> Vec<(String, String, String, usize)> {
    let mut found = Vec::new();
    for file in rust_files("api/src") {
        let Some(from) = module_of(&file) else { continue };
        for (line, statement) in statements(&read(&file)) {
            assert!(
                !statement.contains("super::super"),
                "{file}:{line}: `super::super`: name the module with `crate::` instead"
            );
            for to in crate_imports(&statement) {
                if to != from {
                    found.push((from.clone(), to, file.clone(), line));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_imports_one_above_its_layer() {
    let mut wrong = Vec::new();
    for (from, to, file, line) in imports() {
        let (Some((from_level, from_layer)), Some((to_level, to_layer))) = (layer_of(&from), layer_of(&to)) else {
            wrong.push(format!(
                "{file}:{line}: `crate::{to}` from `{from}`: a module with no layer (add it to LAYERS and lib.rs)"
            ));
            continue;
        };
        if to_level > from_level {
            wrong.push(format!(
                "{file}:{line}: `{from}` ({from_layer}) imports `crate::{to}` ({to_layer}), a layer above"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn modules_do_not_import_each_other_in_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut at: BTreeMap<(String, String), String> = BTreeMap::new();
    for (from, to, file, line) in imports() {
        at.entry((from.clone(), to.clone()))
            .or_insert_with(|| format!("{file}:{line}"));
        graph.entry(from).or_default().insert(to);
    }
    // Depth-first: a module met again on the current path closes a circle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(circle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            let steps: Vec<String> = circle
                .windows(2)
                .map(|pair| {
                    format!(
                        "{} → {} ({})",
                        pair[0],
                        pair[1],
                        at[&(pair[0].clone(), pair[1].clone())]
                    )
                })
                .collect();
            panic!("modules import each other in a circle:\n  {}", steps.join("\n  "));
        }
    }
}

#[test]
fn adapters_do_not_use_sea_orm() {
    let mut wrong = Vec::new();
    for dir in ADAPTERS {
        for file in rust_files(dir) {
            for (line, code) in code_lines(&read(&file)) {
                if code.contains("sea_orm") {
                    wrong.push(format!("{file}:{line}: {}", code.trim()));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "adapters translate and call domain functions; these use SeaORM:\n  {}",
        wrong.join("\n  ")
    );
}

/// A transaction begun with sea-orm's own `begin()` starts as a reader on
/// SQLite and is refused ("database is locked") when it writes after
/// another connection committed; `db::begin` starts it as a writer.
#[test]
fn transactions_start_through_db_begin() {
    let mut wrong = Vec::new();
    for file in rust_files("api/src") {
        if file == "api/src/db.rs" {
            continue;
        }
        for (line, code) in code_lines(&read(&file)) {
            if code.contains(".begin()") || code.contains(".begin_with_") {
                wrong.push(format!("{file}:{line}: {}", code.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "start transactions with `crate::db::begin`, which starts them as writers on SQLite:\n  {}",
        wrong.join("\n  ")
    );
}

/// The entity modules a file can name, by the name it uses: `use
/// entity::{shares as share}` lets it write `share::Entity`.
fn entity_names(text: &str) -> BTreeMap<String, String> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (_, statement) in statements(text) {
        let statement = statement.trim();
        let Some(tree) = statement
            .strip_prefix("use entity::")
            .or_else(|| statement.strip_prefix("pub use entity::"))
        else {
            continue;
        };
        let items: Vec<String> = match tree.strip_prefix('{') {
            Some(group) => split_group(group),
            None => vec![tree.trim_end_matches(';').to_owned()],
        };
        for item in items {
            let item = item.trim();
            let table = identifier(item);
            if let Some((_, alias)) = item.split_once(" as ")
                && !item.contains("::")
            {
                names.insert(identifier(alias.trim()), table);
            } else if !item.contains("::") || item.contains("self") {
                let alias = item
                    .split_once("self as ")
                    .map_or(table.clone(), |(_, alias)| identifier(alias.trim()));
                names.insert(alias, table);
            }
        }
    }
    names
}

/// The items of a `{…}` group at its top level (its text after `{`).
fn split_group(group: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(group[start..i].to_owned());
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(group[start..i].to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.retain(|item| !item.trim().is_empty());
    items
}

#[test]
fn each_table_has_one_door() {
    let doors: BTreeMap<&str, &[&str]> = TABLE_DOORS.iter().copied().collect();
    let mut wrong = Vec::new();
    for file in rust_files("api/src") {
        let text = read(&file);
        let mut names = entity_names(&text);
        for (table, _) in TABLE_DOORS {
            names.insert(format!("entity::{table}"), (*table).to_owned());
        }
        for (line, code) in code_lines(&text) {
            for (name, table) in &names {
                let touches = ["Entity", "Column", "ActiveModel"].iter().any(|item| {
                    code.match_indices(&format!("{name}::{item}")).any(|(at, _)| {
                        let before = code[..at].chars().next_back();
                        let after = code[at + name.len() + 2 + item.len()..].chars().next();
                        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    })
                });
                if !touches {
                    continue;
                }
                let Some(owners) = doors.get(table.as_str()) else {
                    wrong.push(format!("{file}:{line}: table `{table}` has no door in TABLE_DOORS"));
                    continue;
                };
                let owned = owners.iter().any(|owner| file == *owner || file.starts_with(owner));
                let joined = JOINED_READS
                    .iter()
                    .any(|(reader, tables, _)| file == *reader && tables.contains(&table.as_str()));
                if !owned && !joined {
                    wrong.push(format!(
                        "{file}:{line}: uses the `{table}` table, whose door is {}",
                        owners.join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "tables used outside their door:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn lib_rs_maps_every_module_under_its_layer() {
    let lib = read("api/src/lib.rs");
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_owned())
        .collect();
    let layered: BTreeSet<String> = LAYERS
        .iter()
        .flat_map(|(_, modules)| modules.iter().map(|m| (*m).to_owned()))
        .collect();
    assert_eq!(
        declared, layered,
        "the modules lib.rs declares and the modules LAYERS places must be the same"
    );

    // `//! ## Layer` headings, each followed by `//! - [`module`]: …` bullets.
    let mut mapped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut layer: Option<String> = None;
    for line in lib.lines().take_while(|line| line.starts_with("//!")) {
        let doc = line.trim_start_matches("//!").trim();
        if let Some(heading) = doc.strip_prefix("## ") {
            layer = Some(heading.trim().to_owned());
        } else if let (Some(layer), Some(item)) = (&layer, doc.strip_prefix("- [`")) {
            mapped.entry(layer.clone()).or_default().insert(identifier(item));
        }
    }
    for (name, modules) in LAYERS {
        let expected: BTreeSet<String> = modules.iter().map(|m| (*m).to_owned()).collect();
        assert_eq!(
            mapped.get(*name).cloned().unwrap_or_default(),
            expected,
            "lib.rs's map, under `## {name}`, must name exactly the modules of that layer"
        );
    }
}

#[test]
fn the_scanner_reads_imports_as_written() {
    assert_eq!(
        crate_imports("use crate::{accounts::{self, users}, app::App};"),
        ["accounts", "app"]
    );
    assert_eq!(
        crate_imports("let x = crate::error::Error::from(e); // crate::bot"),
        ["error", "bot"]
    );
    assert_eq!(crate_imports("use crate::{\n    a,\n    b::c,\n};"), ["a", "b"]);
    let code: Vec<String> = code_lines("use crate::a; // crate::b\n/* crate::c */ use crate::d;")
        .into_iter()
        .map(|(_, code)| code)
        .collect();
    assert_eq!(crate_imports(&code.concat()), ["a", "d"]);
    let names = entity_names("use entity::{\n    deliveries::{self, Status},\n    shares as share,\n    users,\n};");
    assert_eq!(names.get("deliveries").map(String::as_str), Some("deliveries"));
    assert_eq!(names.get("share").map(String::as_str), Some("shares"));
    assert_eq!(names.get("users").map(String::as_str), Some("users"));
}

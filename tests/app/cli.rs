//! The binary as an operator meets it: `--help`, unknown commands, and
//! start-up failures as one line on standard error naming the setting or
//! the resource; stopped by a signal, it closes its WebSockets with 1001.
use std::{net::TcpListener, process::Output, time::Duration};

use api::config::{SETTINGS, Unset};
use futures_util::StreamExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

use crate::{
    binary::{Scratch, Server, sendsongs},
    helpers::{Subscription, fresh_database},
};

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = Scratch::new();
    sendsongs(&dir, args, vars).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Asserts a failed start-up: the exit status, and one line on standard
/// error; answers the line.
fn one_line_failure(output: &Output, status: i32) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(status), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        !text(&output.stdout).contains(stderr.trim()),
        "printed once, not also in the logs: {}",
        text(&output.stdout)
    );
    stderr
}

#[test]
fn help_lists_the_commands_and_every_setting_with_its_default() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["serve", "--help"],
        &["help", "serve"],
    ] {
        let output = run(args, &[]);

        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(output.stderr.is_empty(), "{args:?}: {}", text(&output.stderr));
        let help = text(&output.stdout);
        for command in ["serve", "migrate", "schema", "help"] {
            assert!(
                help.lines().any(|line| line.trim_start().starts_with(command)),
                "{command} in {help}"
            );
        }
        assert!(help.contains("the default"), "serve is the default: {help}");
        for (name, default) in [
            ("DATABASE_URL", "sqlite://sendsongs.db?mode=rwc"),
            ("LISTEN_ADDR", "127.0.0.1:8080"),
            ("WS_KEEPALIVE_INTERVAL", "15s"),
            ("JOB_WORKERS", "8"),
        ] {
            assert!(
                help.contains(&format!("{name}  [default: {default}]")),
                "{name} in {help}"
            );
        }
        for setting in SETTINGS {
            assert!(
                help.contains(&format!("  {}  [default: ", setting.name)),
                "{}",
                setting.name
            );
        }
    }
    let version = run(&["--version"], &[]);
    assert_eq!(version.status.code(), Some(0));
    assert!(text(&version.stdout).starts_with("sendsongs "));
}

#[test]
fn the_readme_lists_every_setting_with_its_default() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Settings")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("a Settings section");
    for setting in SETTINGS {
        let row = section
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", setting.name)))
            .unwrap_or_else(|| panic!("a row for {} in README's Settings", setting.name));
        if let Unset::Value(default) = setting.unset {
            assert!(row.contains(&format!("| `{default}` |")), "{row}");
        }
    }
}

#[test]
fn unknown_commands_and_options_are_named_with_the_usage() {
    for (args, said) in [
        (&["frobnicate"][..], "unknown command `frobnicate`"),
        (&["--verbose"], "unknown option `--verbose`"),
        (&["serve", "-x"], "unknown option `-x`"),
        (&["migrate", "now"], "unexpected argument `now`"),
    ] {
        let output = run(args, &[]);

        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with(&format!("sendsongs: {said}\n")), "{stderr}");
        assert!(stderr.contains("Usage: sendsongs [COMMAND]"), "{stderr}");
        assert!(stderr.contains("migrate"), "the commands: {stderr}");
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let output = run(
        &[],
        &[
            ("SANDBOX", "off"),
            ("SPOTIFY_CLIENT_ID", "client"),
            ("SPOTIFY_CLIENT_SECRET", "secret"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-long"),
            ("ENCRYPTION_KEY", "bm90IDMyIGJ5dGVz"),
            ("DATABASE_URL", "sqlite::memory:"),
        ],
    );
    let line = one_line_failure(&output, 78);
    assert!(
        line.contains("ENCRYPTION_KEY") && line.contains("openssl rand -base64 32"),
        "{line}"
    );
    assert!(!line.contains("bm90IDMyIGJ5dGVz"), "the key is not quoted: {line}");

    let output = run(&[], &[("FCM_CREDENTIALS", "/nowhere/service-account.json")]);
    let line = one_line_failure(&output, 78);
    assert!(
        line.contains("FCM_CREDENTIALS") && line.contains("/nowhere/service-account.json"),
        "{line}"
    );
    assert!(line.contains("service-account JSON"), "what a valid value is: {line}");
}

#[test]
fn a_malformed_database_url_is_named_with_the_forms_that_work() {
    for url in ["nonsense", "postgres://app:hunter2@db.example:port/songs"] {
        let output = run(&["migrate"], &[("DATABASE_URL", url)]);

        let line = one_line_failure(&output, 78);
        assert!(line.starts_with("sendsongs: setting DATABASE_URL: "), "{line}");
        assert!(line.contains("sqlite://path?mode=rwc"), "{line}");
        assert!(line.contains("postgres://user:password@host:5432/db"), "{line}");
        assert!(!line.contains("hunter2"), "no password: {line}");
    }
}

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_postgres_that_refuses_the_connection_is_named_with_host_and_port() {
    let port = closed_port();
    let url = format!("postgres://app:hunter2@127.0.0.1:{port}/songs");
    for command in ["serve", "migrate"] {
        let output = run(&[command], &[("DATABASE_URL", &url)]);

        let line = one_line_failure(&output, 1);
        assert!(line.contains("DATABASE_URL"), "{line}");
        assert!(
            line.contains(&format!("connection refused at 127.0.0.1:{port}")),
            "{line}"
        );
        assert!(!line.contains("hunter2"), "no password: {line}");
        assert!(!line.contains("timed out"), "{line}");
    }
}

#[test]
fn a_port_in_use_is_named_with_the_setting_and_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = Scratch::new();
    let database = format!("sqlite://{}?mode=rwc", dir.0.join("songs.db").display());

    let output = sendsongs(&dir, &[], &[("LISTEN_ADDR", &address), ("DATABASE_URL", &database)])
        .output()
        .unwrap();

    let line = one_line_failure(&output, 1);
    assert!(line.contains("LISTEN_ADDR"), "{line}");
    assert!(line.contains(&format!("cannot listen on {address}")), "{line}");
    assert!(line.to_lowercase().contains("in use"), "{line}");
    assert!(line.contains("127.0.0.1:8081"), "what a valid value looks like: {line}");
}

/// How long a socket waits for its close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The close code a raw socket gets; `None` when it ended without one.
async fn close_code(mut socket: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Option<u16> {
    while let Ok(Some(message)) = tokio::time::timeout(CLOSE_WAIT, socket.next()).await {
        match message {
            Ok(Message::Close(frame)) => return Some(frame.map_or(1005, |f| u16::from(f.code))),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Hundreds of sockets, four times: with a few, the process often outlives
/// their close frames by luck; with hundreds, only when it waits for them.
#[tokio::test]
async fn a_signal_stops_the_server_after_each_websocket_got_a_1001_close_frame() {
    const SOCKETS: usize = 300;
    for signal in ["TERM", "INT", "TERM", "INT"] {
        let dir = Scratch::new();
        let (database_url, _database) = fresh_database().await;
        let server = Server::start(&dir, &[("DATABASE_URL", &database_url)]).await;
        let (token, _) = server.sign_up("sam").await;
        let query = "subscription { friendshipChanged { status } }";
        let mut current = Subscription::open(server.port, "graphql-transport-ws", Some(&token), query).await;
        let mut legacy = Subscription::open(server.port, "graphql-ws", Some(&token), query).await;
        let mut idle = Vec::new();
        for n in 0..SOCKETS {
            let protocol = if n % 2 == 0 {
                "graphql-transport-ws"
            } else {
                "graphql-ws"
            };
            idle.push(
                Subscription::connect(server.port, protocol, Some(&token))
                    .await
                    .unwrap(),
            );
        }

        server.signal(signal);

        assert_eq!(
            current.close_code(CLOSE_WAIT).await,
            Some(1001),
            "SIG{signal}, graphql-transport-ws"
        );
        assert_eq!(
            legacy.close_code(CLOSE_WAIT).await,
            Some(1001),
            "SIG{signal}, graphql-ws"
        );
        let codes = futures_util::future::join_all(idle.into_iter().map(close_code)).await;
        let otherwise: Vec<_> = codes.iter().filter(|code| **code != Some(1001)).collect();
        assert!(
            otherwise.is_empty(),
            "SIG{signal}: {} of {SOCKETS} sockets ended otherwise than 1001 (None: no close frame): {:?}",
            otherwise.len(),
            otherwise.iter().collect::<std::collections::BTreeSet<_>>()
        );
        let (status, stderr) = server.ended().await;
        assert_eq!(status, Some(0), "SIG{signal}: {stderr}");
        assert!(stderr.is_empty(), "{stderr}");
    }
}

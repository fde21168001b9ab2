//! The release-shaped binary as a test runs it: in a folder of its own
//! (no `.env` from the checkout), with only the variables given, serving
//! on a free port, every line it writes (standard output and error) kept
//! for the test to read.
use std::{
    io::{BufRead as _, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use serde_json::{Value, json};

use crate::helpers::PASSWORD;

/// A folder of its own for one run, removed at the end.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("sendsongs-cli-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with only the given variables, in a folder of its own.
pub fn sendsongs(dir: &Scratch, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sendsongs"));
    command
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(&dir.0);
    command
}

/// The binary serving on a free port, its logs in JSON.
pub struct Server {
    child: Child,
    pub port: u16,
    /// Every line written so far, standard output and error alike.
    lines: Arc<Mutex<Vec<String>>>,
    /// The readers of the two streams; joined when the process ends.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `serve` with `vars` (an address and JSON logs are added).
    pub async fn start(dir: &Scratch, vars: &[(&str, &str)]) -> Self {
        let mut all: Vec<(&str, &str)> = vec![("LISTEN_ADDR", "127.0.0.1:0"), ("LOG_FORMAT", "json")];
        all.extend_from_slice(vars);
        let mut child = sendsongs(dir, &["serve"], &all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (found, port) = mpsc::channel();
        let readers = vec![
            keep_lines(child.stdout.take().unwrap(), lines.clone(), Some(found)),
            keep_lines(child.stderr.take().unwrap(), lines.clone(), None),
        ];
        let port = tokio::task::spawn_blocking(move || port.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("the server says where it listens");
        Self {
            child,
            port,
            lines,
            readers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs an operation; answers the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = reqwest::Client::new()
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Signs `handle` up; answers the access and refresh tokens.
    pub async fn sign_up(&self, handle: &str) -> (String, String) {
        let body = self
            .graphql(
                "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken refreshToken } }",
                json!({ "i": { "email": format!("{handle}@example.com"), "password": PASSWORD,
                               "handle": handle, "displayName": handle } }),
                None,
            )
            .await;
        let tokens = &body["data"]["signUp"];
        let token = |name: &str| {
            tokens[name]
                .as_str()
                .unwrap_or_else(|| panic!("signed up: {body}"))
                .to_owned()
        };
        (token("accessToken"), token("refreshToken"))
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`) to the process.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for the process to end; answers its exit code and every line
    /// it wrote to standard error.
    pub async fn ended(mut self) -> (Option<i32>, String) {
        tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
            let lines = self.lines.lock().unwrap();
            let stderr: Vec<&str> = lines.iter().filter_map(|line| line.strip_prefix("stderr: ")).collect();
            (status.code(), stderr.join("\n"))
        })
        .await
        .unwrap()
    }

    /// Stops it as SIGTERM does; answers everything it wrote.
    pub async fn stop(self) -> String {
        self.signal("TERM");
        let lines = self.lines.clone();
        let (status, stderr) = self.ended().await;
        assert_eq!(status, Some(0), "{stderr}");
        lines.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    /// A server left running by a failing test or benchmark is killed.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `stream` line by line into `lines` (standard error's marked);
/// `found` hears the port of the "listening" line.
fn keep_lines(
    stream: impl Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    found: Option<mpsc::Sender<u16>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(found) = &found {
                let log: Value = serde_json::from_str(&line).unwrap_or_default();
                if log["fields"]["message"] == "listening"
                    && let Some(port) = log["fields"]["address"]
                        .as_str()
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| p.parse().ok())
                {
                    let _ = found.send(port);
                }
            }
            let line = if found.is_some() {
                line
            } else {
                format!("stderr: {line}")
            };
            lines.lock().unwrap().push(line);
        }
    })
}

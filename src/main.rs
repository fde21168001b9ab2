//! `sendsongs [serve|migrate|schema|help]`: the server (default), the
//! database migrations alone, the GraphQL schema in SDL, or the commands and
//! every setting. Settings are environment variables (`api::config`).
use std::{fmt::Display, process::ExitCode};

use api::{Application, Settings, config, db, telemetry};

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Serve,
    Migrate,
    Schema,
    Help,
    Version,
}

/// The commands and what each does, for the usage.
const COMMANDS: [(&str, &str); 4] = [
    (
        "serve",
        "Migrate the database, then serve HTTP, GraphQL and the background jobs (the default)",
    ),
    ("migrate", "Apply the database migrations, then exit"),
    ("schema", "Print the GraphQL schema (SDL) and exit; reads no settings"),
    ("help", "Print this help: the commands and every setting"),
];

/// Exit status of a command line that names no known command or option
/// (as getopt-style tools use).
const USAGE_ERROR: u8 = 2;
/// Exit status of a missing or malformed setting (`EX_CONFIG`).
const SETTING_ERROR: u8 = 78;

#[tokio::main]
async fn main() -> ExitCode {
    let args = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned());
    let command = match parse(args) {
        Ok(command) => command,
        Err(problem) => {
            eprintln!(
                "sendsongs: {problem}\n\n{}\nRun `sendsongs --help` for every setting.",
                usage()
            );
            return ExitCode::from(USAGE_ERROR);
        }
    };
    match command {
        Command::Help => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("sendsongs {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Schema => {
            print!("{}", api::graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Command::Serve | Command::Migrate => {}
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => return failed(err, SETTING_ERROR),
    };
    telemetry::init_tracing(settings.log_format);
    let result = match command {
        Command::Migrate => migrate(&settings).await,
        _ => serve(settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => failed(format_args!("{err:#}"), 1),
    }
}

/// Reads the arguments after the program's name: at most one command, or
/// `-h`/`--help`, `-V`/`--version` anywhere.
fn parse(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut command = None;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            option if option.starts_with('-') => return Err(format!("unknown option `{option}`")),
            word if command.is_none() => {
                command = Some(match word {
                    "serve" => Command::Serve,
                    "migrate" => Command::Migrate,
                    "schema" => Command::Schema,
                    "help" => Command::Help,
                    other => return Err(format!("unknown command `{other}`")),
                });
            }
            // `help serve` and the like: the one help covers every command.
            _ if command == Some(Command::Help) => {}
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    Ok(command.unwrap_or(Command::Serve))
}

fn usage() -> String {
    let mut text = String::from("Usage: sendsongs [COMMAND]\n\nCommands:\n");
    for (name, what) in COMMANDS {
        text.push_str(&format!("  {name:<9}{what}\n"));
    }
    text.push_str("\nOptions:\n  -h, --help     Print this help\n  -V, --version  Print the version\n");
    text
}

fn help() -> String {
    format!(
        "sendsongs {}: listen receipts for music shared between friends\n\n{}\n\
         Settings: environment variables; a .env file in the working directory is read too\n\
         (variables already set win). A missing or malformed one stops start-up with one line\n\
         naming it.\n\n{}\n\
         Exit status: 0 done; 1 a failure at start-up or while serving (one line on standard\n\
         error, naming the setting or the resource); 2 an unknown command or option; {SETTING_ERROR} a\n\
         missing or malformed setting.\n",
        env!("CARGO_PKG_VERSION"),
        usage(),
        config::help(),
    )
}

/// A start-up failure: one line on standard error, nothing else.
fn failed(err: impl Display, status: u8) -> ExitCode {
    let line = err.to_string().replace(['\n', '\r'], " ");
    eprintln!("sendsongs: {line}");
    ExitCode::from(status)
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let connection = db::connect(&settings.database_url).await?;
    db::migrate(&connection).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Listening for signals before building, so that one sent during
    // start-up stops the server gracefully once it runs.
    let stop = shutdown_signal();
    let application = Application::build(settings).await?;
    application.run_until_stopped(stop).await
}

/// Completes on SIGTERM or Ctrl-C (SIGINT); the handlers are installed
/// when this is called, not when it is first awaited.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        let interrupted = async {
            match interrupt.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = terminated => {},
            _ = interrupted => {},
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

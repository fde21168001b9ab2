//! `sendsongs [serve|migrate|schema]`: the server (default), the database
//! migrations alone, or the GraphQL schema in SDL.
use std::process::ExitCode;

use api::{Application, Settings, db, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    if command == "schema" {
        print!("{}", api::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    if !matches!(command.as_str(), "serve" | "migrate") {
        eprintln!("usage: sendsongs [serve|migrate|schema]");
        return ExitCode::from(2);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("sendsongs: {err}");
            return ExitCode::from(78);
        }
    };
    telemetry::init_tracing(settings.log_format);
    let result = match command.as_str() {
        "migrate" => migrate(&settings).await,
        _ => serve(settings).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = ?err, "stopped");
            eprintln!("sendsongs: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let connection = db::connect(&settings.database_url).await?;
    db::migrate(&connection).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let application = Application::build(settings).await?;
    application.run_until_stopped(shutdown_signal()).await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

//! The `viva` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use viva::app::Application;
use viva::config::Config;

#[derive(Parser)]
#[command(
    name = "viva",
    version,
    about = "Remote project-defense and envoy-training sessions"
)]
struct Cli {
    /// TOML configuration file (see viva.example.toml).
    #[arg(long, short, global = true, env = "VIVA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTP, signaling and media).
    Serve,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    viva::telemetry::init();
    let result = match Config::load(cli.config.as_deref()) {
        Ok(config) => match cli.command {
            Command::Serve => serve(config).await,
        },
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line (with its causes), not a backtrace.
            eprintln!("viva: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let username = config.auth.admin_username.clone();
    let app = Application::build(config).await?;
    let http = app.http_addr();
    let public_url = app.public_url().to_owned();
    tracing::info!(%http, media = %app.media_addr(), "viva is running");
    println!(
        "Viva is running: {public_url} (listening on {http}, media UDP {})",
        app.media_addr()
    );
    if let Some(password) = app.generated_admin_password() {
        // Printed once, to the terminal only: it is not logged and not stored in clear.
        println!(
            "Administrator account created. Sign in at {public_url}/ as user \"{username}\" with password: {password}"
        );
        println!(
            "(Shown only this once. Set VIVA_AUTH__ADMIN_PASSWORD before the first start to choose it.)"
        );
    } else {
        println!("Sign in at {public_url}/ as user \"{username}\".");
    }
    app.run_until(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
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
    tracing::info!("shutting down");
}

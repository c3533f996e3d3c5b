//! The `viva` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use viva::app::Application;
use viva::config::Config;

/// mimalloc instead of glibc's malloc: the media thread allocates every packet and
/// frees it a few seconds later (NACK history), interleaved with long-lived connection
/// state; glibc's per-thread arenas keep that fragmented memory resident, mimalloc
/// hands it back (resident memory per subscribed track, A-B-B-A in
/// `docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Import a CSV file (UTF-8 with or without BOM, or GBK) of organisations, experts
    /// or projects. Every row is checked first; any bad row means nothing is imported.
    Import {
        /// organisations, experts or projects.
        kind: String,
        /// The CSV file.
        file: PathBuf,
        /// Check the file and report, without importing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Back up the database (consistent online snapshot) with a manifest of the recorded
    /// assets into `[backup] dir`; the attempt is recorded either way.
    Backup,
    /// Restore a snapshot taken by `viva backup` into the configured database. Stop the
    /// server first.
    Restore {
        /// The snapshot file (`viva-….sqlite` or `viva-….pgdump`).
        snapshot: PathBuf,
    },
    /// The institute's yearly indicators (sessions held, stability rate, satisfaction…)
    /// against their targets.
    Report {
        /// The year (default: this year).
        #[arg(long)]
        year: Option<i32>,
        /// `table` (default) or `json`.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    viva::telemetry::init();
    let result = match Config::load(cli.config.as_deref()) {
        Ok(config) => match cli.command {
            Command::Serve => serve(config).await,
            Command::Import {
                kind,
                file,
                dry_run,
            } => import(config, &kind, &file, dry_run).await,
            Command::Report { year, format } => report(config, year, &format).await,
            Command::Backup => backup(config).await,
            Command::Restore { snapshot } => viva::backup::restore(&config, &snapshot)
                .await
                .map(|()| println!("restored {}", snapshot.display())),
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
    // Everything started so far (and everything those threads start later) yields to
    // the media thread on a shared core.
    match viva::priority::yield_to(app.media_thread_id()) {
        Ok(threads) => tracing::info!(threads, "other threads yield to the media thread"),
        Err(e) => tracing::warn!(error = %e, "thread priorities left as they are"),
    }
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

async fn backup(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.storage.data_dir)?;
    let store = viva::app::open_store(&config.database.url).await?;
    let outcome = viva::backup::backup(store.as_ref(), &config).await?;
    println!(
        "backup written: {} ({} bytes), manifest {} ({} recorded assets)",
        outcome.snapshot.display(),
        outcome.bytes,
        outcome.manifest.display(),
        outcome.assets
    );
    Ok(())
}

async fn report(config: Config, year: Option<i32>, format: &str) -> anyhow::Result<()> {
    if !matches!(format, "table" | "json") {
        anyhow::bail!("--format must be table or json, not {format:?}");
    }
    let year = year.unwrap_or_else(viva::report::this_year);
    if !(2000..=2200).contains(&year) {
        anyhow::bail!("--year {year} is out of range");
    }
    let store = viva::app::open_existing_store(&config.database.url).await?;
    let period = chrono::Duration::hours(i64::from(config.backup.every_hours.max(1)));
    let report =
        viva::report::year_report(store.as_ref(), year, chrono::Utc::now(), period).await?;
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

async fn import(
    config: Config,
    kind: &str,
    file: &std::path::Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    let kind: scheduler::import::ImportKind = kind.parse().map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    std::fs::create_dir_all(&config.storage.data_dir)?;
    let store = viva::app::open_store(&config.database.url).await?;
    let rows = bytes
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        .saturating_sub(1) as u64;
    let bar = indicatif::ProgressBar::new(rows.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("校验 checking");
    let result = viva::import::run(&*store, kind, &bytes, dry_run, |n| {
        bar.set_position(n as u64)
    })
    .await;
    bar.finish_and_clear();
    match result {
        Ok(summary) => {
            println!(
                "{} {} organisation(s), {} people, {} project(s){}",
                if dry_run {
                    "可以导入 Would import:"
                } else {
                    "已导入 Imported:"
                },
                summary.organisations,
                summary.people,
                summary.projects,
                if dry_run {
                    " (dry run: nothing written)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Err(viva::import::ImportError::InvalidRows(rows)) => {
            for row in &rows {
                if row.line == 0 {
                    eprintln!("file: {}", row.reason);
                } else {
                    eprintln!("line {}: {}", row.line, row.reason);
                }
            }
            anyhow::bail!(
                "{} problem(s) found in {}; nothing was imported",
                rows.len(),
                file.display()
            )
        }
        Err(e) => Err(e.into()),
    }
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

//! Building and running the server: [`Application::build`] wires configuration,
//! database, signing key, media plane and routes, binds the listener, and exposes the
//! bound ports so tests can run on port 0.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use media::{Sfu, SfuConfig};
use scheduler::{PgStore, SqliteStore, Store};
use tokio::net::TcpListener;

use crate::auth::{Signer, password};
use crate::config::Config;
use crate::signaling::presence::Presence;
use crate::state::{AppState, Settings};

/// A built, bound, not yet running server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    state: AppState,
    /// Kept for the backup schedule.
    config: crate::config::Config,
    /// The administrator password, when it was generated at this start.
    generated_admin_password: Option<String>,
}

impl Application {
    /// Prepares everything and binds the ports.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // The data directory holds the database, the signing key and recordings:
        // this user's only.
        crate::backup::private_dir(&config.storage.data_dir).with_context(|| {
            format!(
                "preparing the data directory {}",
                config.storage.data_dir.display()
            )
        })?;
        let key = signing_key(&config)?;
        crate::telemetry::set_pseudonym_key(&key);
        let store = open_store(&config.database.url).await?;
        let generated_admin_password = bootstrap_administrator(&*store, &config).await?;

        let sfu = Sfu::start(SfuConfig {
            udp_bind: config.media.udp_listen,
            tcp_bind: config.media.tcp_bind(),
            announce_ip: config.media.announce_ip,
            simulcast: config.media.simulcast,
        })
        .with_context(|| {
            format!(
                "binding media UDP {} and ICE-TCP {:?}",
                config.media.udp_listen, config.media.tcp_listen
            )
        })?;
        let recorder = media::recorder::probe();
        match &recorder {
            Ok(r) if r.can_record() => {
                tracing::info!(gstreamer = %r.gstreamer_version, "recorder ready")
            }
            Ok(r) => {
                tracing::warn!(missing = ?r.missing_elements, "recorder elements missing; recording unavailable")
            }
            Err(e) => tracing::warn!(error = %e, "GStreamer unavailable; recording unavailable"),
        }

        let listener = TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("binding HTTP {}", config.http.listen))?;
        let public_url = if config.http.public_url.is_empty() {
            format!("http://{}", listener.local_addr()?)
        } else {
            config.http.public_url.clone()
        };
        let state = AppState {
            audit: crate::audit::AuditLog::start(store.clone()),
            store,
            signer: Arc::new(Signer::new(&key)),
            sfu,
            presence: Arc::new(Presence::default()),
            lobby: Arc::default(),
            defenses: Arc::default(),
            rooms: Arc::default(),
            days: Arc::default(),
            metrics: Arc::default(),
            alerts: crate::alerts::Alerter::new(&config.alerts.webhook),
            recordings: Arc::default(),
            ingests: Arc::default(),
            recorder: Arc::new(recorder),
            limits: Arc::default(),
            mailer: crate::mail::Mailer::from_config(&config.smtp),
            settings: Arc::new(Settings {
                public_url,
                join_opens_minutes_before: config.auth.join_opens_minutes_before,
                admin_session_hours: config.auth.admin_session_hours,
                overrun_grace_minutes: config.auth.overrun_grace_minutes,
                web_dir: config.web.dir.clone(),
                backup_every_hours: config.backup.every_hours,
                data_dir: config.storage.data_dir.clone(),
                min_free_disk_mb: config.alerts.min_free_disk_mb,
                retention_days: config.recording.retention_days,
                trusted_proxies: config.http.trusted_proxies.clone(),
                turn: config.turn.clone(),
            }),
        };
        let admin_listener = match config.admin.listen.parse::<SocketAddr>() {
            Ok(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the admin listener {addr}"))?,
            ),
            Err(_) => None,
        };
        Ok(Self {
            listener,
            admin_listener,
            state,
            config: config.clone(),
            generated_admin_password,
        })
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The bound admin (metrics) address, when enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The media address announced to browsers.
    pub fn media_addr(&self) -> SocketAddr {
        self.state.sfu.media_addr()
    }

    /// The kernel's id of the thread that forwards media.
    pub fn media_thread_id(&self) -> i32 {
        self.state.sfu.media_thread_id()
    }

    /// Shared state (tests use it to sign tokens).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The URL join links are built from.
    pub fn public_url(&self) -> &str {
        &self.state.settings.public_url
    }

    /// The administrator password generated at this start, if any.
    pub fn generated_admin_password(&self) -> Option<&str> {
        self.generated_admin_password.as_deref()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Live rooms come back as their participants left them, before the first join
        // is taken (the listener is bound: joins wait in its backlog meanwhile).
        let rebuilding = std::time::Instant::now();
        let rebuilt = resume_after_a_stop(&self.state).await;
        // Under systemd: ready now, then fed while alive (`crate::supervision`).
        let notifier = std::sync::Arc::new(crate::supervision::Notifier::from_env());
        notifier.notify("READY=1");
        let watchdog = tokio::spawn(crate::supervision::run_watchdog(
            self.state.clone(),
            notifier.clone(),
        ));
        tracing::info!(
            rooms = rebuilt.rooms,
            forgotten = rebuilt.forgotten,
            server_gaps = rebuilt.gaps,
            recordings = rebuilt.recording.len(),
            took_ms = rebuilding.elapsed().as_millis() as u64,
            "accepting joins"
        );
        // Live state is saved as it changes, with the heartbeat.
        let (stop_saver, saver_stops) = tokio::sync::oneshot::channel();
        let saver = tokio::spawn(crate::rooms::live::run_saver(
            self.state.clone(),
            saver_stops,
        ));
        // Post-production: interrupted jobs resume, queued ones run one at a time (a
        // 2-core machine also relays live sessions).
        let production = crate::production::spawn_worker(
            self.state.clone(),
            self.config.recording.production_concurrency,
        );
        let ticker = spawn_defense_ticker(&self.state);
        alert_if_recorder_unusable(&self.state);
        // Housekeeping on timers: free disk, retention, compaction, backups.
        let housekeeping = spawn_housekeeping(&self.state, &self.config);
        // The admin listener runs beside the public one and stops with it.
        let admin = self.admin_listener.map(|listener| {
            let router =
                crate::http::admin::router(self.state.clone(), self.config.admin.fault_hooks);
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "admin listener stopped");
                }
            })
        });
        let state = self.state.clone();
        let router = crate::http::router(self.state);
        let shutdown = announce_the_stop(state.clone(), shutdown);
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        notifier.notify("STOPPING=1");
        watchdog.abort();
        drain(&state).await;
        // Recordings' parts are closed cleanly (every part gets its index); the
        // recordings stay open for the restart to continue.
        crate::recording::suspend_all(&state).await;
        // The rooms' last state, and a heartbeat saying the stop was planned.
        let _ = stop_saver.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), saver).await;
        // Every audit entry recorded before the stop is written before the process
        // may exit.
        state.audit.flush().await;
        ticker.abort();
        if let Some(admin) = admin {
            admin.abort();
        }
        for task in housekeeping {
            task.abort();
        }
        production.abort();
        served
    }
}

/// Countdown warnings and overtime for live defenses, once a second.
fn spawn_defense_ticker(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            let now = std::time::Instant::now();
            for (session, effects) in state.defenses.tick_all(now) {
                crate::rooms::effects::apply_effects(
                    &state,
                    session,
                    crate::audit::Actor::System,
                    effects,
                );
            }
        }
    })
}

/// The recorder is checked once at start; a machine that cannot record is an alert.
fn alert_if_recorder_unusable(state: &AppState) {
    let unusable = match state.recorder.as_ref() {
        Ok(r) if r.can_record() => None,
        Ok(r) => Some(format!(
            "GStreamer elements missing: {:?}",
            r.missing_elements
        )),
        Err(reason) => Some(reason.clone()),
    };
    if let Some(reason) = unusable {
        state.alerts.send(crate::alerts::Alert {
            kind: "recorderUnavailable",
            message: format!("recording is unavailable: {reason}"),
            session_id: None,
            participant_id: None,
            at: chrono::Utc::now(),
        });
    }
}

/// `shutdown`, followed by the stop on purpose being told: every page hears the
/// server restarts, and its connection then ends the normal way (final statistics
/// stored, seat kept).
async fn announce_the_stop(state: AppState, shutdown: impl Future<Output = ()>) {
    shutdown.await;
    let rooms = state.presence.rooms();
    tracing::info!(rooms = rooms.len(), "stopping: telling every page");
    for room in rooms {
        state
            .presence
            .broadcast(room, crate::signaling::presence::PresenceEvent::Restarting);
    }
}

/// The timers of a running server: free disk space every 30 s, the retention sweep
/// hourly, compaction of finished sessions' samples every 10 min, and scheduled
/// backups. Returned so the stop can end them.
fn spawn_housekeeping(state: &AppState, config: &Config) -> Vec<tokio::task::JoinHandle<()>> {
    // Free disk space on the data disk, every 30 s.
    let disk = {
        let (alerts, dir, min) = (
            state.alerts.clone(),
            config.storage.data_dir.clone(),
            config.alerts.min_free_disk_mb,
        );
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                every.tick().await;
                if let Some(free) = crate::alerts::free_disk_mb(&dir) {
                    alerts.check(|c| c.on_free_disk(free, min, chrono::Utc::now()));
                }
            }
        })
    };
    // Recordings past the retention period lose their media, hourly.
    let retention = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                match crate::recording::sweep_expired(&state, chrono::Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        recordings = n,
                        "recordings expired under the retention policy"
                    ),
                    Err(e) => tracing::error!(error = %e, "retention sweep failed"),
                }
            }
        })
    };
    // Raw samples of finished sessions are compacted (verdict kept), every 10 min.
    let compaction = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                crate::signaling::metering::compact_finished(&state, chrono::Duration::minutes(30))
                    .await;
            }
        })
    };
    // Scheduled backups: the first one period after the start.
    let backups = (config.backup.every_hours > 0).then(|| {
        let (store, config) = (state.store.clone(), config.clone());
        tokio::spawn(async move {
            let period =
                std::time::Duration::from_secs(u64::from(config.backup.every_hours) * 3600);
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                every.tick().await;
                // Failures are recorded and logged by `backup` itself.
                let _ = crate::backup::backup(store.as_ref(), &config).await;
            }
        })
    });
    let mut tasks = vec![disk, retention, compaction];
    tasks.extend(backups);
    tasks
}

/// What the last run left: live rooms rebuilt (`rooms::live`), their recordings
/// continued, and recordings of sessions not resumed closed as interrupted and queued
/// for post-production (their parts are on disk and playable).
async fn resume_after_a_stop(state: &AppState) -> crate::rooms::live::Rebuilt {
    let rebuilt = match crate::rooms::live::rebuild(state).await {
        Ok(rebuilt) => rebuilt,
        Err(e) => {
            tracing::error!(error = %e, "live rooms could not be rebuilt");
            crate::rooms::live::Rebuilt::default()
        }
    };
    let continuing: Vec<uuid::Uuid> = rebuilt.recording.iter().map(|(s, _)| *s).collect();
    match crate::recording::recover_interrupted(state, &continuing).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            recordings = n,
            "recordings interrupted by the last stop recovered"
        ),
        Err(e) => tracing::error!(error = %e, "interrupted recordings could not be checked"),
    }
    for (session, room) in rebuilt.recording.clone() {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::recording::resume(&state, session, &room.to_string()).await {
                tracing::error!(%session, error = %e, "the recording could not continue");
                crate::recording::on_close(&state, session, room);
            }
        });
    }
    rebuilt
}

/// Waits (at most [`DRAIN_WITHIN`]) for the signaling connections told of the stop
/// to end, and a moment for their final statistics to be written.
async fn drain(state: &AppState) {
    let deadline = tokio::time::Instant::now() + DRAIN_WITHIN;
    while state.presence.connected() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Their last samples are written by tasks of their own; a bounded grace lets
    // them land without holding the stop.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

/// How long a planned stop waits for connections to end (the whole stop stays
/// within 5 s: connections take about 1 s to read their last interval).
const DRAIN_WITHIN: std::time::Duration = std::time::Duration::from_millis(2500);

/// Opens the configured database: PostgreSQL for `postgres://` URLs, SQLite otherwise.
/// Migrations are applied.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    Ok(if url.starts_with("postgres") {
        Arc::new(
            PgStore::open(url)
                .await
                .with_context(|| "opening the PostgreSQL database")?,
        )
    } else {
        Arc::new(
            SqliteStore::open(url)
                .await
                .with_context(|| "opening the SQLite database")?,
        )
    })
}

/// Opens a database that must already exist (commands that read, such as `viva
/// report`): a SQLite file that is not there is an error that says where it was
/// looked for, instead of an empty database made on the spot.
pub async fn open_existing_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if !url.starts_with("postgres") {
        let path = crate::backup::sqlite_path(url)?;
        if !path.is_file() {
            let shown = std::env::current_dir()
                .map(|cwd| cwd.join(&path))
                .unwrap_or_else(|_| path.clone());
            anyhow::bail!(
                "no Viva database at {} (database.url = {url}); run this where `viva serve` runs, \
                 or point --config / VIVA_DATABASE__URL at its database",
                shown.display()
            );
        }
    }
    open_store(url).await
}

/// The signing key: configured, or generated once into the data directory.
fn signing_key(config: &Config) -> anyhow::Result<Vec<u8>> {
    if !config.auth.signing_key.is_empty() {
        return Ok(config.auth.signing_key.expose().as_bytes().to_vec());
    }
    let path = config.storage.data_dir.join("signing.key");
    if path.exists() {
        let key = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(
            key.len() >= 32,
            "{} is shorter than 32 bytes; delete it to generate a new one (all join links change)",
            path.display()
        );
        return Ok(key);
    }
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&path, hex.as_bytes())?;
    tracing::info!(path = %path.display(), "generated a new signing key");
    Ok(hex.into_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Creates the first administrator if there is none. Returns the password when it was
/// generated (so it can be shown once).
async fn bootstrap_administrator(
    store: &dyn Store,
    config: &Config,
) -> anyhow::Result<Option<String>> {
    if store.administrator_count().await? > 0 {
        return Ok(None);
    }
    let (password_text, generated) = if config.auth.admin_password.is_empty() {
        (password::generate(), true)
    } else {
        let chosen = config.auth.admin_password.expose();
        if let Err(reason) = password::check_strength(chosen) {
            anyhow::bail!(
                "the configured administrator password (auth.admin_password) is too weak: {reason}"
            );
        }
        (chosen.to_owned(), false)
    };
    let to_hash = password_text.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash))
        .await?
        .map_err(anyhow::Error::msg)?;
    store
        .create_administrator(&config.auth.admin_username, &hash)
        .await?;
    tracing::info!(username = %config.auth.admin_username, "created the administrator account");
    Ok(generated.then_some(password_text))
}

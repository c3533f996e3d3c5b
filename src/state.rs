//! The state every handler shares. Cloning is cheap (everything is behind `Arc`s or is
//! a channel handle).

use std::path::PathBuf;
use std::sync::Arc;

use media::Sfu;
use media::recorder::RecorderCapability;
use scheduler::Store;

use crate::auth::Signer;
use crate::signaling::presence::Presence;

/// Settings handlers need, copied out of the configuration at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of join links.
    pub public_url: String,
    /// Join links open this many minutes before the start.
    pub join_opens_minutes_before: i64,
    /// Lifetime of an administrator sign-in.
    pub admin_session_hours: i64,
    /// How long an open connection outlives its link's end.
    pub overrun_grace_minutes: i64,
    /// Built web client.
    pub web_dir: PathBuf,
    /// Hours between scheduled backups (for the "backups on time" indicator).
    pub backup_every_hours: u32,
    /// Data directory (recordings live under it).
    pub data_dir: PathBuf,
    /// Recording refuses to start with less free disk than this.
    pub min_free_disk_mb: u64,
    /// Days recordings are kept (0: forever).
    pub retention_days: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The TURN relay offered to participants, if any.
    pub turn: crate::config::TurnConfig,
}

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Bookings and accounts.
    pub store: Arc<dyn Store>,
    /// The audit log's one ordered writer.
    pub audit: crate::audit::AuditLog,
    /// Signs and checks tokens.
    pub signer: Arc<Signer>,
    /// The media plane.
    pub sfu: Sfu,
    /// Who is connected where.
    pub presence: Arc<Presence>,
    /// Live defenses (phases, countdowns, scores).
    pub defenses: Arc<crate::runtime::registry::Defenses>,
    /// Panel days: which room each session is held in, and the queue of defenses.
    pub days: Arc<crate::runtime::days::Days>,
    /// Live rooms' rules (sources, host controls, hands).
    pub rooms: Arc<crate::runtime::registry::Rooms>,
    /// Who waits in a defense's lobby.
    pub lobby: Arc<crate::runtime::lobby::Lobby>,
    /// Live WHIP feeds.
    pub ingests: Arc<crate::ingest::Ingests>,
    /// Recordings running now.
    pub recordings: Arc<crate::recording::registry::Recordings>,
    /// Whether this machine can record (checked once at start).
    pub recorder: Arc<Result<RecorderCapability, String>>,
    pub settings: Arc<Settings>,
    /// Alerts (log and webhook).
    pub alerts: crate::alerts::Alerter,
    /// Histograms for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Budgets of the public endpoints per client, and the sign-in bounds.
    pub limits: Arc<crate::limits::PublicLimits>,
    /// Outgoing e-mail, when an SMTP relay is configured.
    pub mailer: Option<crate::mail::Mailer>,
}

//! Configuration: built-in defaults, then an optional TOML file, then environment
//! variables (`VIVA_<SECTION>__<KEY>`, e.g. `VIVA_HTTP__LISTEN=0.0.0.0:8080`).
//! Secrets are held in [`Secret`], which never prints its value.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A configuration value that must never reach a log or an error message.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no value was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(unset)"
        } else {
            "Secret(***)"
        })
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Config {
    /// HTTP and WebSocket listener.
    pub http: HttpConfig,
    /// Media plane.
    pub media: MediaConfig,
    pub database: DatabaseConfig,
    /// Local files.
    pub storage: StorageConfig,
    /// Web client.
    pub web: WebConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Outgoing e-mail (invitations).
    pub smtp: SmtpConfig,
    /// The operators' listener (Prometheus metrics), separate from the public one.
    pub admin: AdminListenerConfig,
    /// Database backups.
    pub backup: BackupConfig,
    /// Alerts for the on-call people.
    pub alerts: AlertsConfig,
    /// Recording and post-production.
    pub recording: RecordingConfig,
    /// A TURN relay (coturn) for participants whose network lets only TLS out.
    #[serde(default)]
    pub turn: TurnConfig,
}

/// A TURN relay run beside Viva (coturn with `use-auth-secret`; `docs/deploy.md`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct TurnConfig {
    /// URLs handed to browsers, e.g. `turns:turn.example.org:443?transport=tcp`;
    /// empty: no relay is offered.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`: Viva signs each participant's credentials with it.
    pub secret: Secret,
    /// Longest a credential lives (it never outlives the participant's grant either).
    pub max_lifetime_hours: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: Secret::default(),
            max_lifetime_hours: 12,
        }
    }
}

/// Recording and how long recordings are kept.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct RecordingConfig {
    /// Recordings (parts and produced files) are deleted this many days after they
    /// stopped; 0 keeps them forever. Recordings published as help videos are kept
    /// while published.
    pub retention_days: u32,
    /// Post-production jobs run at once (each uses about one core).
    pub production_concurrency: usize,
}

/// Where alerts go and when the disk counts as low.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct AlertsConfig {
    /// URL that receives each alert as a JSON POST; empty: alerts are only logged.
    pub webhook: String,
    /// Free space on the data disk below which an alert fires, in MB.
    pub min_free_disk_mb: u64,
}

/// Backups of the database and a manifest of the recorded assets.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct BackupConfig {
    /// Where snapshots and manifests go (put it on another disk).
    pub dir: PathBuf,
    /// `viva serve` takes one every this many hours; 0 disables the schedule.
    pub every_hours: u32,
    /// How many snapshots to keep.
    pub keep: usize,
}

/// The operators' listener. Keep it on a private address: it is not authenticated.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct AdminListenerConfig {
    /// Address for `/metrics`; empty disables the listener.
    pub listen: String,
    /// Fault hooks for supervision tests (`POST /faults/media-stall` on this
    /// listener). Off in every real deployment.
    #[serde(default)]
    pub fault_hooks: bool,
}

/// Outgoing e-mail. Without a host, invitations are recorded and logged only.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct SmtpConfig {
    /// Relay host (plain SMTP, e.g. the institute's internal relay); empty = no e-mail.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Sender address, e.g. `Viva <viva@institute.example>`.
    pub from: String,
}

/// HTTP settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL people reach this server at; join links are built from it. Empty means
    /// `http://<bound address>`.
    pub public_url: String,
    /// Reverse proxies in front of Viva (their addresses): only from these is
    /// `X-Forwarded-For` believed, for the per-client budgets (`docs/security.md`).
    #[serde(default)]
    pub trusted_proxies: Vec<IpAddr>,
}

/// Media plane settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct MediaConfig {
    /// The one UDP port for all participants' media.
    pub udp_listen: SocketAddr,
    /// The ICE-TCP port (RFC 6544), offered beside UDP for networks that drop UDP;
    /// empty turns it off.
    #[serde(default = "default_tcp_listen")]
    pub tcp_listen: String,
    /// The address announced to browsers in ICE candidates.
    pub announce_ip: IpAddr,
    /// Ask browsers for their camera in three simulcast layers, and take WHIP
    /// encoders' layers, so that each subscriber can get the one that suits its
    /// window and its link.
    #[serde(default = "simulcast_on")]
    pub simulcast: bool,
}

fn simulcast_on() -> bool {
    true
}

/// Database settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db`.
    pub url: String,
}

/// Where local state lives.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct StorageConfig {
    /// Data directory (database, signing key, recordings).
    pub data_dir: PathBuf,
}

/// Web client settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct WebConfig {
    /// Directory with the built web client (`web/dist`).
    pub dir: PathBuf,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct AuthConfig {
    /// Key that signs join links and admin sessions (at least 32 characters). When
    /// unset, one is generated once and kept in `<data_dir>/signing.key`.
    pub signing_key: Secret,
    /// Administrator login name created at first start.
    pub admin_username: String,
    /// Administrator password at first start; generated and printed once when unset.
    pub admin_password: Secret,
    /// How long before a session's start its join links open.
    pub join_opens_minutes_before: i64,
    /// Lifetime of an administrator's sign-in.
    pub admin_session_hours: i64,
    /// How long an open connection outlives its link's end (a defense running over
    /// time is never cut off at its booked end); then it is closed as expired. A panel
    /// member's link counts until the panel day's last defense ends.
    #[serde(default = "default_overrun_grace")]
    pub overrun_grace_minutes: i64,
}

fn default_tcp_listen() -> String {
    "0.0.0.0:50000".into()
}

impl MediaConfig {
    /// The ICE-TCP address, when ICE-TCP is on.
    pub fn tcp_bind(&self) -> Option<SocketAddr> {
        self.tcp_listen.parse().ok()
    }
}

fn default_overrun_grace() -> i64 {
    60
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http: HttpConfig {
                listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
                public_url: "http://127.0.0.1:8080".into(),
                trusted_proxies: Vec::new(),
            },
            media: MediaConfig {
                udp_listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 50000),
                tcp_listen: default_tcp_listen(),
                announce_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                simulcast: true,
            },
            database: DatabaseConfig {
                url: "sqlite://data/viva.db".into(),
            },
            storage: StorageConfig {
                data_dir: PathBuf::from("data"),
            },
            web: WebConfig {
                dir: PathBuf::from("web/dist"),
            },
            alerts: AlertsConfig {
                webhook: String::new(),
                min_free_disk_mb: 2048,
            },
            recording: RecordingConfig {
                retention_days: 1095,
                production_concurrency: 1,
            },
            backup: BackupConfig {
                dir: PathBuf::from("data/backups"),
                every_hours: 24,
                keep: 14,
            },
            admin: AdminListenerConfig {
                listen: "127.0.0.1:9464".into(),
                fault_hooks: false,
            },
            smtp: SmtpConfig {
                host: String::new(),
                port: 25,
                from: "Viva <viva@localhost>".into(),
            },
            auth: AuthConfig {
                signing_key: Secret::default(),
                admin_username: "admin".into(),
                admin_password: Secret::default(),
                join_opens_minutes_before: 30,
                admin_session_hours: 12,
                overrun_grace_minutes: default_overrun_grace(),
            },
            turn: TurnConfig::default(),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be read or a value has the wrong type.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is out of range.
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults → `file` (if given; it must exist) → environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("VIVA_").split("__"))
            .extract()
            .map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !self.auth.signing_key.is_empty() && self.auth.signing_key.expose().len() < 32 {
            return Err(ConfigError::Invalid(
                "auth.signing_key must be at least 32 characters".into(),
            ));
        }
        if !self.auth.admin_password.is_empty()
            && let Err(reason) =
                crate::auth::password::check_strength(self.auth.admin_password.expose())
        {
            return Err(ConfigError::Invalid(format!(
                "auth.admin_password is too weak: {reason}"
            )));
        }
        if !(0..=24 * 60).contains(&self.auth.join_opens_minutes_before) {
            return Err(ConfigError::Invalid(
                "auth.join_opens_minutes_before must be between 0 and 1440".into(),
            ));
        }
        if !(0..=24 * 60).contains(&self.auth.overrun_grace_minutes) {
            return Err(ConfigError::Invalid(
                "auth.overrun_grace_minutes must be between 0 and 1440".into(),
            ));
        }
        if !(1..=24 * 7).contains(&self.auth.admin_session_hours) {
            return Err(ConfigError::Invalid(
                "auth.admin_session_hours must be between 1 and 168".into(),
            ));
        }
        if let Some(bad) = self
            .turn
            .urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(ConfigError::Invalid(format!(
                "turn.urls: {bad:?} is not a turn: or turns: URL"
            )));
        }
        if !self.turn.urls.is_empty() && self.turn.secret.is_empty() {
            return Err(ConfigError::Invalid(
                "turn.secret is required with turn.urls (coturn's static-auth-secret)".into(),
            ));
        }
        if !self.media.tcp_listen.is_empty() && self.media.tcp_bind().is_none() {
            return Err(ConfigError::Invalid(
                "media.tcp_listen must be an address like 0.0.0.0:50000, or empty".into(),
            ));
        }
        if !self.admin.listen.is_empty() && self.admin.listen.parse::<SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(
                "admin.listen must be an address like 127.0.0.1:9464, or empty".into(),
            ));
        }
        if !(self.http.public_url.starts_with("http://")
            || self.http.public_url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid(
                "http.public_url must start with http:// or https://".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's test jail returns figment::Error
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2-hunter2-hunter2-hunter2-x");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let mut c = Config::default();
        c.auth.admin_password = Secret::new("hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "viva.toml",
                "[http]\nlisten = \"127.0.0.1:9000\"\n[auth]\nadmin_username = \"secretary\"\n",
            )?;
            jail.set_env("VIVA_HTTP__LISTEN", "127.0.0.1:9001");
            let c = Config::load(Some(Path::new("viva.toml"))).expect("loads");
            assert_eq!(c.http.listen.port(), 9001, "environment wins over file");
            assert_eq!(c.auth.admin_username, "secretary", "file wins over default");
            assert_eq!(c.media.udp_listen.port(), 50000, "default kept");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIVA_AUTH__SIGNING_KEY", "short");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("signing_key"), "{err}");
            Ok(())
        });
        assert!(Config::load(Some(Path::new("/nonexistent/viva.toml"))).is_err());
    }
}

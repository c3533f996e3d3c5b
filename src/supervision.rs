//! Supervision by systemd (`deploy/viva.service`, `Type=notify`, `WatchdogSec=`):
//! Viva says when it is ready to take joins, pings the watchdog while it is alive,
//! and says when it stops. "Alive" means the media loop goes round: a loop that
//! stops (a hang, a handler spinning) stops the pings, systemd kills the process and
//! `Restart=always` starts it again, and the rooms come back from their saved state.
//!
//! The notification protocol is a datagram to the Unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace); without that
//! variable (not under systemd) every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::state::AppState;

/// A media loop silent for longer than this is stuck (it goes round at least once a
/// second when idle).
pub const MEDIA_LOOP_STUCK_AFTER: Duration = Duration::from_secs(5);

/// Whether the server is alive, from how long its media loop has been silent.
pub fn alive(media_loop_silent_for: Duration) -> bool {
    media_loop_silent_for <= MEDIA_LOOP_STUCK_AFTER
}

/// How often to ping a watchdog that expects a ping every `watchdog_usec`
/// microseconds: twice per period, as systemd advises.
pub fn ping_every(watchdog_usec: &str) -> Option<Duration> {
    let usec: u64 = watchdog_usec.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// The socket systemd listens on for this service's notifications.
#[derive(Debug)]
pub struct Notifier {
    target: Option<std::os::unix::net::SocketAddr>,
    socket: Option<UnixDatagram>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; a no-op notifier when it is unset or unusable.
    pub fn from_env() -> Self {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .and_then(|name| socket_addr(&name));
        let socket = target.as_ref().and_then(|_| UnixDatagram::unbound().ok());
        Self { target, socket }
    }

    /// Whether notifications go anywhere.
    pub fn enabled(&self) -> bool {
        self.target.is_some() && self.socket.is_some()
    }

    /// Sends one notification (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=…`);
    /// whether it was sent.
    pub fn notify(&self, message: &str) -> bool {
        match (&self.socket, &self.target) {
            (Some(socket), Some(target)) => socket.send_to_addr(message.as_bytes(), target).is_ok(),
            _ => false,
        }
    }
}

fn socket_addr(name: &str) -> Option<std::os::unix::net::SocketAddr> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes()).ok()
    } else if name.starts_with('/') {
        std::os::unix::net::SocketAddr::from_pathname(name).ok()
    } else {
        None
    }
}

/// Pings the watchdog (`WATCHDOG_USEC` set by systemd) while the server is alive;
/// once the media loop is stuck the pings stop and `/healthz` says so, and systemd
/// restarts the service. Returns at once when no watchdog is configured.
pub async fn run_watchdog(state: AppState, notifier: std::sync::Arc<Notifier>) {
    let Some(every) = std::env::var("WATCHDOG_USEC")
        .ok()
        .and_then(|v| ping_every(&v))
    else {
        return;
    };
    if !notifier.enabled() {
        return;
    }
    let mut ticks = tokio::time::interval(every);
    let mut stuck_reported = false;
    loop {
        ticks.tick().await;
        let silent = state.sfu.loop_silent_for();
        if alive(silent) {
            notifier.notify("WATCHDOG=1");
            stuck_reported = false;
        } else if !stuck_reported {
            stuck_reported = true;
            tracing::error!(
                silent_ms = silent.as_millis() as u64,
                "the media loop is stuck; the watchdog is no longer fed"
            );
            notifier.notify("STATUS=media loop stuck");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_fed_twice_per_period_and_only_while_media_moves() {
        assert_eq!(ping_every("10000000"), Some(Duration::from_secs(5)));
        assert_eq!(ping_every("0"), None);
        assert_eq!(ping_every("soon"), None);
        assert!(alive(Duration::from_millis(900)));
        assert!(alive(MEDIA_LOOP_STUCK_AFTER));
        assert!(!alive(MEDIA_LOOP_STUCK_AFTER + Duration::from_millis(1)));
    }

    #[test]
    fn notifications_reach_the_socket_systemd_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            target: socket_addr(path.to_str().unwrap()),
            socket: UnixDatagram::unbound().ok(),
        };
        assert!(notifier.enabled());
        assert!(notifier.notify("READY=1"));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        assert!(socket_addr("relative/path").is_none());
        let silent = Notifier {
            target: None,
            socket: None,
        };
        assert!(!silent.enabled());
        assert!(!silent.notify("READY=1"));
    }
}

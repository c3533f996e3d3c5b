//! Alerts for round-the-clock response: a live session turning unstable, the recorder
//! being unusable, the disk running low. Every alert is logged (`ALERT`, warn level) and,
//! when `[alerts] webhook` is set, POSTed there as JSON `{kind, message, sessionId?,
//! participantId?, at}`. Each condition fires once and re-arms only after it cleared,
//! so a flapping link does not flood the on-call phone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::stability::Quality;

/// This many poor intervals in a row (2 s each) make a live session unstable.
pub const POOR_INTERVALS_TO_ALERT: u32 = 3;

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `sessionUnstable`, `recorderUnavailable` or `diskLow`.
    pub kind: &'static str,
    /// For people.
    pub message: String,
    /// The session concerned.
    pub session_id: Option<Uuid>,
    /// The participant concerned.
    pub participant_id: Option<Uuid>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Decides when conditions fire and re-arm. Pure (no I/O).
#[derive(Debug, Default)]
pub struct Conditions {
    poor_streak: std::collections::HashMap<(Uuid, Uuid), u32>,
    active: HashSet<String>,
}

impl Conditions {
    /// A participant's live quality (worst direction) for one interval; returns an
    /// alert when their session just turned unstable because of them.
    pub fn on_quality(
        &mut self,
        session: Uuid,
        participant: Uuid,
        worst: Quality,
        at: DateTime<Utc>,
    ) -> Option<Alert> {
        let key = format!("unstable:{session}:{participant}");
        let streak = self.poor_streak.entry((session, participant)).or_default();
        if worst == Quality::Poor {
            *streak += 1;
        } else {
            *streak = 0;
            self.active.remove(&key);
            return None;
        }
        (*streak >= POOR_INTERVALS_TO_ALERT && self.active.insert(key)).then(|| Alert {
            kind: "sessionUnstable",
            message: format!(
                "a participant's connection has been poor for {} s",
                *streak * 2
            ),
            session_id: Some(session),
            participant_id: Some(participant),
            at,
        })
    }

    /// Free disk space; returns an alert when it just fell below the minimum.
    pub fn on_free_disk(&mut self, free_mb: u64, min_mb: u64, at: DateTime<Utc>) -> Option<Alert> {
        if free_mb >= min_mb {
            self.active.remove("disk");
            return None;
        }
        self.active.insert("disk".into()).then(|| Alert {
            kind: "diskLow",
            message: format!(
                "{free_mb} MB free on the data disk (minimum {min_mb} MB): recordings may fail"
            ),
            session_id: None,
            participant_id: None,
            at,
        })
    }
}

/// Sends alerts: log, and the webhook when configured.
#[derive(Debug, Clone)]
pub struct Alerter {
    webhook: Option<String>,
    http: reqwest::Client,
    conditions: Arc<Mutex<Conditions>>,
}

impl Alerter {
    /// An alerter posting to `webhook` (empty: log only).
    pub fn new(webhook: &str) -> Self {
        Self {
            webhook: (!webhook.trim().is_empty()).then(|| webhook.trim().to_owned()),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            conditions: Arc::default(),
        }
    }

    /// Runs `f` on the conditions and sends the alert it returns, if any.
    pub fn check(&self, f: impl FnOnce(&mut Conditions) -> Option<Alert>) {
        let alert = {
            let mut c = self.conditions.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut c)
        };
        if let Some(alert) = alert {
            self.send(alert);
        }
    }

    /// Logs and posts an alert (in the background; a failed post is logged).
    pub fn send(&self, alert: Alert) {
        tracing::warn!(kind = alert.kind, session = ?alert.session_id, "ALERT: {}", alert.message);
        let Some(url) = self.webhook.clone() else {
            return;
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            match http.post(&url).json(&alert).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::error!(status = %r.status(), "alert webhook refused the alert"),
                Err(e) => tracing::error!(error = %e, "alert webhook unreachable"),
            }
        });
    }
}

/// Free space of the file system holding `path`, in MB.
pub fn free_disk_mb(path: &std::path::Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some(stat.blocks_available() as u64 * stat.fragment_size() as u64 / (1024 * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_alerts_after_three_poor_intervals_once_until_it_recovers() {
        let mut c = Conditions::default();
        let (s, p) = (Uuid::new_v4(), Uuid::new_v4());
        let now = Utc::now();
        assert!(c.on_quality(s, p, Quality::Poor, now).is_none());
        assert!(c.on_quality(s, p, Quality::Poor, now).is_none());
        let alert = c.on_quality(s, p, Quality::Poor, now).unwrap();
        assert_eq!(
            (alert.kind, alert.participant_id),
            ("sessionUnstable", Some(p))
        );
        assert!(
            c.on_quality(s, p, Quality::Poor, now).is_none(),
            "no repeat while it lasts"
        );
        assert!(c.on_quality(s, p, Quality::Fair, now).is_none());
        for _ in 0..2 {
            assert!(c.on_quality(s, p, Quality::Poor, now).is_none());
        }
        assert!(
            c.on_quality(s, p, Quality::Poor, now).is_some(),
            "re-armed after recovery"
        );
        let other = Uuid::new_v4();
        assert!(c.on_quality(s, other, Quality::Good, now).is_none());
    }

    #[test]
    fn low_disk_alerts_once_until_space_returns() {
        let mut c = Conditions::default();
        let now = Utc::now();
        assert!(c.on_free_disk(5000, 2048, now).is_none());
        assert_eq!(c.on_free_disk(1000, 2048, now).unwrap().kind, "diskLow");
        assert!(c.on_free_disk(900, 2048, now).is_none());
        assert!(c.on_free_disk(3000, 2048, now).is_none());
        assert!(c.on_free_disk(1000, 2048, now).is_some());
    }

    #[test]
    fn free_space_is_read() {
        assert!(free_disk_mb(std::path::Path::new("/")).is_some());
    }
}

//! The institute's yearly indicators (`viva report --year YYYY`), computed from what the
//! store holds: defense sessions held and their stability verdicts (definition v1),
//! satisfaction ratings, help videos published and their views, backups on time. An
//! indicator without data (no ratings, no backups yet) is `null` with that said, never
//! zero.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use scheduler::{Role, SessionKind, Store, StoreError};
use serde::Serialize;

use crate::signaling::metering::intervals;
use crate::stability::{DEFINITION_VERSION, judge_session};

/// A rating of 4 or 5 stars counts as satisfied.
pub const SATISFIED_FROM_STARS: u8 = 4;

/// One indicator with its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Indicator {
    /// Stable key.
    pub key: &'static str,
    /// Label (zh-CN / English).
    pub label: &'static str,
    /// The value, `None` when not collected yet.
    pub value: Option<f64>,
    /// Unit: `count` or `percent`.
    pub unit: &'static str,
    /// The target (at least).
    pub target: f64,
    /// Whether the target is met (`None` without a value).
    pub met: Option<bool>,
    /// How the value was computed, or why it is missing.
    pub note: String,
}

/// The year's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct YearReport {
    /// The year.
    pub year: i32,
    /// Stability definition used.
    pub stability_definition: &'static str,
    /// Indicators in display order.
    pub indicators: Vec<Indicator>,
    /// How participants' media reached the SFU: participants per session and path
    /// (one who moved from UDP to a relay counts under both).
    pub connection_paths: ConnectionPaths,
    /// Sessions (defenses and trainings) during which the server itself was away:
    /// killed, crashed or restarted while they ran.
    pub sessions_with_server_gaps: usize,
}

/// Participants per session and path their media took (`docs/stability.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPaths {
    /// Over the SFU's UDP port.
    pub udp: usize,
    /// Over ICE-TCP (a network dropping UDP).
    pub tcp: usize,
    /// Through a TURN relay.
    pub relay: usize,
}

fn indicator(
    key: &'static str,
    label: &'static str,
    value: Option<f64>,
    unit: &'static str,
    target: f64,
    note: String,
) -> Indicator {
    Indicator {
        key,
        label,
        value,
        unit,
        target,
        met: value.map(|v| v >= target),
        note,
    }
}

/// The first whole day not in `[.., end)`: `end`'s own day when the range ends at its
/// midnight (a year's end), else the day after (a range ending now includes today).
fn first_day_after(end: DateTime<Utc>) -> chrono::NaiveDate {
    let day = end.date_naive();
    if end.time() == chrono::NaiveTime::MIN {
        day
    } else {
        day.succ_opt().unwrap_or(day)
    }
}

fn percent(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

/// Computes the indicators of `year` (sessions starting in it, up to `now`).
pub async fn year_report(
    store: &dyn Store,
    year: i32,
    now: DateTime<Utc>,
    backup_period: chrono::Duration,
) -> Result<YearReport, StoreError> {
    let start = Utc
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .single()
        .ok_or(StoreError::NotFound)?;
    let end = Utc
        .with_ymd_and_hms(year + 1, 1, 1, 0, 0, 0)
        .single()
        .ok_or(StoreError::NotFound)?
        .min(now);
    let mut tally = SessionTally::default();
    for session in store.sessions_between(start, end).await? {
        if !session.cancelled {
            tally.add(store, &session).await?;
        }
    }
    let published = store
        .help_videos("", None)
        .await?
        .iter()
        .filter(|v| v.published_at >= start && v.published_at < end)
        .count();
    let views: i64 = store
        .help_video_views(start.date_naive(), first_day_after(end))
        .await?
        .iter()
        .map(|(_, _, n)| n)
        .sum();
    let attempts = store.backups(start, end).await?;
    let backups = BackupTally {
        attempts: attempts.len(),
        ok: attempts.iter().filter(|a| a.ok).count(),
        on_time: crate::backup::on_time_share(&attempts, start, end, backup_period),
        period_hours: backup_period.num_hours(),
    };
    Ok(YearReport {
        year,
        stability_definition: DEFINITION_VERSION,
        sessions_with_server_gaps: tally.with_server_gaps,
        indicators: indicators(&tally, published, views, &backups),
        connection_paths: tally.paths,
    })
}

/// What the year's sessions add up to, session by session.
#[derive(Default)]
struct SessionTally {
    held: usize,
    stable: usize,
    with_server_gaps: usize,
    paths: ConnectionPaths,
    users: usize,
    users_satisfied: usize,
    experts: usize,
    experts_satisfied: usize,
}

impl SessionTally {
    async fn add(
        &mut self,
        store: &dyn Store,
        session: &scheduler::Session,
    ) -> Result<(), StoreError> {
        if session.kind == SessionKind::Defense {
            self.add_verdict(store, session.id).await?;
        }
        if !store.server_gaps(session.id).await?.is_empty() {
            self.with_server_gaps += 1;
        }
        self.add_paths(store, session.id).await?;
        for rating in store.ratings(session.id).await? {
            let satisfied = usize::from(rating.stars >= SATISFIED_FROM_STARS);
            if rating.role == Role::Expert {
                self.experts += 1;
                self.experts_satisfied += satisfied;
            } else {
                self.users += 1;
                self.users_satisfied += satisfied;
            }
        }
        Ok(())
    }

    /// Held: media flowed. A booked defense nobody joined was not held. A compacted
    /// session's verdict of record is the stored one.
    async fn add_verdict(
        &mut self,
        store: &dyn Store,
        session: uuid::Uuid,
    ) -> Result<(), StoreError> {
        if let Some((was_stable, _)) = store.session_verdict(session).await? {
            self.held += 1;
            self.stable += usize::from(was_stable);
            return Ok(());
        }
        let samples = store.samples(session).await?;
        if !samples.is_empty() {
            self.held += 1;
            let gaps = crate::stability::server_gaps_of(store, session).await?;
            if judge_session(&intervals(&samples), &gaps).stable {
                self.stable += 1;
            }
        }
        Ok(())
    }

    /// The path each participant's media took, once per participant and path.
    async fn add_paths(
        &mut self,
        store: &dyn Store,
        session: uuid::Uuid,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::BTreeSet::new();
        for event in store.connection_events(session).await? {
            if event.event != "path" {
                continue;
            }
            let path = serde_json::from_str::<serde_json::Value>(&event.detail)
                .ok()
                .and_then(|d| d["path"].as_str().map(str::to_owned));
            if let Some(path) = path
                && seen.insert((event.participant_id, path.clone()))
            {
                match path.as_str() {
                    "udp" => self.paths.udp += 1,
                    "tcp" => self.paths.tcp += 1,
                    "relay" => self.paths.relay += 1,
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// The year's backup attempts, for the on-time indicator.
struct BackupTally {
    attempts: usize,
    ok: usize,
    on_time: Option<f64>,
    period_hours: i64,
}

/// The indicators against the institute's targets.
fn indicators(
    tally: &SessionTally,
    published: usize,
    views: i64,
    backups: &BackupTally,
) -> Vec<Indicator> {
    let SessionTally {
        held,
        stable,
        users,
        users_satisfied,
        experts,
        experts_satisfied,
        ..
    } = *tally;
    let backups_on_time = backups.on_time;
    vec![
        indicator(
            "sessionsHeld",
            "答辩场次 Defense sessions held",
            Some(held as f64),
            "count",
            80.0,
            "defense sessions in which media flowed".into(),
        ),
        indicator(
            "stabilityRate",
            "视频答辩稳定率 Video-defense stability rate",
            percent(stable, held),
            "percent",
            95.0,
            format!("{stable} stable of {held} held (definition {DEFINITION_VERSION})"),
        ),
        indicator(
            "helpVideosPublished",
            "帮助视频发布数 Help videos published",
            Some(published as f64),
            "count",
            60.0,
            "training recordings published to the help-video library this year".into(),
        ),
        indicator(
            "helpVideoViews",
            "帮助视频观看次数 Help-video views",
            Some(views as f64),
            "count",
            20_000.0,
            "plays of help videos this year (counted per video and day)".into(),
        ),
        indicator(
            "userSatisfaction",
            "用户满意度 User satisfaction",
            percent(users_satisfied, users),
            "percent",
            95.0,
            format!("{users_satisfied} of {users} applicant and trainee ratings at 4–5 stars"),
        ),
        indicator(
            "expertSatisfaction",
            "专家满意度 Expert satisfaction",
            percent(experts_satisfied, experts),
            "percent",
            90.0,
            format!("{experts_satisfied} of {experts} expert ratings at 4–5 stars"),
        ),
        indicator(
            "backupsOnTime",
            "按时备份率 Backups on time",
            backups_on_time,
            "percent",
            95.0,
            if backups_on_time.is_some() {
                format!(
                    "{} of {} attempts succeeded; share of {}-hour periods with a successful backup",
                    backups.ok, backups.attempts, backups.period_hours
                )
            } else {
                "no backup on record this year".into()
            },
        ),
    ]
}

impl YearReport {
    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "Viva {} · stability definition {}\n",
            self.year, self.stability_definition
        );
        out.push_str(&format!(
            "{:<44} {:>10} {:>10} {:>5}  {}\n",
            "indicator", "value", "target", "met", "note"
        ));
        for i in &self.indicators {
            let show = |v: f64| match i.unit {
                "percent" => format!("{v:.1}%"),
                _ => format!("{v:.0}"),
            };
            out.push_str(&format!(
                "{:<44} {:>10} {:>10} {:>5}  {}\n",
                i.label,
                i.value.map(show).unwrap_or_else(|| "—".into()),
                format!("≥{}", show(i.target)),
                match i.met {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "—",
                },
                i.note
            ));
        }
        let p = &self.connection_paths;
        out.push_str(&format!(
            "连接路径 Connection paths (participants per session): UDP {}, ICE-TCP {}, TURN relay {}\n",
            p.udp, p.tcp, p.relay
        ));
        out.push_str(&format!(
            "服务器中断 Sessions with a server restart during them: {}\n",
            self.sessions_with_server_gaps
        ));
        out
    }
}

/// The current year, for defaults.
pub fn this_year() -> i32 {
    Utc::now().year()
}

//! What a held session leaves behind: score sheets, satisfaction ratings, chat, and the
//! append-only, hash-chained audit log. Types and the chain's rules live here so that
//! both storage backends hash and verify exactly the same way.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// One scoring criterion of a programme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Criterion {
    /// Name shown to experts.
    pub name: String,
    /// Weight in the total; weights are normalised, so they need not sum to 1.
    pub weight: f64,
    /// Highest score (the lowest is 0).
    pub max: u32,
}

impl Criterion {
    /// The criteria used when a programme defines none: the institute's usual sheet.
    pub fn defaults() -> Vec<Criterion> {
        [
            ("创新性 Innovation", 30.0),
            ("可行性 Feasibility", 30.0),
            ("团队能力 Team", 20.0),
            ("预期效益 Expected benefit", 20.0),
        ]
        .into_iter()
        .map(|(name, weight)| Criterion {
            name: name.to_owned(),
            weight,
            max: 10,
        })
        .collect()
    }

    /// Checks a programme's criteria: 1–20 of them, named, positive weights, 1–100 scale.
    pub fn validate(criteria: &[Criterion]) -> Result<(), String> {
        if criteria.is_empty() || criteria.len() > 20 {
            return Err("a programme needs 1 to 20 criteria".into());
        }
        for c in criteria {
            if c.name.trim().is_empty() || c.name.chars().count() > 100 {
                return Err("each criterion needs a name of at most 100 characters".into());
            }
            if !(c.weight.is_finite() && c.weight > 0.0 && c.weight <= 1000.0) {
                return Err(format!(
                    "{}: the weight must be above 0 and at most 1000",
                    c.name
                ));
            }
            if !(1..=100).contains(&c.max) {
                return Err(format!(
                    "{}: the scale must top out between 1 and 100",
                    c.name
                ));
            }
        }
        Ok(())
    }
}

/// The weighted total of a sheet on these criteria, 0–100 (each score is taken as a
/// share of its criterion's maximum; weights are normalised). `None` when the sheet
/// does not fit the criteria.
pub fn weighted_total(criteria: &[Criterion], scores: &[u32]) -> Option<f64> {
    if scores.len() != criteria.len() || criteria.is_empty() {
        return None;
    }
    let weights: f64 = criteria.iter().map(|c| c.weight).sum();
    let sum: f64 = criteria
        .iter()
        .zip(scores)
        .map(|(c, s)| c.weight * f64::from(*s) / f64::from(c.max.max(1)))
        .sum();
    Some(sum / weights.max(f64::EPSILON) * 100.0)
}

/// An expert's score sheet for one defense, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScoreSheetRecord {
    /// The defense.
    pub session_id: Uuid,
    /// The expert (participant id).
    pub expert_id: Uuid,
    /// One score per criterion, in the criteria's order.
    pub scores: Vec<u32>,
    /// The expert's comment.
    pub comment: String,
    /// When it was (last) submitted.
    pub submitted_at: DateTime<Utc>,
    /// Whether it is locked; the host reopening it unlocks it.
    pub locked: bool,
    /// Why the host last reopened it, if ever.
    pub reopen_reason: Option<String>,
}

/// A participant's satisfaction with a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rating {
    /// The session.
    pub session_id: Uuid,
    /// Who rated (participant id).
    pub participant_id: Uuid,
    /// Their role in the session.
    pub role: crate::Role,
    /// 1–5.
    pub stars: u8,
    /// Free comment.
    pub comment: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A chat message of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// Author (participant id).
    pub author_id: Uuid,
    /// Author's display name at the time.
    pub author_name: String,
    /// Text (1–1000 characters).
    pub text: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Removed by the host (kept for the record, no longer shown).
    pub removed: bool,
}

/// One track of one participant's media over one interval, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamSampleRecord {
    /// The session.
    pub session_id: Uuid,
    /// The participant.
    pub participant_id: Uuid,
    /// End of the interval.
    pub at: DateTime<Utc>,
    /// Its length in seconds.
    pub seconds: f64,
    /// `up` (publisher → SFU) or `down` (SFU → subscriber).
    pub direction: String,
    /// Which track: `microphone`, `camera` or `screen` uplink; `publisher/source`
    /// downlink (whose source the participant received); empty for samples stored
    /// before tracks were told apart, which pool a direction's tracks.
    pub track: String,
    /// Packets expected or sent.
    pub packets: i64,
    /// Packets lost.
    pub lost: i64,
    /// Bitrate, kbit/s.
    pub kbps: f64,
    /// Jitter, ms.
    pub jitter_ms: f64,
    /// Round trip, ms.
    pub rtt_ms: Option<f64>,
    pub keyframes: i64,
    /// Freezes the browser reported.
    pub freezes: i64,
    /// Video frames received (uplink).
    pub frames: i64,
    /// NACKs the SFU sent for this uplink.
    pub nacks: i64,
    /// Keyframe requests (PLI) the SFU sent for this uplink.
    pub plis: i64,
}

/// Something that happened to a participant's connection: ICE/DTLS state changes,
/// joins, reconnects, join failures, the browser's own reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionEvent {
    /// The session.
    pub session_id: Uuid,
    /// The participant.
    pub participant_id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// What: `connected`, `disconnected`, `failed`, `joined`, `report`, ….
    pub event: String,
    /// Details as JSON text.
    pub detail: String,
}

/// A participant's set-up check (devices and network path, days before a session).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupCheck {
    pub id: Uuid,
    /// The session they are invited to.
    pub session_id: Uuid,
    /// The participant.
    pub participant_id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Their browser, as it names itself.
    pub user_agent: String,
    /// How media reached the SFU: `udp`, `tcp`, `relay`; `None` when it did not.
    pub path: Option<String>,
    /// Round trip to the SFU, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Loss on the loopback through the SFU, percent.
    pub loss_percent: Option<f64>,
    /// Bitrate reached on the loopback, kbit/s.
    pub kbps: Option<f64>,
    /// A camera gave pictures.
    pub camera: bool,
    /// A microphone gave sound.
    pub microphone: bool,
    /// `good`, `fair`, `poor` or `blocked`.
    pub verdict: String,
}

/// One backup attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    pub id: Uuid,
    /// When it finished.
    pub at: DateTime<Utc>,
    /// The snapshot file.
    pub file: String,
    /// Its size.
    pub bytes: i64,
    /// Whether it worked.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
}

/// An event to append to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Who did it: `participant:<id>`, `admin:<name>`, or `system`.
    pub actor: String,
    /// What: `join`, `leave`, `admit`, `phase`, `scoreSubmitted`, `refused`, ….
    pub action: String,
    /// Details as a JSON object (ids, never tokens or secrets).
    pub detail: serde_json::Value,
}

/// An entry of the audit log as stored: numbered and chained to its predecessor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When it happened (microsecond precision: what both databases keep).
    pub at: DateTime<Utc>,
    /// The session concerned, if any.
    pub session_id: Option<Uuid>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// Details, as the JSON text that was hashed.
    pub detail: String,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over this entry's fields and `prev_hash`, hex.
    pub hash: String,
}

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl NewAuditEntry {
    /// The stored entry that follows `prev` (`None` for the first): numbered, time
    /// truncated to microseconds, detail serialised once, hash computed.
    pub fn chain_after(&self, prev: Option<(i64, &str)>) -> AuditEntry {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut entry = AuditEntry {
            seq,
            at: self.at.trunc_subsecs(6),
            session_id: self.session_id,
            actor: self.actor.clone(),
            action: self.action.clone(),
            detail: self.detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }
}

impl AuditEntry {
    /// The hash this entry must carry, from its fields.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        // Length-prefixed fields: no two different entries serialise the same way.
        for field in [
            self.seq.to_string(),
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.session_id.map(|s| s.to_string()).unwrap_or_default(),
            self.actor.clone(),
            self.action.clone(),
            self.detail.clone(),
            self.prev_hash.clone(),
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where a chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("audit entry {seq}: {reason}")]
pub struct ChainBreak {
    /// The first bad entry.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Verifies a whole log, oldest first: numbering without gaps, every hash recomputed,
/// every link to the predecessor intact. Returns the number of entries checked.
pub fn verify_chain(entries: &[AuditEntry]) -> Result<usize, ChainBreak> {
    let mut prev_hash = GENESIS_HASH.to_owned();
    for (i, entry) in entries.iter().enumerate() {
        let expected_seq = i as i64 + 1;
        let fail = |reason: &str| ChainBreak {
            seq: entry.seq,
            reason: reason.to_owned(),
        };
        if entry.seq != expected_seq {
            return Err(fail(&format!(
                "expected entry {expected_seq}: entries are missing"
            )));
        }
        if entry.prev_hash != prev_hash {
            return Err(fail("does not link to the previous entry"));
        }
        if entry.compute_hash() != entry.hash {
            return Err(fail("its content does not match its hash (altered)"));
        }
        prev_hash.clone_from(&entry.hash);
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> NewAuditEntry {
        NewAuditEntry {
            at: Utc::now(),
            session_id: Some(Uuid::new_v4()),
            actor: "participant:x".into(),
            action: action.into(),
            detail: serde_json::json!({"k": 1}),
        }
    }

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let next = entry(&format!("a{i}")).chain_after(prev);
            out.push(next);
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)), Ok(5));
        assert_eq!(verify_chain(&[]), Ok(0));
    }

    #[test]
    fn altering_removing_or_reordering_entries_is_detected() {
        let mut altered = chain(4);
        altered[2].detail = r#"{"k":2}"#.into();
        assert_eq!(verify_chain(&altered).unwrap_err().seq, 3);

        let mut rehashed = chain(4);
        rehashed[1].action = "forged".into();
        rehashed[1].hash = rehashed[1].compute_hash();
        assert_eq!(
            verify_chain(&rehashed).unwrap_err(),
            ChainBreak {
                seq: 3,
                reason: "does not link to the previous entry".into()
            },
            "re-hashing one entry breaks the next link"
        );

        let mut missing = chain(4);
        missing.remove(1);
        assert_eq!(verify_chain(&missing).unwrap_err().seq, 3);

        let mut truncated_front = chain(3);
        truncated_front.remove(0);
        assert!(verify_chain(&truncated_front).is_err());
    }

    #[test]
    fn criteria_are_validated() {
        assert!(Criterion::validate(&Criterion::defaults()).is_ok());
        assert!(Criterion::validate(&[]).is_err());
        for bad in [
            Criterion {
                name: " ".into(),
                weight: 1.0,
                max: 10,
            },
            Criterion {
                name: "a".into(),
                weight: 0.0,
                max: 10,
            },
            Criterion {
                name: "a".into(),
                weight: f64::NAN,
                max: 10,
            },
            Criterion {
                name: "a".into(),
                weight: 1.0,
                max: 0,
            },
            Criterion {
                name: "a".into(),
                weight: 1.0,
                max: 101,
            },
        ] {
            assert!(
                Criterion::validate(std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}

/// A recording of a session (a defense from admission to close, or what a host or
/// trainer chose to record). Its media are in [`RecordingPart`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingRecord {
    pub id: Uuid,
    /// The session recorded.
    pub session_id: Uuid,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it stopped (`None` while recording, or when the server died mid-recording).
    pub stopped_at: Option<DateTime<Utc>>,
    /// `recording`, `stopped`, `interrupted` (found unfinished after a restart).
    pub state: String,
    /// Why it stopped abnormally.
    pub error: Option<String>,
}

/// One file of one recorded track (at most five minutes). Stored when the file is
/// opened, so a crash never leaves a file nobody knows about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingPart {
    pub id: Uuid,
    /// The recording.
    pub recording_id: Uuid,
    /// The publisher (participant id).
    pub participant: String,
    /// `microphone`, `camera` or `screen`.
    pub source: String,
    /// `OPUS`, `VP8`, `VP9`, `H264`.
    pub codec: String,
    /// 0-based index within the track.
    pub index: i64,
    /// The file, relative to the recordings directory.
    pub path: String,
    /// Where it starts on the recording's timeline, in milliseconds.
    pub offset_ms: i64,
    /// Wall-clock time of its first packet.
    pub opened_at: DateTime<Utc>,
    /// Whether the file was closed (cleanly or not).
    pub closed: bool,
    /// Whether the muxer finished it cleanly (has an index).
    pub clean: bool,
    /// Size when closed.
    pub bytes: i64,
}

/// A post-production job: one per recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductionJob {
    pub id: Uuid,
    /// The recording produced.
    pub recording_id: Uuid,
    /// `queued`, `running`, `done`, `failed`.
    pub state: String,
    /// Attempts started so far.
    pub attempts: i64,
    /// 0.0–1.0 of the current attempt.
    pub progress: f64,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// What it produced (JSON: files, duration, size), once done.
    pub outputs: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl ProductionJob {
    /// A new job for `recording`, waiting for a worker.
    pub fn queued(recording: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::new_v4(),
            recording_id: recording,
            state: "queued".into(),
            attempts: 0,
            progress: 0.0,
            error: None,
            outputs: None,
            updated_at: at,
        }
    }
}

/// A training recording published as a help video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HelpVideo {
    pub id: Uuid,
    /// The recording it was produced from.
    pub recording_id: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    /// Crop or technique category (e.g. 果树, 水稻, 植保).
    pub category: String,
    /// The envoy (expert) who presents it.
    pub envoy: String,
    /// Who published it (administrator account or trainer participant id).
    pub published_by: String,
    /// When.
    pub published_at: DateTime<Utc>,
    /// Views so far.
    pub views: i64,
}

/// A live room's state as last saved, so a restarted server rebuilds the room as its
/// participants left it. `state` is the server's own JSON (the store does not read it).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRoomRecord {
    /// The room (a session's id; a panel day's room is its first defense's).
    pub room_id: Uuid,
    /// The state, as the server serialised it.
    pub state: String,
    /// When it was saved.
    pub saved_at: DateTime<Utc>,
}

/// The server's last sign of life: written with every save of live state, and once
/// more when it stops on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// When.
    pub at: DateTime<Utc>,
    /// Whether the server was stopping on purpose (SIGTERM) rather than running.
    pub clean_stop: bool,
}

/// A span during a live session when the server itself was away (killed, crashed,
/// restarted): the stability record blames no participant for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerGap {
    /// The session.
    pub session_id: Uuid,
    /// The server's last sign of life before the gap.
    pub from: DateTime<Utc>,
    /// When the server was back.
    pub to: DateTime<Utc>,
    /// A planned restart (the server stopped on SIGTERM) rather than a crash.
    pub planned: bool,
}

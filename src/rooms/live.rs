//! Live state that outlives the server. Everything the people in a room would
//! notice losing (who is admitted or waits in the lobby, the phase and its deadline
//! with extensions and warnings given, the panel day's queue, host controls, removals,
//! the recording switch) is saved per room as it changes, and rebuilt at start before
//! the first join is taken. Score sheets, chat, ratings and phase changes are stored
//! as they happen elsewhere and are read back as before.
//!
//! - [`snapshot`] reads a room's state out of the runtime's state machines
//!   ([`crate::runtime`] produces and resumes it: pure, tested on virtual time).
//! - [`Saver`] writes changed rooms about once a second, with the server's
//!   heartbeat, in one transaction: the ordered, coalescing writer (a burst of
//!   commands costs one write; the latest state wins).
//! - [`rebuild`] runs at start: loads each saved room as a join would, resumes its
//!   state `away` after it was saved (the phase's clock ran meanwhile), records the
//!   time the server was away as a server gap of the session being held, and names
//!   the recordings to continue.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use scheduler::record::{Heartbeat, LiveRoomRecord, ServerGap};
use scheduler::{Session, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::runtime::defense::DefenseLive;
use crate::runtime::room::RoomLive;
use crate::state::AppState;

/// How often changed rooms and the heartbeat are written.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The saved form's version; a room saved in another is not resumed.
const FORMAT: u32 = 1;

/// One room's saved state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSnapshot {
    /// [`FORMAT`].
    pub format: u32,
    /// The sessions held in the room (a panel day's defenses in booked order).
    pub sessions: Vec<Uuid>,
    /// The room's rules.
    pub rules: RoomLive,
    /// (session, participant, waits in the lobby) for everyone seen.
    pub lobby: Vec<(Uuid, Uuid, bool)>,
    /// A panel day's closed defenses.
    pub closed_defenses: Vec<Uuid>,
    /// Each live defense's state.
    pub defenses: Vec<(Uuid, DefenseLive)>,
}

impl RoomSnapshot {
    /// The same snapshot with the phases' running clocks left out: what tells a
    /// change worth writing from time passing (the saved time keeps the clock).
    fn without_clocks(&self) -> Self {
        let mut still = self.clone();
        for (_, defense) in &mut still.defenses {
            defense.phase_elapsed_ms = defense.phase_elapsed_ms.map(|_| 0);
        }
        still
    }
}

/// A room's state now, if the room is live.
pub fn snapshot(state: &AppState, room: Uuid, now: Instant) -> Option<RoomSnapshot> {
    let rules = state.rooms.with(room, |r| r.live())?;
    let (sessions, closed_defenses) = state
        .days
        .with(room, |q| (q.sessions().to_vec(), q.closed()))
        .unwrap_or_else(|| (vec![room], Vec::new()));
    let defenses = sessions
        .iter()
        .filter_map(|s| state.defenses.with(*s, |d| (*s, d.live(now))))
        .collect();
    Some(RoomSnapshot {
        format: FORMAT,
        lobby: state.lobby.entries_of(&sessions),
        sessions,
        rules,
        closed_defenses,
        defenses,
    })
}

/// The writer's memory: what was last written per room, and when each room's last
/// session ends (after which it is forgotten).
#[derive(Debug, Default)]
pub struct Saver {
    written: HashMap<Uuid, RoomSnapshot>,
    ends: HashMap<Uuid, DateTime<Utc>>,
}

impl Saver {
    /// Writes every room that changed since the last call, forgets rooms whose
    /// sessions are over, and beats the heartbeat (`clean_stop` on a planned stop).
    /// Returns how many rooms were written.
    pub async fn save(&mut self, state: &AppState, clean_stop: bool) -> Result<usize, StoreError> {
        let (now, wall) = (Instant::now(), Utc::now());
        let grace = chrono::Duration::minutes(state.settings.overrun_grace_minutes);
        let mut rooms = Vec::new();
        let mut forget = Vec::new();
        let mut written = Vec::new();
        for room in state.rooms.ids() {
            let Some(snapshot) = snapshot(state, room, now) else {
                continue;
            };
            let end = match self.ends.get(&room) {
                Some(end) => *end,
                None => {
                    let end = room_end(state, &snapshot.sessions).await;
                    self.ends.insert(room, end);
                    end
                }
            };
            if end + grace < wall {
                if self.written.remove(&room).is_some() {
                    forget.push(room);
                }
                continue;
            }
            let still = snapshot.without_clocks();
            if self.written.get(&room) == Some(&still) {
                continue;
            }
            let json = serde_json::to_string(&snapshot)
                .map_err(|e| StoreError::Corrupt(format!("live room: {e}")))?;
            rooms.push(LiveRoomRecord {
                room_id: room,
                state: json,
                saved_at: wall,
            });
            written.push((room, still));
        }
        let beat = Heartbeat {
            at: wall,
            clean_stop,
        };
        state.store.save_live_state(&rooms, &forget, beat).await?;
        state.metrics.live_state_saved(wall);
        let count = written.len();
        self.written.extend(written);
        Ok(count)
    }
}

/// When the last of these sessions ends (far in the past if none can be read, so
/// the room is forgotten rather than kept forever).
async fn room_end(state: &AppState, sessions: &[Uuid]) -> DateTime<Utc> {
    let mut end = DateTime::<Utc>::MIN_UTC;
    for id in sessions {
        if let Ok(session) = state.store.session(*id).await {
            end = end.max(session.ends_at());
        }
    }
    end
}

/// Runs the writer until `stop` fires, then writes once more with a clean-stop
/// heartbeat. A failed write is logged and retried on the next tick (the state is
/// read afresh each time, so nothing is lost but the time in between).
pub async fn run_saver(state: AppState, stop: tokio::sync::oneshot::Receiver<()>) {
    let mut saver = Saver::default();
    let mut every = tokio::time::interval(SAVE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if let Err(e) = saver.save(&state, false).await {
                    tracing::error!(error = %e, "live state not saved; retrying");
                }
            }
            _ = &mut stop => break,
        }
    }
    if let Err(e) = saver.save(&state, true).await {
        tracing::error!(error = %e, "final live state not saved");
    }
}

/// What the rebuild found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Rooms resumed.
    pub rooms: usize,
    /// Saved rooms whose sessions are over (or unreadable), forgotten.
    pub forgotten: usize,
    /// Sessions that were recording: (session, room), to continue.
    pub recording: Vec<(Uuid, Uuid)>,
    /// Server gaps recorded.
    pub gaps: usize,
}

/// Rebuilds every saved room whose sessions are not over (see the module's notes).
pub async fn rebuild(state: &AppState) -> Result<Rebuilt, StoreError> {
    let (now, wall) = (Instant::now(), Utc::now());
    let beat = state.store.last_heartbeat().await?;
    let mut rebuilt = Rebuilt::default();
    let mut forget = Vec::new();
    let mut gaps = Vec::new();
    for record in state.store.live_rooms().await? {
        match rebuild_room(state, &record, now, wall).await? {
            Outcome::Forget => forget.push(record.room_id),
            Outcome::Unloadable => {}
            Outcome::Resumed {
                room,
                held,
                recording,
            } => {
                rebuilt.rooms += 1;
                if recording {
                    rebuilt.recording.push((held.id, room));
                }
                // The server was away from its last heartbeat until now: a gap of the
                // session being held, if it was under way.
                if let Some(beat) = beat
                    && under_way(state, &held, beat.at)
                {
                    gaps.push(ServerGap {
                        session_id: held.id,
                        from: beat.at,
                        to: wall,
                        planned: beat.clean_stop,
                    });
                }
            }
        }
    }
    state.store.record_server_gaps(&gaps).await?;
    rebuilt.gaps = gaps.len();
    rebuilt.forgotten = forget.len();
    let beat = Heartbeat {
        at: wall,
        clean_stop: false,
    };
    state.store.save_live_state(&[], &forget, beat).await?;
    Ok(rebuilt)
}

/// What became of one saved room.
enum Outcome {
    /// Unreadable, in another format, or its sessions are over: not resumed.
    Forget,
    /// Its sessions could not be loaded (logged; kept for the next start).
    Unloadable,
    /// Resumed: the room, the session held in it now, whether it was recording.
    Resumed {
        room: Uuid,
        held: Box<Session>,
        recording: bool,
    },
}

/// Loads one saved room as a join would and resumes it as saved.
async fn rebuild_room(
    state: &AppState,
    record: &LiveRoomRecord,
    now: Instant,
    wall: DateTime<Utc>,
) -> Result<Outcome, StoreError> {
    let snapshot = match serde_json::from_str::<RoomSnapshot>(&record.state) {
        Ok(s) if s.format == FORMAT => s,
        Ok(s) => {
            tracing::warn!(room = %record.room_id, format = s.format, "saved room in another format; not resumed");
            return Ok(Outcome::Forget);
        }
        Err(e) => {
            tracing::error!(room = %record.room_id, error = %e, "saved room unreadable; not resumed");
            return Ok(Outcome::Forget);
        }
    };
    let mut sessions: Vec<Session> = Vec::new();
    for id in &snapshot.sessions {
        match state.store.session(*id).await {
            Ok(session) => sessions.push(session),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    let grace = chrono::Duration::minutes(state.settings.overrun_grace_minutes);
    let Some(first_open) = sessions
        .iter()
        .find(|s| !s.cancelled && s.ends_at() + grace > wall)
    else {
        return Ok(Outcome::Forget);
    };
    let Some(room) = super::place::load(state, first_open).await else {
        tracing::error!(room = %record.room_id, "saved room could not be loaded");
        return Ok(Outcome::Unloadable);
    };
    for (id, _) in &snapshot.defenses {
        if let Some(session) = sessions.iter().find(|s| s.id == *id) {
            let participants = state.store.participants(session.id).await?;
            super::place::ensure_defense(state, session, &participants).await;
        }
    }
    let away = (wall - record.saved_at).to_std().unwrap_or_default();
    resume(state, room, &snapshot, away, now);
    let current = state.days.current(room);
    let Some(held) = sessions.into_iter().find(|s| s.id == current) else {
        return Ok(Outcome::Unloadable);
    };
    Ok(Outcome::Resumed {
        room,
        held: Box::new(held),
        recording: snapshot.rules.recording,
    })
}

/// Whether `session` was under way at `at`: its links were open and it was not over.
fn under_way(state: &AppState, session: &Session, at: DateTime<Utc>) -> bool {
    let grace = chrono::Duration::minutes(state.settings.overrun_grace_minutes);
    let early = chrono::Duration::minutes(state.settings.join_opens_minutes_before);
    session.starts_at - early <= at && at <= session.ends_at() + grace
}

/// Puts a loaded room back as saved.
fn resume(state: &AppState, room: Uuid, snapshot: &RoomSnapshot, away: Duration, now: Instant) {
    state.rooms.with(room, |r| r.resume(&snapshot.rules));
    state
        .days
        .with(room, |q| q.resume_closed(&snapshot.closed_defenses));
    for (session, participant, waits) in &snapshot.lobby {
        state.lobby.set(*session, *participant, *waits);
    }
    for (session, live) in &snapshot.defenses {
        state.defenses.with(*session, |d| d.resume(live, away, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::defense::Phase;

    #[test]
    fn time_passing_is_not_a_change_but_an_admission_is() {
        let live = |elapsed: Option<u64>, admitted: bool| DefenseLive {
            phase: Phase::Qa,
            phase_elapsed_ms: elapsed,
            extension_secs: 0,
            warned: false,
            overtime_reported: false,
            applicant_in_room: admitted,
        };
        let snapshot = |elapsed, admitted| RoomSnapshot {
            format: FORMAT,
            sessions: vec![Uuid::nil()],
            rules: RoomLive::default(),
            lobby: vec![],
            closed_defenses: vec![],
            defenses: vec![(Uuid::nil(), live(elapsed, admitted))],
        };
        let a = snapshot(Some(1_000), true).without_clocks();
        assert_eq!(a, snapshot(Some(61_000), true).without_clocks());
        assert_ne!(a, snapshot(Some(1_000), false).without_clocks());
        assert_ne!(a, snapshot(None, true).without_clocks(), "a phase started");
        let text = serde_json::to_string(&snapshot(Some(5), true)).unwrap();
        let back: RoomSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snapshot(Some(5), true));
    }
}

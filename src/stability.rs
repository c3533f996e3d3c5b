//! Stream stability, **definition v1** (also in `docs/stability.md`): how the media
//! plane's measurements become interval samples, a live quality per direction, a
//! verdict per participant and per session. Pure: no clock, no I/O.
//!
//! - The SFU reports cumulative counters every 2 s per connection; consecutive reports
//!   become one [`IntervalSample`] per track and direction (uplink: a source the
//!   participant publishes, counted on the wire before NACK repair; downlink: a track
//!   they receive, also before repair: the video originals the subscriber NACKed, or
//!   the audio loss its RTCP receiver reports state, see `docs/stability.md`) and the
//!   browser's own report (freezes, per received track).
//! - A direction's figures in an interval pool its tracks ([`pooled`]): packets and
//!   losses summed, jitter and RTT at their worst, any freeze counts.
//! - An interval is **acceptable** when loss < 10% in each direction, RTT ≤ 400 ms (when
//!   measured) and no video freeze began. Live quality: **good** (loss < 2%, RTT ≤ 200
//!   ms, no freeze), **fair** (acceptable), **poor** (otherwise).
//! - A participant is **stable** when at least 90% of their connected time was
//!   acceptable. Time a joined participant had no media (a reconnect gap longer than
//!   two intervals) counts as unacceptable.
//! - A session is **stable** when every participant who had media was stable; its
//!   reasons name who was not, in which direction, and when.
//! - Time the server itself was away (killed, crashed, restarted: a *server gap*,
//!   from its last heartbeat to its return) is nobody's fault in the room: a
//!   participant's gap that overlaps it is not counted against them. The session
//!   lists its server gaps, and is unstable with the reason "server restart" when
//!   they add up to more than 10% of its measured time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The version of this definition, stored with verdicts and printed in reports.
pub const DEFINITION_VERSION: &str = "v1";
/// Loss at or above this share makes an interval unacceptable.
pub const MAX_ACCEPTABLE_LOSS: f64 = 0.10;
/// Loss below this share is good.
pub const MAX_GOOD_LOSS: f64 = 0.02;
/// RTT above this makes an interval unacceptable (ms).
pub const MAX_ACCEPTABLE_RTT_MS: f64 = 400.0;
/// RTT at or below this is good (ms).
pub const MAX_GOOD_RTT_MS: f64 = 200.0;
/// A participant is stable from this share of acceptable connected time.
pub const MIN_STABLE_SHARE: f64 = 0.90;
/// The sampling interval (seconds); a gap longer than two of these is a gap.
pub const INTERVAL_SECONDS: f64 = 2.0;

/// Which way media flowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Publisher → SFU.
    Up,
    /// SFU → subscriber.
    Down,
}

/// The track of an uplink sample: the source's name (`microphone`, `camera`,
/// `screen`).
pub fn uplink_track(source: media::sfu::Source) -> String {
    source.name().to_owned()
}

/// The track of a downlink sample: whose source it carries, `publisher/source`.
pub fn downlink_track(publisher: &str, source: Option<media::sfu::Source>) -> String {
    format!("{publisher}/{}", source.map_or("unknown", |s| s.name()))
}

/// One track (or, [`pooled`], one direction) of one participant over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalSample {
    /// End of the interval.
    pub at: DateTime<Utc>,
    /// Length in seconds.
    pub seconds: f64,
    pub direction: Direction,
    /// Which track: [`uplink_track`] or [`downlink_track`]; empty for a direction's
    /// pooled figures (and for samples stored before tracks were told apart).
    pub track: String,
    /// Packets expected (uplink) or sent (downlink) in the interval.
    pub packets: u64,
    /// Of those, lost on the wire, before NACK repair.
    pub lost: u64,
    /// Bitrate in kbit/s.
    pub kbps: f64,
    /// Jitter in ms (pooled: the worst track's).
    pub jitter_ms: f64,
    /// Round trip in ms, when measured.
    pub rtt_ms: Option<f64>,
    /// Keyframes started (uplink).
    pub keyframes: u64,
    /// Video freezes the browser reported starting in the interval (downlink).
    pub freezes: u64,
    /// Video frames received (uplink; frame rate = frames / seconds).
    pub frames: u64,
    /// NACKs the SFU sent (uplink).
    pub nacks: u64,
    /// Keyframe requests the SFU sent (uplink).
    pub plis: u64,
}

impl IntervalSample {
    /// An interval in which nothing was counted yet.
    pub fn empty(
        at: DateTime<Utc>,
        seconds: f64,
        direction: Direction,
        rtt_ms: Option<f64>,
    ) -> Self {
        Self {
            at,
            seconds,
            direction,
            track: String::new(),
            packets: 0,
            lost: 0,
            kbps: 0.0,
            jitter_ms: 0.0,
            rtt_ms,
            keyframes: 0,
            freezes: 0,
            frames: 0,
            nacks: 0,
            plis: 0,
        }
    }

    /// Loss as a share of packets (0 when nothing was expected).
    pub fn loss(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.lost as f64 / self.packets as f64
        }
    }
}

/// The worse of two round trips, either of which may be unmeasured.
pub fn worst_rtt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A direction's figures per interval, its tracks pooled: packets, losses, bitrate
/// and counts summed; jitter and RTT at their worst. Sorted by time, uplink first.
pub fn pooled(samples: &[IntervalSample]) -> Vec<IntervalSample> {
    let mut by_interval: std::collections::BTreeMap<(DateTime<Utc>, bool), IntervalSample> =
        std::collections::BTreeMap::new();
    for s in samples {
        let key = (s.at, s.direction == Direction::Down);
        let Some(p) = by_interval.get_mut(&key) else {
            by_interval.insert(
                key,
                IntervalSample {
                    track: String::new(),
                    ..s.clone()
                },
            );
            continue;
        };
        p.seconds = p.seconds.max(s.seconds);
        p.packets += s.packets;
        p.lost += s.lost;
        p.kbps += s.kbps;
        p.jitter_ms = p.jitter_ms.max(s.jitter_ms);
        p.rtt_ms = worst_rtt(p.rtt_ms, s.rtt_ms);
        p.keyframes += s.keyframes;
        p.freezes += s.freezes;
        p.frames += s.frames;
        p.nacks += s.nacks;
        p.plis += s.plis;
    }
    by_interval.into_values().collect()
}

/// Live connection quality of one direction.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Good,
    /// Acceptable.
    Fair,
    /// Not acceptable.
    Poor,
}

/// The quality of an interval.
pub fn quality(s: &IntervalSample) -> Quality {
    let loss = s.loss();
    let rtt = s.rtt_ms.unwrap_or(0.0);
    if loss >= MAX_ACCEPTABLE_LOSS || rtt > MAX_ACCEPTABLE_RTT_MS || s.freezes > 0 {
        Quality::Poor
    } else if loss >= MAX_GOOD_LOSS || rtt > MAX_GOOD_RTT_MS {
        Quality::Fair
    } else {
        Quality::Good
    }
}

/// Why a participant was unstable.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    /// Who (`None`: the server itself was away).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<Uuid>,
    /// The direction with the most unacceptable time, or `None` for gaps.
    pub direction: Option<Direction>,
    /// Start of the first unacceptable interval.
    pub from: DateTime<Utc>,
    /// End of the last unacceptable interval.
    pub to: DateTime<Utc>,
    /// Share of connected time that was acceptable.
    pub acceptable_share: f64,
    /// Human-readable summary.
    pub summary: String,
}

/// One participant's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantVerdict {
    /// Who.
    pub participant_id: Uuid,
    /// Connected seconds (with media, plus gaps counted as unacceptable).
    pub seconds: f64,
    /// Share of that time that was acceptable.
    pub acceptable_share: f64,
    /// Mean uplink loss over the session (on the wire).
    pub uplink_loss: f64,
    /// Mean downlink loss over the session (before repair).
    pub downlink_loss: f64,
    pub stable: bool,
    /// Number of reconnect gaps.
    pub gaps: usize,
}

/// A session's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionVerdict {
    /// Definition version.
    pub definition: &'static str,
    pub stable: bool,
    /// Per participant.
    pub participants: Vec<ParticipantVerdict>,
    /// Why it is unstable (empty when stable).
    pub reasons: Vec<Reason>,
    /// When the server itself was away during the session.
    pub server_gaps: Vec<ServerGapSpan>,
}

/// A span when the server was away (see the module's notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerGapSpan {
    /// The server's last heartbeat.
    pub from: DateTime<Utc>,
    /// Its return.
    pub to: DateTime<Utc>,
    /// A planned restart (SIGTERM) rather than a crash.
    pub planned: bool,
}

impl From<&scheduler::record::ServerGap> for ServerGapSpan {
    fn from(gap: &scheduler::record::ServerGap) -> Self {
        Self {
            from: gap.from,
            to: gap.to,
            planned: gap.planned,
        }
    }
}

/// A session's stored server gaps, as the judge takes them.
pub async fn server_gaps_of(
    store: &dyn scheduler::Store,
    session: Uuid,
) -> Result<Vec<ServerGapSpan>, scheduler::StoreError> {
    Ok(store
        .server_gaps(session)
        .await?
        .iter()
        .map(ServerGapSpan::from)
        .collect())
}

impl ServerGapSpan {
    /// Whether a participant's media gap `[from, to]` is explained by this span (with
    /// two intervals of slack each side: the last report before the stop and the
    /// first after the reconnect).
    fn explains(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let slack = chrono::Duration::milliseconds((2.0 * INTERVAL_SECONDS * 1000.0) as i64);
        from <= self.to + slack && to >= self.from - slack
    }

    fn seconds(&self) -> f64 {
        (self.to - self.from).num_milliseconds().max(0) as f64 / 1000.0
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Judges one participant from their samples (any tracks, both directions, any order).
pub fn judge_participant(
    participant: Uuid,
    samples: &[IntervalSample],
    server_gaps: &[ServerGapSpan],
) -> (ParticipantVerdict, Option<Reason>) {
    let samples = &pooled(samples);
    let by_time: Vec<&IntervalSample> = samples.iter().collect();
    // Intervals: group the directions of one report (same end time).
    let mut seconds = 0.0;
    let mut acceptable = 0.0;
    let mut bad_up = 0.0;
    let mut bad_down = 0.0;
    let mut gap_seconds = 0.0;
    let mut gaps = 0;
    let mut first_bad: Option<DateTime<Utc>> = None;
    let mut last_bad: Option<DateTime<Utc>> = None;
    let mut previous_end: Option<DateTime<Utc>> = None;
    let mut i = 0;
    while i < by_time.len() {
        let at = by_time[i].at;
        let group: Vec<&IntervalSample> = by_time[i..]
            .iter()
            .take_while(|s| s.at == at)
            .copied()
            .collect();
        i += group.len();
        let length = group.iter().map(|s| s.seconds).fold(0.0, f64::max);
        if let Some(prev) = previous_end {
            let since = (at - prev).num_milliseconds() as f64 / 1000.0 - length;
            let resumed = at - chrono::Duration::milliseconds((length * 1000.0) as i64);
            let servers_fault = server_gaps.iter().any(|g| g.explains(prev, resumed));
            if since > 2.0 * INTERVAL_SECONDS && !servers_fault {
                gaps += 1;
                gap_seconds += since;
                seconds += since;
                first_bad.get_or_insert(prev);
                last_bad = Some(at);
            }
        }
        previous_end = Some(at);
        seconds += length;
        let up_bad = group
            .iter()
            .any(|s| s.direction == Direction::Up && quality(s) == Quality::Poor);
        let down_bad = group
            .iter()
            .any(|s| s.direction == Direction::Down && quality(s) == Quality::Poor);
        if up_bad {
            bad_up += length;
        }
        if down_bad {
            bad_down += length;
        }
        if up_bad || down_bad {
            first_bad.get_or_insert(at - chrono::Duration::milliseconds((length * 1000.0) as i64));
            last_bad = Some(at);
        } else {
            acceptable += length;
        }
    }
    let totals = |d: Direction| {
        samples
            .iter()
            .filter(|s| s.direction == d)
            .fold((0, 0), |(p, l), s| (p + s.packets, l + s.lost))
    };
    let (up_packets, up_lost) = totals(Direction::Up);
    let (down_packets, down_lost) = totals(Direction::Down);
    let acceptable_share = if seconds > 0.0 {
        acceptable / seconds
    } else {
        1.0
    };
    let stable = acceptable_share >= MIN_STABLE_SHARE;
    let verdict = ParticipantVerdict {
        participant_id: participant,
        seconds,
        acceptable_share,
        uplink_loss: share(up_lost, up_packets),
        downlink_loss: share(down_lost, down_packets),
        stable,
        gaps,
    };
    let reason = (!stable).then(|| {
        let direction = if gap_seconds >= bad_up.max(bad_down) {
            None
        } else if bad_up >= bad_down {
            Some(Direction::Up)
        } else {
            Some(Direction::Down)
        };
        let what = match direction {
            Some(Direction::Up) => format!("uplink loss {:.1}%", verdict.uplink_loss * 100.0),
            Some(Direction::Down) => format!("downlink loss {:.1}%", verdict.downlink_loss * 100.0),
            None => format!("{gaps} reconnect gap(s), {gap_seconds:.0} s without media"),
        };
        Reason {
            participant_id: Some(participant),
            direction,
            from: first_bad.unwrap_or_default(),
            to: last_bad.unwrap_or_default(),
            acceptable_share,
            summary: format!(
                "{what}; {:.0}% of connected time acceptable (needs {:.0}%)",
                acceptable_share * 100.0,
                MIN_STABLE_SHARE * 100.0
            ),
        }
    });
    (verdict, reason)
}

/// Judges a session from every participant's samples and the server's gaps.
pub fn judge_session(
    samples: &[(Uuid, IntervalSample)],
    server_gaps: &[ServerGapSpan],
) -> SessionVerdict {
    let mut participants: Vec<Uuid> = samples.iter().map(|(p, _)| *p).collect();
    participants.sort();
    participants.dedup();
    let mut verdicts = Vec::new();
    let mut reasons = Vec::new();
    for p in participants {
        let own: Vec<IntervalSample> = samples
            .iter()
            .filter(|(who, _)| *who == p)
            .map(|(_, s)| s.clone())
            .collect();
        let (verdict, reason) = judge_participant(p, &own, server_gaps);
        verdicts.push(verdict);
        reasons.extend(reason);
    }
    let away: f64 = server_gaps.iter().map(ServerGapSpan::seconds).sum();
    let measured = verdicts.iter().map(|v| v.seconds).fold(0.0, f64::max);
    if away > 0.0 && away > (1.0 - MIN_STABLE_SHARE) * (measured + away) {
        let planned = server_gaps.iter().filter(|g| g.planned).count();
        reasons.push(Reason {
            participant_id: None,
            direction: None,
            from: server_gaps.iter().map(|g| g.from).min().unwrap_or_default(),
            to: server_gaps.iter().map(|g| g.to).max().unwrap_or_default(),
            acceptable_share: measured / (measured + away),
            summary: format!(
                "server restart: {} gap(s) ({planned} planned), {away:.0} s with the server away",
                server_gaps.len()
            ),
        });
    }
    SessionVerdict {
        definition: DEFINITION_VERSION,
        stable: reasons.is_empty(),
        participants: verdicts,
        reasons,
        server_gaps: server_gaps.to_vec(),
    }
}

/// Turns one connection's cumulative SFU reports (and the browser's own reports)
/// into interval samples, one per track that carried packets. One per signaling
/// connection; a new connection starts over.
#[derive(Debug, Default)]
pub struct Meter {
    previous_at: Option<DateTime<Utc>>,
    up: std::collections::HashMap<media::sfu::Source, media::quality::ArrivalCounts>,
    down: std::collections::HashMap<u32, media::sfu::DownlinkCounts>,
    /// Per audio down-track, the link's own cumulative loss already put into samples
    /// (see where it is used).
    audio_lost_counted: std::collections::HashMap<u32, i64>,
    /// The browser's cumulative freeze count, all received video.
    freezes_reported: u64,
    /// Of those, already put into a sample.
    freezes_counted: u64,
    /// The browser's cumulative freeze count per received track (by SDP track id).
    track_freezes_reported: std::collections::HashMap<String, u64>,
    /// Of those, already put into a sample.
    track_freezes_counted: std::collections::HashMap<String, u64>,
}

/// Most received tracks whose freeze counts a meter keeps (bounds what a browser's
/// reports can make it hold).
const MAX_REPORTED_TRACKS: usize = 64;

impl Meter {
    /// The browser's cumulative freeze count over all the video it receives, and per
    /// received track (its `trackIdentifier`, the SDP track id the SFU offered).
    /// Freezes that began since the last SFU sample count against the next downlink
    /// interval of their track; those the browser could not attribute to a track the
    /// SFU still sends go to its first video track.
    pub fn on_browser_freezes(&mut self, cumulative: u64, per_track: &[(String, u64)]) {
        self.freezes_reported = self.freezes_reported.max(cumulative);
        for (track, count) in per_track {
            let known = self.track_freezes_reported.len();
            match self.track_freezes_reported.get_mut(track) {
                Some(reported) => *reported = (*reported).max(*count),
                None if known < MAX_REPORTED_TRACKS => {
                    self.track_freezes_reported.insert(track.clone(), *count);
                }
                None => {}
            }
        }
    }

    /// [`Meter::on_sample`] stamped with when the SFU read the counters.
    pub fn on_reading(&mut self, sample: &media::sfu::MediaSample) -> Vec<IntervalSample> {
        let at = sample
            .taken_at
            .map(DateTime::<Utc>::from)
            .unwrap_or_else(Utc::now);
        self.on_sample(at, sample)
    }

    /// The intervals since the previous report: one uplink sample per source the
    /// participant publishes and one downlink sample per track they receive, for every
    /// track that carried packets.
    pub fn on_sample(
        &mut self,
        at: DateTime<Utc>,
        sample: &media::sfu::MediaSample,
    ) -> Vec<IntervalSample> {
        // The first interval runs from when the connection began counting.
        let seconds = self
            .previous_at
            .or(sample.counting_since.map(DateTime::<Utc>::from))
            .map(|p| (at - p).num_milliseconds() as f64 / 1000.0)
            .filter(|s| *s > 0.0)
            .unwrap_or(INTERVAL_SECONDS);
        self.previous_at = Some(at);
        let mut out = Vec::new();
        for (source, now) in &sample.up {
            let before = self.up.insert(*source, *now).unwrap_or_default();
            // A track that restarted counts from zero again.
            let before = if now.expected < before.expected {
                Default::default()
            } else {
                before
            };
            let mut up = IntervalSample::empty(at, seconds, Direction::Up, sample.rtt_ms);
            up.track = uplink_track(*source);
            up.packets = now.expected - before.expected;
            up.lost = now
                .lost_on_arrival
                .saturating_sub(before.lost_on_arrival)
                .min(up.packets);
            up.keyframes = now.keyframes.saturating_sub(before.keyframes);
            if *source != media::sfu::Source::Microphone {
                up.frames = now.frames.saturating_sub(before.frames);
            }
            up.nacks = now.nacks_sent.saturating_sub(before.nacks_sent);
            up.plis = now.plis_sent.saturating_sub(before.plis_sent);
            up.kbps = now.bytes.saturating_sub(before.bytes) as f64 * 8.0 / 1000.0 / seconds;
            up.jitter_ms = now.jitter_ms;
            if up.packets > 0 {
                out.push(up);
            }
        }
        let mut unattributed = self.freezes_reported.saturating_sub(self.freezes_counted);
        let mut first_video: Option<usize> = None;
        for now in &sample.down {
            let before = self.down.insert(now.ssrc, now.clone()).unwrap_or_default();
            let mut down = IntervalSample::empty(at, seconds, Direction::Down, sample.rtt_ms);
            down.track = downlink_track(&now.publisher, now.source);
            down.packets = now
                .packets_forwarded
                .saturating_sub(before.packets_forwarded);
            // Loss on this link, before NACK repair: for video, the distinct originals
            // the subscriber NACKed (its RTCP feedback) of those the SFU sent; for
            // audio, which is never retransmitted, the cumulative loss in its RTCP
            // receiver reports less the publisher's gaps the SFU passed on (the
            // receiver counts those too, but they were lost upstream).
            let lost = if now.video {
                now.nacked_originals.saturating_sub(before.nacked_originals)
            } else {
                // The SFU counts a gap as it sends it, the receiver reports it a
                // moment later, so the difference dips while gaps are in flight. Only a
                // rise above what was already counted is new loss: a dip is neither
                // loss nor credit.
                let link = now.reported_lost.unwrap_or(0)
                    - i64::try_from(now.passed_gaps).unwrap_or(i64::MAX);
                let counted = self.audio_lost_counted.entry(now.ssrc).or_insert(0);
                let new = (link - *counted).max(0);
                *counted += new;
                new as u64
            };
            down.lost = lost.min(down.packets);
            down.kbps =
                now.bytes_sent.saturating_sub(before.bytes_sent) as f64 * 8.0 / 1000.0 / seconds;
            down.jitter_ms = now.jitter_ms.unwrap_or(0.0);
            // The receiver reports' round trip is the downlink's; the ICE pair's is the
            // fallback before any report.
            down.rtt_ms = now.rtt_ms.or(sample.rtt_ms);
            if let Some(reported) = self.track_freezes_reported.get(&now.track_id) {
                let counted = self
                    .track_freezes_counted
                    .entry(now.track_id.clone())
                    .or_default();
                let began = reported.saturating_sub(*counted);
                if down.packets > 0 || began > 0 {
                    *counted = *reported;
                    down.freezes = began;
                    unattributed = unattributed.saturating_sub(began);
                }
            }
            if down.packets > 0 || down.freezes > 0 {
                if now.video && first_video.is_none() {
                    first_video = Some(out.len());
                }
                out.push(down);
            }
        }
        // Freezes the browser did not attribute to a track the SFU still sends wait
        // for a video track to carry them.
        if let Some(i) = first_video {
            out[i].freezes += unattributed;
            self.freezes_counted = self.freezes_reported;
        } else {
            self.freezes_counted = self.freezes_reported - unattributed;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_takes_differences_of_cumulative_counters() {
        use media::quality::ArrivalCounts;
        use media::sfu::{DownlinkCounts, MediaSample, Source};
        let mut meter = Meter::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let report = |expected, lost, sent, reported| MediaSample {
            up: vec![(
                Source::Camera,
                ArrivalCounts {
                    expected,
                    lost_on_arrival: lost,
                    bytes: expected * 1000,
                    ..Default::default()
                },
            )],
            down: vec![DownlinkCounts {
                ssrc: 7,
                video: false,
                packets_sent: sent,
                packets_forwarded: sent,
                bytes_sent: sent * 1000,
                reported_lost: reported,
                ..Default::default()
            }],
            rtt_ms: Some(20.0),
            taken_at: None,
            counting_since: None,
            transport: None,
            tcp_dropped: 0,
        };
        let first = meter.on_sample(t0, &report(100, 5, 200, None));
        assert_eq!((first[0].packets, first[0].lost), (100, 5));
        assert_eq!(
            (first[1].packets, first[1].lost),
            (200, 0),
            "no receiver report yet"
        );
        let second = meter.on_sample(
            t0 + chrono::Duration::seconds(2),
            &report(300, 25, 400, Some(10)),
        );
        assert_eq!((second[0].packets, second[0].lost), (200, 20));
        assert_eq!(second[0].track, "camera");
        assert!((second[0].kbps - 800.0).abs() < 1e-9, "200 kB in 2 s");
        assert_eq!((second[1].packets, second[1].lost), (200, 10));
        let third = meter.on_sample(
            t0 + chrono::Duration::seconds(4),
            &report(300, 25, 400, Some(10)),
        );
        assert!(third.is_empty(), "nothing flowed");
    }

    #[test]
    fn a_connections_first_interval_runs_from_when_it_began_counting() {
        use media::quality::ArrivalCounts;
        use media::sfu::{MediaSample, Source};
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let sample = |since: Option<DateTime<Utc>>| MediaSample {
            up: vec![(
                Source::Camera,
                ArrivalCounts {
                    expected: 100,
                    bytes: 50_000,
                    ..Default::default()
                },
            )],
            counting_since: since.map(std::time::SystemTime::from),
            ..Default::default()
        };
        // Sampled half a second after connecting: 50 kB in 0.5 s is 800 kbit/s.
        let first =
            Meter::default().on_sample(t0, &sample(Some(t0 - chrono::Duration::milliseconds(500))));
        assert!((first[0].seconds - 0.5).abs() < 1e-9, "{first:?}");
        assert!((first[0].kbps - 800.0).abs() < 1e-9, "{first:?}");
        // Without the start known, one sampling interval is assumed.
        let unknown = Meter::default().on_sample(t0, &sample(None));
        assert!((unknown[0].seconds - INTERVAL_SECONDS).abs() < 1e-9);
    }

    #[test]
    fn downlink_loss_pools_nacked_video_originals_and_reported_audio_loss() {
        use media::sfu::{DownlinkCounts, MediaSample};
        let mut meter = Meter::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        // Cumulative: video forwarded/NACKed originals, audio forwarded/RR-reported lost.
        // Video packets sent include retransmissions, which must not count as loss.
        let both = |video_fwd, nacked, audio_fwd, audio_lost| MediaSample {
            down: vec![
                DownlinkCounts {
                    ssrc: 1,
                    publisher: "p".into(),
                    source: Some(media::sfu::Source::Camera),
                    video: true,
                    packets_forwarded: video_fwd,
                    packets_sent: video_fwd * 13 / 10,
                    nacked_originals: nacked,
                    // The residual after repair is not the wire loss.
                    reported_lost: Some(1),
                    ..Default::default()
                },
                DownlinkCounts {
                    ssrc: 2,
                    publisher: "p".into(),
                    source: Some(media::sfu::Source::Microphone),
                    video: false,
                    packets_forwarded: audio_fwd,
                    packets_sent: audio_fwd,
                    reported_lost: audio_lost,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        meter.on_sample(t0, &both(1000, 200, 100, Some(20)));
        let s = meter.on_sample(
            t0 + chrono::Duration::seconds(2),
            &both(2000, 400, 200, Some(40)),
        );
        assert_eq!((s[0].packets, s[0].lost), (1000, 200), "video");
        assert_eq!((s[1].packets, s[1].lost), (100, 20), "audio");
        let p = pooled(&s);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].packets, p[0].lost), (1100, 220), "the direction");
        let s = meter.on_sample(
            t0 + chrono::Duration::seconds(4),
            &both(3000, 400, 300, Some(40)),
        );
        assert_eq!(
            (s[0].packets + s[1].packets, s[0].lost + s[1].lost),
            (1100, 0),
            "nothing NACKed, none lost"
        );
        // A receiver report that has not arrived yet counts no audio loss.
        let mut fresh = Meter::default();
        let s = fresh.on_sample(t0, &both(500, 50, 50, None));
        assert_eq!((s[1].packets, s[1].lost), (50, 0));
    }

    #[test]
    fn the_publishers_gaps_are_not_the_audio_downlinks_loss_even_when_reported_late() {
        use media::sfu::{DownlinkCounts, MediaSample};
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let audio = |forwarded, passed_gaps, reported_lost| MediaSample {
            down: vec![DownlinkCounts {
                ssrc: 2,
                publisher: "p".into(),
                source: Some(media::sfu::Source::Microphone),
                packets_forwarded: forwarded,
                passed_gaps,
                reported_lost,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut meter = Meter::default();
        let lost = |meter: &mut Meter, at: i64, sample: MediaSample| {
            meter.on_sample(t0 + chrono::Duration::seconds(at), &sample)[0].lost
        };
        // 10 gaps passed on; the receiver's report of them is still on its way.
        assert_eq!(lost(&mut meter, 0, audio(100, 10, Some(0))), 0);
        // Its report arrives: the same 10, the publisher's, not this link's.
        assert_eq!(lost(&mut meter, 2, audio(200, 10, Some(10))), 0);
        // 10 more gaps and 5 lost on this link, all reported.
        assert_eq!(lost(&mut meter, 4, audio(300, 20, Some(25))), 5);
        // Gaps in flight again, then reported: no credit, no loss.
        assert_eq!(lost(&mut meter, 6, audio(400, 30, Some(25))), 0);
        assert_eq!(lost(&mut meter, 8, audio(500, 30, Some(35))), 0);
    }

    #[test]
    fn every_track_gets_its_own_sample_and_freezes_land_on_the_frozen_track() {
        use media::quality::ArrivalCounts;
        use media::sfu::{DownlinkCounts, MediaSample, Source};
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let down = |ssrc, publisher: &str, source, video, n: u64| DownlinkCounts {
            ssrc,
            publisher: publisher.into(),
            source: Some(source),
            track_id: format!("{publisher}-{ssrc}"),
            video,
            packets_forwarded: n,
            bytes_sent: n * 100,
            ..Default::default()
        };
        let report = |n: u64| MediaSample {
            up: vec![
                (
                    Source::Microphone,
                    ArrivalCounts {
                        expected: n,
                        bytes: n * 100,
                        ..Default::default()
                    },
                ),
                (
                    Source::Camera,
                    ArrivalCounts {
                        expected: 3 * n,
                        lost_on_arrival: n / 10,
                        frames: n / 2,
                        bytes: n * 1000,
                        ..Default::default()
                    },
                ),
            ],
            down: vec![
                down(1, "anna", Source::Camera, true, 2 * n),
                down(2, "anna", Source::Microphone, false, n),
                down(3, "bo", Source::Camera, true, 2 * n),
            ],
            rtt_ms: Some(12.0),
            taken_at: None,
            counting_since: None,
            transport: None,
            tcp_dropped: 0,
        };
        let mut meter = Meter::default();
        meter.on_sample(t0, &report(100));
        // The browser says bo's camera froze twice.
        meter.on_browser_freezes(2, &[("anna-1".into(), 0), ("bo-3".into(), 2)]);
        let s = meter.on_sample(t0 + chrono::Duration::seconds(2), &report(200));
        let tracks: Vec<(Direction, &str, u64, u64, u64)> = s
            .iter()
            .map(|x| (x.direction, x.track.as_str(), x.packets, x.lost, x.freezes))
            .collect();
        assert_eq!(
            tracks,
            vec![
                (Direction::Up, "microphone", 100, 0, 0),
                (Direction::Up, "camera", 300, 10, 0),
                (Direction::Down, "anna/camera", 200, 0, 0),
                (Direction::Down, "anna/microphone", 100, 0, 0),
                (Direction::Down, "bo/camera", 200, 0, 2),
            ]
        );
        assert_eq!(s[1].frames, 50, "the camera's frames");
        assert_eq!(s[0].frames, 0, "audio has no frames");
        assert_eq!(
            s[4].rtt_ms,
            Some(12.0),
            "the ICE pair's RTT before any report"
        );
        // A freeze the browser cannot attribute (an older client sends totals only)
        // goes to the first video track, once.
        meter.on_browser_freezes(3, &[]);
        let s = meter.on_sample(t0 + chrono::Duration::seconds(4), &report(300));
        let freezes: Vec<u64> = s.iter().map(|x| x.freezes).collect();
        assert_eq!(freezes, vec![0, 0, 1, 0, 0]);
        let s = meter.on_sample(t0 + chrono::Duration::seconds(6), &report(400));
        assert!(s.iter().all(|x| x.freezes == 0), "counted once");
        // Pooled, the verdict sees one sample per direction and interval.
        let p = pooled(&s);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].direction, p[0].packets, p[0].lost),
            (Direction::Up, 400, 10)
        );
        assert_eq!((p[1].direction, p[1].packets), (Direction::Down, 500));
        assert!((p[1].kbps - s[2..].iter().map(|x| x.kbps).sum::<f64>()).abs() < 1e-9);
    }

    #[test]
    fn a_freeze_on_a_track_that_carried_nothing_is_still_counted() {
        use media::sfu::{DownlinkCounts, MediaSample};
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let report = MediaSample {
            down: vec![DownlinkCounts {
                ssrc: 9,
                publisher: "anna".into(),
                track_id: "t9".into(),
                video: true,
                packets_forwarded: 500,
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut meter = Meter::default();
        meter.on_sample(t0, &report);
        meter.on_browser_freezes(1, &[("t9".into(), 1)]);
        let s = meter.on_sample(t0 + chrono::Duration::seconds(2), &report);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].packets, s[0].freezes), (0, 1));
        assert_eq!(quality(&s[0]), Quality::Poor, "a freeze is poor");
    }

    #[test]
    fn a_browser_naming_endless_tracks_cannot_grow_the_meter() {
        let mut meter = Meter::default();
        let flood: Vec<(String, u64)> = (0..10_000).map(|i| (format!("t{i}"), 1)).collect();
        meter.on_browser_freezes(1, &flood);
        meter.on_browser_freezes(1, &flood);
        assert_eq!(meter.track_freezes_reported.len(), MAX_REPORTED_TRACKS);
        // A count never goes backwards, whatever a later report says.
        meter.on_browser_freezes(0, &[("t0".into(), 0)]);
        assert_eq!(meter.track_freezes_reported["t0"], 1);
        assert_eq!(meter.freezes_reported, 1);
    }

    fn sample(
        t: i64,
        direction: Direction,
        packets: u64,
        lost: u64,
        rtt: Option<f64>,
    ) -> IntervalSample {
        IntervalSample {
            at: DateTime::from_timestamp(1_800_000_000 + t, 0).unwrap(),
            seconds: 2.0,
            direction,
            track: String::new(),
            packets,
            lost,
            kbps: 500.0,
            jitter_ms: 5.0,
            rtt_ms: rtt,
            keyframes: 0,
            freezes: 0,
            frames: 0,
            nacks: 0,
            plis: 0,
        }
    }

    /// `n` two-second intervals, both directions, with the given uplink loss per 1000.
    fn series(n: i64, up_lost_per_mille: impl Fn(i64) -> u64) -> Vec<IntervalSample> {
        (1..=n)
            .flat_map(|i| {
                [
                    sample(2 * i, Direction::Up, 1000, up_lost_per_mille(i), Some(30.0)),
                    sample(2 * i, Direction::Down, 1000, 0, Some(30.0)),
                ]
            })
            .collect()
    }

    #[test]
    fn quality_changes_exactly_at_each_threshold() {
        let q = |lost, rtt| quality(&sample(2, Direction::Up, 1000, lost, rtt));
        assert_eq!(q(19, None), Quality::Good);
        assert_eq!(q(20, None), Quality::Fair, "2.0% is no longer good");
        assert_eq!(q(99, None), Quality::Fair);
        assert_eq!(q(100, None), Quality::Poor, "10.0% is unacceptable");
        assert_eq!(q(0, Some(200.0)), Quality::Good);
        assert_eq!(q(0, Some(200.1)), Quality::Fair);
        assert_eq!(q(0, Some(400.0)), Quality::Fair);
        assert_eq!(q(0, Some(400.1)), Quality::Poor);
        let mut frozen = sample(2, Direction::Down, 1000, 0, None);
        frozen.freezes = 1;
        assert_eq!(quality(&frozen), Quality::Poor);
        assert_eq!(
            quality(&sample(2, Direction::Up, 0, 0, None)),
            Quality::Good,
            "nothing expected"
        );
    }

    #[test]
    fn ninety_percent_acceptable_time_is_stable_and_less_is_not() {
        let p = Uuid::new_v4();
        // 100 intervals, 10 of them at 10% loss: exactly 90% acceptable.
        let (v, reason) =
            judge_participant(p, &series(100, |i| if i <= 10 { 100 } else { 0 }), &[]);
        assert!((v.acceptable_share - 0.90).abs() < 1e-9);
        assert!(v.stable && reason.is_none());
        // 11 bad intervals: 89%.
        let (v, reason) =
            judge_participant(p, &series(100, |i| if i <= 11 { 100 } else { 0 }), &[]);
        assert!(!v.stable);
        let reason = reason.unwrap();
        assert_eq!(reason.direction, Some(Direction::Up));
        assert_eq!(
            reason.from,
            DateTime::from_timestamp(1_800_000_000, 0).unwrap()
        );
        assert_eq!(
            reason.to,
            DateTime::from_timestamp(1_800_000_022, 0).unwrap()
        );
        assert!(reason.summary.contains("uplink loss"), "{}", reason.summary);
    }

    #[test]
    fn steady_five_percent_loss_is_fair_and_stable_twenty_is_not() {
        let p = Uuid::new_v4();
        let (v, _) = judge_participant(p, &series(30, |_| 50), &[]);
        assert!(v.stable);
        assert!((v.uplink_loss - 0.05).abs() < 1e-9);
        assert_eq!(v.downlink_loss, 0.0);
        let (v, _) = judge_participant(p, &series(30, |_| 200), &[]);
        assert!(!v.stable && v.acceptable_share == 0.0);
    }

    #[test]
    fn a_reconnect_gap_counts_against_the_participant() {
        let p = Uuid::new_v4();
        let mut s = series(10, |_| 0);
        // Resumes 30 s after the last sample: a gap of 28 s beyond one interval.
        s.extend(series(10, |_| 0).into_iter().map(|mut x| {
            x.at += chrono::Duration::seconds(50);
            x
        }));
        let (v, reason) = judge_participant(p, &s, &[]);
        assert_eq!(v.gaps, 1);
        assert!(!v.stable, "{v:?}");
        let reason = reason.unwrap();
        assert_eq!(reason.direction, None, "a gap, not loss");
        assert!(reason.summary.contains("gap"));
        // A short gap (one missing interval) is not a gap.
        let mut s = series(10, |_| 0);
        s.retain(|x| x.at != DateTime::from_timestamp(1_800_000_010, 0).unwrap());
        assert_eq!(judge_participant(p, &s, &[]).0.gaps, 0);
    }

    #[test]
    fn a_gap_while_the_server_was_away_is_not_the_participants() {
        let t = |secs: i64| DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut s = series(10, |_| 0);
        s.extend(series(10, |_| 0).into_iter().map(|mut x| {
            x.at += chrono::Duration::seconds(50);
            x
        }));
        // Last report at 20 s; the server's last heartbeat at 21 s, back at 45 s; the
        // page reconnects and reports again from 52 s.
        let crash = ServerGapSpan {
            from: t(21),
            to: t(45),
            planned: false,
        };
        let (v, reason) = judge_participant(a, &s, &[crash]);
        assert_eq!((v.gaps, v.stable, reason), (0, true, None));
        let elsewhere = ServerGapSpan {
            from: t(100),
            to: t(110),
            planned: true,
        };
        assert_eq!(
            judge_participant(a, &s, &[elsewhere]).0.gaps,
            1,
            "another gap"
        );

        // The session: 24 s away out of 64 s is more than 10% of its time.
        let all: Vec<(Uuid, IntervalSample)> = s
            .iter()
            .map(|x| (a, x.clone()))
            .chain(s.iter().map(|x| (b, x.clone())))
            .collect();
        let v = judge_session(&all, &[crash]);
        assert!(!v.stable);
        assert_eq!(v.server_gaps, vec![crash]);
        assert_eq!(
            v.reasons.len(),
            1,
            "one reason, nobody blamed: {:?}",
            v.reasons
        );
        assert_eq!(v.reasons[0].participant_id, None);
        assert!(v.reasons[0].summary.starts_with("server restart"));
        assert!(v.participants.iter().all(|p| p.stable && p.gaps == 0));
        // A few seconds away in a long session: listed, and the session is stable.
        let long: Vec<(Uuid, IntervalSample)> =
            series(300, |_| 0).into_iter().map(|x| (a, x)).collect();
        let blip = ServerGapSpan {
            from: t(300),
            to: t(306),
            planned: true,
        };
        let v = judge_session(&long, &[blip]);
        assert!(v.stable, "{:?}", v.reasons);
        assert_eq!(v.server_gaps, vec![blip]);
    }

    #[test]
    fn a_session_is_stable_only_when_everyone_is() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut all: Vec<(Uuid, IntervalSample)> =
            series(20, |_| 0).into_iter().map(|s| (a, s)).collect();
        assert!(judge_session(&all, &[]).stable);
        all.extend(series(20, |_| 300).into_iter().map(|s| (b, s)));
        let v = judge_session(&all, &[]);
        assert!(!v.stable);
        assert_eq!(v.reasons.len(), 1);
        assert_eq!(v.reasons[0].participant_id, Some(b));
        assert_eq!(v.definition, "v1");
    }
}

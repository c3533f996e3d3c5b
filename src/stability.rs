//! Stream stability, **definition v1** (also in `docs/stability.md`): how the media
//! plane's measurements become interval samples, a live quality per direction, a
//! verdict per participant and per session. Pure: no clock, no I/O.
//!
//! - The SFU reports cumulative counters every 2 s per connection; consecutive reports
//!   become one [`IntervalSample`] per direction (uplink: publisher → SFU, counted on
//!   the wire before NACK repair; downlink: SFU → subscriber, also before repair: the
//!   video originals the subscriber NACKed plus the audio loss its RTCP receiver reports
//!   state, see `docs/stability.md`) and the browser's own report (freezes).
//! - An interval is **acceptable** when loss < 10% in each direction, RTT ≤ 400 ms (when
//!   measured) and no video freeze began. Live quality: **good** (loss < 2%, RTT ≤ 200
//!   ms, no freeze), **fair** (acceptable), **poor** (otherwise).
//! - A participant is **stable** when at least 90% of their connected time was
//!   acceptable. Time a joined participant had no media (a reconnect gap longer than
//!   two intervals) counts as unacceptable.
//! - A session is **stable** when every participant who had media was stable; its
//!   reasons name who was not, in which direction, and when.

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

/// One direction of one participant over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalSample {
    /// End of the interval.
    pub at: DateTime<Utc>,
    /// Length in seconds.
    pub seconds: f64,
    /// Direction.
    pub direction: Direction,
    /// Packets expected (uplink) or sent (downlink) in the interval.
    pub packets: u64,
    /// Of those, lost on the wire, before NACK repair.
    pub lost: u64,
    /// Bitrate in kbit/s.
    pub kbps: f64,
    /// Jitter in ms (the worst track's).
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

/// Live connection quality of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// Good.
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
    /// Who.
    pub participant_id: Uuid,
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
    /// Stable.
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
    /// Stable.
    pub stable: bool,
    /// Per participant.
    pub participants: Vec<ParticipantVerdict>,
    /// Why it is unstable (empty when stable).
    pub reasons: Vec<Reason>,
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Judges one participant from their samples (both directions, any order).
pub fn judge_participant(
    participant: Uuid,
    samples: &[IntervalSample],
) -> (ParticipantVerdict, Option<Reason>) {
    let mut by_time: Vec<&IntervalSample> = samples.iter().collect();
    by_time.sort_by_key(|s| s.at);
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
            if since > 2.0 * INTERVAL_SECONDS {
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
            participant_id: participant,
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

/// Judges a session from every participant's samples.
pub fn judge_session(samples: &[(Uuid, IntervalSample)]) -> SessionVerdict {
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
        let (verdict, reason) = judge_participant(p, &own);
        verdicts.push(verdict);
        reasons.extend(reason);
    }
    SessionVerdict {
        definition: DEFINITION_VERSION,
        stable: reasons.is_empty(),
        participants: verdicts,
        reasons,
    }
}

/// Turns one connection's cumulative SFU reports (and the browser's own reports)
/// into interval samples. One per signaling connection; a new connection starts over.
#[derive(Debug, Default)]
pub struct Meter {
    previous_at: Option<DateTime<Utc>>,
    up: std::collections::HashMap<media::sfu::Source, media::quality::ArrivalCounts>,
    down: std::collections::HashMap<u32, media::sfu::DownlinkCounts>,
    freezes_reported: u64,
    freezes_counted: u64,
}

impl Meter {
    /// The browser's cumulative freeze count (from its own report); freezes that began
    /// since the last SFU sample count against the next downlink interval.
    pub fn on_browser_freezes(&mut self, cumulative: u64) {
        self.freezes_reported = self.freezes_reported.max(cumulative);
    }

    /// The intervals since the previous report: one uplink sample when the participant
    /// publishes, one downlink sample when they receive.
    pub fn on_sample(
        &mut self,
        at: DateTime<Utc>,
        sample: &media::sfu::MediaSample,
    ) -> Vec<IntervalSample> {
        let seconds = self
            .previous_at
            .map(|p| (at - p).num_milliseconds() as f64 / 1000.0)
            .filter(|s| *s > 0.0)
            .unwrap_or(INTERVAL_SECONDS);
        self.previous_at = Some(at);
        let mut out = Vec::new();
        let mut up = IntervalSample::empty(at, seconds, Direction::Up, sample.rtt_ms);
        for (source, now) in &sample.up {
            let before = self.up.insert(*source, *now).unwrap_or_default();
            // A track that restarted counts from zero again.
            let before = if now.expected < before.expected {
                Default::default()
            } else {
                before
            };
            up.packets += now.expected - before.expected;
            up.lost += now.lost_on_arrival.saturating_sub(before.lost_on_arrival);
            up.keyframes += now.keyframes.saturating_sub(before.keyframes);
            if *source != media::sfu::Source::Microphone {
                up.frames += now.frames.saturating_sub(before.frames);
            }
            up.nacks += now.nacks_sent.saturating_sub(before.nacks_sent);
            up.plis += now.plis_sent.saturating_sub(before.plis_sent);
            up.kbps += now.bytes.saturating_sub(before.bytes) as f64 * 8.0 / 1000.0 / seconds;
            up.jitter_ms = up.jitter_ms.max(now.jitter_ms);
        }
        up.lost = up.lost.min(up.packets);
        if up.packets > 0 {
            out.push(up);
        }
        let mut down = IntervalSample::empty(at, seconds, Direction::Down, sample.rtt_ms);
        // Downlink loss on the wire, before NACK repair: for video, the distinct
        // originals the subscriber NACKed (its RTCP feedback); for audio, which is
        // never retransmitted, the cumulative loss in its RTCP receiver reports.
        let mut reported_rtt = None;
        for now in &sample.down {
            let before = self.down.insert(now.ssrc, *now).unwrap_or_default();
            down.packets += now
                .packets_forwarded
                .saturating_sub(before.packets_forwarded);
            let lost = if now.video {
                now.nacked_originals.saturating_sub(before.nacked_originals)
            } else {
                u64::try_from(now.reported_lost.unwrap_or(0) - before.reported_lost.unwrap_or(0))
                    .unwrap_or(0)
            };
            down.lost += lost;
            down.kbps +=
                now.bytes_sent.saturating_sub(before.bytes_sent) as f64 * 8.0 / 1000.0 / seconds;
            down.jitter_ms = down.jitter_ms.max(now.jitter_ms.unwrap_or(0.0));
            // The receiver reports' round trip (the worst of its tracks) is the
            // downlink's; the ICE pair's is the fallback before any report.
            if let Some(rtt) = now.rtt_ms {
                reported_rtt = Some(reported_rtt.map_or(rtt, |r: f64| r.max(rtt)));
            }
        }
        down.rtt_ms = reported_rtt.or(down.rtt_ms);
        down.lost = down.lost.min(down.packets);
        down.freezes = self.freezes_reported.saturating_sub(self.freezes_counted);
        self.freezes_counted = self.freezes_reported;
        if down.packets > 0 {
            out.push(down);
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
        };
        let first = meter.on_sample(t0, &report(100, 5, 200, None));
        assert_eq!((first[0].packets, first[0].lost), (100, 5));
        assert_eq!(
            (first[1].packets, first[1].lost),
            (200, 0),
            "no receiver report yet"
        );
        meter.on_browser_freezes(2);
        let second = meter.on_sample(
            t0 + chrono::Duration::seconds(2),
            &report(300, 25, 400, Some(10)),
        );
        assert_eq!((second[0].packets, second[0].lost), (200, 20));
        assert!((second[0].kbps - 800.0).abs() < 1e-9, "200 kB in 2 s");
        assert_eq!(
            (second[1].packets, second[1].lost, second[1].freezes),
            (200, 10, 2)
        );
        let third = meter.on_sample(
            t0 + chrono::Duration::seconds(4),
            &report(300, 25, 400, Some(10)),
        );
        assert!(third.is_empty(), "nothing flowed");
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
        assert_eq!((s[0].packets, s[0].lost), (1100, 220));
        let s = meter.on_sample(
            t0 + chrono::Duration::seconds(4),
            &both(3000, 400, 300, Some(40)),
        );
        assert_eq!(
            (s[0].packets, s[0].lost),
            (1100, 0),
            "nothing NACKed, none lost"
        );
        // A receiver report that has not arrived yet counts no audio loss.
        let mut fresh = Meter::default();
        let s = fresh.on_sample(t0, &both(500, 50, 50, None));
        assert_eq!((s[0].packets, s[0].lost), (550, 50));
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
        let (v, reason) = judge_participant(p, &series(100, |i| if i <= 10 { 100 } else { 0 }));
        assert!((v.acceptable_share - 0.90).abs() < 1e-9);
        assert!(v.stable && reason.is_none());
        // 11 bad intervals: 89%.
        let (v, reason) = judge_participant(p, &series(100, |i| if i <= 11 { 100 } else { 0 }));
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
        let (v, _) = judge_participant(p, &series(30, |_| 50));
        assert!(v.stable);
        assert!((v.uplink_loss - 0.05).abs() < 1e-9);
        assert_eq!(v.downlink_loss, 0.0);
        let (v, _) = judge_participant(p, &series(30, |_| 200));
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
        let (v, reason) = judge_participant(p, &s);
        assert_eq!(v.gaps, 1);
        assert!(!v.stable, "{v:?}");
        let reason = reason.unwrap();
        assert_eq!(reason.direction, None, "a gap, not loss");
        assert!(reason.summary.contains("gap"));
        // A short gap (one missing interval) is not a gap.
        let mut s = series(10, |_| 0);
        s.retain(|x| x.at != DateTime::from_timestamp(1_800_000_010, 0).unwrap());
        assert_eq!(judge_participant(p, &s).0.gaps, 0);
    }

    #[test]
    fn a_session_is_stable_only_when_everyone_is() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut all: Vec<(Uuid, IntervalSample)> =
            series(20, |_| 0).into_iter().map(|s| (a, s)).collect();
        assert!(judge_session(&all).stable);
        all.extend(series(20, |_| 300).into_iter().map(|s| (b, s)));
        let v = judge_session(&all);
        assert!(!v.stable);
        assert_eq!(v.reasons.len(), 1);
        assert_eq!(v.reasons[0].participant_id, b);
        assert_eq!(v.definition, "v1");
    }
}

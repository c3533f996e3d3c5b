//! When a recorded track starts a new file ("part"): a pure state machine with time
//! passed in, so the rules are tested without GStreamer.
//!
//! Parts are at most [`PartClock::max`] long so that a crash, a full disk or a corrupt
//! file costs at most one part. Audio can be cut anywhere. Video must start each part
//! with a keyframe (a part that starts mid-GOP decodes as garbage until the next one),
//! so shortly before the limit the clock asks the publisher for a keyframe and cuts on
//! its first packet; if none comes, it cuts at the limit anyway and the new part waits
//! for the next keyframe (the depayloader drops what cannot be decoded).

use std::time::{Duration, Instant};

/// What to do with the packet that just arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartStep {
    /// No part is open: open one, write the packet into it, and (video) ask for a
    /// keyframe so the part starts decodable.
    Open,
    /// Write into the open part.
    Write,
    /// Write into the open part, and ask the publisher for a keyframe now: the part is
    /// about to end and the next one should begin with one.
    WriteAndAskKeyframe,
    /// Close the open part, open a new one and write the packet into the new one.
    Rotate,
}

/// A track's part timing.
#[derive(Debug, Clone)]
pub struct PartClock {
    max: Duration,
    lead: Duration,
    video: bool,
    started: Option<Instant>,
    asked: bool,
}

impl PartClock {
    /// Parts are at most `max` long; for video, a keyframe is asked for `lead` before.
    pub fn new(max: Duration, lead: Duration, video: bool) -> Self {
        Self {
            max,
            lead: lead.min(max),
            video,
            started: None,
            asked: false,
        }
    }

    /// The longest a part may be.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Decides for one packet that arrived at `now`. `keyframe_start` is whether it is
    /// the first packet of a keyframe (always `false` for audio).
    pub fn on_packet(&mut self, now: Instant, keyframe_start: bool) -> PartStep {
        let Some(started) = self.started else {
            self.open(now);
            return PartStep::Open;
        };
        let age = now.saturating_duration_since(started);
        if age >= self.max {
            self.open(now);
            return PartStep::Rotate;
        }
        if !self.video || age < self.max - self.lead {
            return PartStep::Write;
        }
        if keyframe_start {
            self.open(now);
            return PartStep::Rotate;
        }
        if self.asked {
            PartStep::Write
        } else {
            self.asked = true;
            PartStep::WriteAndAskKeyframe
        }
    }

    /// The open part was closed from outside (recording stopped, writer failed): the
    /// next packet opens a new one.
    pub fn reset(&mut self) {
        self.started = None;
        self.asked = false;
    }

    fn open(&mut self, now: Instant) {
        self.started = Some(now);
        self.asked = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(300);
    const LEAD: Duration = Duration::from_secs(20);

    #[test]
    fn audio_is_cut_exactly_at_the_limit() {
        let t0 = Instant::now();
        let mut clock = PartClock::new(MAX, LEAD, false);
        assert_eq!(clock.on_packet(t0, false), PartStep::Open);
        assert_eq!(
            clock.on_packet(t0 + MAX - Duration::from_millis(1), false),
            PartStep::Write
        );
        assert_eq!(clock.on_packet(t0 + MAX, false), PartStep::Rotate);
        // The new part's clock starts at the cut.
        assert_eq!(
            clock.on_packet(t0 + MAX + MAX - Duration::from_millis(1), false),
            PartStep::Write
        );
    }

    #[test]
    fn video_asks_for_a_keyframe_once_and_cuts_on_it() {
        let t0 = Instant::now();
        let mut clock = PartClock::new(MAX, LEAD, true);
        assert_eq!(clock.on_packet(t0, true), PartStep::Open);
        // A keyframe well before the lead window does not cut.
        assert_eq!(
            clock.on_packet(t0 + Duration::from_secs(100), true),
            PartStep::Write
        );
        let window = t0 + MAX - LEAD;
        assert_eq!(
            clock.on_packet(window, false),
            PartStep::WriteAndAskKeyframe
        );
        assert_eq!(
            clock.on_packet(window + Duration::from_secs(1), false),
            PartStep::Write,
            "asked only once per part"
        );
        assert_eq!(
            clock.on_packet(window + Duration::from_secs(2), true),
            PartStep::Rotate
        );
        // The next part asks again when its own window comes.
        let next = window + Duration::from_secs(2);
        assert_eq!(
            clock.on_packet(next + MAX - LEAD, false),
            PartStep::WriteAndAskKeyframe
        );
    }

    #[test]
    fn video_without_a_keyframe_is_cut_at_the_limit() {
        let t0 = Instant::now();
        let mut clock = PartClock::new(MAX, LEAD, true);
        clock.on_packet(t0, true);
        clock.on_packet(t0 + MAX - LEAD, false);
        assert_eq!(clock.on_packet(t0 + MAX, false), PartStep::Rotate);
    }

    #[test]
    fn reset_opens_a_new_part_on_the_next_packet() {
        let t0 = Instant::now();
        let mut clock = PartClock::new(MAX, LEAD, false);
        clock.on_packet(t0, false);
        clock.reset();
        assert_eq!(
            clock.on_packet(t0 + Duration::from_secs(1), false),
            PartStep::Open
        );
    }
}

//! What the SFU measures about the media it receives, packet by packet, as a pure
//! counter with arrival times passed in.
//!
//! Loss is counted **on the wire**: a sequence number skipped when a later one arrives
//! counts as lost at that moment, even if a retransmission (after a NACK) fills the gap
//! later; such late arrivals are counted separately as recovered. So an injected 5%
//! loss reads as 5%, not as the near-zero residual loss that NACK repair leaves (the
//! residual is `lost - recovered`). Jitter is RFC 3550's interarrival jitter.

use std::time::Instant;

/// Counters of one received RTP stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrivalCounter {
    clock_rate: u32,
    started: Option<Instant>,
    /// Highest extended sequence number seen.
    highest: Option<u64>,
    first: u64,
    received: u64,
    lost_on_arrival: u64,
    recovered: u64,
    bytes: u64,
    keyframes: u64,
    frames: u64,
    last_timestamp: Option<u32>,
    /// RFC 3550 jitter, in RTP timestamp units (scaled by 16 internally).
    jitter_q4: u64,
    last_transit: Option<i64>,
}

/// A snapshot of an [`ArrivalCounter`]; all counts are cumulative since the start.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArrivalCounts {
    /// Packets the sender sent as far as sequence numbers tell (highest - first + 1).
    pub expected: u64,
    /// Packets that arrived (retransmissions included, duplicates not).
    pub received: u64,
    /// Sequence numbers that were missing when a later packet arrived.
    pub lost_on_arrival: u64,
    /// Of those, how many arrived later (retransmitted or reordered).
    pub recovered: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// Keyframes started.
    pub keyframes: u64,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// Frames (distinct RTP timestamps among in-order packets).
    pub frames: u64,
    /// NACKs the receiver (the SFU) sent for this stream; filled in by the SFU.
    pub nacks_sent: u64,
    /// Keyframe requests (PLI) sent for this stream; filled in by the SFU.
    pub plis_sent: u64,
}

impl ArrivalCounts {
    /// The counts of several streams that make one track (a simulcast track's layers):
    /// packets, loss, bytes, keyframes and feedback add up; frames and jitter are the
    /// largest of any layer, since every layer carries the same pictures.
    pub fn merged(layers: impl IntoIterator<Item = ArrivalCounts>) -> Self {
        layers.into_iter().fold(Self::default(), |sum, l| Self {
            expected: sum.expected + l.expected,
            received: sum.received + l.received,
            lost_on_arrival: sum.lost_on_arrival + l.lost_on_arrival,
            recovered: sum.recovered + l.recovered,
            bytes: sum.bytes + l.bytes,
            keyframes: sum.keyframes + l.keyframes,
            jitter_ms: sum.jitter_ms.max(l.jitter_ms),
            frames: sum.frames.max(l.frames),
            nacks_sent: sum.nacks_sent + l.nacks_sent,
            plis_sent: sum.plis_sent + l.plis_sent,
        })
    }
}

impl ArrivalCounter {
    /// A counter for a stream with this RTP clock rate (48 000 for Opus, 90 000 video).
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            started: None,
            highest: None,
            first: 0,
            received: 0,
            lost_on_arrival: 0,
            recovered: 0,
            bytes: 0,
            keyframes: 0,
            frames: 0,
            last_timestamp: None,
            jitter_q4: 0,
            last_transit: None,
        }
    }

    /// Records one arriving packet.
    pub fn on_packet(
        &mut self,
        now: Instant,
        sequence_number: u16,
        timestamp: u32,
        payload_bytes: usize,
        keyframe_start: bool,
    ) {
        let started = *self.started.get_or_insert(now);
        let Some(highest) = self.highest else {
            self.highest = Some(u64::from(sequence_number));
            self.first = u64::from(sequence_number);
            self.count(payload_bytes, keyframe_start);
            self.update_jitter(now, started, timestamp);
            return;
        };
        // Extend the 16-bit number to the candidate nearest the highest seen.
        let cycle = highest & !0xffff;
        let candidates = [
            cycle.wrapping_sub(0x1_0000) | u64::from(sequence_number),
            cycle | u64::from(sequence_number),
            (cycle + 0x1_0000) | u64::from(sequence_number),
        ];
        let Some(extended) = candidates
            .into_iter()
            .min_by_key(|c| c.abs_diff(highest))
            .filter(|c| *c >= self.first)
        else {
            return; // Older than the first packet: no context for it.
        };
        if extended > highest {
            self.lost_on_arrival += extended - highest - 1;
            self.highest = Some(extended);
            self.count(payload_bytes, keyframe_start);
            self.update_jitter(now, started, timestamp);
        } else if extended < highest && self.recovered < self.lost_on_arrival {
            // A gap being filled. (A true duplicate cannot be told apart from a late
            // packet without a per-number record; bounded by the gaps seen.)
            self.recovered += 1;
            self.count(payload_bytes, keyframe_start);
        }
    }

    fn count(&mut self, payload_bytes: usize, keyframe_start: bool) {
        self.received += 1;
        self.bytes += payload_bytes as u64;
        if keyframe_start {
            self.keyframes += 1;
        }
    }

    fn update_jitter(&mut self, now: Instant, started: Instant, timestamp: u32) {
        if self.last_timestamp != Some(timestamp) {
            self.frames += 1;
            self.last_timestamp = Some(timestamp);
        }
        let arrival = (now.saturating_duration_since(started).as_micros()
            * u128::from(self.clock_rate)
            / 1_000_000) as i64;
        // Transit in RTP units, modulo 2^32 of the timestamp: differences are what count.
        let transit = arrival.wrapping_sub(i64::from(timestamp));
        if let Some(last) = self.last_transit {
            let d = transit.wrapping_sub(last).unsigned_abs();
            // J += (|D| - J) / 16, in units of 1/16.
            let j = self.jitter_q4 as i64;
            self.jitter_q4 = (j + d as i64 - (j >> 4)).max(0) as u64;
        }
        self.last_transit = Some(transit);
    }

    /// The counts so far.
    pub fn counts(&self) -> ArrivalCounts {
        let expected = self.highest.map_or(0, |h| h - self.first + 1);
        ArrivalCounts {
            expected,
            received: self.received,
            lost_on_arrival: self.lost_on_arrival,
            recovered: self.recovered,
            bytes: self.bytes,
            keyframes: self.keyframes,
            jitter_ms: (self.jitter_q4 as f64 / 16.0) * 1000.0 / f64::from(self.clock_rate.max(1)),
            frames: self.frames,
            nacks_sent: 0,
            plis_sent: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn feed(c: &mut ArrivalCounter, t0: Instant, seqs: &[u16]) {
        for &s in seqs {
            // 20 ms apart in arrival and in timestamp (48 kHz): no jitter.
            let i = u64::from(s);
            c.on_packet(
                t0 + Duration::from_millis(20 * i),
                s,
                (i * 960) as u32,
                100,
                false,
            );
        }
    }

    #[test]
    fn a_simulcast_tracks_layers_add_up_except_their_pictures() {
        let t0 = Instant::now();
        let (mut low, mut high) = (ArrivalCounter::new(48_000), ArrivalCounter::new(48_000));
        feed(&mut low, t0, &(0..50).collect::<Vec<_>>());
        feed(
            &mut high,
            t0,
            &(0..50).filter(|s| s % 10 != 3).collect::<Vec<_>>(),
        );
        let n = ArrivalCounts::merged([low.counts(), high.counts()]);
        assert_eq!((n.expected, n.received, n.lost_on_arrival), (100, 95, 5));
        assert_eq!(n.frames, 50, "the same pictures, counted once");
        assert_eq!(n.bytes, 9_500);
        assert_eq!(ArrivalCounts::merged([low.counts()]), low.counts());
    }

    #[test]
    fn a_clean_stream_has_no_loss_and_no_jitter() {
        let t0 = Instant::now();
        let mut c = ArrivalCounter::new(48_000);
        feed(&mut c, t0, &(0..100).collect::<Vec<_>>());
        let n = c.counts();
        assert_eq!((n.expected, n.received, n.lost_on_arrival), (100, 100, 0));
        assert_eq!(n.frames, 100, "one timestamp per packet here");
        assert_eq!(n.bytes, 10_000);
        assert!(n.jitter_ms < 0.01, "{}", n.jitter_ms);
    }

    #[test]
    fn loss_counts_on_the_wire_and_retransmissions_count_as_recovered() {
        let t0 = Instant::now();
        let mut c = ArrivalCounter::new(48_000);
        // 5 of 100 dropped; 3 of them retransmitted later.
        let mut seqs: Vec<u16> = (0..100).filter(|s| s % 20 != 7).collect();
        feed(&mut c, t0, &seqs);
        seqs = vec![7, 27, 47];
        for s in seqs {
            c.on_packet(
                t0 + Duration::from_secs(3),
                s,
                u32::from(s) * 960,
                100,
                false,
            );
        }
        let n = c.counts();
        assert_eq!(n.expected, 100);
        assert_eq!(n.lost_on_arrival, 5, "injected loss reads as injected");
        assert_eq!(n.recovered, 3);
        assert_eq!(n.received, 98);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let t0 = Instant::now();
        let mut c = ArrivalCounter::new(90_000);
        for (i, s) in (65_530u16..=65_535).chain(0..5).enumerate() {
            if s == 2 {
                continue;
            }
            c.on_packet(
                t0 + Duration::from_millis(i as u64 * 33),
                s,
                i as u32 * 3000,
                1000,
                i == 0,
            );
        }
        let n = c.counts();
        assert_eq!((n.expected, n.lost_on_arrival, n.keyframes), (11, 1, 1));
        // A stale packet from before the start is ignored.
        c.on_packet(t0, 65_000, 0, 10, false);
        assert_eq!(c.counts().received, 10);
    }

    #[test]
    fn jitter_follows_rfc_3550() {
        let t0 = Instant::now();
        let mut c = ArrivalCounter::new(48_000);
        // Packets alternate 10 ms early and on time: |D| = 10 ms every other packet.
        for i in 0..2000u64 {
            let late = if i % 2 == 0 { 10 } else { 0 };
            c.on_packet(
                t0 + Duration::from_millis(20 * i + late),
                i as u16,
                (i * 960) as u32,
                100,
                false,
            );
        }
        let j = c.counts().jitter_ms;
        assert!((9.0..=11.0).contains(&j), "converges to |D| = 10 ms: {j}");
    }
}

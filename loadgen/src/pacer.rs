//! A publisher's pacer, as browsers have one: libwebrtc does not put a frame's packets
//! on the wire back to back but releases video at a pacing rate of 2.5× the encoder's
//! target bitrate, so a keyframe of 20 packets leaves over about 50 ms. Without it,
//! every frame would reach the SFU as a burst no real camera sends, and the latency
//! measured would be mostly the SFU working through the generator's own bursts. Audio
//! is not paced (browsers send it ahead of video). Pure: time is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One video packet waiting for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Its frame's RTP timestamp.
    pub timestamp: u32,
    /// Whether its frame is a keyframe.
    pub keyframe: bool,
    /// Its place in the frame.
    pub index: usize,
    /// Packets in the frame (the last one carries the marker bit).
    pub count: usize,
    /// Payload bytes.
    pub size: usize,
    /// Its simulcast layer (0 without simulcast).
    pub layer: u8,
}

/// Releases queued packets no faster than `rate` bits per second.
#[derive(Debug)]
pub struct Pacer {
    bits_per_second: f64,
    /// Bytes each packet adds on the wire beyond its payload (RTP, SRTP, UDP, IP).
    overhead: usize,
    queue: VecDeque<Pending>,
    /// When the next packet may leave.
    next_at: Option<Instant>,
}

impl Pacer {
    /// A pacer releasing `bits_per_second`, counting `overhead` bytes per packet.
    pub fn new(bits_per_second: f64, overhead: usize) -> Self {
        Self {
            bits_per_second,
            overhead,
            queue: VecDeque::new(),
            next_at: None,
        }
    }

    /// Queues a frame of simulcast `layer` of `count` packets of `size` payload bytes
    /// each.
    pub fn push_frame(
        &mut self,
        now: Instant,
        timestamp: u32,
        keyframe: bool,
        count: usize,
        size: usize,
        layer: u8,
    ) {
        if self.queue.is_empty() {
            // An idle pacer saves no credit for later bursts.
            self.next_at = Some(self.next_at.map_or(now, |at| at.max(now)));
        }
        self.queue.extend((0..count).map(|index| Pending {
            timestamp,
            keyframe,
            index,
            count,
            size,
            layer,
        }));
    }

    /// When the next queued packet may leave; `None` when nothing is queued.
    pub fn next_at(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            self.next_at
        }
    }

    /// The next packet, if it may leave at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Pending> {
        let at = self.next_at?;
        if at > now {
            return None;
        }
        let packet = self.queue.pop_front()?;
        let bits = ((packet.size + self.overhead) * 8) as f64;
        self.next_at = Some(at + Duration::from_secs_f64(bits / self.bits_per_second));
        Some(packet)
    }

    /// Packets waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 1_000_000.0;
    /// 1000 + 250 bytes = 10 ms at 1 Mbit/s.
    const SIZE: usize = 1_000;
    const OVERHEAD: usize = 250;

    #[test]
    fn a_frame_leaves_one_packet_per_slot_at_the_pacing_rate() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut pacer = Pacer::new(RATE, OVERHEAD);
        assert_eq!(pacer.next_at(), None);
        pacer.push_frame(t0, 3000, true, 3, SIZE, 0);
        let first = pacer.poll(t0).expect("the first packet goes at once");
        assert_eq!((first.index, first.count, first.keyframe), (0, 3, true));
        assert_eq!(pacer.poll(t0), None, "the second waits its slot");
        assert_eq!(pacer.next_at(), Some(ms(10)));
        assert_eq!(pacer.poll(ms(9)), None);
        assert_eq!(pacer.poll(ms(10)).map(|p| p.index), Some(1));
        // Late polling does not lose the schedule: the third was due at 20 ms.
        assert_eq!(pacer.poll(ms(25)).map(|p| p.index), Some(2));
        assert_eq!(pacer.poll(ms(100)), None);
        assert_eq!(pacer.next_at(), None, "nothing queued");
        assert_eq!(pacer.queued(), 0);
    }

    #[test]
    fn an_idle_pacer_saves_no_credit_and_frames_queue_in_order() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut pacer = Pacer::new(RATE, OVERHEAD);
        pacer.push_frame(t0, 1, false, 1, SIZE, 0);
        assert!(pacer.poll(t0).is_some());
        // A second later: the next frame's first packet goes at once, the second one
        // 10 ms after it, not in the same instant.
        pacer.push_frame(ms(1_000), 2, false, 2, SIZE, 0);
        assert!(pacer.poll(ms(1_000)).is_some());
        assert_eq!(pacer.poll(ms(1_000)), None);
        // A frame pushed while one is queued waits behind it.
        pacer.push_frame(ms(1_001), 3, false, 1, SIZE, 0);
        assert_eq!(pacer.poll(ms(1_010)).map(|p| p.timestamp), Some(2));
        assert_eq!(pacer.poll(ms(1_015)), None);
        assert_eq!(pacer.poll(ms(1_020)).map(|p| p.timestamp), Some(3));
    }
}

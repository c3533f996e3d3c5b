//! Transport-wide congestion feedback (draft-holmer-rmcat-transport-wide-cc-extensions)
//! for what a publisher sends: which of its packets arrived, and when.
//!
//! A browser estimates its uplink from this feedback; with receiver-report loss alone
//! its estimate climbs so slowly that simulcast's upper layers stay starved for many
//! seconds. `rtc` offers this as an interceptor, but every interceptor is one more hop
//! for every packet the connection *sends* (the SFU's forwarding path), which cost 7%
//! of forwarding throughput in the benchmark (`docs/benchmarks.md`). So the media loop
//! records arrivals here as it reads publishers' packets, and asks for a feedback
//! packet every [`FEEDBACK_INTERVAL`]. Pure: arrival times are passed in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, SymbolTypeTcc,
    TransportLayerCc,
};

/// How often a publisher gets feedback (libwebrtc sends it about this often).
pub const FEEDBACK_INTERVAL: Duration = Duration::from_millis(100);

/// The header extension's URI in SDP.
pub const EXTENSION_URI: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

/// Most packets described in one feedback packet (keeps it well under the MTU).
const MAX_PER_FEEDBACK: u64 = 400;
/// Receive deltas are multiples of 250 µs.
const TICK_US: i64 = 250;
/// The reference time counts multiples of 64 ms.
const REFERENCE_US: i64 = 64_000;
/// Arrivals older than this are not kept waiting for a feedback.
const KEEP_US: i64 = 2_000_000;

/// The id the answer `sdp` gives the transport-wide sequence number extension.
pub fn extension_id(sdp: &str) -> Option<u8> {
    crate::simulcast::extmap_id(sdp, EXTENSION_URI)
}

/// The arrivals of one connection's packets since its last feedback.
#[derive(Debug)]
pub struct Arrivals {
    sender_ssrc: u32,
    start: Option<Instant>,
    /// Unwrapped transport sequence number → arrival (µs since `start`).
    received: BTreeMap<u64, i64>,
    highest: Option<u64>,
    /// The first sequence number the next feedback describes.
    next: Option<u64>,
    feedback_count: u8,
}

impl Arrivals {
    /// Feedback sent as `sender_ssrc`.
    pub fn new(sender_ssrc: u32) -> Self {
        Self {
            sender_ssrc,
            start: None,
            received: BTreeMap::new(),
            highest: None,
            next: None,
            feedback_count: 0,
        }
    }

    /// A packet with transport sequence number `sequence` arrived at `now`.
    pub fn on_packet(&mut self, now: Instant, sequence: u16) {
        let start = *self.start.get_or_insert(now);
        let at = now.saturating_duration_since(start).as_micros() as i64;
        let unwrapped = match self.highest {
            None => u64::from(sequence) + (1 << 16),
            Some(highest) => {
                let diff = sequence.wrapping_sub(highest as u16) as i16;
                (highest as i64 + i64::from(diff)).max(0) as u64
            }
        };
        if self.next.is_some_and(|next| unwrapped < next) {
            return; // Already described as lost; too late to matter.
        }
        self.highest = Some(self.highest.map_or(unwrapped, |h| h.max(unwrapped)));
        self.received.entry(unwrapped).or_insert(at);
        // A stalled connection never asks for feedback; don't keep its arrivals.
        while let Some((&seq, &first)) = self.received.first_key_value() {
            if at - first <= KEEP_US {
                break;
            }
            self.received.remove(&seq);
            self.next = Some(seq + 1);
        }
    }

    /// The feedback for what arrived since the last one (`None` if nothing did), for
    /// the media stream `media_ssrc` (nominal: the feedback is about the transport).
    pub fn feedback(&mut self, media_ssrc: u32) -> Option<TransportLayerCc> {
        let (&first_arrived, &first_at) = self.received.first_key_value()?;
        let base = self.next.map_or(first_arrived, |n| n.min(first_arrived));
        let last = *self.received.last_key_value()?.0;
        let last = last.min(base + MAX_PER_FEEDBACK - 1);

        let reference = first_at.div_euclid(REFERENCE_US);
        let mut previous_tick = reference * REFERENCE_US / TICK_US;
        let mut symbols = Vec::with_capacity((last - base + 1) as usize);
        let mut deltas = Vec::new();
        let mut end = last;
        for seq in base..=last {
            let Some(&at) = self.received.get(&seq) else {
                symbols.push(SymbolTypeTcc::PacketNotReceived);
                continue;
            };
            let tick = at.div_euclid(TICK_US);
            let delta = tick - previous_tick;
            let symbol = if (0..=255).contains(&delta) {
                SymbolTypeTcc::PacketReceivedSmallDelta
            } else if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&delta) {
                SymbolTypeTcc::PacketReceivedLargeDelta
            } else {
                // More than 8 s apart: the rest goes into the next feedback.
                end = seq - 1;
                break;
            };
            symbols.push(symbol);
            deltas.push(RecvDelta {
                type_tcc_packet: symbol,
                delta: delta * TICK_US,
            });
            previous_tick = tick;
        }
        if end < base {
            // The very first packet is too far from the reference: cannot happen,
            // since the reference is taken from it; drop it rather than loop.
            self.received.remove(&base);
            return None;
        }
        symbols.truncate((end - base + 1) as usize);

        let feedback = TransportLayerCc {
            sender_ssrc: self.sender_ssrc,
            media_ssrc,
            base_sequence_number: base as u16,
            packet_status_count: symbols.len() as u16,
            reference_time: (reference as u32) & 0x00FF_FFFF,
            fb_pkt_count: self.feedback_count,
            packet_chunks: run_length_chunks(&symbols),
            recv_deltas: deltas,
        };
        self.feedback_count = self.feedback_count.wrapping_add(1);
        self.received.retain(|seq, _| *seq > end);
        self.next = Some(end + 1);
        Some(feedback)
    }
}

/// The statuses as run-length chunks (each at most 8191 long).
fn run_length_chunks(symbols: &[SymbolTypeTcc]) -> Vec<PacketStatusChunk> {
    let mut chunks: Vec<PacketStatusChunk> = Vec::new();
    for symbol in symbols {
        if let Some(PacketStatusChunk::RunLengthChunk(run)) = chunks.last_mut()
            && run.packet_status_symbol == *symbol
            && run.run_length < 8191
        {
            run.run_length += 1;
            continue;
        }
        chunks.push(PacketStatusChunk::RunLengthChunk(RunLengthChunk {
            type_tcc: StatusChunkTypeTcc::RunLengthChunk,
            packet_status_symbol: *symbol,
            run_length: 1,
        }));
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::shared::marshal::{Marshal, Unmarshal};

    fn roundtrip(feedback: &TransportLayerCc) -> TransportLayerCc {
        let bytes = feedback.marshal().expect("marshals");
        TransportLayerCc::unmarshal(&mut bytes.as_ref()).expect("parses")
    }

    /// (sequence, received?, delta µs) as a receiver of the feedback reads it.
    fn read(feedback: &TransportLayerCc) -> Vec<(u16, bool, Option<i64>)> {
        let mut statuses = Vec::new();
        for chunk in &feedback.packet_chunks {
            match chunk {
                PacketStatusChunk::RunLengthChunk(run) => {
                    for _ in 0..run.run_length {
                        statuses.push(run.packet_status_symbol);
                    }
                }
                PacketStatusChunk::StatusVectorChunk(vector) => {
                    statuses.extend(vector.symbol_list.iter().copied())
                }
            }
        }
        statuses.truncate(feedback.packet_status_count as usize);
        let mut deltas = feedback.recv_deltas.iter();
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let seq = feedback.base_sequence_number.wrapping_add(i as u16);
                match s {
                    SymbolTypeTcc::PacketNotReceived => (seq, false, None),
                    _ => (seq, true, deltas.next().map(|d| d.delta)),
                }
            })
            .collect()
    }

    #[test]
    fn arrivals_and_gaps_are_described_with_their_times() {
        let t0 = Instant::now();
        let mut a = Arrivals::new(7);
        for (seq, ms) in [(65_534u16, 0u64), (65_535, 1), (1, 3), (2, 70)] {
            a.on_packet(t0 + Duration::from_millis(ms), seq);
        }
        let fb = roundtrip(&a.feedback(42).expect("something arrived"));
        assert_eq!((fb.sender_ssrc, fb.media_ssrc), (7, 42));
        assert_eq!(fb.base_sequence_number, 65_534);
        assert_eq!(
            fb.packet_status_count, 5,
            "across the wrap, the gap included"
        );
        let described = read(&fb);
        let received: Vec<(u16, bool)> = described.iter().map(|d| (d.0, d.1)).collect();
        assert_eq!(
            received,
            vec![
                (65_534, true),
                (65_535, true),
                (0, false),
                (1, true),
                (2, true)
            ]
        );
        // Deltas: from the reference (0) to 0 ms, then 1, 2 and 67 ms (a large one).
        let deltas: Vec<i64> = described.iter().filter_map(|d| d.2).collect();
        assert_eq!(deltas, vec![0, 1_000, 2_000, 67_000]);
        assert!(a.feedback(42).is_none(), "nothing new");
    }

    #[test]
    fn the_next_feedback_starts_where_the_last_ended_and_late_packets_are_not_repeated() {
        let t0 = Instant::now();
        let mut a = Arrivals::new(1);
        a.on_packet(t0, 10);
        a.on_packet(t0 + Duration::from_millis(2), 12);
        assert_eq!(a.feedback(0).map(|f| f.packet_status_count), Some(3));
        // 11 arrives late; 13 and 14 are new.
        a.on_packet(t0 + Duration::from_millis(90), 11);
        a.on_packet(t0 + Duration::from_millis(100), 13);
        a.on_packet(t0 + Duration::from_millis(101), 14);
        let fb = roundtrip(&a.feedback(0).unwrap());
        assert_eq!(fb.base_sequence_number, 13);
        assert_eq!(fb.packet_status_count, 2);
        assert_eq!(fb.fb_pkt_count, 1, "feedback packets are counted");
        // The reference time is in 64 ms steps; the first delta is what remains.
        assert_eq!(fb.reference_time, 1);
        assert_eq!(read(&fb)[0].2, Some(36_000));
    }

    #[test]
    fn a_long_burst_is_split_over_feedback_packets() {
        let t0 = Instant::now();
        let mut a = Arrivals::new(1);
        for seq in 0..1000u16 {
            a.on_packet(t0 + Duration::from_micros(u64::from(seq) * 100), seq);
        }
        let mut described = 0;
        while let Some(fb) = a.feedback(0) {
            let fb = roundtrip(&fb);
            assert_eq!(fb.base_sequence_number as u64, described);
            described += u64::from(fb.packet_status_count);
            assert!(fb.marshal().unwrap().len() < 1200);
        }
        assert_eq!(described, 1000);
    }

    #[test]
    fn the_extension_id_is_read_from_the_answer() {
        let sdp = format!(
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:5 {EXTENSION_URI}\r\n"
        );
        assert_eq!(extension_id(&sdp), Some(5));
        assert_eq!(extension_id("v=0\r\n"), None);
    }
}

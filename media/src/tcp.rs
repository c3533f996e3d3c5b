//! ICE over TCP (RFC 6544): the SFU's passive candidate on one TCP port, for
//! participants whose network drops UDP. Every STUN, DTLS and SRTP packet travels in
//! a frame of RFC 4571: a 16-bit big-endian length, then the packet.
//!
//! [`FrameDecoder`] is the pure part (bytes in, whole packets out; tested and fuzzed
//! without sockets). [`TcpLink`] is the thin adapter: per accepted connection a reader
//! task turns the stream into packets for the media loop, and a writer task drains a
//! bounded queue into the socket. The media loop never waits on a TCP peer: when a
//! receiver stops reading, its queue fills and further packets for it are dropped and
//! counted on that connection alone; nobody else waits.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Packets waiting to be written to one TCP peer; beyond this they are dropped. At
/// 1.5 Mbit/s of video (about 170 packets/s) this is more than a second of media:
/// a peer that far behind is stalled, not slow.
pub const QUEUED_PACKETS: usize = 256;

/// The kernel's send buffer for one TCP peer. Together with [`QUEUED_PACKETS`] it
/// bounds what a peer that stops reading can make the server hold (the kernel would
/// otherwise grow it to megabytes on a fast link).
pub const SEND_BUFFER: usize = 256 * 1024;

/// Largest packet a frame carries (its length field's range).
pub const MAX_FRAME: usize = u16::MAX as usize;

/// Reassembles RFC 4571 frames from a byte stream.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buffer: BytesMut,
}

impl FrameDecoder {
    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole packet, if one has arrived.
    pub fn next_packet(&mut self) -> Option<BytesMut> {
        if self.buffer.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([self.buffer[0], self.buffer[1]]));
        if self.buffer.len() < 2 + len {
            return None;
        }
        self.buffer.advance(2);
        Some(self.buffer.split_to(len))
    }

    /// Bytes held that do not yet make a whole packet.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

/// A packet framed for the stream (`None` when it is too long for a frame).
pub fn frame(packet: &[u8]) -> Option<Bytes> {
    let len = u16::try_from(packet.len()).ok()?;
    let mut out = BytesMut::with_capacity(packet.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    Some(out.freeze())
}

/// What a TCP connection's reader reports to the media loop.
#[derive(Debug)]
pub enum TcpEvent {
    /// A whole packet from `from`.
    Packet(SocketAddr, BytesMut),
    /// The connection from this address ended.
    Closed(SocketAddr),
}

/// One accepted TCP connection as the media loop holds it.
#[derive(Debug)]
pub struct TcpLink {
    queue: mpsc::Sender<Bytes>,
    reader: tokio::task::JoinHandle<()>,
    /// When it was accepted.
    pub opened: Instant,
    /// Whether an authentic check has come over it (until then it belongs to nobody
    /// and is closed after a while).
    pub authenticated: bool,
    /// Packets queued for writing.
    pub sent: u64,
    /// Packets dropped because its queue was full (the peer stopped reading).
    pub dropped: u64,
}

impl TcpLink {
    /// Takes an accepted connection: starts its reader (packets go to `events`) and
    /// its writer on the current runtime.
    pub fn start(
        stream: tokio::net::TcpStream,
        from: SocketAddr,
        now: Instant,
        events: mpsc::Sender<TcpEvent>,
    ) -> Self {
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
        let (mut read, mut write) = stream.into_split();
        let (queue, mut outgoing) = mpsc::channel::<Bytes>(QUEUED_PACKETS);
        tokio::spawn(async move {
            while let Some(framed) = outgoing.recv().await {
                if write.write_all(&framed).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        });
        let reader = tokio::spawn(async move {
            let mut decoder = FrameDecoder::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => decoder.push(&buf[..n]),
                }
                while let Some(packet) = decoder.next_packet() {
                    if events.send(TcpEvent::Packet(from, packet)).await.is_err() {
                        return;
                    }
                }
            }
            let _ = events.send(TcpEvent::Closed(from)).await;
        });
        Self {
            queue,
            reader,
            opened: now,
            authenticated: false,
            sent: 0,
            dropped: 0,
        }
    }

    /// Queues a packet for the peer; false (and counted) when its queue is full or
    /// the connection is gone.
    pub fn send(&mut self, packet: &[u8]) -> bool {
        let Some(framed) = frame(packet) else {
            self.dropped += 1;
            return false;
        };
        match self.queue.try_send(framed) {
            Ok(()) => {
                self.sent += 1;
                true
            }
            Err(_) => {
                self.dropped += 1;
                false
            }
        }
    }
}

impl Drop for TcpLink {
    fn drop(&mut self) {
        // The writer ends when its queue's sender goes; the reader is stopped here.
        self.reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_reassembled_across_reads_of_any_size() {
        let packets: Vec<Vec<u8>> = vec![vec![1; 20], vec![], vec![7; 1200], vec![9; 3]];
        let stream: Vec<u8> = packets
            .iter()
            .flat_map(|p| frame(p).unwrap().to_vec())
            .collect();
        for chunk in [1, 2, 3, 7, 100, stream.len()] {
            let mut decoder = FrameDecoder::default();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                decoder.push(piece);
                while let Some(p) = decoder.next_packet() {
                    out.push(p.to_vec());
                }
            }
            assert_eq!(out, packets, "read {chunk} bytes at a time");
            assert_eq!(decoder.pending(), 0);
        }
    }

    #[test]
    fn a_packet_too_long_for_a_frame_is_refused() {
        assert!(frame(&vec![0; MAX_FRAME]).is_some());
        assert!(frame(&vec![0; MAX_FRAME + 1]).is_none());
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_loses_its_own_packets_and_blocks_nothing() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The client connects and never reads.
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (stream, from) = listener.accept().await.unwrap();
        let (events, _events) = mpsc::channel(16);
        let mut link = TcpLink::start(stream, from, Instant::now(), events);
        let packet = vec![0u8; 1200];
        // Far more than the socket buffers and the queue hold; every call returns at
        // once (this is a plain loop on the test's thread).
        for _ in 0..20_000 {
            link.send(&packet);
        }
        assert!(link.dropped > 0, "a stalled peer's packets are dropped");
        assert_eq!(link.sent + link.dropped, 20_000);
    }
}

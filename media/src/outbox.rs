//! The media socket's outgoing queue: datagrams the connections produce while one
//! incoming packet (or command, or timer) is handled are gathered here and handed to
//! the kernel together, up to [`BATCH`] per `sendmmsg(2)` call, instead of one
//! `sendto(2)` each. A packet forwarded to nine panel members is one system call.
//!
//! Nothing waits here: the media loop flushes after every event, so batching adds no
//! latency. A full socket buffer drops what is left of the flush, as a lost datagram
//! on the wire would be (NACK and PLI repair it); the drops are counted.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use bytes::BytesMut;
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};

/// Most datagrams per `sendmmsg` call (the kernel's own limit is 1024).
pub const BATCH: usize = 64;

/// What a flush did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flushed {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Datagrams dropped: the socket buffer was full, or the kernel refused the
    /// address.
    pub dropped: usize,
    /// System calls made.
    pub calls: usize,
}

/// Datagrams waiting for the next flush, and the reusable `mmsghdr` array. Payloads
/// and addresses are kept apart so that a batch's addresses are already the contiguous
/// slice `sendmmsg` takes: a flush allocates nothing.
pub struct Outbox {
    datagrams: Vec<BytesMut>,
    addresses: Vec<Option<SockaddrStorage>>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("queued", &self.datagrams.len())
            .finish()
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self {
            datagrams: Vec::with_capacity(BATCH),
            addresses: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }

    /// Queues one datagram.
    pub fn push(&mut self, datagram: BytesMut, to: SocketAddr) {
        self.datagrams.push(datagram);
        self.addresses.push(Some(SockaddrStorage::from(to)));
    }

    /// Datagrams waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Hands every queued datagram to the kernel, in order, and empties the queue.
    pub fn flush(&mut self, socket: &impl AsRawFd) -> Flushed {
        let mut done = Flushed::default();
        let fd = socket.as_raw_fd();
        let mut next = 0;
        let queued = self.datagrams.len();
        while next < queued {
            let end = queued.min(next + BATCH);
            let batch = &self.datagrams[next..end];
            let slices: [[io::IoSlice<'_>; 1]; BATCH] = std::array::from_fn(|i| {
                [io::IoSlice::new(batch.get(i).map_or(&[][..], |d| &d[..]))]
            });
            done.calls += 1;
            match sendmmsg(
                fd,
                &mut self.headers,
                &slices[..batch.len()],
                &self.addresses[next..end],
                [],
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(results) => {
                    // The kernel stops at the first datagram it cannot take; that one
                    // is retried as the head of the next call.
                    let sent = results.count();
                    done.sent += sent;
                    next += sent.max(1);
                    if sent == 0 {
                        done.dropped += 1;
                    }
                }
                Err(Errno::EAGAIN) => {
                    // The socket buffer is full: whatever is left would wait behind
                    // it, late. Drop it like the wire would.
                    done.dropped += queued - next;
                    break;
                }
                Err(Errno::EINTR) => {}
                Err(_) => {
                    // This datagram's address is unusable (e.g. unreachable family):
                    // skip it, send the rest.
                    done.dropped += 1;
                    next += 1;
                }
            }
        }
        self.datagrams.clear();
        self.addresses.clear();
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn receiver() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        socket
    }

    #[test]
    fn a_flush_delivers_every_datagram_in_order_in_few_calls() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a, b) = (receiver(), receiver());
        let mut outbox = Outbox::new();
        // 150 datagrams alternating between two receivers: three calls of at most 64.
        for i in 0..150u16 {
            let to = if i % 2 == 0 { &a } else { &b };
            let mut data = BytesMut::new();
            data.extend_from_slice(&i.to_be_bytes());
            data.extend_from_slice(&vec![0xab; usize::from(i % 7) * 100]);
            outbox.push(data, to.local_addr().unwrap());
        }
        assert_eq!(outbox.len(), 150);
        let done = outbox.flush(&sender);
        assert_eq!(
            done,
            Flushed {
                sent: 150,
                dropped: 0,
                calls: 3
            }
        );
        assert_eq!(outbox.len(), 0, "the queue is emptied");
        let mut buf = [0u8; 2048];
        for (socket, parity) in [(&a, 0u16), (&b, 1)] {
            for k in 0..75u16 {
                let (n, from) = socket.recv_from(&mut buf).unwrap();
                let i = u16::from_be_bytes([buf[0], buf[1]]);
                assert_eq!(i, 2 * k + parity, "in order");
                assert_eq!(n, 2 + usize::from(i % 7) * 100, "whole");
                assert_eq!(from, sender.local_addr().unwrap());
            }
        }
        assert_eq!(outbox.flush(&sender), Flushed::default(), "nothing left");
    }

    #[test]
    fn an_unusable_address_is_dropped_and_the_rest_still_goes() {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = receiver();
        let mut outbox = Outbox::new();
        outbox.push(BytesMut::from(&b"one"[..]), a.local_addr().unwrap());
        // An IPv6 destination on an IPv4 socket: the kernel refuses it.
        outbox.push(BytesMut::from(&b"bad"[..]), "[::1]:9".parse().unwrap());
        outbox.push(BytesMut::from(&b"two"[..]), a.local_addr().unwrap());
        let done = outbox.flush(&sender);
        assert_eq!((done.sent, done.dropped), (2, 1));
        let mut buf = [0u8; 16];
        for expected in [&b"one"[..], &b"two"[..]] {
            let (n, _) = a.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], expected);
        }
    }
}

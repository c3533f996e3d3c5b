//! How long the media plane holds a packet. Datagrams are received with the time the
//! kernel queued them (`SO_TIMESTAMPNS`), so the delay counted starts when the packet
//! reached the machine, not when the media thread got round to reading it: queueing
//! behind other work is exactly what an operator needs to see. [`DelayHistogram`]
//! gathers, per forwarded RTP packet, the time from that stamp to the moment its
//! forwards were handed to the kernel.
//!
//! The load generator measures one-way latency with the same stamps.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};

/// Upper bounds of the histogram's buckets, in microseconds.
pub const DELAY_BUCKETS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000,
];

/// Wall-clock nanoseconds: the clock of the kernel's receive stamps.
pub fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Asks the kernel to stamp every datagram `socket` receives.
pub fn enable_receive_stamps(socket: &impl std::os::fd::AsFd) -> io::Result<()> {
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::ReceiveTimestampns, &true)
        .map_err(io::Error::from)
}

/// Receives one datagram without blocking, with the wall-clock time the kernel queued
/// it when the socket has stamps enabled ([`enable_receive_stamps`]). `WouldBlock`
/// when nothing is queued.
pub fn receive_stamped(
    socket: &impl AsRawFd,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<u64>)> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let msg = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let from = msg
        .address
        .and_then(|a| socket_addr(&a))
        .ok_or_else(|| io::Error::other("a datagram without an IP sender"))?;
    let mut stamp = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                stamp = Some(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64);
            }
        }
    }
    Ok((msg.bytes, from, stamp))
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// Counts of delays by bucket ([`DELAY_BUCKETS_US`], plus one for anything longer),
/// their sum and how many there were. Not cumulative: [`DelayHistogram::cumulative`]
/// gives Prometheus's form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DelayHistogram {
    counts: [u64; DELAY_BUCKETS_US.len() + 1],
    /// Sum of all delays, microseconds.
    pub sum_us: u64,
    /// Delays counted.
    pub count: u64,
}

impl DelayHistogram {
    /// Counts one delay.
    pub fn observe(&mut self, delay_us: u64) {
        let bucket = DELAY_BUCKETS_US.partition_point(|bound| *bound < delay_us);
        self.counts[bucket] += 1;
        self.sum_us += delay_us;
        self.count += 1;
    }

    /// `(upper bound in µs, delays at or under it)` for every bucket, as Prometheus
    /// exposes a histogram (the `+Inf` bucket is [`DelayHistogram::count`]).
    pub fn cumulative(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        DELAY_BUCKETS_US
            .iter()
            .zip(self.counts.iter().scan(0, |total, n| {
                *total += n;
                Some(*total)
            }))
            .map(|(bound, total)| (*bound, total))
    }

    /// A histogram read back from its [`DelayHistogram::cumulative`] form (as
    /// exposed by `/metrics`), with `count` for the `+Inf` bucket. `None` when the
    /// bounds are not [`DELAY_BUCKETS_US`] or the counts go down.
    pub fn from_cumulative(cumulative: &[(u64, u64)], count: u64, sum_us: u64) -> Option<Self> {
        if cumulative.len() != DELAY_BUCKETS_US.len()
            || cumulative
                .iter()
                .zip(DELAY_BUCKETS_US)
                .any(|((b, _), want)| *b != want)
        {
            return None;
        }
        let mut counts = [0; DELAY_BUCKETS_US.len() + 1];
        let mut below = 0;
        for (slot, total) in counts
            .iter_mut()
            .zip(cumulative.iter().map(|(_, n)| *n).chain([count]))
        {
            *slot = total.checked_sub(below)?;
            below = total;
        }
        Some(Self {
            counts,
            sum_us,
            count,
        })
    }

    /// What was counted since `earlier` (a copy taken before).
    pub fn since(&self, earlier: &DelayHistogram) -> DelayHistogram {
        let mut counts = self.counts;
        for (now, then) in counts.iter_mut().zip(earlier.counts) {
            *now = now.saturating_sub(then);
        }
        DelayHistogram {
            counts,
            sum_us: self.sum_us.saturating_sub(earlier.sum_us),
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The upper bound of the bucket holding quantile `q` (0..=1): the delay that
    /// share of packets stayed at or under, to the buckets' resolution. `None` when
    /// nothing was counted or it lies beyond the last bound.
    pub fn quantile_bound_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * self.count as f64).ceil().max(1.0) as u64;
        self.cumulative()
            .find(|(_, total)| *total >= rank)
            .map(|(bound, _)| bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_land_in_the_bucket_of_their_upper_bound() {
        let mut h = DelayHistogram::default();
        for us in [0, 50, 51, 999, 1_000, 1_001, 2_000_000] {
            h.observe(us);
        }
        let cumulative: Vec<(u64, u64)> = h.cumulative().collect();
        assert_eq!(cumulative[0], (50, 2), "0 and 50 are at or under 50");
        assert_eq!(cumulative[1], (100, 3));
        assert_eq!(
            cumulative[4],
            (1_000, 5),
            "999 and 1000 are at or under 1 ms"
        );
        assert_eq!(cumulative[5], (2_000, 6));
        assert_eq!(cumulative.last(), Some(&(1_000_000, 6)), "2 s is beyond");
        assert_eq!(h.count, 7);
        assert_eq!(h.sum_us, 50 + 51 + 999 + 1_000 + 1_001 + 2_000_000);
    }

    #[test]
    fn quantiles_read_the_bucket_bounds() {
        let mut h = DelayHistogram::default();
        assert_eq!(h.quantile_bound_us(0.5), None);
        for _ in 0..98 {
            h.observe(80);
        }
        h.observe(700);
        h.observe(30_000);
        assert_eq!(h.quantile_bound_us(0.5), Some(100));
        assert_eq!(h.quantile_bound_us(0.98), Some(100));
        assert_eq!(h.quantile_bound_us(0.99), Some(1_000));
        assert_eq!(h.quantile_bound_us(1.0), Some(50_000));
        h.observe(5_000_000);
        assert_eq!(h.quantile_bound_us(1.0), None, "beyond the last bound");
    }

    #[test]
    fn a_window_is_the_difference_of_two_readings() {
        let mut h = DelayHistogram::default();
        h.observe(10);
        let before = h;
        h.observe(3_000);
        h.observe(3_000);
        let window = h.since(&before);
        assert_eq!(window.count, 2);
        assert_eq!(window.sum_us, 6_000);
        assert_eq!(window.quantile_bound_us(0.5), Some(5_000));
    }

    #[test]
    fn the_cumulative_form_reads_back_to_the_same_histogram() {
        let mut h = DelayHistogram::default();
        for us in [10, 80, 80, 700, 30_000, 5_000_000] {
            h.observe(us);
        }
        let cumulative: Vec<(u64, u64)> = h.cumulative().collect();
        assert_eq!(
            DelayHistogram::from_cumulative(&cumulative, h.count, h.sum_us),
            Some(h)
        );
        assert_eq!(
            DelayHistogram::from_cumulative(&cumulative[1..], h.count, h.sum_us),
            None,
            "other bounds"
        );
        let mut falling = cumulative.clone();
        falling[3].1 = 0;
        assert_eq!(
            DelayHistogram::from_cumulative(&falling, h.count, h.sum_us),
            None
        );
    }

    #[test]
    fn received_datagrams_carry_the_kernels_stamp() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_receive_stamps(&receiver).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            receive_stamped(&receiver, &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        sender
            .send_to(b"hello", receiver.local_addr().unwrap())
            .unwrap();
        // Blocking read for the one datagram, then the stamped non-blocking one.
        receiver.set_nonblocking(false).unwrap();
        let mut peek = [0u8; 8];
        receiver.peek(&mut peek).unwrap();
        let (n, from, stamp) = receive_stamped(&receiver, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, sender.local_addr().unwrap());
        // The wall clock may be slewed between two readings; a stamp on another
        // clock (or none) would be far off.
        let stamp = stamp.expect("a stamp");
        assert!(stamp.abs_diff(wall_ns()) < 1_000_000_000, "{stamp}");
    }
}

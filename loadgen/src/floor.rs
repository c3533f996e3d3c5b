//! The kernel's floor on this test bed: what sending the SFU's datagrams costs a core
//! when nothing else is done per packet. `floor-send` pushes 1,200-byte datagrams
//! through the SFU's own send path (`media::outbox::Outbox`, one `sendmmsg(2)` per
//! batch, one fresh buffer per datagram as SRTP makes) to a set of receivers, paced at
//! a fixed rate, and reports the CPU it used; `floor-receive` drains those receivers.
//! An SFU that forwarded for free would reach `sent / cpu_seconds` packets per core
//! and no more: the ceiling every egress-per-core figure is to be read against.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::BytesMut;
use media::outbox::Outbox;
use serde::Serialize;

use crate::procfs;

/// Datagram size: a full video packet after SRTP.
const DATAGRAM: usize = 1_200;

/// What one floor run measured.
#[derive(Debug, Serialize)]
pub struct FloorReport {
    pub workload: &'static str,
    /// Datagrams per second asked for.
    pub rate: u64,
    pub sent: u64,
    pub dropped: u64,
    pub cpu_seconds: f64,
    pub seconds: f64,
    /// `sent / cpu_seconds`: datagrams per second one core could send this way.
    pub per_core: f64,
}

/// `count` consecutive ports from `first`: where the receivers are.
pub fn consecutive(first: SocketAddr, count: u16) -> Result<Vec<SocketAddr>> {
    if count == 0 {
        bail!("--receivers: at least 1");
    }
    (0..count)
        .map(|i| {
            let port = first
                .port()
                .checked_add(i)
                .with_context(|| format!("{count} ports from {first} run past 65535"))?;
            Ok(SocketAddr::new(first.ip(), port))
        })
        .collect()
}

/// Sends to `targets` in turn, `fanout` datagrams per batch (one incoming packet's
/// forwards), at `rate` datagrams per second for `seconds`.
pub fn send(
    from: SocketAddr,
    targets: &[SocketAddr],
    fanout: usize,
    rate: u64,
    seconds: u64,
) -> Result<FloorReport> {
    if targets.is_empty() || fanout == 0 {
        bail!("the floor needs at least one receiver and a fanout of at least 1");
    }
    let socket = UdpSocket::bind(from).with_context(|| format!("bind {from}"))?;
    socket2::SockRef::from(&socket).set_send_buffer_size(4 << 20)?;
    let payload = vec![0x5au8; DATAGRAM];
    let mut outbox = Outbox::new();
    let ticks = procfs::ticks_per_second();
    let pid = std::process::id();
    let window = Duration::from_secs(seconds);
    // Released every millisecond: the rate's share of it, in whole batches.
    let tick = Duration::from_millis(1);
    let started = Instant::now();
    let cpu_before = procfs::usage(pid, ticks)?.cpu_seconds;
    let (mut sent, mut dropped, mut due, mut next) = (0u64, 0u64, 0u64, 0usize);
    let mut at = started;
    while at.duration_since(started) < window {
        due += rate / 1_000;
        while sent + dropped + fanout as u64 <= due {
            for _ in 0..fanout {
                outbox.push(BytesMut::from(&payload[..]), targets[next]);
                next = (next + 1) % targets.len();
            }
            let flushed = outbox.flush(&socket);
            sent += flushed.sent as u64;
            dropped += flushed.dropped as u64;
        }
        at += tick;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let cpu_seconds = procfs::usage(pid, ticks)?.cpu_seconds - cpu_before;
    Ok(FloorReport {
        workload: "floor",
        rate,
        sent,
        dropped,
        cpu_seconds,
        seconds: started.elapsed().as_secs_f64(),
        per_core: sent as f64 / cpu_seconds.max(0.01),
    })
}

/// Binds one receiving socket at each address, non-blocking.
pub fn bind_receivers(at: &[SocketAddr]) -> Result<Vec<UdpSocket>> {
    at.iter()
        .map(|at| {
            let socket = UdpSocket::bind(at).with_context(|| format!("bind {at}"))?;
            socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .collect()
}

/// Drains `sockets` until `seconds` pass or `enough` datagrams arrived, and returns
/// the datagrams received.
pub fn receive(sockets: &[UdpSocket], seconds: u64, enough: u64) -> Result<u64> {
    let mut buffer = [0u8; 2_048];
    let mut received = 0u64;
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until && received < enough {
        let mut idle = true;
        for socket in sockets {
            while socket.recv(&mut buffer).is_ok() {
                received += 1;
                idle = false;
            }
        }
        if idle {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_sends_the_paced_count_and_every_datagram_arrives() {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sockets = bind_receivers(&[any; 3]).unwrap();
        let targets: Vec<SocketAddr> = sockets.iter().map(|s| s.local_addr().unwrap()).collect();
        // Bounded by time only if datagrams go missing.
        let receiver = std::thread::spawn(move || receive(&sockets, 60, 6_000));
        let report = send(any, &targets, 3, 6_000, 1).unwrap();
        assert_eq!(report.sent + report.dropped, 6_000);
        assert_eq!(report.dropped, 0);
        assert!(report.per_core > 0.0);
        assert_eq!(receiver.join().unwrap().unwrap(), 6_000);
    }

    #[test]
    fn impossible_receiver_sets_are_refused_not_panicked_on() {
        let first: SocketAddr = "127.0.0.1:65530".parse().unwrap();
        assert_eq!(consecutive(first, 6).unwrap().len(), 6);
        let err = consecutive(first, 7).unwrap_err().to_string();
        assert!(err.contains("65535"), "{err}");
        assert!(consecutive(first, 0).is_err());
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(send(any, &[], 9, 1_000, 1).is_err());
        assert!(send(any, &[first], 0, 1_000, 1).is_err());
    }
}

//! Which connection a datagram on the shared media port belongs to. Sans-IO: the
//! caller passes the datagram, its source and the time; nothing here touches a
//! socket or reads the clock.
//!
//! Rules (each one closes a way a participant could disturb another's media):
//! - A source address is learnt only from a STUN check whose USERNAME names one of
//!   our connections *and* whose MESSAGE-INTEGRITY verifies with that connection's
//!   ICE password. Anything else from an unknown address is dropped and counted.
//! - An address that carries a live connection's traffic is not moved to another
//!   connection: a check for connection B from A's address (a participant spoofing
//!   a victim's source with their own valid credentials) is dropped while A was
//!   heard there in the last [`ADDRESS_HOLD`]. After that the address is free (a NAT
//!   may hand it to someone else).
//! - Each connection keeps at most [`MAX_ADDRESSES_PER_PEER`] addresses; learning one
//!   more forgets its oldest, so no participant can grow the map without bound.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::ids::ParticipantId;
use crate::stun;

/// How long an address stays with the connection last heard on it.
pub const ADDRESS_HOLD: Duration = Duration::from_secs(30);
/// Addresses one connection may be reached at (host, reflexive and relayed
/// candidates of one or two interfaces, and a NAT rebinding or two).
pub const MAX_ADDRESSES_PER_PEER: usize = 8;

/// How a datagram reached the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// The shared UDP port.
    Udp,
    /// A connection to the ICE-TCP port (`crate::tcp`).
    Tcp,
}

/// Where a datagram came from: an address on one transport (the same address may be
/// a UDP source and a TCP peer at once, and they are different paths).
pub type Origin = (SocketAddr, Transport);

/// What the demultiplexer refused, for the operators' metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DemuxStats {
    /// From an address no connection uses, and not an authentic check.
    pub unroutable: u64,
    /// Checks naming one of our connections whose integrity did not verify.
    pub unauthenticated: u64,
    /// Authentic checks from an address another live connection uses.
    pub address_conflicts: u64,
    /// Addresses forgotten because their connection learnt too many.
    pub evicted: u64,
}

#[derive(Debug)]
struct Binding {
    peer: ParticipantId,
    heard: Instant,
}

/// The routing table of the shared port.
#[derive(Debug, Default)]
pub struct Demux {
    credentials: HashMap<String, (ParticipantId, String)>,
    by_addr: HashMap<Origin, Binding>,
    addrs_of: HashMap<ParticipantId, VecDeque<Origin>>,
    /// What was refused so far.
    pub stats: DemuxStats,
}

impl Demux {
    /// Routes checks for `ufrag` to `peer`, authenticated with `password`.
    pub fn add(&mut self, peer: ParticipantId, ufrag: &str, password: &str) {
        self.credentials
            .insert(ufrag.to_owned(), (peer, password.to_owned()));
    }

    /// Forgets a connection: its credentials and every address it was reached at
    /// (returned, so that ICE-TCP connections among them can be closed).
    pub fn remove(&mut self, peer: ParticipantId) -> Vec<Origin> {
        self.credentials.retain(|_, (p, _)| *p != peer);
        let mut forgotten = Vec::new();
        for addr in self.addrs_of.remove(&peer).unwrap_or_default() {
            if self.by_addr.get(&addr).is_some_and(|b| b.peer == peer) {
                self.by_addr.remove(&addr);
                forgotten.push(addr);
            }
        }
        forgotten
    }

    /// The connection a datagram from `from` belongs to, if any.
    pub fn route(&mut self, datagram: &[u8], from: Origin, now: Instant) -> Option<ParticipantId> {
        if let Some(ufrag) = stun::local_ufrag(datagram)
            && let Some((peer, password)) = self.credentials.get(ufrag)
        {
            let peer = *peer;
            if !stun::is_authentic(datagram, password) {
                self.stats.unauthenticated += 1;
                return None;
            }
            return self.learn(peer, from, now);
        }
        match self.by_addr.get_mut(&from) {
            Some(binding) => {
                binding.heard = now;
                Some(binding.peer)
            }
            None => {
                self.stats.unroutable += 1;
                None
            }
        }
    }

    fn learn(&mut self, peer: ParticipantId, from: Origin, now: Instant) -> Option<ParticipantId> {
        if let Some(binding) = self.by_addr.get_mut(&from) {
            if binding.peer == peer {
                binding.heard = now;
                return Some(peer);
            }
            if now.saturating_duration_since(binding.heard) < ADDRESS_HOLD {
                self.stats.address_conflicts += 1;
                return None;
            }
            let previous = binding.peer;
            if let Some(addrs) = self.addrs_of.get_mut(&previous) {
                addrs.retain(|a| *a != from);
            }
        }
        self.by_addr.insert(from, Binding { peer, heard: now });
        let addrs = self.addrs_of.entry(peer).or_default();
        addrs.push_back(from);
        while addrs.len() > MAX_ADDRESSES_PER_PEER {
            if let Some(oldest) = addrs.pop_front() {
                self.by_addr.remove(&oldest);
                self.stats.evicted += 1;
            }
        }
        Some(peer)
    }

    /// Addresses known, across all connections.
    pub fn addresses(&self) -> usize {
        self.by_addr.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Origin {
        (SocketAddr::from(([127, 0, 0, 1], port)), Transport::Udp)
    }

    fn check(ufrag: &str, password: &str) -> Vec<u8> {
        stun::signed_binding_request(&format!("{ufrag}:browser"), password, [7; 12])
    }

    const RTP: [u8; 12] = [0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];

    fn two_peers() -> (Demux, ParticipantId, ParticipantId) {
        let mut d = Demux::default();
        let (a, b) = (ParticipantId(1), ParticipantId(2));
        d.add(a, "ufragA", "passwordA-24-characters!");
        d.add(b, "ufragB", "passwordB-24-characters!");
        (d, a, b)
    }

    #[test]
    fn an_address_is_learnt_only_from_an_authentic_check() {
        let (mut d, a, _) = two_peers();
        let t0 = Instant::now();
        assert_eq!(d.route(&RTP, addr(1000), t0), None, "unknown address");
        let forged = check("ufragA", "a guess");
        assert_eq!(d.route(&forged, addr(1000), t0), None);
        assert_eq!(d.stats.unauthenticated, 1);
        assert_eq!(d.route(&RTP, addr(1000), t0), None, "nothing was learnt");
        assert_eq!(d.addresses(), 0);
        assert_eq!(
            d.route(&check("ufragA", "passwordA-24-characters!"), addr(1000), t0),
            Some(a)
        );
        assert_eq!(d.route(&RTP, addr(1000), t0), Some(a));
    }

    #[test]
    fn a_live_connections_address_cannot_be_taken_by_another() {
        let (mut d, a, b) = two_peers();
        let t0 = Instant::now();
        d.route(&check("ufragA", "passwordA-24-characters!"), addr(1000), t0);
        // B's holder spoofs A's source with B's own valid credentials.
        let spoofed = check("ufragB", "passwordB-24-characters!");
        assert_eq!(
            d.route(&spoofed, addr(1000), t0 + Duration::from_secs(1)),
            None
        );
        assert_eq!(d.stats.address_conflicts, 1);
        assert_eq!(
            d.route(&RTP, addr(1000), t0 + Duration::from_secs(2)),
            Some(a),
            "A keeps its media"
        );
        // A address silent for longer than the hold may go to someone else (NAT reuse).
        let later = t0 + Duration::from_secs(2) + ADDRESS_HOLD;
        assert_eq!(d.route(&spoofed, addr(1000), later), Some(b));
        assert_eq!(d.route(&RTP, addr(1000), later), Some(b));
    }

    #[test]
    fn a_connection_cannot_grow_the_address_map_without_bound() {
        let (mut d, a, _) = two_peers();
        let t0 = Instant::now();
        let signed = check("ufragA", "passwordA-24-characters!");
        for port in 0..1000 {
            assert_eq!(d.route(&signed, addr(2000 + port), t0), Some(a));
        }
        assert_eq!(d.addresses(), MAX_ADDRESSES_PER_PEER);
        assert_eq!(d.stats.evicted, 1000 - MAX_ADDRESSES_PER_PEER as u64);
        assert_eq!(d.route(&RTP, addr(2999), t0), Some(a), "the newest is kept");
        assert_eq!(d.route(&RTP, addr(2000), t0), None, "the oldest forgotten");
    }

    #[test]
    fn the_same_address_over_udp_and_tcp_are_two_sources() {
        let (mut d, a, b) = two_peers();
        let t0 = Instant::now();
        let udp = addr(1000);
        let tcp = (udp.0, Transport::Tcp);
        d.route(&check("ufragA", "passwordA-24-characters!"), udp, t0);
        assert_eq!(d.route(&RTP, tcp, t0), None, "learnt over UDP only");
        assert_eq!(
            d.route(&check("ufragB", "passwordB-24-characters!"), tcp, t0),
            Some(b)
        );
        assert_eq!(d.route(&RTP, udp, t0), Some(a));
        assert_eq!(d.route(&RTP, tcp, t0), Some(b));
    }

    #[test]
    fn removing_a_connection_frees_its_addresses_and_credentials() {
        let (mut d, a, _) = two_peers();
        let t0 = Instant::now();
        d.route(&check("ufragA", "passwordA-24-characters!"), addr(1000), t0);
        d.remove(a);
        assert_eq!(d.addresses(), 0);
        assert_eq!(d.route(&RTP, addr(1000), t0), None);
        assert_eq!(
            d.route(&check("ufragA", "passwordA-24-characters!"), addr(1000), t0),
            None
        );
    }
}

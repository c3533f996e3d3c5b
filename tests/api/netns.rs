//! Throwaway network namespaces for fault tests: a namespace joined to the host by a
//! veth pair (host end `10.231.T.1`, namespace end `10.231.T.2`), nftables loss inside
//! it, and UDP sockets bound inside it for in-process clients. Everything is removed
//! on drop. Needs root and iproute2/nftables; `create` returns `None` otherwise.

use std::process::Command;

/// A network namespace joined to the host by a veth pair; removed on drop.
pub struct Namespace {
    pub name: String,
    pub host_if: String,
    pub host_ip: String,
    pub client_ip: String,
}

pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

impl Namespace {
    /// Creates a namespace; `slot` keeps concurrent tests apart.
    pub fn create(slot: u32) -> Option<Self> {
        let tag = (std::process::id() + slot * 7) % 200 + 20;
        let ns = Namespace {
            name: format!("viva-cut-{tag}"),
            host_if: format!("vvh{tag}"),
            host_ip: format!("10.231.{tag}.1"),
            client_ip: format!("10.231.{tag}.2"),
        };
        let peer_if = format!("vvc{tag}");
        let client_ip = format!("{}/24", ns.client_ip);
        let ok = ip(&["netns", "add", &ns.name])
            && ip(&[
                "link",
                "add",
                &ns.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &peer_if,
            ])
            && ip(&["link", "set", &peer_if, "netns", &ns.name])
            && ip(&[
                "addr",
                "add",
                &format!("{}/24", ns.host_ip),
                "dev",
                &ns.host_if,
            ])
            && ip(&["link", "set", &ns.host_if, "up"])
            && ip(&[
                "netns", "exec", &ns.name, "ip", "addr", "add", &client_ip, "dev", &peer_if,
            ])
            && ip(&[
                "netns", "exec", &ns.name, "ip", "link", "set", &peer_if, "up",
            ])
            && ip(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]);
        ok.then_some(ns)
    }
}

impl Namespace {
    /// [`Namespace::create`] for a test: `None` (the test is skipped, and says so)
    /// where namespaces cannot be made, which CI must never be.
    pub fn for_test(slot: u32) -> Option<Self> {
        let ns = Self::create(slot);
        if ns.is_none() {
            eprintln!(
                "SKIPPED: network namespaces are not available here (needs root and iproute2)"
            );
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to create network namespaces"
            );
        }
        ns
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        self.clear_arrival_faults();
        ip(&["link", "del", &self.host_if]);
        ip(&["netns", "del", &self.name]);
    }
}

/// Runs one `nft` command in the host's namespace; a refused one prints nft's reason.
fn nft_root(rule: &str) -> bool {
    match Command::new("nft").arg(rule).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "nft {rule}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("nft {rule}: {e}");
            false
        }
    }
}

impl Namespace {
    /// Runs `nft` inside the namespace; a refused rule prints nft's reason.
    pub fn nft(&self, rule: &str) -> bool {
        let ran = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", rule])
            .output();
        match ran {
            Ok(out) if out.status.success() => true,
            Ok(out) => {
                eprintln!(
                    "nft {rule}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                false
            }
            Err(e) => {
                eprintln!("nft {rule}: {e}");
                false
            }
        }
    }

    /// Drops `percent`% of the UDP the namespace sends to (`uplink`) or receives from
    /// (`!uplink`) `port`, at random per packet (nftables `numgen`).
    pub fn drop_udp(&self, port: u16, percent: u32, uplink: bool) -> bool {
        let (hook, field) = if uplink {
            ("output", "dport")
        } else {
            ("input", "sport")
        };
        self.nft("add table inet fault")
            && self.nft(&format!("add chain inet fault {hook} {{ type filter hook {hook} priority 0 ; }}"))
            && self.nft(&format!(
                "add rule inet fault {hook} udp {field} {port} numgen random mod 100 < {percent} drop"
            ))
    }

    /// Drops every UDP datagram into and out of the namespace (an office that lets
    /// no UDP through).
    pub fn block_udp(&self) -> bool {
        self.nft("add table inet fault")
            && self.nft("add chain inet fault out { type filter hook output priority 0 ; }")
            && self.nft("add chain inet fault in { type filter hook input priority 0 ; }")
            && self.nft("add rule inet fault out meta l4proto udp drop")
            && self.nft("add rule inet fault in meta l4proto udp drop")
    }

    /// Lets only TCP to these ports out of the namespace (and their answers in): a
    /// network that allows TLS to a few ports and nothing else.
    pub fn allow_only_tcp_to(&self, ports: &[u16]) -> bool {
        let list = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        self.block_udp()
            && self.nft(&format!(
                "add rule inet fault out meta l4proto tcp tcp dport != {{ {list} }} drop"
            ))
    }

    /// A script that runs Chromium inside the namespace (for Playwright's
    /// `executablePath`); removed when the returned path is dropped.
    pub fn chromium_wrapper(&self) -> tempfile::TempPath {
        use std::os::unix::fs::PermissionsExt;
        let wrapper = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            wrapper.path(),
            format!(
                "#!/bin/sh\nexec ip netns exec {} {} \"$@\"\n",
                self.name,
                std::env::var("VIVA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
            ),
        )
        .unwrap();
        std::fs::set_permissions(wrapper.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        wrapper.into_temp_path()
    }

    /// Drops `percent`% of the server's media port's UDP at random *on arrival*, at
    /// the ingress of the receiving side's veth (nftables `netdev` family): for the
    /// uplink at the host end (arriving at the server), for the downlink at the
    /// namespace end (arriving at the client). Unlike [`Namespace::drop_udp`] the
    /// sender's socket sees nothing: the packet leaves and is lost on the way, as on a
    /// real network, so a browser neither holds nor resends it unasked.
    ///
    /// Audio (Opus, payload type 111) and video (VP8, 96) RTP are counted apart, and
    /// within each the *first* transmission of a sequence number apart from a repeat of
    /// it: Viva negotiates no RTX, so a retransmission is the same SSRC and sequence
    /// number sent again, and only a dynamic set of the (SSRC, number) pairs already
    /// seen tells it from the original. The set is filled before the random draw, so a
    /// dropped original makes its retransmission a repeat ([`Namespace::arrival_counts`]).
    pub fn drop_on_arrival(&self, port: u16, percent: u32, uplink: bool) -> bool {
        let table = self.arrival_table();
        let (device, field) = if uplink {
            (self.host_if.clone(), "dport")
        } else {
            (self.host_if.replacen("vvh", "vvc", 1), "sport")
        };
        let udp = format!("ip protocol udp udp {field} {port}");
        // The RTP payload type: 7 bits after the marker, in the UDP payload's second
        // byte (the transport header's bits 64 + 8 + 1 on); the sequence number at bit
        // 64 + 16, the SSRC at 64 + 64.
        let pt = "@th,73,7";
        let key = "@th,128,32 . @th,80,16";
        let mut rules = vec![
            format!("add table netdev {table}"),
            format!(
                "add set netdev {table} seen {{ typeof {key} ; size 1048576 ; flags dynamic ; }}"
            ),
            format!(
                "add chain netdev {table} in {{ type filter hook ingress device \"{device}\" priority 0 ; }}"
            ),
            format!("add rule netdev {table} in {udp} {key} @seen meta mark set {AGAIN:#x}"),
            format!(
                "add rule netdev {table} in {udp} meta mark != {AGAIN:#x} add @seen {{ {key} }}"
            ),
            format!(
                "add rule netdev {table} in {udp} numgen random mod 100 < {percent} meta mark set meta mark or {DROPPED:#x}"
            ),
        ];
        for (payload_type, kind) in [(111, "audio"), (96, "video")] {
            for (mark, class) in ArrivalClass::ALL {
                rules.push(format!(
                    "add rule netdev {table} in {udp} {pt} {payload_type} meta mark {mark:#x} counter comment \"{kind}-{class}\""
                ));
            }
        }
        rules.push(format!(
            "add rule netdev {table} in {udp} meta mark and {DROPPED:#x} == {DROPPED:#x} drop"
        ));
        if uplink {
            rules.iter().all(|r| nft_root(r))
        } else {
            rules.iter().all(|r| self.nft(r))
        }
    }

    /// What the on-arrival rule of one side saw, audio and video apart.
    pub fn arrival_counts(&self, uplink: bool) -> Option<ArrivalTally> {
        let table = self.arrival_table();
        let args = ["list", "table", "netdev", table.as_str()];
        let out = if uplink {
            Command::new("nft").args(args).output().ok()?
        } else {
            Command::new("ip")
                .args(["netns", "exec", &self.name, "nft"])
                .args(args)
                .output()
                .ok()?
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let counted = |comment: String| -> Option<u64> {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("comment \"{comment}\"")))?;
            line.split("counter packets ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        let kind = |kind: &str| -> Option<KindTally> {
            let mut n = [0; 4];
            for (slot, (_, class)) in n.iter_mut().zip(ArrivalClass::ALL) {
                *slot = counted(format!("{kind}-{class}"))?;
            }
            let [first, first_dropped, again, again_dropped] = n;
            Some(KindTally {
                first: first + first_dropped,
                first_dropped,
                again: again + again_dropped,
                again_dropped,
            })
        };
        Some(ArrivalTally {
            audio: kind("audio")?,
            video: kind("video")?,
        })
    }

    /// The on-arrival rules' table: named after the namespace, since the uplink's lives
    /// in the host's namespace beside other tests' tables.
    fn arrival_table(&self) -> String {
        format!("viva_arrival_{}", self.host_if)
    }

    /// Removes the on-arrival rules, both sides (none set is not an error).
    pub fn clear_arrival_faults(&self) {
        let table = self.arrival_table();
        let delete = ["delete", "table", "netdev", table.as_str()];
        let _ = Command::new("nft").args(delete).output();
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft"])
            .args(delete)
            .output();
    }

    /// Removes every fault rule (none set is not an error).
    pub fn clear_faults(&self) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.name,
                "nft",
                "delete table inet fault",
            ])
            .output();
    }

    /// A UDP socket bound inside the namespace (on its veth address): a thread enters
    /// the namespace, binds, and the socket stays there when the thread ends.
    pub fn bind_udp(&self) -> std::net::UdpSocket {
        let path = format!("/var/run/netns/{}", self.name);
        let addr = format!("{}:0", self.client_ip);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("namespace file");
            // Affects only this thread, which ends right after binding.
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            std::net::UdpSocket::bind(addr).expect("bind inside the namespace")
        })
        .join()
        .expect("namespace thread")
    }
}

/// The packet mark of a sequence number seen before on the on-arrival rule's side.
const AGAIN: u32 = 0x2;
/// The packet mark of one the rule's random draw drops.
const DROPPED: u32 = 0x100;

/// The four marks the on-arrival rule ends with, and their counters' names.
struct ArrivalClass;

impl ArrivalClass {
    const ALL: [(u32, &'static str); 4] = [
        (0, "first"),
        (DROPPED, "first-dropped"),
        (AGAIN, "again"),
        (AGAIN | DROPPED, "again-dropped"),
    ];
}

/// RTP packets of one kind that reached an on-arrival rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct KindTally {
    /// First transmissions of a sequence number (the originals), dropped ones included.
    pub first: u64,
    /// Of those, dropped by the rule: the loss on the wire against originals.
    pub first_dropped: u64,
    /// Repeats of a number seen before (retransmissions), dropped ones included.
    pub again: u64,
    /// Of those, dropped.
    pub again_dropped: u64,
}

/// What one side's on-arrival rule saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArrivalTally {
    pub audio: KindTally,
    pub video: KindTally,
}

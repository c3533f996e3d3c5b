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
        ip(&["link", "del", &self.host_if]);
        ip(&["netns", "del", &self.name]);
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
